"""traffic_split's planner, table-driven: parameters and live objects in, objects, deletions and refusals out."""

import copy

import pytest
import yaml

from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError
from ansible_collections.ambient.mesh.plugins.module_utils._traffic.split import (
    Live,
    Problems,
    copy_ports,
    normalize,
    plan,
    route_problem,
)
from ansible_collections.ambient.mesh.plugins.module_utils._istio.hosts import host_matches
from ansible_collections.ambient.mesh.plugins.module_utils._istio.route_resilience import rule_fields
from conftest import CRDS
from builders import ambient_namespace, namespace, service, split_virtualservice, waypoint

MANAGED = {"app.kubernetes.io/managed-by": "ambient.mesh", "ambient.mesh/traffic-split": "helloworld"}
LAB = {"service": "helloworld", "namespace": "hello", "ports": [5000], "route_name": "hello-http-split-traffic",
       "versions": [{"name": "v1", "weight": 95}, {"name": "v2", "weight": 5}], "state": "present"}


def bound(svc, status="True", reason="WaypointAccepted"):
    svc = copy.deepcopy(svc)
    svc["status"] = {"conditions": [{"type": "istio.io/WaypointBound", "status": status, "reason": reason,
                                     "message": "Successfully attached to waypoint hello/waypoint"}]}
    return svc


def deployment(name, labels, ns="hello", kind="Deployment", extra=None):
    return {"kind": kind, "metadata": {"name": name, "namespace": ns, "labels": dict(extra or {})},
            "spec": {"template": {"metadata": {"labels": labels}}}}


HELLO = [deployment("helloworld-v1", {"app": "helloworld", "version": "v1"}),
         deployment("helloworld-v2", {"app": "helloworld", "version": "v2"})]


def live(services=None, ns=None, gateways=None, workloads=None, **more):
    return Live(namespaces=[ns or ambient_namespace("hello", waypoint="waypoint")],
                services=services if services is not None else [bound(service("hello", "helloworld"))],
                gateways=gateways if gateways is not None else [waypoint("hello")],
                workloads=HELLO if workloads is None else workloads, **more)


def planned(splits, state, **options):
    problems = Problems()
    specs = normalize(splits, problems)
    problems.fail_if_any("invalid splits")
    return plan(specs, state, **options)


def test_the_labs_objects_exactly():
    out = planned([LAB], live())
    assert out["apply"] == [
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": "helloworld-v1", "namespace": "hello", "labels": MANAGED},
         "spec": {"type": "ClusterIP", "selector": {"app": "helloworld", "version": "v1"},
                  "ports": [{"name": "http", "port": 5000}]}},
        {"apiVersion": "v1", "kind": "Service",
         "metadata": {"name": "helloworld-v2", "namespace": "hello", "labels": MANAGED},
         "spec": {"type": "ClusterIP", "selector": {"app": "helloworld", "version": "v2"},
                  "ports": [{"name": "http", "port": 5000}]}},
        {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
         "metadata": {"name": "hello-http-split-traffic", "namespace": "hello", "labels": MANAGED},
         "spec": {"parentRefs": [{"group": "", "kind": "Service", "name": "helloworld", "port": 5000}],
                  "rules": [{"backendRefs": [{"name": "helloworld-v1", "port": 5000, "weight": 95},
                                             {"name": "helloworld-v2", "port": 5000, "weight": 5}]}]}},
    ]
    assert out["delete"] == [] and out["conflicts"] == [] and out["warnings"] == []


@pytest.mark.parametrize("ports, expected", [
    ([{"name": "http", "port": 5000, "targetPort": 5000, "protocol": "TCP"}], [{"name": "http", "port": 5000}]),
    ([{"name": "http", "port": 80, "targetPort": "web", "protocol": "TCP", "appProtocol": "http"}],
     [{"name": "http", "port": 80, "targetPort": "web", "appProtocol": "http"}]),
    ([{"name": "dns", "port": 53, "protocol": "UDP"}], [{"name": "dns", "port": 53, "protocol": "UDP"}]),
])
def test_ports_are_copied_as_a_person_writes_them(ports, expected):
    assert copy_ports(ports) == expected


NO_WAYPOINT = "no waypoint serves Service hello/helloworld (no istio.io/use-waypoint label on it or on namespace hello)"


@pytest.mark.parametrize("state, fragment", [
    (live(ns=ambient_namespace("hello")), NO_WAYPOINT),
    (live(ns=ambient_namespace("hello", waypoint="none")), "opts out of waypoints (istio.io/use-waypoint=none on Namespace hello)"),
    (live(gateways=[]), "uses waypoint hello/waypoint, which does not exist"),
    (live(gateways=[waypoint("hello", waypoint_for="workload")]), "which is for workload traffic only"),
    (live(gateways=[waypoint("hello", programmed=False)]), "waypoint hello/waypoint of Service hello/helloworld is not Programmed"),
    (live(services=[service("hello", "helloworld")]), "is not bound to waypoint hello/waypoint (not reported yet)"),
    (live(services=[bound(service("hello", "helloworld"), "False", "AttachmentDenied")]), "set allowed_namespaces: all"),
    (live(services=[]), "Service hello/helloworld does not exist: create it first"),
    (live(services=[bound(service("hello", "helloworld")), service("hello", "helloworld-v1", selector={"app": "x"})]),
     "Service hello/helloworld-v1 exists and was not made by ambient.mesh (selector app=x"),
    (live(workloads=HELLO[:1]), "version v2 of hello/helloworld: selector app=helloworld,version=v2 matches no pod template"),
    (live(virtualservices=[split_virtualservice()]), "VirtualService hello/helloworld already routes or splits hello/helloworld"),
    (live(destinationrules=[{"kind": "DestinationRule", "metadata": {"name": "dr", "namespace": "other"},
                             "spec": {"host": "helloworld.hello.svc.cluster.local", "subsets": [{"name": "v1"}]}}]),
     "DestinationRule other/dr already routes or splits"),
])
def test_refusals_name_the_fix(state, fragment):
    with pytest.raises(AmbientMeshError) as err:
        planned([LAB], state)
    assert fragment in err.value.msg


def test_a_waypoint_service_binding_beats_the_namespace():
    svc = service("hello", "helloworld", labels={"istio.io/use-waypoint": "svc-wp"})
    state = live(services=[bound(svc)], ns=namespace("hello"), gateways=[waypoint("hello", "svc-wp")])
    assert len(planned([LAB], state)["apply"]) == 3


@pytest.mark.parametrize("versions, fragment", [
    ([{"name": "v1", "weight": 0}, {"name": "v2", "weight": 0}], "all weights are 0"),
    ([{"name": "v1", "weight": 1000001}], "weight 1000001"),
    ([{"name": "v%d" % i, "weight": 1} for i in range(17)], "has 17 versions"),
    ([{"name": "v1", "weight": 1}, {"name": "v1", "weight": 1}], "version v1 is listed twice"),
    ([{"name": "V_1", "weight": 1}], "is not a valid Service name"),
    ([{"name": "v1", "weight": 1, "labels": {"version": "bad value"}}], "is not a valid label value"),
])
def test_bad_versions(versions, fragment):
    with pytest.raises(AmbientMeshError) as err:
        planned([dict(LAB, versions=versions)], live())
    assert fragment in err.value.msg


def test_not_matching_workloads_is_a_warning_when_there_are_none_or_the_weight_is_0():
    none = planned([LAB], live(workloads=[deployment("waypoint", {"x": "y"},
                                                     extra={"gateway.istio.io/managed": "istio.io-mesh-controller"})]))
    assert none["warnings"] == ["namespace hello has no Deployment or StatefulSet yet, so its per-version Services "
                                "select no pods until the versions are deployed (a warning, not a refusal: apps are "
                                "often deployed after their routing)"]
    zero = planned([dict(LAB, versions=[{"name": "v1", "weight": 100}, {"name": "v2", "weight": 0}])],
                   live(workloads=HELLO[:1]))
    assert "(weight 0, so no traffic goes there yet)" in zero["warnings"][0]


def test_require_waypoint_false_and_remove_conflicts():
    vs = split_virtualservice()
    out = planned([LAB], live(ns=ambient_namespace("hello"), virtualservices=[vs]), require_waypoint=False,
                  remove_conflicts=True)
    assert out["conflicts"] == [vs] and len(out["apply"]) == 3


@pytest.mark.parametrize("host, ns, matches", [
    ("helloworld", "hello", True), ("helloworld", "other", False), ("helloworld.hello", "other", True),
    ("helloworld.hello.svc", "x", True), ("helloworld.hello.svc.cluster.local", "x", True),
    ("*.hello.svc.cluster.local", "x", True), ("*", "x", True), ("hello.example.com", "hello", False),
])
def test_hosts_resolve_as_istio_resolves_them(host, ns, matches):
    assert host_matches(host, ns, "helloworld.hello.svc.cluster.local") is matches


def test_an_ingress_only_virtualservice_is_no_conflict():
    vs = split_virtualservice()
    vs["spec"]["gateways"] = ["istio-ingress/gateway"]
    assert len(planned([LAB], live(virtualservices=[vs]))["apply"]) == 3


def test_user_services_used_as_they_are_and_stale_objects_pruned():
    hand_made = service("hello", "helloworld-v1", selector={"app": "helloworld", "version": "v1"})
    canary = service("hello", "canary", selector={"app": "helloworld", "version": "v2"}, port=8080)
    stale_svc = service("hello", "helloworld-v3", labels=MANAGED, selector={"app": "helloworld", "version": "v3"})
    stale_route = {"kind": "HTTPRoute", "metadata": {"name": "old-name", "namespace": "hello", "labels": MANAGED}}
    foreign_route = {"kind": "HTTPRoute", "metadata": {"name": "theirs", "namespace": "hello", "labels": {}}}
    state = live(services=[bound(service("hello", "helloworld")), hand_made, canary, stale_svc],
                 httproutes=[stale_route, foreign_route])
    versions = [{"name": "v1", "weight": 90}, {"name": "v2", "weight": 10, "service": "canary"}]
    out = planned([dict(LAB, versions=versions)], state)
    assert [o["kind"] + " " + o["metadata"]["name"] for o in out["apply"]] == ["HTTPRoute hello-http-split-traffic"]
    # the canary Service has one port, 8080: the backend uses it
    assert out["apply"][0]["spec"]["rules"][0]["backendRefs"] == [
        {"name": "helloworld-v1", "port": 5000, "weight": 90}, {"name": "canary", "port": 8080, "weight": 10}]
    assert out["delete"] == [stale_route, stale_svc]


def test_absent_deletes_only_what_it_made_routes_first():
    made = service("hello", "helloworld-v1", labels=MANAGED)
    other_split = service("hello", "api-v1", labels=dict(MANAGED, **{"ambient.mesh/traffic-split": "api"}))
    route = {"kind": "HTTPRoute", "metadata": {"name": "helloworld", "namespace": "hello", "labels": MANAGED}}
    state = live(services=[service("hello", "helloworld"), made, other_split, service("hello", "helloworld-v2")],
                 httproutes=[route], ns=namespace("hello"), gateways=[])
    out = planned([{"service": "helloworld", "namespace": "hello", "state": "absent"}], state)
    assert out["apply"] == [] and out["delete"] == [route, made]


def test_header_canary_and_two_ports():
    svc = bound(service("hello", "helloworld"))
    svc["spec"]["ports"] = [{"name": "http", "port": 5000}, {"name": "grpc", "port": 9000}]
    canary = dict(LAB, ports=[5000, 9000], matches=[{"headers": [{"name": "x-canary", "value": "1"}]}],
                  unmatched_version="v1")
    routes = [o for o in planned([canary], live(services=[svc]))["apply"] if o["kind"] == "HTTPRoute"]
    assert [r["metadata"]["name"] for r in routes] == ["hello-http-split-traffic-5000", "hello-http-split-traffic-9000"]
    assert routes[1]["spec"]["rules"] == [
        {"matches": [{"headers": [{"name": "x-canary", "value": "1"}]}],
         "backendRefs": [{"name": "helloworld-v1", "port": 9000, "weight": 95},
                         {"name": "helloworld-v2", "port": 9000, "weight": 5}]},
        {"backendRefs": [{"name": "helloworld-v1", "port": 9000}]}]


def status_route(conditions, generation=1):
    return {"kind": "HTTPRoute", "metadata": {"name": "r", "namespace": "hello", "generation": generation},
            "status": {"parents": [{"parentRef": {"group": "", "kind": "Service", "name": "helloworld", "port": 5000},
                                    "controllerName": "istio.io/gateway-controller", "conditions": conditions}]}}


def cond(cond_type, status, reason, message, generation=1):
    return {"type": cond_type, "status": status, "reason": reason, "message": message,
            "observedGeneration": generation}


PARENT = {"kind": "Service", "name": "helloworld", "port": 5000}
OK = [cond("Accepted", "True", "Accepted", "Route was valid"),
      cond("ResolvedRefs", "True", "ResolvedRefs", "All references resolved")]


@pytest.mark.parametrize("route, fragment", [
    (status_route(OK), None),
    ({"kind": "HTTPRoute", "metadata": {"name": "r", "namespace": "hello", "generation": 1}},
     "istiod has not reported on it - is istiod running"),
    (status_route(OK, generation=2), "Accepted=True (Accepted): Route was valid - not for the current generation yet"),
    (status_route([cond("Accepted", "False", "NoMatchingParent", 'parent service: "helloworld" not found'), OK[1]]),
     'Accepted=False (NoMatchingParent): parent service: "helloworld" not found - fix: the parent Service is gone'),
    (status_route([OK[0], cond("ResolvedRefs", "False", "BackendNotFound",
                               "backend(helloworld-v2.hello.svc.cluster.local) not found")]),
     "(BackendNotFound): backend(helloworld-v2.hello.svc.cluster.local) not found - fix: a backend Service is missing"),
    (status_route([OK[0], cond("ResolvedRefs", "False", "RefNotPermitted", "backendRef x/y not accessible")]),
     "needs a ReferenceGrant"),
])
def test_route_status_problems(route, fragment):
    problem = route_problem(route, PARENT)
    if fragment is None:
        assert problem is None
    else:
        assert fragment in problem and "HTTPRoute hello/r (parent Service helloworld port 5000)" in problem


def _vs(export_to=None, stamp="2026-01-01T00:00:00Z"):
    vs = split_virtualservice()
    vs["metadata"]["creationTimestamp"] = stamp
    if export_to:
        vs["spec"]["exportTo"] = export_to
    return vs


@pytest.mark.parametrize("state, winner", [
    # Istio 1.30.3 push_context.go VirtualServicesForGateway: the HTTPRoutes of the waypoint's namespace before
    # the public VirtualServices, however old
    (live(virtualservices=[_vs()]),
     "the split's HTTPRoute comes before VirtualService hello/helloworld at the waypoint (namespace hello) and wins"),
    # a VirtualService private to the waypoint's namespace comes first
    (live(virtualservices=[_vs(["."])]),
     "VirtualService hello/helloworld comes before the split's HTTPRoute at the waypoint (namespace hello) and wins"),
    # a waypoint in another namespace: creation order, the new HTTPRoute last
    (live(virtualservices=[_vs()], ns=ambient_namespace("hello", waypoint="waypoint",
                                                        **{"istio.io/use-waypoint-namespace": "wp"}),
          gateways=[waypoint("wp")]),
     "VirtualService hello/helloworld comes before the split's HTTPRoute at the waypoint (namespace wp) and wins"),
])
def test_conflict_names_what_the_waypoint_applies_first(state, winner):
    with pytest.raises(AmbientMeshError) as err:
        planned([LAB], state)
    assert winner in err.value.msg


# ---- timeouts and retry (issue 26) ----------------------------------------------------------------------
RESILIENT = dict(LAB, timeouts={"request": "1s", "backend_request": "500ms"}, retry={"attempts": 2, "codes": [503, 503, 500]})


def test_timeouts_and_retry_go_on_every_rule_the_split_makes():
    canary = dict(RESILIENT, matches=[{"headers": [{"name": "x-canary", "value": "true"}]}], unmatched_version="v1")
    route = planned([canary], live(route_fields={"timeouts", "retry"}))["apply"][-1]
    policy = {"timeouts": {"request": "1s", "backendRequest": "500ms"}, "retry": {"attempts": 2, "codes": [500, 503]}}
    assert [dict((k, r[k]) for k in ("timeouts", "retry")) for r in route["spec"]["rules"]] == [policy, policy]
    assert route["spec"]["rules"][1]["backendRefs"] == [{"name": "helloworld-v1", "port": 5000}]


def test_a_split_without_them_writes_neither_field():
    route = planned([LAB], live(route_fields={"timeouts", "retry"}))["apply"][-1]
    assert set(route["spec"]["rules"][0]) == {"backendRefs"}


@pytest.mark.parametrize("fields, refused", [
    ({"timeouts"}, "retry needs the HTTPRoute CRD of the Gateway API experimental channel"),
    (set(), "the cluster's HTTPRoute CRD has no timeouts field"),
])
def test_a_field_the_clusters_crd_lacks_is_refused(fields, refused):
    spec = RESILIENT if "timeouts" in fields else dict(LAB, timeouts={"request": "1s"})
    with pytest.raises(AmbientMeshError) as err:
        planned([spec], live(route_fields=fields))
    assert refused in str(err.value)


def test_crd_not_readable_skips_the_check():
    route = planned([RESILIENT], live(route_fields=None))["apply"][-1]
    assert route["spec"]["rules"][0]["retry"] == {"attempts": 2, "codes": [500, 503]}


def test_rule_fields_read_from_the_crds_schema():
    for name, want in (("gateway-api-v1.5.1-standard.yaml", {"timeouts"}),
                       ("gateway-api-v1.5.1-experimental-httproutes.yaml", {"timeouts", "retry"})):
        crd = [d for d in yaml.safe_load_all((CRDS / name).read_text())
               if d and d.get("metadata", {}).get("name") == "httproutes.gateway.networking.k8s.io"][0]
        assert rule_fields(crd) == want
    assert rule_fields(None) is None
