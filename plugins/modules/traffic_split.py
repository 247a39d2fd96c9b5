#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r"""
module: traffic_split
short_description: Weighted traffic splits the ambient way, through a waypoint
version_added: 0.1.0
description:
  - Makes what a weighted split needs in Istio ambient mode, many splits in one call, by server-side apply -
    one ClusterIP Service per version (the base Service's ports and selector plus the version's labels,
    named C(<service>-<version>), labelled C(app.kubernetes.io/managed-by=ambient.mesh) and
    C(ambient.mesh/traffic-split=<service>)), and a Gateway API HTTPRoute whose parent is the Service itself
    (C(group=""), C(kind=Service) and the port) and whose backends are the per-version Services with their weights.
  - Changing only the weights writes the HTTPRoute and nothing else.
  - Refuses, before any change and naming the fix, a Service that no waypoint serves (no C(istio.io/use-waypoint)
    on it or its namespace, the waypoint missing or not Programmed, or C(istio.io/WaypointBound) not True) - without
    a waypoint the weights are ignored and traffic splits by endpoint count - unless O(require_waypoint=false).
  - Refuses next to a mesh VirtualService that routes the same host or a DestinationRule that splits it into subsets
    (named in the message); O(remove_conflicts=true) deletes them.
  - Refuses weights out of 0..1000000, all weights 0, more than 16 versions, a port the Service does not have, and a
    version whose selector matches no pod template of a Deployment or StatefulSet in the namespace. When the
    namespace has no workloads yet, or the version's weight is 0, that is a warning instead.
  - Waits for istiod's route status on each parent - C(Accepted) and C(ResolvedRefs) True for the current
    generation - and reports istiod's C(ResolvedWaypoints) message; a failure names istiod's reason and a fix.
  - O(splits[].state=absent) deletes the HTTPRoutes and the per-version Services this module made for the Service;
    Services made by anyone else stay. A present split also deletes what it made earlier and no longer needs
    (a version or port taken out, a renamed route).
author:
  - ambient.mesh maintainers (@ambient-mesh)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - ambient.mesh._wait
  - ambient.mesh._apply
  - ambient.mesh._request
attributes:
  check_mode:
    description: Every write and delete is a server dry run; nothing changes and nothing is waited for.
    support: full
  diff_mode:
    description:
      - One entry per changed object, the whole object before and after without server-managed fields - each
        per-version Service and HTTPRoute applied, and each object deleted (after is empty).
    support: full
  idempotent:
    description: A second run writes nothing.
    support: full
options:
  splits:
    description: The splits, one per Service.
    type: list
    elements: dict
    required: true
    suboptions:
      service:
        description: The Service whose traffic is split (the HTTPRoute's parent).
        type: str
        required: true
      namespace:
        description: Its namespace.
        type: str
        required: true
      ports:
        description:
          - The Service ports to split. Not needed for a Service with one port.
          - With more than one port, each port gets an HTTPRoute of its own, named C(<route_name>-<port>).
        type: list
        elements: int
        default: []
      route_name:
        description: The HTTPRoute's name; the Service's name when not given.
        type: str
      versions:
        description: The versions and their weights; required when O(splits[].state=present).
        type: list
        elements: dict
        default: []
        suboptions:
          name:
            description: The version's name; its Service is C(<service>-<name>).
            type: str
            required: true
          weight:
            description: Its weight, 0 to 1000000; its share is weight / sum of the weights.
            type: int
            required: true
          labels:
            description:
              - Labels added to the base Service's selector to select this version's pods.
              - Defaults to C(version=<name>).
            type: dict
          service:
            description:
              - An existing Service of the namespace to use as it is, instead of a per-version Service made by
                this module.
            type: str
      matches:
        description:
          - Gateway API HTTPRoute matches (C(path), C(headers), C(queryParams), C(method)) for the weighted rule,
            as in the HTTPRoute's C(spec.rules[].matches); for header-based canaries.
          - Requests that match none go to O(splits[].unmatched_version), or get no route (HTTP 404) without it.
        type: list
        elements: dict
        default: []
      unmatched_version:
        description: With O(splits[].matches), the version that takes every request the matches do not.
        type: str
      timeouts:
        description:
          - The route's timeouts, written to each rule of the HTTPRoute (C(spec.rules[].timeouts)); Gateway API
            durations (GEP-2257) such as V(1s), V(500ms), V(1m30s); V(0s) is no timeout.
          - Istio 1.30.3 makes O(splits[].timeouts.request) the route timeout, which covers every attempt and the
            waits between retries; when it fires the client gets the waypoint's 504 C(upstream request timeout).
          - A fault injected at the same waypoint (M(ambient.mesh.fault_injection)) runs before the router, so its
            delay never counts toward the timeout; drill timeouts with a slow upstream (see the README's
            "Resilience drills").
        type: dict
        suboptions:
          request:
            description: The whole request's timeout.
            type: str
          backend_request:
            description:
              - The timeout of each try (the per-try timeout) when O(splits[].retry) is set; not longer than
                O(splits[].timeouts.request).
              - Without O(splits[].retry) istiod makes it the route timeout in place of O(splits[].timeouts.request).
            type: str
      retry:
        description:
          - The route's retry policy, written to each rule of the HTTPRoute (C(spec.rules[].retry)).
          - Needs the HTTPRoute CRD of the Gateway API experimental channel; the module reads the CRD and refuses,
            before any change, when its schema has no C(retry) (an API server drops fields its CRD lacks). When the
            CRD cannot be read (no right to get CustomResourceDefinitions) it warns and writes the route unchecked.
          - Istio retries connection failures, refused streams and the listed O(splits[].retry.codes); without
            O(splits[].retry) its default policy retries no status code, so an app's 503 reaches the client.
          - A fault injected at the same waypoint is a local reply before the router and is never retried.
        type: dict
        suboptions:
          attempts:
            description: Retries after the first try (Istio's default 2 when not given); V(0) turns retries off, also
              Istio's default ones.
            type: int
          codes:
            description:
              - The HTTP statuses of an upstream answer that are retried, for example V([503]) - from 400 to 599, and
                only those Go's net/http knows (istiod's C(parseRetryOn) takes no other; 509 or 599 are refused).
            type: list
            elements: int
          backoff:
            description: The base of Envoy's jittered exponential back-off between tries (25 ms when not given; above 0).
            type: str
      state:
        description: V(absent) deletes the HTTPRoutes and the per-version Services this module made for the Service.
        type: str
        choices: [present, absent]
        default: present
  require_waypoint:
    description:
      - Refuse a split of a Service that no waypoint serves.
      - Set to V(false) only when a later task of the same play binds the waypoint; until then the weights are
        ignored (istiod still accepts the route, and says so in C(ResolvedWaypoints)).
    type: bool
    default: true
  remove_conflicts:
    description:
      - Delete the mesh VirtualServices that route the Service's host and the DestinationRules that split it into
        subsets, after the new objects are in place (what the lab did by hand with C(kubectl delete)).
    type: bool
    default: false
requirements:
  - kubernetes >= 24.2.0
"""

EXAMPLES = r"""
- name: The lab's split, helloworld v1 95 / v2 5 (Services helloworld-v1, helloworld-v2)
  ambient.mesh.traffic_split:
    splits:
      - service: helloworld
        namespace: hello
        route_name: hello-http-split-traffic
        versions:
          - {name: v1, weight: 95}
          - {name: v2, weight: 5}

- name: Replace the lab's VirtualService + DestinationRule split with an HTTPRoute
  ambient.mesh.traffic_split:
    remove_conflicts: true
    splits:
      - service: helloworld
        namespace: hello
        versions:
          - {name: v1, weight: 90}
          - {name: v2, weight: 10}

- name: A header-based canary - requests with x-canary go to v2, all others to v1
  ambient.mesh.traffic_split:
    splits:
      - service: helloworld
        namespace: hello
        matches:
          - headers: [{name: x-canary, value: "true"}]
        versions:
          - {name: v1, weight: 0}
          - {name: v2, weight: 100}
        unmatched_version: v1

- name: helloworld v1 90 / v2 10 with a 1 s request timeout and 2 retries of 503 (retry needs the experimental channel)
  ambient.mesh.traffic_split:
    splits:
      - service: helloworld
        namespace: hello
        versions:
          - {name: v1, weight: 90}
          - {name: v2, weight: 10}
        timeouts: {request: 1s}
        retry: {attempts: 2, codes: [503]}

- name: Remove the split (the per-version Services it made go too)
  ambient.mesh.traffic_split:
    splits:
      - service: helloworld
        namespace: hello
        state: absent
"""

RETURN = r"""
splits:
  description: One entry per split, in the order given.
  returned: always
  type: list
  elements: dict
  contains:
    service:
      description: The split Service, as namespace/name.
      type: str
    state:
      description: present or absent.
      type: str
    routes:
      description: The names of its HTTPRoutes (one per port).
      type: list
      elements: str
    services:
      description: The backend Service of each version.
      type: list
      elements: str
    weights:
      description: The weight of each version.
      type: dict
    policy:
      description:
        - The route's timeouts and retry as written to each rule (C(timeouts), C(retry)), and C(summary), what
          istiod makes of them in words; empty for a split without them.
      type: dict
    status:
      description:
        - Per HTTPRoute parent, what istiod reported - C(accepted) and C(resolved_refs) (true when True for the
          current generation, with the condition as text in C(accepted_reason) and C(resolved_refs_reason)) and
          C(waypoints), the message of C(ResolvedWaypoints). Empty in check mode.
      type: list
      elements: dict
    deleted:
      description: What this module made for the split earlier and deleted now, as "Kind namespace/name".
      type: list
      elements: str
    changed:
      description: Whether anything of this split changed.
      type: bool
  sample: [{"service": "hello/helloworld", "state": "present", "routes": ["hello-http-split-traffic"],
            "services": ["helloworld-v1", "helloworld-v2"], "weights": {"v1": 95, "v2": 5},
            "status": [{"route": "hello-http-split-traffic", "port": 5000, "accepted": true,
                        "accepted_reason": "Accepted=True (Accepted): Route was valid", "resolved_refs": true,
                        "resolved_refs_reason": "ResolvedRefs=True (ResolvedRefs): All references resolved",
                        "waypoints": "All waypoints resolved"}],
            "deleted": [], "changed": true}]
objects:
  description: One entry per object applied, with what was done to it.
  returned: always
  type: list
  elements: dict
  sample: [{"ref": "HTTPRoute hello/hello-http-split-traffic", "kind": "HTTPRoute", "namespace": "hello",
            "name": "hello-http-split-traffic", "action": "updated", "changed": true}]
removed:
  description: The conflicting VirtualServices and DestinationRules deleted, as "Kind namespace/name".
  returned: always
  type: list
  elements: str
  sample: ["VirtualService hello/helloworld", "DestinationRule hello/helloworld"]
deleted:
  description: HTTPRoutes and per-version Services this module made and deleted, as "Kind namespace/name".
  returned: always
  type: list
  elements: str
  sample: ["HTTPRoute hello/helloworld", "Service hello/helloworld-v1"]
"""

from ansible_collections.ambient.mesh.plugins.module_utils._args import (
    APPLY_ARG_SPEC,
    REQUEST_ARG_SPEC,
    WAIT_ARG_SPEC,
    argument_spec,
)
from ansible_collections.ambient.mesh.plugins.module_utils._objects.diff import with_diff
from ansible_collections.ambient.mesh.plugins.module_utils._module import AmbientModule, run_with_api
from ansible_collections.ambient.mesh.plugins.module_utils._traffic.split import run
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule


def main():
    spec = argument_spec(WAIT_ARG_SPEC, APPLY_ARG_SPEC, REQUEST_ARG_SPEC, dict(
        splits=dict(type="list", elements="dict", required=True, options=dict(
            service=dict(type="str", required=True),
            namespace=dict(type="str", required=True),
            ports=dict(type="list", elements="int", default=[]),
            route_name=dict(type="str"),
            versions=dict(type="list", elements="dict", default=[], mutually_exclusive=[("labels", "service")], options=dict(
                name=dict(type="str", required=True),
                weight=dict(type="int", required=True),
                labels=dict(type="dict"),
                service=dict(type="str"),
            )),
            matches=dict(type="list", elements="dict", default=[]),
            unmatched_version=dict(type="str"),
            timeouts=dict(type="dict", options=dict(
                request=dict(type="str"),
                backend_request=dict(type="str"),
            )),
            retry=dict(type="dict", options=dict(
                attempts=dict(type="int"),
                codes=dict(type="list", elements="int"),
                backoff=dict(type="str"),
            )),
            state=dict(type="str", choices=["present", "absent"], default="present"),
        )),
        require_waypoint=dict(type="bool", default=True),
        remove_conflicts=dict(type="bool", default=False),
    ))
    module = AnsibleK8SModule(module_class=AmbientModule, argument_spec=spec, supports_check_mode=True)
    result = run_with_api(module, lambda api: run(api, module.params, module.check_mode))
    module.exit_json(**with_diff(result, module._diff))


if __name__ == "__main__":
    main()
