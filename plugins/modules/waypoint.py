#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r"""
module: waypoint
short_description: Deploy Istio ambient waypoints, bind them, and prove the binding works
version_added: 0.1.0
description:
  - Applies, by server-side apply, the Gateway that C(istioctl waypoint apply) makes (class
    C(istio-waypoint), listener C(mesh) on 15008 with protocol HBONE, C(istio.io/waypoint-for) always,
    C(service) included, as C(istioctl waypoint apply --for) writes it, C(istio.io/rev) when a revision
    is given), many waypoints in one call. A C(istio.io/waypoint-for) set by another field manager is a
    conflict (see O(force_conflicts)), not a silent UnsupportedTrafficType later.
  - Refuses, before any change, a waypoint that no running istiod would program (see O(require_istiod)). istiod programs only
    Gateways of its own revision or tags; a Gateway without C(istio.io/rev) takes its namespace's
    C(istio.io/rev), else the default revision. Revisions are read from the istiod Deployments'
    C(istio.io/rev) labels, tags from the C(istio-revision-tag-<tag>) MutatingWebhookConfigurations and
    C(istiod-revision-tag-<tag>) Services labelled C(istio.io/tag), the default revision from the
    C(istiod-default-validator) webhook.
  - Binds namespaces and Services to them with C(istio.io/use-waypoint) (and
    C(istio.io/use-waypoint-namespace) across namespaces). Rebinding something bound to another
    waypoint needs O(overwrite=true) and is never a silent skip (C(istioctl waypoint apply
    --enroll-namespace) only warns).
  - A rebind (O(overwrite=true)) moves traffic off a waypoint that works, so the new waypoint proves itself
    first - the module waits until it is C(Programmed) and only then moves the namespace or Service to it;
    when it never becomes C(Programmed), nothing is moved. When the proof after the move fails
    (C(WaypointBound) not True, for example C(AttachmentDenied)), what was moved is put back on its old
    waypoint, unless O(restore_on_failure=false). With O(wait=false) nothing is proven and the move is made
    at once.
  - Refuses, before any change, to bind a namespace that is not in ambient mode (no
    C(istio.io/dataplane-mode=ambient)) - its pods' traffic does not go through ztunnel, so the waypoint
    would never see it (C(istioctl waypoint apply --enroll-namespace) only warns). See O(require_ambient).
  - A failed run reports C(changed=true) when it wrote something before the failure, and what in RV(changes).
  - Waits for C(Programmed=True) on each Gateway and C(istio.io/WaypointBound=True) on every bound
    Service; a failure reports istiod's reason (WaypointIsNotReady, AttachmentDenied,
    UnsupportedTrafficType, ...) with a fix. ExternalName Services and the Services of waypoints and
    east-west gateways are not waited for (istiod never binds them); an ExternalName Service in
    O(waypoints[].enroll_services) is refused.
  - Refuses the reserved name C(none), and a C(for) that cannot serve what it is bound to.
  - O(waypoints[].state=absent) removes every binding to the waypoint first, then the Gateway.
  - Writes each new Gateway once, without a dry run of each - the Gateways are made from the validated
    options, so what refuses one (the schema, an admission webhook, RBAC) refuses them all. The first new
    Gateway is written alone and the others only once it was accepted, so such a refusal changes nothing.
    A Gateway that changes is dry-run first, as with every module. A Gateway refused on its own (a quota)
    fails the run after the others were written; the result lists them and a re-run finishes.
author:
  - ambient.mesh maintainers (@ambient-mesh)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - ambient.mesh._wait
  - ambient.mesh._apply
  - ambient.mesh._request
attributes:
  check_mode:
    description: Every write is a server dry run; nothing changes and nothing is waited for.
    support: full
  diff_mode:
    description:
      - One entry per changed object, the whole object before and after without server-managed
        fields - each Gateway applied or deleted, and each Namespace and Service whose binding labels
        were set or removed (as read, and as the server returned it after the label patch).
    support: full
  idempotent:
    description: A second run writes nothing.
    support: full
options:
  waypoints:
    description: The waypoints.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The Gateway's name (V(none) is reserved).
        type: str
        default: waypoint
      namespace:
        description: Where the waypoint runs; a namespace name (a DNS-1123 label, lowercase), as are the
          entries of O(waypoints[].enroll_namespaces).
        type: str
        required: true
      waypoint_for:
        description: Which traffic it takes (C(istio.io/waypoint-for)).
        type: str
        choices: [service, workload, all, none]
        default: service
        aliases: [for]
      revision:
        description:
          - The Istio revision or revision tag that programs it (C(istio.io/rev)).
          - Without it, the namespace's C(istio.io/rev) decides, else the default revision. Either must be
            served by a running istiod, or the module refuses before any change.
        type: str
      allowed_namespaces:
        description:
          - Which namespaces may bind to it. V(auto) allows all namespaces when O(waypoints[].enroll_namespaces)
            names another namespace, and only its own otherwise.
        type: str
        choices: [auto, same, all]
        default: auto
      enroll_namespace:
        description: Bind the waypoint's own namespace to it.
        type: bool
        default: false
      enroll_services:
        description: Bind these Services of the waypoint's namespace to it (a service-scoped waypoint).
        type: list
        elements: str
        default: []
      enroll_namespaces:
        description: Bind these other namespaces to it (a cross-namespace waypoint).
        type: list
        elements: str
        default: []
      state:
        description: V(absent) unbinds everything bound to it, then deletes the Gateway.
        type: str
        choices: [present, absent]
        default: present
  overwrite:
    description:
      - Rebind namespaces and Services that use another waypoint. The new waypoint must be C(Programmed)
        before anything is moved to it (when O(wait=true)).
    type: bool
    default: false
  restore_on_failure:
    description:
      - When the proof after a rebind fails (the new waypoint stops being C(Programmed), or a moved Service is
        not C(WaypointBound)), put each moved namespace and Service back on the waypoint it used before, so
        that traffic stays on a waypoint that works. The failed result lists them in RV(restored).
      - V(false) leaves them on the new waypoint, for an operator who wants to look at it as it failed.
    type: bool
    default: true
  require_ambient:
    description:
      - Refuse, before any change, to bind a namespace that is not in ambient mode.
      - V(false) for the deliberate cases - the namespace is enrolled later in the same play, or its pods
        are enrolled one by one with the C(istio.io/dataplane-mode) label on the pod.
    type: bool
    default: true
  require_istiod:
    description:
      - Refuse, before any change, a waypoint of a revision (its own, its namespace's or the default one) that
        no running istiod serves, as it would never be C(Programmed).
      - V(false) when that istiod is installed later in the same play; the wait (O(wait)) still needs it.
    type: bool
    default: true
  results:
    description:
      - What RV(waypoints) lists. V(changed) lists only the Gateways this run created or updated (would, in
        check mode); the others are named in RV(unchanged). At thousands of waypoints this keeps the task's
        result small, so the controller does not spend its time parsing and storing every one.
      - V(all) lists every Gateway applied.
      - RV(unchanged), RV(unchanged_count) and RV(summary) are returned either way.
    type: str
    choices: [changed, all]
    default: changed
requirements:
  - kubernetes >= 24.2.0
"""

EXAMPLES = r"""
- name: Namespace waypoints for the lab, each namespace bound to its own
  ambient.mesh.waypoint:
    waypoints:
      - namespace: hello
        enroll_namespace: true
      - namespace: httpbin
        enroll_namespace: true

- name: A service-scoped waypoint for one Service only
  ambient.mesh.waypoint:
    waypoints:
      - name: reviews-waypoint
        namespace: bookinfo
        enroll_services: [reviews]

- name: One shared waypoint in a mesh namespace, used by two others
  ambient.mesh.waypoint:
    waypoints:
      - name: shared
        namespace: mesh-infra
        enroll_namespaces: [team-a, team-b]

- name: Move a namespace to a new waypoint; back to the old one if the new one fails its proof
  ambient.mesh.waypoint:
    waypoints:
      - name: waypoint-v2
        namespace: hello
        enroll_namespace: true
    overwrite: true

- name: Remove a waypoint (its bindings first)
  ambient.mesh.waypoint:
    waypoints:
      - namespace: hello
        state: absent
"""

RETURN = r"""
waypoints:
  description:
    - One entry per Gateway created or updated (would be, in check mode), with what was done to it; with
      O(results=all), one per Gateway applied.
  returned: always
  type: list
  elements: dict
  sample: [{"ref": "Gateway hello/waypoint", "kind": "Gateway", "namespace": "hello", "name": "waypoint",
            "action": "created", "changed": true}]
bound:
  description: Namespaces and Services whose binding labels were set.
  returned: always
  type: list
  elements: str
  sample: ["Namespace hello", "Service bookinfo/reviews"]
unbound:
  description: Namespaces and Services whose binding to a removed waypoint was taken off.
  returned: always
  type: list
  elements: str
rebound:
  description: Namespaces and Services moved from another waypoint (O(overwrite)), with both waypoints as
    namespace/name.
  returned: always
  type: list
  elements: dict
  sample: [{"object": "Namespace hello", "from": "hello/old", "to": "hello/waypoint"}]
restored:
  description: On a failed run, the rebound namespaces and Services put back on their old waypoint
    (O(restore_on_failure)).
  returned: when the proof after a rebind failed
  type: list
  elements: dict
  sample: [{"object": "Namespace hello", "from": "hello/old", "to": "hello/waypoint"}]
changes:
  description: On a failed run, what was written before the failure (Gateways applied, objects bound, unbound
    or put back); with any, the result says C(changed=true).
  returned: when the run failed after its checks
  type: list
  elements: str
  sample: ["Gateway hello/waypoint created", "Namespace hello bound"]
deleted:
  description: Gateways deleted, as namespace/name.
  returned: always
  type: list
  elements: str
  sample: ["hello/waypoint"]
unchanged:
  description:
    - The Gateways of O(waypoints) this run left as they were, as namespace/name (for O(waypoints[].state=absent),
      those already gone). Bindings are reported in RV(bound) and RV(unbound), whatever happened to the Gateway.
  returned: always
  type: list
  elements: str
  sample: ["httpbin/waypoint"]
unchanged_count:
  description: How many Gateways this run left as they were.
  returned: always
  type: int
  sample: 1
summary:
  description: How many Gateways the task names, changed (created, updated or deleted) and unchanged.
  returned: always
  type: dict
  contains:
    total:
      description: The entries of O(waypoints).
      type: int
    changed:
      description: Those whose Gateway was created, updated or deleted (would be, in check mode).
      type: int
    unchanged:
      description: Those left as they were.
      type: int
  sample: {"total": 2, "changed": 1, "unchanged": 1}
"""

from ansible_collections.ambient.mesh.plugins.module_utils._args import (
    APPLY_ARG_SPEC,
    REQUEST_ARG_SPEC,
    WAIT_ARG_SPEC,
    argument_spec,
)
from ansible_collections.ambient.mesh.plugins.module_utils._objects.diff import with_diff
from ansible_collections.ambient.mesh.plugins.module_utils._module import AmbientModule, run_with_api
from ansible_collections.ambient.mesh.plugins.module_utils._waypoints.waypoint import run
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule


def main():
    spec = argument_spec(WAIT_ARG_SPEC, APPLY_ARG_SPEC, REQUEST_ARG_SPEC, dict(
        waypoints=dict(type="list", elements="dict", required=True, options=dict(
            name=dict(type="str", default="waypoint"),
            namespace=dict(type="str", required=True),
            waypoint_for=dict(type="str", choices=["service", "workload", "all", "none"], default="service",
                              aliases=["for"]),
            revision=dict(type="str"),
            allowed_namespaces=dict(type="str", choices=["auto", "same", "all"], default="auto"),
            enroll_namespace=dict(type="bool", default=False),
            enroll_services=dict(type="list", elements="str", default=[]),
            enroll_namespaces=dict(type="list", elements="str", default=[]),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        )),
        overwrite=dict(type="bool", default=False),
        restore_on_failure=dict(type="bool", default=True),
        require_ambient=dict(type="bool", default=True),
        require_istiod=dict(type="bool", default=True),
        results=dict(type="str", choices=["changed", "all"], default="changed"),
    ))
    module = AnsibleK8SModule(module_class=AmbientModule, argument_spec=spec, supports_check_mode=True)
    result = run_with_api(module, lambda api: run(api, module.params, module.check_mode, diff_mode=module._diff))
    module.exit_json(**with_diff(result, module._diff))


if __name__ == "__main__":
    main()
