#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r"""
module: ambient_namespace
short_description: Enroll many namespaces in Istio ambient mode, migrating sidecar namespaces in order
version_added: 0.1.0
description:
  - Sets C(istio.io/dataplane-mode) and, when asked, C(istio.io/use-waypoint) and
    C(istio.io/use-waypoint-namespace) on many namespaces in one call, reading them with one LIST
    and writing only the namespaces that change.
  - Refuses to enroll while ztunnel or istio-cni is not healthy (every desired pod ready), naming
    what is not ready, unless O(check_dataplane=false).
  - A namespace with sidecar injection (C(istio-injection=enabled) or C(istio.io/rev)) is migrated
    only with O(migrate_sidecars=true), in the documented order - use-waypoint, then
    dataplane-mode, then the injection labels removed - each step written before the next.
  - With O(restart_workloads=true), the Deployments, StatefulSets and DaemonSets of the namespaces
    whose capture changed (and only those) are restarted once, as C(kubectl rollout restart) does.
  - A restart still owed survives a failed run. A namespace whose capture changes in a way its running
    pods follow only when restarted (with O(restart_workloads=true), or when a sidecar migration removes
    the injection labels) gets the annotation C(ambient.mesh/restart-pending) (its time, RFC 3339 UTC) in
    the same write as the label change, and loses it in the write after its workloads were restarted.
    A later run finds it and restarts that namespace's workloads (with O(restart_workloads=true)) or
    reports it in RV(restart_pending) with a warning; a workload whose C(kubectl.kubernetes.io/restartedAt)
    is at or after the marker's time was restarted already and is not restarted again, so after an
    outage part way every workload is restarted exactly once. C(ambient.mesh.mesh_info) reports such
    namespaces as C(RESTART_PENDING). A plain enrollment (no sidecars) needs no restart - istio-cni
    captures the running pods - and leaves no marker unless O(restart_workloads=true).
  - Refuses, before any change, a C(use_waypoint) naming a waypoint (Gateway) that does not exist, or a
    C(use_waypoint_namespace) naming a namespace that does not exist, unless O(allow_missing_waypoint=true).
    Checked for the labels this run writes (a no-op run reads nothing more); C(ambient.mesh.mesh_info)
    reports a binding whose waypoint went away later.
  - A run that fails after its first write fails with C(changed=true) and says what it changed -
    RV(namespaces) (those written, partly or wholly), RV(restarted), RV(restart_pending), and from the API
    layer C(done), C(failed_objects) and C(errors) (identical errors grouped). Running the task again
    continues where the failed run stopped.
  - Only the labels above (and the injection labels, when migrating) are ever written; every other
    label and annotation is left alone. O(namespaces[].state=absent) removes only the labels this
    module manages.
author:
  - ambient.mesh maintainers (@ambient-mesh)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - ambient.mesh._request
attributes:
  check_mode:
    description:
      - Every write is sent as a server dry run; nothing changes. The ordered label steps of a
        sidecar migration go as one dry run, since dry runs do not build on each other.
    support: full
  diff_mode:
    description:
      - One entry per changed object, the whole object without server-managed fields - each
        Namespace as read and as the server returned it after its label patch (or created), and each
        workload restarted.
    support: full
  idempotent:
    description: A second run writes nothing and restarts nothing.
    support: full
options:
  namespaces:
    description:
      - The namespaces.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The namespace.
        type: str
        required: true
      dataplane_mode:
        description: V(ambient) enrolls; V(none) opts the namespace out explicitly.
        type: str
        choices: [ambient, none]
        default: ambient
      use_waypoint:
        description:
          - The waypoint for the namespace's traffic (C(istio.io/use-waypoint)), or V(none) to opt out.
          - Not given, the current use-waypoint labels are left as they are.
          - A waypoint with O(namespaces[].dataplane_mode=none) is refused, since the namespace's traffic does not
            go through ztunnel and so never reaches the waypoint.
        type: str
      use_waypoint_namespace:
        description: The namespace of that waypoint when it is another one (C(istio.io/use-waypoint-namespace)).
        type: str
      state:
        description: V(absent) removes the labels this module manages.
        type: str
        choices: [present, absent]
        default: present
      create:
        description: Create the namespace when it does not exist (otherwise that is an error).
        type: bool
        default: false
  migrate_sidecars:
    description:
      - Allow migrating namespaces that use sidecar injection (removes C(istio-injection) and
        C(istio.io/rev) after the ambient labels are set). Without it such namespaces fail the task
        before anything changes. Restart the workloads too, or their pods keep their sidecars.
    type: bool
    default: false
  restart_workloads:
    description:
      - Restart the Deployments, StatefulSets and DaemonSets of the namespaces whose capture changed.
    type: bool
    default: false
  wait_for_rollout:
    description:
      - After restarting, wait until every restarted workload has rolled out (within O(wait_timeout)).
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait for the rollouts.
    type: int
    default: 300
  check_dataplane:
    description:
      - Refuse to enroll while ztunnel or istio-cni is missing or not fully ready.
    type: bool
    default: true
  allow_missing_waypoint:
    description:
      - Write C(use_waypoint) / C(use_waypoint_namespace) even when the waypoint (a Gateway of that name in
        that namespace) or its namespace does not exist yet - for the deliberate case of a later task of the
        same play deploying it (the platform playbook enrolls, then runs the waypoint role).
      - Until the waypoint exists and is programmed, the namespace's traffic goes straight to its pods, without
        the waypoint's L7 policy, routes or faults; nothing in Istio warns about it.
      - Without it (the default), the task fails before any change, naming each missing waypoint or namespace
        and the namespaces that name it; a typo in a waypoint's name cannot pass unnoticed.
    type: bool
    default: false
  results:
    description:
      - What RV(namespaces) lists. V(changed) lists only the namespaces this run changed (would change, in
        check mode), each with only the labels this module manages before and after; the others are named in
        RV(unchanged). At thousands of namespaces this keeps the task's result small, so the controller does
        not spend its time parsing and storing every namespace's labels.
      - V(all) lists every namespace with all its labels before and after.
      - RV(unchanged), RV(unchanged_count) and RV(summary) are returned either way.
    type: str
    choices: [changed, all]
    default: changed
requirements:
  - kubernetes >= 24.2.0
"""

EXAMPLES = r"""
- name: The lab - hello and httpbin with their namespace waypoint, test for the client
  ambient.mesh.ambient_namespace:
    namespaces:
      - name: hello
        use_waypoint: waypoint
      - name: httpbin
        use_waypoint: waypoint
      - name: test

- name: Migrate a sidecar namespace to ambient and restart its workloads
  ambient.mesh.ambient_namespace:
    namespaces:
      - name: legacy
        use_waypoint: waypoint
    migrate_sidecars: true
    restart_workloads: true
    wait_for_rollout: true

- name: Enroll now, deploy the waypoint in a later task of this play
  ambient.mesh.ambient_namespace:
    namespaces:
      - name: hello
        use_waypoint: waypoint
    allow_missing_waypoint: true

- name: Take a namespace out of the mesh (only the ambient labels are removed)
  ambient.mesh.ambient_namespace:
    namespaces:
      - name: hello
        state: absent
    restart_workloads: true
"""

RETURN = r"""
namespaces:
  description:
    - One entry per namespace this run changed (would change, in check mode); with O(results=all), one per
      namespace.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The namespace.
      type: str
    changed:
      description: Whether its labels changed (or it was created).
      type: bool
    created:
      description: Whether it was created.
      type: bool
    labels:
      description:
        - Its labels before and after (V(null) before for a namespace created, after for one that does not
          exist). With O(results=changed), only the labels this module manages (C(istio.io/dataplane-mode),
          C(istio.io/use-waypoint), C(istio.io/use-waypoint-namespace), C(istio-injection), C(istio.io/rev));
          with O(results=all), all of them.
      type: dict
    capture_changed:
      description: Whether its pods' capture (ambient vs not) changed.
      type: bool
    steps:
      description: How many ordered label writes it took (3 for a sidecar migration).
      type: int
    restarted:
      description: Its workloads restarted, as Kind/name.
      type: list
      elements: str
  sample: [{"name": "hello", "changed": true, "created": false, "capture_changed": true, "steps": 1,
            "labels": {"before": {}, "after": {"istio.io/dataplane-mode": "ambient"}},
            "restarted": ["Deployment/helloworld-v1"]}]
restarted:
  description: Every workload restarted, as Kind namespace/name.
  returned: always
  type: list
  elements: str
restart_pending:
  description:
    - The namespaces whose workloads still have to be restarted after this run (they carry
      C(ambient.mesh/restart-pending)); empty once every restart owed is done. Also returned by a failed run.
  returned: always
  type: list
  elements: str
  sample: ["legacy"]
unchanged:
  description: The namespaces this run left as they were (none of their managed labels differed), by name.
  returned: always
  type: list
  elements: str
  sample: ["test"]
unchanged_count:
  description: How many namespaces this run left as they were.
  returned: always
  type: int
  sample: 1
summary:
  description: How many namespaces the task names, changed and unchanged.
  returned: always
  type: dict
  contains:
    total:
      description: The namespaces in O(namespaces).
      type: int
    changed:
      description: Those changed (would change, in check mode).
      type: int
    unchanged:
      description: Those left as they were.
      type: int
  sample: {"total": 3, "changed": 2, "unchanged": 1}
"""

from ansible_collections.ambient.mesh.plugins.module_utils._enrollment.ambient_namespace import run
from ansible_collections.ambient.mesh.plugins.module_utils._args import REQUEST_ARG_SPEC, argument_spec
from ansible_collections.ambient.mesh.plugins.module_utils._objects.diff import with_diff
from ansible_collections.ambient.mesh.plugins.module_utils._module import AmbientModule, run_with_api
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule


def main():
    spec = argument_spec(REQUEST_ARG_SPEC, dict(
        namespaces=dict(type="list", elements="dict", required=True, options=dict(
            name=dict(type="str", required=True),
            dataplane_mode=dict(type="str", choices=["ambient", "none"], default="ambient"),
            use_waypoint=dict(type="str"),
            use_waypoint_namespace=dict(type="str"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
            create=dict(type="bool", default=False),
        )),
        migrate_sidecars=dict(type="bool", default=False),
        restart_workloads=dict(type="bool", default=False),
        wait_for_rollout=dict(type="bool", default=False),
        wait_timeout=dict(type="int", default=300),
        check_dataplane=dict(type="bool", default=True),
        allow_missing_waypoint=dict(type="bool", default=False),
        results=dict(type="str", choices=["changed", "all"], default="changed"),
    ))
    module = AnsibleK8SModule(module_class=AmbientModule, argument_spec=spec, supports_check_mode=True)
    result = run_with_api(module, lambda api: run(api, module.params, module.check_mode))
    module.exit_json(**with_diff(result, module._diff))


if __name__ == "__main__":
    main()
