import pytest

from ansible_collections.ambient.mesh.plugins.module_utils._mesh_info.findings import Snapshot, find_misconfigurations
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


# What istiod 1.30.3 writes in ResolvedWaypoints, always with status True
# (pilot/pkg/config/kube/gateway/conditions.go:177 and :272-274)
ALL_RESOLVED = "All waypoints resolved"
MISSING_LABEL = ("istio.io/use-waypoint label missing from parent and parent namespace; in ambient mode, route will "
                 "not be respected")


def with_resolved_waypoints(route, message):
    route["status"] = {"parents": [{"parentRef": {"name": "helloworld", "kind": "Service", "group": ""},
                                    "controllerName": "istio.io/gateway-controller",
                                    "conditions": [{"type": "ResolvedWaypoints", "status": "True",
                                                    "reason": "ResolvedWaypoints", "message": message}]}]}
    return route


def test_istiods_missing_label_message_is_a_route_without_waypoint():
    route = with_resolved_waypoints(split_route(), MISSING_LABEL)
    objects = [ambient_namespace("hello"), service("hello", "helloworld"), route]
    found = find_misconfigurations(snapshot(objects))
    assert [f["code"] for f in found] == ["HTTPROUTE_WITHOUT_WAYPOINT"]
    assert "(istiod: %s)" % MISSING_LABEL in found[0]["message"]


def test_all_waypoints_resolved_does_not_prove_a_waypoint_exists():
    # istiod checks the label only: the waypoint it names may not exist
    route = with_resolved_waypoints(split_route(), ALL_RESOLVED)
    objects = [ambient_namespace("hello", waypoint="waypoint"), service("hello", "helloworld"), route]
    found = {f["code"]: f for f in find_misconfigurations(snapshot(objects))}
    assert sorted(found) == ["HTTPROUTE_WITHOUT_WAYPOINT", "WAYPOINT_NOT_FOUND"]
    assert "istiod:" not in found["HTTPROUTE_WITHOUT_WAYPOINT"]["message"]


def created(obj, stamp):
    obj["metadata"]["creationTimestamp"] = stamp
    return obj


OLD, NEW = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"
ROUTE, VS = "HTTPRoute hello/helloworld", "VirtualService hello/helloworld"


def wins(first, second):
    return "%s comes first and has a catch-all rule, so it wins: the rules of %s never apply" % (first, second)


@pytest.mark.parametrize("route_stamp, vs_stamp, waypoint_ns, export_to, order", [
    # Istio 1.30.3 push_context.go VirtualServicesForGateway: the HTTPRoutes of the waypoint's namespace come
    # before the public VirtualServices, older or newer
    (OLD, NEW, "hello", None, [ROUTE, VS]),
    (NEW, OLD, "hello", None, [ROUTE, VS]),
    # a VirtualService private to the waypoint's namespace comes before every public one
    (OLD, NEW, "hello", ["."], [VS, ROUTE]),
    # a waypoint in another namespace: both are "other public" ones, in creation order
    (OLD, NEW, "wp", None, [ROUTE, VS]),
    (NEW, OLD, "wp", None, [VS, ROUTE]),
    # ... and one exported to the waypoint's namespace comes before them
    (OLD, NEW, "wp", ["wp"], [VS, ROUTE]),
])
def test_vs_and_httproute_finding_names_the_one_the_waypoint_puts_first(route_stamp, vs_stamp, waypoint_ns, export_to,
                                                                        order):
    labels = {"istio.io/use-waypoint-namespace": waypoint_ns} if waypoint_ns != "hello" else {}
    vs = created(split_virtualservice(), vs_stamp)
    if export_to:
        vs["spec"]["exportTo"] = export_to
    objects = [ambient_namespace("hello", waypoint="waypoint", **labels), waypoint(waypoint_ns),
               service("hello", "helloworld"), created(split_route(), route_stamp), vs]
    if waypoint_ns != "hello":
        objects[1]["spec"]["listeners"][0]["allowedRoutes"] = {"namespaces": {"from": "All"}}
    [finding] = find_misconfigurations(snapshot(objects))
    assert finding["code"] == "VS_AND_HTTPROUTE_SAME_SERVICE"
    positions = [finding["message"].index(ref + " (created") for ref in order]
    assert positions == sorted(positions)
    assert "waypoint %s/waypoint merges their routes in this order" % waypoint_ns in finding["message"]
    assert wins(*order) in finding["message"]


def test_same_second_at_a_waypoint_of_another_namespace_goes_by_generated_name():
    """model/config.go sortConfigByCreationTime: same second -> by name; the HTTPRoute's VirtualService is
    named hello~5000~helloworld.hello.svc.cluster.local (route_collections.go): after "helloworld", before
    "zz-split"."""
    objects = [ambient_namespace("hello", waypoint="waypoint", **{"istio.io/use-waypoint-namespace": "wp"}),
               waypoint("wp"), service("hello", "helloworld"), created(split_route(), OLD),
               created(split_virtualservice(), OLD)]
    [finding] = find_misconfigurations(snapshot(objects))
    assert wins(VS, ROUTE) in finding["message"]
    objects[-1] = created(split_virtualservice(name="zz-split"), OLD)
    [finding] = find_misconfigurations(snapshot(objects))
    assert wins(ROUTE, "VirtualService hello/zz-split") in finding["message"]


def test_a_virtualservice_the_waypoint_cannot_see_is_no_merge():
    """push_context.go initVirtualServices: exportTo "." makes it private to the Service's namespace; a
    waypoint in another namespace never gets it."""
    vs = created(split_virtualservice(), OLD)
    vs["spec"]["exportTo"] = ["."]
    objects = [ambient_namespace("hello", waypoint="waypoint", **{"istio.io/use-waypoint-namespace": "wp"}),
               waypoint("wp"), service("hello", "helloworld"), created(split_route(), NEW), vs]
    objects[1]["spec"]["listeners"][0]["allowedRoutes"] = {"namespaces": {"from": "All"}}
    assert [f["code"] for f in find_misconfigurations(snapshot(objects)) if f["code"] == "VS_AND_HTTPROUTE_SAME_SERVICE"] == []


def test_what_a_waypoint_ignores_in_a_virtualservice():
    elsewhere = split_virtualservice(ns="ops", host="helloworld.hello.svc.cluster.local", name="hello-split")
    by_labels = split_virtualservice()
    by_labels["spec"]["http"].insert(0, {"match": [{"sourceLabels": {"app": "curl"}}, {"headers": {"x": {"exact": "1"}}}],
                                         "route": [{"destination": {"host": "helloworld"}}]})
    objects = [ambient_namespace("hello", waypoint="waypoint"), waypoint("hello"), service("hello", "helloworld"),
               namespace("ops"), elsewhere, by_labels]
    found = {f["code"]: f for f in find_misconfigurations(snapshot(objects))}
    assert sorted(found) == ["VS_IN_THIRD_NAMESPACE", "VS_SOURCE_LABELS_AT_WAYPOINT"]
    assert found["VS_IN_THIRD_NAMESPACE"]["object"] == "VirtualService ops/hello-split"
    assert found["VS_IN_THIRD_NAMESPACE"]["fix"] == "move VirtualService hello-split to namespace hello"
    assert "http[0].match[0]" in found["VS_SOURCE_LABELS_AT_WAYPOINT"]["message"]
    assert "http[0].match[1]" not in found["VS_SOURCE_LABELS_AT_WAYPOINT"]["message"]


@pytest.mark.parametrize("objects", [
    # in the waypoint's own namespace: honoured
    [ambient_namespace("hello", waypoint="shared", **{"istio.io/use-waypoint-namespace": "mesh"}), namespace("mesh"),
     waypoint("mesh", "shared"), service("hello", "helloworld"),
     split_virtualservice(ns="mesh", host="helloworld.hello.svc.cluster.local")],
    # no waypoint: sidecars may still use sourceLabels; the ambient findings do not judge it
    [namespace("hello"), service("hello", "helloworld"),
     dict(split_virtualservice(), spec={"hosts": ["helloworld"], "http": [
         {"match": [{"sourceLabels": {"app": "curl"}}], "route": [{"destination": {"host": "helloworld"}}]}]})],
])
def test_virtualservices_a_waypoint_honours_are_not_reported(objects):
    assert codes(objects) == []


def test_every_finding_says_what_to_do():
    objects = [ambient_namespace("hello"), service("hello", "helloworld"), split_virtualservice()]
    finding = find_misconfigurations(snapshot(objects))[0]
    assert finding["severity"] == "error"
    assert "50/50" in finding["message"]
    assert "waypoint" in finding["fix"] and "HTTPRoute" in finding["fix"]
