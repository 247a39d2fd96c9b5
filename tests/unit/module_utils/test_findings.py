import pytest

from ansible_collections.ambient.mesh.plugins.module_utils._findings import Snapshot, find_misconfigurations
from builders import (
    ambient_namespace,
    correct_lab,
    namespace,
    service,
    split_route,
    split_virtualservice,
    waypoint,
)


def snapshot(objects):
    by_kind = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], []).append(obj)
    return Snapshot(namespaces=by_kind.get("Namespace", []), services=by_kind.get("Service", []),
                    gateways=by_kind.get("Gateway", []), httproutes=by_kind.get("HTTPRoute", []),
                    virtualservices=by_kind.get("VirtualService", []))


def codes(objects):
    return sorted((f["code"], f["object"]) for f in find_misconfigurations(snapshot(objects)))


def test_the_correct_lab_has_no_findings():
    assert codes(correct_lab()) == []


@pytest.mark.parametrize("objects, expected", [
    # the 50/50 trap: a subset split in an ambient namespace, no waypoint
    ([ambient_namespace("hello"), service("hello", "helloworld"), split_virtualservice()],
     [("VS_SPLIT_WITHOUT_WAYPOINT", "VirtualService hello/helloworld")]),
    # the same with a fully qualified host
    ([ambient_namespace("hello"), service("hello", "helloworld"),
      split_virtualservice(host="helloworld.hello.svc.cluster.local", name="helloworld")],
     [("VS_SPLIT_WITHOUT_WAYPOINT", "VirtualService hello/helloworld")]),
    # not ambient: sidecars honour the VirtualService, nothing to report
    ([namespace("hello"), service("hello", "helloworld"), split_virtualservice()], []),
    # an HTTPRoute on a Service that no waypoint serves
    ([ambient_namespace("hello"), service("hello", "helloworld"), split_route()],
     [("HTTPROUTE_WITHOUT_WAYPOINT", "HTTPRoute hello/helloworld")]),
    # sidecar injection and ambient on one namespace
    ([ambient_namespace("hello", **{"istio-injection": "enabled"})],
     [("SIDECAR_AND_AMBIENT", "Namespace hello")]),
    ([ambient_namespace("hello", **{"istio.io/rev": "1-30-3"})], [("SIDECAR_AND_AMBIENT", "Namespace hello")]),
    # use-waypoint naming a waypoint that does not exist
    ([ambient_namespace("hello", waypoint="missing")], [("WAYPOINT_NOT_FOUND", "Namespace hello")]),
    ([ambient_namespace("hello"), service("hello", "helloworld", labels={"istio.io/use-waypoint": "gone"})],
     [("WAYPOINT_NOT_FOUND", "Service hello/helloworld")]),
    # a Service bound to a workload-only waypoint
    ([ambient_namespace("hello"), waypoint("hello", "wl", waypoint_for="workload"),
      service("hello", "helloworld", labels={"istio.io/use-waypoint": "wl"})],
     [("WAYPOINT_WRONG_TYPE", "Service hello/helloworld")]),
    ([ambient_namespace("hello", waypoint="off"), waypoint("hello", "off", waypoint_for="none")],
     [("WAYPOINT_WRONG_TYPE", "Namespace hello")]),
    # a cross-namespace waypoint is found where the label says
    ([ambient_namespace("hello", waypoint="shared", **{"istio.io/use-waypoint-namespace": "mesh"}),
      namespace("mesh"), waypoint("mesh", "shared"), service("hello", "helloworld"), split_route()], []),
    # a VirtualService and an HTTPRoute on one Service (with a waypoint, so only the mix is wrong)
    ([ambient_namespace("hello", waypoint="waypoint"), waypoint("hello"), service("hello", "helloworld"),
      split_route(), split_virtualservice()],
     [("VS_AND_HTTPROUTE_SAME_SERVICE", "VirtualService hello/helloworld")]),
    # use-waypoint=none on the Service opts it out of the namespace waypoint
    ([ambient_namespace("hello", waypoint="waypoint"), waypoint("hello"),
      service("hello", "helloworld", labels={"istio.io/use-waypoint": "none"}), split_virtualservice()],
     [("VS_SPLIT_WITHOUT_WAYPOINT", "VirtualService hello/helloworld")]),
])
def test_each_finding(objects, expected):
    assert codes(objects) == sorted(expected)


def test_istiod_resolved_waypoints_message_is_read():
    route = split_route()
    route["status"] = {"parents": [{"parentRef": {"name": "helloworld", "kind": "Service", "group": ""},
                                    "controllerName": "istio.io/gateway-controller",
                                    "conditions": [{"type": "ResolvedWaypoints", "status": "True",
                                                    "message": "bound to default/waypoint; no waypoint found"}]}]}
    objects = [ambient_namespace("hello", waypoint="waypoint"), waypoint("hello"), service("hello", "helloworld"), route]
    found = find_misconfigurations(snapshot(objects))
    assert [f["code"] for f in found] == ["HTTPROUTE_WITHOUT_WAYPOINT"]
    assert "istiod: bound to default/waypoint; no waypoint found" in found[0]["message"]


def test_every_finding_says_what_to_do():
    objects = [ambient_namespace("hello"), service("hello", "helloworld"), split_virtualservice()]
    finding = find_misconfigurations(snapshot(objects))[0]
    assert finding["severity"] == "error"
    assert "50/50" in finding["message"]
    assert "waypoint" in finding["fix"] and "HTTPRoute" in finding["fix"]
