# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every module's main() does around its one call into module_utils."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.errors import NoLogError

from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError, cap
from ansible_collections.ambient.mesh.plugins.module_utils._kube.client import KubeApi
from ansible_collections.ambient.mesh.plugins.module_utils._objects.wait import slow_waits, start_recording, stop_recording


def run_with_api(module, work):
    """work(api) with a connected KubeApi; an AmbientMeshError becomes fail_json(msg, **details).

    Every result, failed or not, carries `retries` (what the API layer retried, by reason) and
    `waits` (each wait: what, seconds, polls, met); a wait longer than _wait.SLOW_WAIT seconds is
    also a warning. A failed result keeps the error's details (`changed: true` when something was
    written before the failure); a batch's per-object failures are reduced to their refs in
    `failed_objects` (`failed` is Ansible's), their errors being grouped in `errors`, so that nothing is
    printed once per object.
    """
    start_recording()
    api = None
    try:
        _check_request_options(module.params)
        api = KubeApi(module, budget_seconds=module.params["request_budget"])
        result = work(api)
    except AmbientMeshError as exc:
        details = dict(exc.details)
        if isinstance(details.get("failed"), list):
            # `failed` is Ansible's own key (true in a failed result): the refs go to failed_objects
            details["failed_objects"] = [f["ref"] if isinstance(f, dict) and "ref" in f else f
                                         for f in details.pop("failed")]
        details.update(_run_report(module, api))
        module.fail_json(msg=cap(exc.msg), **details)
    report = _run_report(module, api)
    if isinstance(result, dict):
        for key, value in report.items():
            result.setdefault(key, value)
    return result


def _check_request_options(params):
    """REQUEST_ARG_SPEC's ranges (module_utils/_args.py): refused before the first request."""
    if params.get("concurrency") is not None and params["concurrency"] < 1:
        raise AmbientMeshError("concurrency must be 1 or more (requests at once); got %d" % params["concurrency"])
    if params.get("request_budget") is not None and params["request_budget"] < 0:
        raise AmbientMeshError("request_budget must be 0 or more seconds (0: no retries); got %d" % params["request_budget"])


def _run_report(module, api):
    waits = stop_recording()
    for warning in slow_waits(waits):
        module.warn(warning)
    retries = api.retries if api is not None else {"count": 0, "by_reason": {}, "seconds": 0.0}
    return {"retries": retries, "waits": waits}


class AmbientModule(AnsibleModule):
    """AnsibleModule whose argument errors name the option.

    ansible-core lists no_log values before it checks types; a string where a list of mappings is
    expected (namespaces: hello) then fails in check_type_dict first, and AnsibleModule reports only
    that first error: "dictionary requested, could not parse JSON or key=value", without the option
    (ansible/module_utils/common/arg_spec.py, ArgumentSpecValidator.validate; the same in ansible-core
    2.19 and 2.21). The type errors that follow it do name the option: report those instead.
    Used as kubernetes.core's AnsibleK8SModule(module_class=AmbientModule, ...).
    """

    def fail_json(self, msg, **kwargs):
        result = getattr(self, "validation_result", None)
        # AnsibleValidationErrorMultiple has no __len__ (always true): test its list
        errors = result.errors.errors if result is not None else []
        if errors and isinstance(errors[0], NoLogError):
            named = [e.msg for e in errors if not isinstance(e, NoLogError)]
            if named and msg == result.errors.msg:
                msg = "; ".join(named) + _list_hint(named)
        super(AmbientModule, self).fail_json(msg=msg, **kwargs)


def _list_hint(messages):
    if any("unable to convert to dict" in m for m in messages):
        return " (a list of mappings is written as YAML items, for example '- name: hello', not as a string)"
    return ""
