#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r"""
module: istio_install
short_description: Install, upgrade or uninstall Istio's ambient profile with istioctl
version_added: 0.1.0
description:
  - Detects the live install from the API (istiod Deployments with their C(istio.io/rev) and
    C(operator.istio.io/version) labels and C(PILOT_ENABLE_AMBIENT), the ztunnel and istio-cni
    DaemonSets, the revision tags), compares it with what is asked, and runs
    C(istioctl install -y --set profile=ambient ...) only when something differs. A second run with
    the same options does not call C(istioctl install).
  - Settings (O(set), O(values_files)) are recorded as a digest in the
    C(ambient.mesh/install-config) annotation of the istiod Deployment, since istioctl keeps no
    install record; an install made by other means is adopted by one install run.
  - Waits until istiod is Available and every desired ztunnel and istio-cni pod is ready; a
    timeout names the component and its ready/desired counts.
  - The workloads are found by the labels of Istio's charts (istiod C(app=istiod), ztunnel
    C(app.kubernetes.io/name=ztunnel), istio-cni C(k8s-app=istio-cni-node)), so an install made with
    Helm is recognised too; without istioctl's C(operator.istio.io/version) label the version is the
    image tag without its C(-distroless) or C(-debug) variant, and a ztunnel revision may be its
    C(istio.io/rev) annotation.
  - Canary upgrades use revisions. Install the new revision with O(revision), move a tag to it with
    O(tag), restart the workloads, then uninstall the old revision with O(state=absent).
  - ztunnel and istio-cni are shared by all revisions and carry the revision of the last
    C(istioctl install); C(istioctl uninstall --revision R) deletes them with R. So O(state=absent)
    refuses to uninstall the revision they carry while another revision's istiod stays, and says how
    to move them first (an C(istioctl install) of the revision that stays); O(force) does not
    override this. Uninstalling the old revision after a canary upgrade is not affected.
  - O(tag) runs C(istioctl tag set --overwrite -y) (without C(-y) istioctl would ask on a webhook
    conflict and, unanswered, leave the tag where it was), then reads the tag's
    MutatingWebhookConfigurations back and fails unless all of them point at O(revision).
author:
  - ambient.mesh maintainers (@ambient-mesh)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - ambient.mesh._wait
  - ambient.mesh._request
attributes:
  check_mode:
    description: Says what would be done (install, upgrade from X to Y, reconfigure, uninstall, nothing)
      and validates the settings with C(istioctl manifest generate); changes nothing.
    support: full
  diff_mode:
    description:
      - One entry, headed C(Istio install (revision R)) - version, revision, profile, components,
        settings digest and the revision tags pointing at it, before and after (empty when not installed).
    support: full
  idempotent:
    description: A second run with the same options runs no istioctl install.
    support: full
options:
  state:
    description:
      - V(present) installs or upgrades; V(absent) uninstalls O(revision) (or everything with O(purge)).
      - V(absent) refuses while namespaces are enrolled (ambient or sidecar labels) or waypoints
        exist, unless O(force=true), and lists them.
      - V(absent) without O(purge) also refuses when the uninstall would delete ztunnel and istio-cni
        while another revision stays (see the description).
    type: str
    choices: [present, absent]
    default: present
  version:
    description:
      - The Istio version, for example V(1.30.3) or V(v1.30.3) (the C(v) is ignored). The istioctl binary
        must be that version; a mismatch fails and names both. Defaults to the version of the istioctl binary.
    type: str
  revision:
    description:
      - Control plane revision, for example V(1-30-3), for side-by-side (canary) installs.
      - V(default) is the unrevisioned control plane.
      - Must be a DNS-1123 label (lowercase letters, digits, C(-); at most 63), checked before anything runs.
    type: str
    default: default
  tag:
    description:
      - A revision tag (for example V(default) or V(prod-stable)) to point at O(revision) with
        C(istioctl tag set --overwrite -y), when it points elsewhere, then read back.
      - Must be a DNS-1123 label, checked before anything runs; it is passed after C(--), so it can never be
        read as an istioctl flag.
    type: str
  set:
    description:
      - Installation settings, each passed as C(--set key=value), for example the key
        C(values.pilot.env.PILOT_ENABLE_ALPHA_GATEWAY_API) with the value V(true).
      - C(profile) is always C(ambient); set O(revision) instead of C(revision). Both keys are refused.
      - Keys must look like istioctl C(--set) paths (letters, digits, C(.), C(_), C(-), C([0])), values must be
        single-line scalars; both are checked before anything runs.
    type: dict
    default: {}
  values_files:
    description:
      - IstioOperator or values files passed with C(-f).
    type: list
    elements: path
    default: []
  precheck:
    description:
      - Run C(istioctl x precheck -o json) first and fail with its warnings and errors listed.
    type: bool
    default: false
  purge:
    description:
      - With O(state=absent), remove every revision, the data plane and Istio's CRDs
        (C(istioctl uninstall --purge)). Deleting the CRDs deletes every Istio object.
    type: bool
    default: false
  force:
    description:
      - With O(state=absent), uninstall even while namespaces are enrolled or waypoints exist.
      - Does not allow deleting ztunnel and istio-cni while another revision stays.
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to wait for istiod, ztunnel and istio-cni to be ready (or, when uninstalling, gone).
    type: int
    default: 300
  istioctl_path:
    description:
      - The istioctl binary; by default the one on C(PATH). A directory is refused before any temporary
        file is written.
    type: path
  istioctl_timeout:
    description:
      - Seconds any one istioctl call may run. When it passes, istioctl is stopped with everything it
        started (its process group gets SIGTERM, then SIGKILL after 5 s) and the task fails naming the
        subcommand and the deadline.
      - Default per subcommand - C(version) 30, C(manifest generate) and C(x precheck) 120, C(tag set) 60,
        C(install) and C(uninstall) O(wait_timeout) + 120 (C(istioctl install) waits for the components
        itself, with C(--readiness-timeout) set to O(wait_timeout)).
    type: int
notes:
  - istioctl gets the module's C(kubeconfig), C(context), C(impersonate_user) and C(impersonate_groups) as
    flags. istioctl takes credentials only from a kubeconfig file (it has no token or server flag), so a
    kubeconfig given as a dictionary, or C(host) and C(api_key) without a kubeconfig, are written to a
    kubeconfig file of mode 0600 in a private directory (0700) and removed when the module ends - on
    success, on failure, and when the module is stopped with SIGTERM, SIGHUP or SIGINT. Only a SIGKILL of
    the module leaves it behind (in the temporary directory, named C(ambient-mesh-*)).
  - istioctl runs in its own process group and dies with the module. Under a task C(timeout), Ansible does
    not signal the module but stops reading its output; the module notices and stops istioctl at once.
  - Every value passed to istioctl (O(version), O(revision), O(tag), O(set), O(values_files)) is checked before
    any request or istioctl call; a bad one fails with all problems listed and nothing run.
  - A run that fails after C(istioctl install), C(tag set) or C(uninstall) was started (for example the wait
    for the components timed out) reports C(changed=true) and lists in RV(changes) what was started; run
    it again once the cause is fixed, it continues from what the cluster holds.
requirements:
  - istioctl of the Istio version to install
  - kubernetes >= 24.2.0
"""

EXAMPLES = r"""
- name: Install Istio 1.30.3 with the ambient profile
  ambient.mesh.istio_install:
    version: 1.30.3
    precheck: true

- name: Canary upgrade, step 1 - the new revision side by side
  ambient.mesh.istio_install:
    version: 1.31.0
    revision: 1-31-0
    istioctl_path: /opt/istio-1.31.0/bin/istioctl

- name: Canary upgrade, step 2 - move the default tag to it (then restart workloads)
  ambient.mesh.istio_install:
    version: 1.31.0
    revision: 1-31-0
    tag: default
    istioctl_path: /opt/istio-1.31.0/bin/istioctl

- name: Canary upgrade, step 3 - remove the old revision
  ambient.mesh.istio_install:
    state: absent
    revision: 1-30-3
    istioctl_path: /opt/istio-1.31.0/bin/istioctl

- name: Remove Istio entirely, CRDs included
  ambient.mesh.istio_install:
    state: absent
    purge: true
"""

RETURN = r"""
action:
  description: What was (or in check mode would be) done; null when nothing.
  returned: always
  type: str
  sample: upgrade
reason:
  description: Why, in words.
  returned: always
  type: str
  sample: upgrade revision default from 1.29.2 to 1.30.3
version:
  description: The version of O(revision) before and after.
  returned: always
  type: dict
  sample: {"before": "1.29.2", "after": "1.30.3"}
revision:
  description: The revision acted on.
  returned: always
  type: str
  sample: 1-30-3
tag:
  description: The revision tag asked for (O(tag)), or null.
  returned: when state is present
  type: str
  sample: prod-stable
purge:
  description: Whether everything was to be removed (O(purge)).
  returned: when state is absent
  type: bool
  sample: false
tag_moved:
  description: The revision tag move made, or null.
  returned: when state is present
  type: dict
  sample: {"from": "default", "to": "1-30-3"}
components:
  description: istiod, ztunnel and istio-cni with their ready and desired counts, after the wait.
  returned: when state is present, not in check mode, and istioctl ran or O(wait) is true
  type: list
  elements: dict
  sample: [{"component": "ztunnel", "name": "ztunnel", "namespace": "istio-system", "ready": true,
            "ready_count": 3, "desired": 3}]
changes:
  description: On a failed run, what had been started before the failure (istioctl install, tag set,
    uninstall, the settings record); with it the result says C(changed=true).
  returned: when the run failed after changing the cluster
  type: list
  elements: str
  sample: ["istioctl install was started (install: no istiod of revision default is installed)"]
istioctl_calls:
  description: The istioctl subcommands this run executed (arguments, without the kubeconfig flags).
  returned: always
  type: list
  elements: list
subcommand:
  description: The istioctl subcommand that failed or hung.
  returned: when an istioctl call failed or passed its deadline
  type: str
  sample: install
timed_out:
  description: True when that istioctl call passed its deadline and was stopped with everything it started.
  returned: when an istioctl call failed or passed its deadline
  type: bool
deadline:
  description: The seconds that istioctl call was given (O(istioctl_timeout), or the subcommand's default).
  returned: when an istioctl call passed its deadline
  type: int
  sample: 420
"""

from ansible_collections.ambient.mesh.plugins.module_utils._args import REQUEST_ARG_SPEC, WAIT_ARG_SPEC, argument_spec
from ansible_collections.ambient.mesh.plugins.module_utils._objects.diff import with_diff
from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError
from ansible_collections.ambient.mesh.plugins.module_utils._install.istio_install import run
from ansible_collections.ambient.mesh.plugins.module_utils._istio.istioctl import (
    Istioctl,
    kube_arguments,
    temporary_directory,
    validate_params,
)
from ansible_collections.ambient.mesh.plugins.module_utils._module import AmbientModule, run_with_api
from ansible_collections.ambient.mesh.plugins.module_utils._istio.process import Terminated, terminate_on_signals
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule


def main():
    spec = argument_spec(WAIT_ARG_SPEC, REQUEST_ARG_SPEC, dict(
        state=dict(type="str", choices=["present", "absent"], default="present"),
        version=dict(type="str"),
        revision=dict(type="str", default="default"),
        tag=dict(type="str"),
        set=dict(type="dict", default={}),
        values_files=dict(type="list", elements="path", default=[]),
        precheck=dict(type="bool", default=False),
        purge=dict(type="bool", default=False),
        force=dict(type="bool", default=False),
        istioctl_path=dict(type="path"),
        istioctl_timeout=dict(type="int"),
    ))
    spec["wait_timeout"]["default"] = 300
    module = AnsibleK8SModule(module_class=AmbientModule, argument_spec=spec, supports_check_mode=True)
    params = module.params
    problems = validate_params(params)
    if problems:  # before any request and any istioctl call
        module.fail_json(msg="%s; nothing was run" % "; ".join(problems), problems=problems, istioctl_calls=[])
    istioctl = None

    def work(api):  # inside run_with_api: retries and waits are in every result, failed or not
        nonlocal istioctl
        try:
            # AnsibleK8SModule wraps the AnsibleModule that runs commands
            istioctl = Istioctl(module._module, params["istioctl_path"], timeout=params["istioctl_timeout"],
                                wait_timeout=params["wait_timeout"])
            istioctl.kube_args = kube_arguments(params, tmpdir)  # only once istioctl_path is known to be good
            result = run(api, istioctl, params, module.check_mode)
        except AmbientMeshError as exc:
            exc.details["istioctl_calls"] = istioctl.calls if istioctl else []
            raise
        result["istioctl_calls"] = istioctl.calls
        return result

    try:
        with terminate_on_signals(), temporary_directory() as tmpdir:  # removed on every way out, fail_json included
            result = run_with_api(module, work)
    except Terminated as exc:
        module.fail_json(msg="istio_install was stopped by signal %d; istioctl was stopped with it and the temporary "
                         "kubeconfig removed; run the task again" % exc.signum, changed=bool(istioctl and istioctl.changing_calls()),
                         istioctl_calls=istioctl.calls if istioctl else [])
    module.exit_json(**with_diff(result, module._diff))


if __name__ == "__main__":
    main()
