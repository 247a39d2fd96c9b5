#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r"""
module: mesh_info
short_description: Describe an Istio ambient mesh and find its known misconfigurations
version_added: 0.1.0
description:
  - Read-only. Reads the cluster with one LIST per kind, concurrently, and returns the Istio install
    (version, revisions, profile, health of istiod, ztunnel and istio-cni), the Gateway API CRD
    version and channel, the namespaces in the mesh, the waypoints, the HTTPRoutes attached to
    Services with their status, the VirtualServices that inject faults, and findings.
  - Each finding has a code, the object, a message and a one-line fix. Codes are
    C(VS_SPLIT_WITHOUT_WAYPOINT) (a VirtualService weighted or subset split in an ambient namespace
    whose Service no waypoint serves, the split that silently comes out 50/50),
    C(HTTPROUTE_WITHOUT_WAYPOINT) (istiod's C(ResolvedWaypoints) condition is always True, its message
    is read), C(SIDECAR_AND_AMBIENT), C(WAYPOINT_NOT_FOUND), C(WAYPOINT_WRONG_TYPE),
    C(VS_AND_HTTPROUTE_SAME_SERVICE) (a waypoint concatenates the routes for a host - the HTTPRoutes of its own
    namespace before public VirtualServices, otherwise in creation order - so the first one's catch-all
    shadows the others; the message lists them in the waypoint's order and names the winner),
    C(VS_IN_THIRD_NAMESPACE) (a VirtualService for a waypoint-served Service outside the Service's and
    the waypoint's namespaces, which the waypoint ignores), C(VS_SOURCE_LABELS_AT_WAYPOINT) (matches
    on C(sourceLabels), which a waypoint drops), C(WEIGHTED_BACKEND_WITHOUT_PODS) (a weighted backend Service
    whose selector matches no Deployment or StatefulSet pod template in a namespace that has workloads) and
    C(SPLIT_ALL_WEIGHTS_ZERO) (a rule whose backends all have weight 0) and C(FAULT_EXPIRED) (a fault
    VirtualService of M(ambient.mesh.fault_injection) whose C(ambient.mesh/expires-at) has passed - left by an
    interrupted run and still in force; the fix is to remove it with O(ambient.mesh.fault_injection#module:prune_expired)).
  - Bad references and unfinished work - C(WAYPOINT_NAMESPACE_NOT_FOUND) (C(istio.io/use-waypoint-namespace) names a
    namespace that does not exist; a missing waypoint Gateway is C(WAYPOINT_NOT_FOUND)), C(WAYPOINT_REVISION_NOT_SERVED)
    (a waypoint of a revision no running istiod serves, never Programmed; looked for only where some istiod runs),
    C(WAYPOINT_BOUND_NOT_AMBIENT) (a namespace with C(istio.io/use-waypoint) that is not in ambient mode),
    C(RESTART_PENDING) (a namespace with the C(ambient.mesh/restart-pending) annotation of
    M(ambient.mesh.ambient_namespace) - its capture changed and its workloads were not restarted yet) and
    C(CAPTURE_MISMATCH) (pods not captured the way their namespace's labels say - a sidecar in an ambient namespace,
    or C(ambient.istio.io/redirection=enabled) in a namespace that is not).
  - Retries - C(RETRY_NON_IDEMPOTENT) (an HTTPRoute or VirtualService rule that retries an answer's status, such as
    503, for requests of any method - a POST the app handled before it answered runs again, where Istio's default
    policy retries only connection failures, which never reached the app).
  - Everything is taken from the API server; no istioctl is needed.
author:
  - ambient.mesh maintainers (@ambient-mesh)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - ambient.mesh._request
attributes:
  check_mode:
    description: Read-only; runs the same in check mode.
    support: full
  diff_mode:
    description: Changes nothing, so there is no diff.
    support: none
  idempotent:
    description: Never changes anything.
    support: full
options:
  fail_on_findings:
    description:
      - Fail the task when there are findings of this severity or worse.
      - V(never) only reports them.
    type: str
    choices: [never, warning, error]
    default: never
requirements:
  - kubernetes >= 24.2.0
"""

EXAMPLES = r"""
- name: Describe the mesh
  ambient.mesh.mesh_info:
  register: mesh

- name: Show what is wrong, one line each
  ansible.builtin.debug:
    msg: "{{ mesh.findings | map(attribute='message') | list }}"

- name: Gate a pipeline on a clean mesh
  ambient.mesh.mesh_info:
    fail_on_findings: error
"""

RETURN = r"""
kubernetes_version:
  description: The API server's version (C(gitVersion) of C(/version)).
  returned: always
  type: str
  sample: v1.33.1
istio:
  description:
    - The Istio install as the API shows it - C(installed), C(version) (the newest), C(versions),
      C(revisions), C(profile), C(ambient_enabled), C(healthy), and C(components) with the ready and
      desired counts of istiod, ztunnel and istio-cni.
    - Found by the labels Istio's charts put on the workloads, so an install by istioctl and one by
      Helm both count - istiod by C(app=istiod), ztunnel by C(app.kubernetes.io/name=ztunnel),
      istio-cni by C(k8s-app=istio-cni-node). The version is istioctl's C(operator.istio.io/version)
      label, else the image tag without its C(-distroless) or C(-debug) variant.
  returned: always
  type: dict
  sample: {"installed": true, "version": "1.30.3", "revisions": ["default"], "profile": "ambient",
           "healthy": true, "components": {"istiod": [{"name": "istiod", "namespace": "istio-system",
           "ready": true, "ready_count": 1, "desired": 1}]}}
gateway_api:
  description: The Gateway API CRDs installed.
  returned: always
  type: dict
  sample: {"installed": true, "version": "v1.5.1", "channel": "standard", "crds": ["httproutes.gateway.networking.k8s.io"]}
namespaces:
  description:
    - Namespaces with an ambient, waypoint or sidecar label - C(name), C(dataplane_mode), C(ambient),
      C(use_waypoint), C(use_waypoint_namespace), C(istio_injection), C(revision).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "hello", "ambient": true, "dataplane_mode": "ambient", "use_waypoint": "waypoint"}]
waypoints:
  description:
    - Waypoint Gateways (class istio-waypoint) - C(name), C(namespace), C(waypoint_for), C(programmed),
      C(revision).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "waypoint", "namespace": "hello", "waypoint_for": "service", "programmed": true}]
routes:
  description:
    - HTTPRoutes whose parent is a Service - C(name), C(namespace), C(services), C(parents) (per parent
      Accepted, ResolvedRefs and istiod's ResolvedWaypoints message - that condition is always True; its
      message says C(All waypoints resolved) or that the use-waypoint label is missing), C(backends)
      with their weights, and C(resilience) - per rule with C(timeouts) or C(retry), the rule's index
      (C(rule)), the fields as written and C(summary), what Istio makes of them (for example C(request timeout 1s;
      2 retries on connection failures and 503)).
  returned: always
  type: list
  elements: dict
  sample: [{"name": "helloworld", "namespace": "hello", "services": ["hello/helloworld"],
            "parents": [{"kind": "Service", "name": "helloworld", "namespace": "hello", "port": null,
                         "accepted": true, "resolved_refs": true, "waypoint_message": null}],
            "backends": [{"name": "helloworld-v1", "port": 5000, "weight": 90}],
            "resilience": [{"rule": 0, "timeouts": {"request": "1s"}, "retry": {"attempts": 2, "codes": [503]},
                            "summary": "request timeout 1s; 2 retries on connection failures and 503"}]}]
fault_injections:
  description:
    - VirtualService routes that inject a delay or an abort - the faults in force - with C(name), C(namespace),
      C(hosts), C(route) (the index in C(http)), C(delay), C(abort), and C(managed) (made by
      M(ambient.mesh.fault_injection)), C(service), C(created_at), C(expires_at) and C(expired) for those.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "httpbin-fault", "namespace": "hello", "hosts": ["httpbin"], "route": 0,
            "delay": {"fixed_delay": "3s", "percentage": 100}, "abort": null, "managed": true, "service": "httpbin",
            "created_at": "2026-11-30T10:00:00Z", "expires_at": "2026-11-30T10:15:00Z", "expired": false}]
findings:
  description:
    - Known ambient misconfigurations, each with code, severity, object, message and fix.
    - Codes - C(VS_SPLIT_WITHOUT_WAYPOINT), C(HTTPROUTE_WITHOUT_WAYPOINT), C(SIDECAR_AND_AMBIENT),
      C(WAYPOINT_NOT_FOUND), C(WAYPOINT_WRONG_TYPE), C(VS_AND_HTTPROUTE_SAME_SERVICE),
      C(VS_IN_THIRD_NAMESPACE), C(VS_SOURCE_LABELS_AT_WAYPOINT), C(WEIGHTED_BACKEND_WITHOUT_PODS),
      C(SPLIT_ALL_WEIGHTS_ZERO), C(FAULT_EXPIRED), C(WAYPOINT_NAMESPACE_NOT_FOUND), C(WAYPOINT_REVISION_NOT_SERVED),
      C(WAYPOINT_BOUND_NOT_AMBIENT), C(RESTART_PENDING), C(CAPTURE_MISMATCH), C(RETRY_NON_IDEMPOTENT).
  returned: always
  type: list
  elements: dict
  sample: [{"code": "VS_SPLIT_WITHOUT_WAYPOINT", "severity": "error", "object": "VirtualService hello/helloworld",
            "message": "VirtualService hello/helloworld splits traffic to Service hello/helloworld, which no waypoint serves",
            "fix": "deploy a waypoint for namespace hello (ambient.mesh.waypoint)"}]
findings_count:
  description: How many findings there are.
  returned: always
  type: int
"""

from ansible_collections.ambient.mesh.plugins.module_utils._args import REQUEST_ARG_SPEC, argument_spec
from ansible_collections.ambient.mesh.plugins.module_utils._module import AmbientModule, run_with_api
from ansible_collections.ambient.mesh.plugins.module_utils._mesh_info.describe import describe_mesh
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule

SEVERITY = {"never": 99, "warning": 1, "error": 2}
LEVEL = {"warning": 1, "error": 2}


def main():
    spec = argument_spec(REQUEST_ARG_SPEC, dict(
        fail_on_findings=dict(type="str", choices=["never", "warning", "error"], default="never"),
    ))
    module = AnsibleK8SModule(module_class=AmbientModule, argument_spec=spec, supports_check_mode=True)
    result = run_with_api(module, lambda api: describe_mesh(api, module.params["concurrency"]))
    threshold = SEVERITY[module.params["fail_on_findings"]]
    blocking = [f for f in result["findings"] if LEVEL[f["severity"]] >= threshold]
    if blocking:
        module.fail_json(msg="%d finding(s) at or above %s: %s" % (
            len(blocking), module.params["fail_on_findings"], "; ".join(f["message"] for f in blocking)), **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
