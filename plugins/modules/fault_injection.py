#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r"""
module: fault_injection
short_description: Delays and aborts for Services, applied by their waypoint, removed as surely as added
version_added: 0.1.0
description:
  - Injects a fixed delay and/or an HTTP abort into the requests to a Service, each for a percentage of the
    requests (picked independently), as an Istio VirtualService (C(networking.istio.io/v1)) - in ambient mode
    only a waypoint applies L7 faults. Many faults in one call, written by server-side apply in one batch.
  - Each fault is one VirtualService named C(<service>-fault) in the Service's namespace, host the Service,
    labelled C(app.kubernetes.io/managed-by=ambient.mesh) and C(ambient.mesh/fault-for=<service>), annotated
    with C(ambient.mesh/created-at) and, with O(faults[].expires_after), C(ambient.mesh/expires-at) (RFC 3339
    UTC). Only VirtualServices with those labels are ever changed or deleted.
  - A fault limited by O(faults[].match) gets a second route without the fault after the matched one, so the
    other requests keep flowing - a waypoint answers a request that matches no route of a host with HTTP 404.
    That route is left out when an HTTPRoute already routes the Service, whose answer for the rest stays as it was.
  - Refuses, before any change and naming the fix, a Service that no waypoint serves (istiod's
    C(istio.io/WaypointBound) condition on the Service is not True) - the fault would silently not apply.
  - Refuses a fault next to an HTTPRoute whose parent is the Service, or a VirtualService a waypoint reads for
    the same host, when one of their rules may take the fault's requests - at the waypoint the routes of a
    host are concatenated, the HTTPRoutes of the waypoint's namespace before public VirtualServices and
    otherwise in creation order, so whichever comes first shadows the other (the message names it).
    Allowed when the fault is limited by O(faults[].match) to requests no rule of theirs catches, decided
    conservatively - paths are compared, a rule with no match or a C(/) prefix catches everything, header
    matches not provably disjoint (an Exact value both require, different) count as catching. The message
    names the route and both ways out - a match the route does not catch, or removing the split
    (M(ambient.mesh.traffic_split) with C(state=absent)) and expressing it in the fault's VirtualService with
    O(faults[].destinations) for the duration of the check.
  - O(faults[].state=absent) deletes the fault VirtualServices this module made for the Service;
    O(prune_expired) deletes, in the namespaces given, every one whose C(ambient.mesh/expires-at) has passed -
    what a play interrupted before its clean-up left behind (M(ambient.mesh.mesh_info) reports them as
    C(FAULT_EXPIRED)).
  - There is nothing to wait for after the write - istiod writes no status on a VirtualService unless
    C(PILOT_ENABLE_ANALYSIS) is on (Istio 1.30.3 C(pilot/pkg/features/experimental.go)). The proof that a fault
    works is what traffic does - M(ambient.mesh.traffic_probe), or the C(ambient.mesh.fault_check) role.
author:
  - ambient.mesh maintainers (@ambient-mesh)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - ambient.mesh._apply
  - ambient.mesh._request
attributes:
  check_mode:
    description: Every write and delete is a server dry run; nothing changes.
    support: full
  diff_mode:
    description: One entry per VirtualService applied or deleted, the whole object before and after without server-managed fields.
    support: full
  idempotent:
    description:
      - A second run writes nothing - a fault keeps its C(ambient.mesh/created-at) while it lives, so its expiry
        stays where the first run put it. A fault whose expiry has passed is made anew (new times) when applied again.
    support: full
options:
  faults:
    description: The faults, at most one per Service.
    type: list
    elements: dict
    default: []
    suboptions:
      service:
        description: The Service whose requests get the fault.
        type: str
        required: true
      namespace:
        description: Its namespace (the VirtualService is made there).
        type: str
        required: true
      delay:
        description: Hold requests for a fixed time before they go on (before an abort, too).
        type: dict
        suboptions:
          fixed_delay:
            description:
              - How long, as a duration - C(3s), C(500ms), C(1m30s) - or a number of seconds; at least 1 ms, in whole
                milliseconds (Istio's rule).
            type: raw
            required: true
          percentage:
            description: The percentage of requests delayed, 0 to 100 (fractions allowed).
            type: float
            default: 100
      abort:
        description: Answer requests with an HTTP status instead of sending them on (Envoy's C(fault filter abort)).
        type: dict
        suboptions:
          http_status:
            description: The HTTP status, 200 to 599.
            type: int
            required: true
          percentage:
            description: The percentage of requests aborted, 0 to 100 (fractions allowed).
            type: float
            default: 100
      match:
        description:
          - Limit the fault to the requests of one HTTPRoute-like match - C(path) (C(type) V(PathPrefix) or V(Exact),
            C(value)) and C(headers) (a list of C(name), C(value), C(type) V(Exact) or V(RegularExpression)), all of
            which must hold. PathPrefix matches whole path segments, as in an HTTPRoute (C(/delay) takes C(/delay) and
            C(/delay/3), not C(/delayed)).
          - Without it every request of the Service may get the fault.
        type: dict
      destinations:
        description:
          - Where the fault's routes send requests - by default the Service itself. Give the per-version Services
            with their weights to keep a split in force while the fault is on, after removing the split's HTTPRoute.
          - Each has C(service) (a Service of the same namespace), optional C(port) and C(weight).
        type: list
        elements: dict
        default: []
      expires_after:
        description:
          - A duration (C(15m), C(1h)) after the fault's creation when it counts as expired - reported by
            M(ambient.mesh.mesh_info) as C(FAULT_EXPIRED) and removed by O(prune_expired). Istio does not remove it.
        type: str
      state:
        description:
          - V(absent) deletes the fault VirtualServices this module made for the Service (by its labels, never by
            name); a VirtualService named C(<service>-fault) without them is left in place, with a warning.
        type: str
        choices: [present, absent]
        default: present
  prune_expired:
    description:
      - Namespaces in which to delete every fault VirtualService of this collection whose expiry has passed,
        whichever Service it is for.
    type: list
    elements: str
    default: []
requirements:
  - kubernetes >= 24.2.0
"""

EXAMPLES = r"""
- name: The lab's httpbin faults - a 3 s delay on every request, HTTP 500 for half of them, gone in 15 minutes
  ambient.mesh.fault_injection:
    faults:
      - service: httpbin
        namespace: hello
        delay: {fixed_delay: 3s, percentage: 100}
        abort: {http_status: 500, percentage: 50}
        expires_after: 15m

- name: Only requests under /status with x-chaos true; the others flow as before
  ambient.mesh.fault_injection:
    faults:
      - service: httpbin
        namespace: hello
        abort: {http_status: 503}
        match:
          path: {type: PathPrefix, value: /status}
          headers: [{name: x-chaos, value: "true"}]

- name: A fault on a split Service - the split removed and carried by the fault's VirtualService meanwhile
  ambient.mesh.fault_injection:
    faults:
      - service: helloworld
        namespace: hello
        delay: {fixed_delay: 1s}
        destinations:
          - {service: helloworld-v1, weight: 95}
          - {service: helloworld-v2, weight: 5}
        expires_after: 10m

- name: Remove the faults left by a play that was interrupted, then the fault of httpbin
  ambient.mesh.fault_injection:
    prune_expired: [hello]
    faults:
      - service: httpbin
        namespace: hello
        state: absent
"""

RETURN = r"""
faults:
  description: One entry per fault, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    service:
      description: The Service, as namespace/name.
      type: str
    state:
      description: present or absent.
      type: str
    virtualservice:
      description: The name of the fault's VirtualService (null when absent).
      type: str
    fault:
      description: The VirtualService C(fault) written (delay and abort).
      type: dict
    created_at:
      description: When the fault was made (RFC 3339 UTC).
      type: str
    expires_at:
      description: When it expires (RFC 3339 UTC), or null.
      type: str
    beside:
      description: The HTTPRoutes and VirtualServices that also route the Service, whose rules do not take the fault's requests.
      type: list
      elements: str
    deleted:
      description: Fault VirtualServices of this Service deleted, as "Kind namespace/name".
      type: list
      elements: str
    changed:
      description: Whether anything of this fault changed.
      type: bool
  sample: [{"service": "hello/httpbin", "state": "present", "virtualservice": "httpbin-fault",
            "fault": {"delay": {"fixedDelay": "3s", "percentage": {"value": 100.0}},
                      "abort": {"httpStatus": 500, "percentage": {"value": 50.0}}},
            "created_at": "2026-11-30T10:00:00Z", "expires_at": "2026-11-30T10:15:00Z", "beside": [],
            "deleted": [], "changed": true}]
objects:
  description: One entry per VirtualService applied, with what was done to it.
  returned: always
  type: list
  elements: dict
  sample: [{"ref": "VirtualService hello/httpbin-fault", "kind": "VirtualService", "namespace": "hello",
            "name": "httpbin-fault", "action": "created", "changed": true}]
deleted:
  description: Fault VirtualServices deleted for O(faults[].state=absent), as "Kind namespace/name".
  returned: always
  type: list
  elements: str
  sample: ["VirtualService hello/httpbin-fault"]
pruned:
  description: Expired fault VirtualServices deleted by O(prune_expired), as "Kind namespace/name".
  returned: always
  type: list
  elements: str
  sample: ["VirtualService hello/httpbin-fault"]
"""

from ansible_collections.ambient.mesh.plugins.module_utils._args import (
    APPLY_ARG_SPEC,
    REQUEST_ARG_SPEC,
    argument_spec,
)
from ansible_collections.ambient.mesh.plugins.module_utils._objects.diff import with_diff
from ansible_collections.ambient.mesh.plugins.module_utils._faults.injection import run
from ansible_collections.ambient.mesh.plugins.module_utils._module import AmbientModule, run_with_api
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule


def main():
    spec = argument_spec(APPLY_ARG_SPEC, REQUEST_ARG_SPEC, dict(
        faults=dict(type="list", elements="dict", default=[], options=dict(
            service=dict(type="str", required=True),
            namespace=dict(type="str", required=True),
            delay=dict(type="dict", options=dict(
                fixed_delay=dict(type="raw", required=True),
                percentage=dict(type="float", default=100),
            )),
            abort=dict(type="dict", options=dict(
                http_status=dict(type="int", required=True),
                percentage=dict(type="float", default=100),
            )),
            match=dict(type="dict"),
            destinations=dict(type="list", elements="dict", default=[]),
            expires_after=dict(type="str"),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        )),
        prune_expired=dict(type="list", elements="str", default=[]),
    ))
    module = AnsibleK8SModule(module_class=AmbientModule, argument_spec=spec, supports_check_mode=True)
    result = run_with_api(module, lambda api: run(api, module.params, module.check_mode))
    module.exit_json(**with_diff(result, module._diff))


if __name__ == "__main__":
    main()
