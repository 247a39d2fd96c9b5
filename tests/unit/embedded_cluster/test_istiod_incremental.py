"""The simulated istiod reacts to each write by reconciling only what that write can affect
(embedded_cluster/apiserver/controllers.py WaypointController, embedded_cluster/apiserver/route_status.py), through an indexed
store (embedded_cluster/apiserver/store.py). What a user of the test cluster sees must be what a full reconcile after
every write gives: these tests change one object and look at the objects that depend on it elsewhere."""

import time


from embedded_cluster.apiserver.store import Store
from builders import istiod, namespace, service, split_route, tag_webhook, waypoint
import istiod_lab
from istiod_lab import condition, eventually

mesh = istiod_lab.mesh  # the fixture

GW = ("gateway.networking.k8s.io/v1", "Gateway")
ROUTE = ("gateway.networking.k8s.io/v1", "HTTPRoute")
BOUND = "istio.io/WaypointBound"




def bound(cluster, ns, name):
    return condition(cluster.get("v1", "Service", name, ns), BOUND)


def reason_is(cluster, ns, name, reason):
    return eventually(lambda: (c := bound(cluster, ns, name)) is not None and c["reason"] == reason)


def stored_writes(cluster):
    """How many writes the server has stored so far, by anyone (requests and simulated controllers): each
    stored write takes the next resourceVersion, a write that changes nothing takes none."""
    return cluster._call(lambda: cluster.api._last_rv)


def settle(seconds=0.5):
    time.sleep(seconds)


def test_a_namespace_relabel_rebinds_its_services_and_writes_nothing_elsewhere(mesh):
    for ns in ("team-a", "team-b"):
        mesh.put(namespace(ns))
        for name in ("api", "web", "db"):
            mesh.put(service(ns, name))
    mesh.put(waypoint("team-a", programmed=None))
    assert eventually(lambda: (condition(mesh.get(*GW, "waypoint", "team-a"), "Programmed") or {}).get("status") == "True")
    settle()
    others = {name: mesh.get("v1", "Service", name, "team-b")["metadata"]["resourceVersion"] for name in ("api", "web", "db")}
    before = stored_writes(mesh)

    mesh.put(namespace("team-a", **{"istio.io/use-waypoint": "waypoint"}))
    for name in ("api", "web", "db"):
        assert reason_is(mesh, "team-a", name, "WaypointAccepted")
    settle()
    assert stored_writes(mesh) - before == 1 + 3  # the Namespace, then one status write per Service it holds
    for name in ("api", "web", "db"):
        fields = mesh.get("v1", "Service", name, "team-a")["metadata"]["managedFields"]
        managers = {(m["manager"], m.get("subresource")) for m in fields}
        assert ("istio-ambient-service", "status") in managers
    assert {name: mesh.get("v1", "Service", name, "team-b")["metadata"]["resourceVersion"]
            for name in ("api", "web", "db")} == others
    assert all(bound(mesh, "team-b", name) is None for name in ("api", "web", "db"))


def test_a_waypoint_that_becomes_programmed_binds_services_in_other_namespaces_that_name_it(mesh):
    mesh.set_readiness("Deployment", "mesh", "shared", 1.5)
    shared = waypoint("mesh", "shared", programmed=None)
    shared["spec"]["listeners"][0]["allowedRoutes"] = {"namespaces": {"from": "All"}}
    mesh.put(namespace("mesh"))
    mesh.put(namespace("team", **{"istio.io/use-waypoint": "shared", "istio.io/use-waypoint-namespace": "mesh"}))
    mesh.put(service("team", "api"))
    mesh.put(namespace("other"))
    mesh.put(service("other", "web", labels={"istio.io/use-waypoint": "shared", "istio.io/use-waypoint-namespace": "mesh"}))
    mesh.put(service("other", "db"))  # names no waypoint
    mesh.put(shared)
    assert reason_is(mesh, "team", "api", "WaypointIsNotReady")
    assert reason_is(mesh, "other", "web", "WaypointIsNotReady")
    # nothing is written by the test from here: the Deployment's readiness programs the Gateway, and that binds
    assert reason_is(mesh, "team", "api", "WaypointAccepted")
    assert reason_is(mesh, "other", "web", "WaypointAccepted")
    assert bound(mesh, "team", "api")["message"] == "Successfully attached to waypoint mesh/shared"
    assert bound(mesh, "other", "db") is None


def test_deleting_a_waypoint_unbinds_its_services_and_collects_its_objects(mesh):
    mesh.put(namespace("hello", **{"istio.io/use-waypoint": "waypoint"}))
    mesh.put(service("hello", "helloworld"))
    mesh.put(waypoint("hello", programmed=None))
    assert reason_is(mesh, "hello", "helloworld", "WaypointAccepted")
    mesh.delete(*GW, "waypoint", "hello")
    assert reason_is(mesh, "hello", "helloworld", "WaypointIsNotReady")
    assert eventually(lambda: mesh.get("apps/v1", "Deployment", "waypoint", "hello") is None)
    assert mesh.get("v1", "ServiceAccount", "waypoint", "hello") is None
    assert mesh.get("v1", "Service", "waypoint", "hello") is None


def test_a_new_tag_programs_every_waypoint_that_selects_it(mesh):
    for ns in ("team-a", "team-b"):
        mesh.put(namespace(ns, **{"istio.io/use-waypoint": "waypoint", "istio.io/rev": "prod"}))
        mesh.put(service(ns, "api"))
        mesh.put(waypoint(ns, programmed=None))
    settle(1.0)
    for ns in ("team-a", "team-b"):  # no istiod answers to the tag "prod" yet
        assert mesh.get("apps/v1", "Deployment", "waypoint", ns) is None
        assert bound(mesh, ns, "api")["reason"] == "WaypointIsNotReady"
    mesh.put(tag_webhook("prod", "default"))  # istioctl tag set prod --revision default
    for ns in ("team-a", "team-b"):
        assert reason_is(mesh, ns, "api", "WaypointAccepted")
        assert mesh.get("apps/v1", "Deployment", "waypoint", ns) is not None


def test_an_istiod_revision_that_starts_programs_its_waypoints_in_every_namespace(mesh):
    names = ["team-%02d" % i for i in range(12)]
    for ns in names:
        mesh.put(namespace(ns, **{"istio.io/use-waypoint": "waypoint", "istio.io/rev": "canary"}))
        mesh.put(service(ns, "api"))
        mesh.put(waypoint(ns, programmed=None))
    settle(1.0)
    assert all(mesh.get("apps/v1", "Deployment", "waypoint", ns) is None for ns in names)
    mesh.put(istiod("canary"))
    for ns in names:
        assert reason_is(mesh, ns, "api", "WaypointAccepted"), ns
        assert mesh.get("apps/v1", "Deployment", "waypoint", ns)["spec"]["template"]["metadata"]["annotations"][
            "istio.io/rev"] == "canary"


def test_writes_while_istiod_does_not_answer_are_seen_when_it_answers_again(mesh):
    mesh.put(namespace("hello"))
    mesh.put(service("hello", "helloworld"))
    mesh.put(waypoint("hello", programmed=None))
    assert eventually(lambda: mesh.get("apps/v1", "Deployment", "waypoint", "hello"))
    mesh.api.waypoints.enabled = False
    mesh.put(namespace("hello", **{"istio.io/use-waypoint": "waypoint"}))
    settle()
    assert bound(mesh, "hello", "helloworld") is None
    mesh.api.waypoints.enabled = True
    mesh.put(namespace("elsewhere"))  # any later write wakes it up, and it looks at everything again
    assert reason_is(mesh, "hello", "helloworld", "WaypointAccepted")


def test_a_backend_created_in_another_namespace_resolves_the_route(mesh):
    mesh.put(namespace("hello", **{"istio.io/use-waypoint": "waypoint"}))
    mesh.put(namespace("backends"))
    mesh.put(service("hello", "helloworld"))
    route = split_route()
    route["spec"]["rules"][0]["backendRefs"] = [{"name": "v2", "namespace": "backends", "port": 5000}]
    mesh.put(route)

    def resolved():
        parents = ((mesh.get(*ROUTE, route["metadata"]["name"], "hello") or {}).get("status") or {}).get("parents") or []
        return parents and next((c for c in parents[0]["conditions"] if c["type"] == "ResolvedRefs"), None)
    assert eventually(lambda: (c := resolved()) and c["reason"] == "BackendNotFound")
    assert resolved()["message"] == "backend(v2.backends.svc.cluster.local) not found"
    mesh.put(service("backends", "v2"))
    assert eventually(lambda: (c := resolved()) and c["status"] == "True")


def test_the_store_indexes_keep_the_stores_order():
    store = Store()
    for key in [("", "pods", "b", "x"), ("", "services", "a", "s"), ("", "pods", "a", "y"), ("", "pods", "b", "w")]:
        store[key] = {"k": key}
    assert list(store.of_kind("", "pods")) == [("", "pods", "b", "x"), ("", "pods", "a", "y"), ("", "pods", "b", "w")]
    assert list(store.of_kind("", "pods", "b")) == [("", "pods", "b", "x"), ("", "pods", "b", "w")]
    store[("", "pods", "b", "x")] = {"replaced": True}  # a replaced object keeps its place
    assert store.objects("", "pods", "b") == [{"replaced": True}, {"k": ("", "pods", "b", "w")}]
    del store[("", "pods", "b", "x")]
    assert store.pop(("", "services", "a", "s")) == {"k": ("", "services", "a", "s")}
    assert store.pop(("", "services", "a", "s"), None) is None
    assert list(store.of_kind("", "pods", "b")) == [("", "pods", "b", "w")]
    assert store.of_kind("", "services") == {} and store.kinds() == [("", "pods")]
    assert list(store) == [("", "pods", "a", "y"), ("", "pods", "b", "w")]


def test_store_positions_order_keys_as_the_store_does():
    store = Store()
    keys = [("", "pods", "b", "x"), ("", "services", "a", "s"), ("", "pods", "a", "y"), ("", "pods", "b", "w")]
    for key in keys:
        store[key] = {}
    store[keys[0]] = {"replaced": True}  # keeps its place
    assert sorted([keys[3], keys[0], keys[2]], key=store.position) == list(store.of_kind("", "pods"))
    del store[keys[0]]
    store[keys[0]] = {}  # removed and added again: at the end, as in the dict
    assert sorted(keys, key=store.position) == list(store) == [keys[1], keys[2], keys[3], keys[0]]
