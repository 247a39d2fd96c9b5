"""mesh_info's findings about weighted splits: a weighted backend that selects no pods, all weights 0."""

import pytest

from ansible_collections.ambient.mesh.plugins.module_utils._mesh_info.findings import Snapshot, find_misconfigurations
from builders import correct_lab, service

WAYPOINT_DEPLOYMENT = {"kind": "Deployment", "metadata": {"name": "waypoint", "namespace": "hello",
                                                          "labels": {"gateway.istio.io/managed": "istio.io-mesh-controller"}},
                       "spec": {"template": {"metadata": {"labels": {"gateway.networking.k8s.io/gateway-name": "waypoint"}}}}}


def deployment(version, ns="hello"):
    labels = {"app": "helloworld", "version": version}
    return {"kind": "Deployment", "metadata": {"name": "helloworld-" + version, "namespace": ns, "labels": {}},
            "spec": {"template": {"metadata": {"labels": labels}}}}


def findings(objects, workloads):
    by_kind = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], []).append(obj)
    snap = Snapshot(namespaces=by_kind.get("Namespace", []), services=by_kind.get("Service", []),
                    gateways=by_kind.get("Gateway", []), httproutes=by_kind.get("HTTPRoute", []),
                    virtualservices=by_kind.get("VirtualService", []), workloads=workloads)
    return sorted((f["code"], f["object"]) for f in find_misconfigurations(snap))


def with_weights(weights):
    lab = correct_lab()
    route = [o for o in lab if o["kind"] == "HTTPRoute"][0]
    for backend, weight in zip(route["spec"]["rules"][0]["backendRefs"], weights, strict=True):
        backend["weight"] = weight
    return lab


ROUTE = "HTTPRoute hello/helloworld"


@pytest.mark.parametrize("objects, workloads, expected", [
    # both versions deployed: nothing to report
    (correct_lab(), [deployment("v1"), deployment("v2"), WAYPOINT_DEPLOYMENT], []),
    # v2 not deployed while v1 is: the 5 % to helloworld-v2 fail
    (correct_lab(), [deployment("v1"), WAYPOINT_DEPLOYMENT], [("WEIGHTED_BACKEND_WITHOUT_PODS", ROUTE)]),
    # ... unless its weight is 0 (a canary prepared before its deployment)
    (with_weights((100, 0)), [deployment("v1")], []),
    # no app deployed yet in the namespace (the waypoint's own Deployment is no app), or workloads not read
    (correct_lab(), [WAYPOINT_DEPLOYMENT], []),
    (correct_lab(), None, []),
    # all weights 0: the rule routes nowhere
    (with_weights((0, 0)), [deployment("v1"), deployment("v2")], [("SPLIT_ALL_WEIGHTS_ZERO", ROUTE)]),
    # a Service without a selector (manual endpoints) is not judged
    ([o if o.get("metadata", {}).get("name") != "helloworld-v2" or o["kind"] != "Service"
      else dict(service("hello", "helloworld-v2"), spec={"ports": [{"port": 5000}]}) for o in correct_lab()],
     [deployment("v1")], []),
])
def test_split_findings(objects, workloads, expected):
    assert findings(objects, workloads) == expected
