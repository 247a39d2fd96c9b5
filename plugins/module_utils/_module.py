# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every module's main() does around its one call into module_utils."""


from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.parameters import set_fallbacks
from ansible.module_utils.common.text.converters import to_native
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
    """AnsibleModule whose argument errors name the option: the one place every module's arguments are refused.

    Two gaps of ansible-core's argument validation (ArgumentSpecValidator.validate in
    ansible/module_utils/common/arg_spec.py and parameters.py; the same in ansible-core 2.19 and 2.21) are closed
    here, from the parameters the module was given - AnsibleModule's public `params`, which hold them as given
    until validation succeeds (the validator works on a copy):

    - A number or a boolean where a mapping with suboptions goes (abort: 500, or a list item that is not a mapping)
      makes the validation raise TypeError in set_fallbacks ("argument of type 'int' is not iterable", no option
      named; _validate_sub_spec). Such values are refused with the option's path instead (shape_problems).
    - ansible-core lists no_log values before it checks types; a string where a list of mappings is expected
      (namespaces: hello) then fails in check_type_dict first, and AnsibleModule reports only that first error:
      "dictionary requested, could not parse JSON or key=value", without the option. The type errors that
      follow it do name the option: those are reported instead (argument_errors_named).

    `warnings` handed to exit_json or fail_json (a result's, or a failure's details) are given to warn(): passing
    them to exit_json or fail_json is deprecated in ansible-core 2.19 (removed in 2.23).
    Used as kubernetes.core's AnsibleK8SModule(module_class=AmbientModule, ...).
    """

    def __init__(self, argument_spec, *args, **kwargs):
        try:
            super(AmbientModule, self).__init__(argument_spec, *args, **kwargs)
            return
        except TypeError:
            problems = shape_problems(argument_spec, getattr(self, "params", None))
            if not problems:
                raise
        # out of the except block: the result carries no traceback of ansible-core's crash. Its validator did not
        # get as far as listing the no_log values, so they are listed here, to be masked in the result.
        self.no_log_values.update(no_log_strings(argument_spec, self.params))
        self.fail_json(msg="; ".join(problems))

    def fail_json(self, msg, **kwargs):
        result = getattr(self, "validation_result", None)
        # AnsibleValidationErrorMultiple has no __len__ (always true): test its list
        errors = result.errors.errors if result is not None else []
        if errors and msg == result.errors.msg:  # AnsibleModule refusing the arguments
            msg = argument_errors_named(errors) or msg
        _warn_given(self, kwargs)
        super(AmbientModule, self).fail_json(msg=msg, **kwargs)

    def exit_json(self, **kwargs):
        _warn_given(self, kwargs)
        super(AmbientModule, self).exit_json(**kwargs)


def _warn_given(module, kwargs):
    """A result's `warnings`, taken out of it and given to module.warn() (ansible-core puts them back, as its own)."""
    warnings = kwargs.pop("warnings", None) or []
    for warning in warnings if isinstance(warnings, list) else [warnings]:
        module.warn(warning)


def argument_errors_named(errors):
    """The message for ansible-core's argument errors when the first names no option (a NoLogError), else None."""
    if not isinstance(errors[0], NoLogError):
        return None
    named = [e.msg for e in errors if not isinstance(e, NoLogError)]
    return "; ".join(named) + _list_hint(named) if named else None


def _list_hint(messages):
    if any("unable to convert to dict" in m for m in messages):
        return " (a list of mappings is written as YAML items, for example '- name: hello', not as a string)"
    return ""


def _takes_apart(value):
    """What ansible-core's validation handles itself: a mapping, a string (its own message names the option), or a
    list of those."""
    if isinstance(value, list):
        return all(isinstance(item, (dict, str)) for item in value)
    return isinstance(value, (dict, str))


def _given(params, name, opts):
    """(the name the option was given by, its value), by its name or an alias; (name, None) when not given."""
    for key in [name] + list(opts.get("aliases") or []):
        if params.get(key) is not None:
            return key, params[key]
    return name, None


def shape_problems(spec, params, path=""):
    """Messages for every option with suboptions whose value ansible-core's validation would crash on."""
    out = []
    if not isinstance(params, dict):
        return out
    for name, opts in spec.items():
        key, value = _given(params, name, opts)
        sub = opts.get("options")
        if value is None or not sub:
            continue
        where = path + key
        if opts.get("type") == "dict":
            if not _takes_apart(value):
                out.append("%s must be a mapping (of %s), not %r" % (where, ", ".join(sorted(sub)), value))
            elif isinstance(value, dict):
                out += shape_problems(sub, value, where + ".")
        elif opts.get("type") == "list" and isinstance(value, list):
            for index, item in enumerate(value):
                out += shape_problems(sub, item, "%s[%d]." % (where, index))
    return out


def no_log_strings(spec, params):
    """The strings of the no_log options' values among params (and their suboptions'), as ansible-core hides them."""
    out = set()
    if not isinstance(params, dict):
        return out
    out.update(set_fallbacks(spec, dict(params)))  # a no_log option's value from its fallback (environment)
    for name, opts in spec.items():
        value = _given(params, name, opts)[1]
        if value is None:
            continue
        if opts.get("no_log"):
            out.update(_strings(value))
        if opts.get("options"):
            for item in value if isinstance(value, list) else [value]:
                out.update(no_log_strings(opts["options"], item))
    return out


def _strings(value):
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, (list, tuple, set)):
        return [s for item in value for s in _strings(item)]
    if value is None or isinstance(value, bool) or value in ("", b""):
        return []
    return [to_native(value, errors="surrogate_or_strict", nonstring="simplerepr")]
