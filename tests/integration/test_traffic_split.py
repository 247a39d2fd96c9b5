"""traffic_split through ansible-playbook, with the simulated istiod of the test API server (waypoints and
the status of routes whose parent is a Service)."""

import threading
import time

import pytest
import yaml

from builders import ambient_namespace, namespace, service, split_route, split_virtualservice, wait_bound
from conftest import CRDS, DATA, GATEWAY_V151, ISTIO_CRDS, seed_istio

pytestmark = pytest.mark.integration
MODULE = "ambient.mesh.traffic_split"
ROUTE = ("gateway.networking.k8s.io/v1", "HTTPRoute")
GW = ("gateway.networking.k8s.io/v1", "Gateway")
SVC = ("v1", "Service")
ROUTES = "httproutes.gateway.networking.k8s.io"
LAB = {"service": "helloworld", "namespace": "hello", "ports": [5000], "route_name": "hello-http-split-traffic",
       "versions": [{"name": "v1", "weight": 95}, {"name": "v2", "weight": 5}]}


def waypoint_gateway(ns, name="waypoint"):
    return {"apiVersion": GW[0], "kind": GW[1], "metadata": {"name": name, "namespace": ns},
            "spec": {"gatewayClassName": "istio-waypoint",
                     "listeners": [{"name": "mesh", "port": 15008, "protocol": "HBONE"}]}}


def deployment(ns, name, labels):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "app", "image": "docker.io/istio/examples-helloworld"}]}}}}


@pytest.fixture
def mesh(cluster):
    cluster.load_crds(GATEWAY_V151, ISTIO_CRDS)
    seed_istio(cluster)
    return cluster


def lab(cluster, waypoint=True, workloads=True):
    """The lab's hello namespace: helloworld (Istio's sample Service) and its two Deployments; a namespace
    waypoint bound to it, which the simulated istiod programs."""
    cluster.put(ambient_namespace("hello", waypoint="waypoint" if waypoint else None))
    sample = [d for d in yaml.safe_load_all((DATA / "istio-1.30.3" / "samples" / "helloworld.yaml").read_text())
              if d and d["kind"] == "Service"][0]
    cluster.put(dict(sample, metadata=dict(sample["metadata"], namespace="hello")))
    if workloads:
        for version in ("v1", "v2"):
            cluster.put(deployment("hello", f"helloworld-{version}", {"app": "helloworld", "version": version}))
    if waypoint:
        cluster.put(waypoint_gateway("hello"))
        wait_bound(cluster, "hello", "helloworld")


def parent_conditions(route, port=5000):
    for parent in (route.get("status") or {}).get("parents") or []:
        if parent["parentRef"].get("port") == port:
            return {c["type"]: (c["status"], c["reason"], c["message"]) for c in parent["conditions"]}
    return {}


def test_the_labs_objects_field_by_field_and_four_steps(mesh, playbook):
    lab(mesh)
    args = {"splits": [LAB], "wait_timeout": 20}
    check = playbook.run(MODULE, args, check=True, diff=True)
    assert check["changed"] is True
    assert mesh.get(*ROUTE, "hello-http-split-traffic", "hello") is None
    assert mesh.get(*SVC, "helloworld-v1", "hello") is None
    assert [e["before_header"] for e in check["diff"]] == [
        "Service hello/helloworld-v1", "Service hello/helloworld-v2", "HTTPRoute hello/hello-http-split-traffic"]

    run = playbook.run(MODULE, args)
    assert run["changed"] is True
    split = run["splits"][0]
    assert split["routes"] == ["hello-http-split-traffic"] and split["weights"] == {"v1": 95, "v2": 5}
    assert split["services"] == ["helloworld-v1", "helloworld-v2"]
    assert split["status"][0]["accepted"] is True and split["status"][0]["resolved_refs"] is True
    assert split["status"][0]["waypoints"] == "All waypoints resolved"

    # the per-version Services, field by field against Istio's own helloworld-versions.yaml
    upstream = [d for d in yaml.safe_load_all((DATA / "istio-1.30.3" / "samples" / "helloworld-versions.yaml")
                                              .read_text()) if d]
    assert [u["metadata"]["name"] for u in upstream] == ["helloworld-v1", "helloworld-v2"]
    for want in upstream:
        got = mesh.get(*SVC, want["metadata"]["name"], "hello")
        assert got["spec"]["selector"] == want["spec"]["selector"]
        assert [{k: p[k] for k in ("name", "port")} for p in got["spec"]["ports"]] == want["spec"]["ports"]
        assert {p["targetPort"] for p in got["spec"]["ports"]} == {5000}  # defaulted, as for the upstream file
        assert got["spec"]["type"] == "ClusterIP"
        assert got["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "ambient.mesh",
                                             "ambient.mesh/traffic-split": "helloworld"}
    # the HTTPRoute as the lab wrote it (builders.split_route), stored by the same server next to ours
    mesh.put(namespace("lab"))
    by_hand = split_route(ns="lab", name="hello-http-split-traffic")
    assert by_hand["spec"] == {"parentRefs": [{"group": "", "kind": "Service", "name": "helloworld", "port": 5000}],
                               "rules": [{"backendRefs": [{"name": "helloworld-v1", "port": 5000, "weight": 95},
                                                          {"name": "helloworld-v2", "port": 5000, "weight": 5}]}]}
    ours = mesh.get(*ROUTE, "hello-http-split-traffic", "hello")
    assert ours["spec"] == mesh.put(by_hand)["spec"]
    assert parent_conditions(ours) == {
        "Accepted": ("True", "Accepted", "Route was valid"),
        "ResolvedRefs": ("True", "ResolvedRefs", "All references resolved"),
        "ResolvedWaypoints": ("True", "ResolvedWaypoints", "All waypoints resolved")}
    assert ours["status"]["parents"][0]["controllerName"] == "istio.io/gateway-controller"

    mark = mesh.mark()
    assert playbook.run(MODULE, args, check=True)["changed"] is False
    again = playbook.run(MODULE, args, diff=True)
    assert again["changed"] is False and not again.get("diff")
    assert mesh.writes(mark) == []
    assert {e["verb"] for e in mesh.requests(mark)} == {"list"}


def test_refused_without_a_waypoint_then_accepted_once_bound(mesh, playbook):
    lab(mesh, waypoint=False)
    mark = mesh.mark()
    refused = playbook.run(MODULE, {"splits": [LAB]}, fails=[
        "no waypoint serves Service hello/helloworld", "traffic would split by endpoint count",
        "ambient.mesh.waypoint", "require_waypoint: false"])
    assert "istio.io/use-waypoint" in refused["msg"]
    assert mesh.writes(mark) == []

    playbook.run("ambient.mesh.waypoint", {"waypoints": [{"namespace": "hello", "enroll_namespace": True}],
                                           "wait_timeout": 20})
    accepted = playbook.run(MODULE, {"splits": [LAB], "wait_timeout": 20})
    assert accepted["changed"] is True and accepted["splits"][0]["status"][0]["accepted"] is True


def test_a_waypoint_that_is_not_programmed_is_refused(mesh, playbook):
    lab(mesh, waypoint=False)
    mesh.set_readiness("Deployment", "hello", "waypoint", None)  # its pods never come up
    ns = mesh.get("v1", "Namespace", "hello")
    ns["metadata"]["labels"]["istio.io/use-waypoint"] = "waypoint"
    mesh.put(ns)
    mesh.put(waypoint_gateway("hello"))
    mark = mesh.mark()
    playbook.run(MODULE, {"splits": [LAB]}, fails=[
        "waypoint hello/waypoint of Service hello/helloworld is not Programmed", "AddressNotAssigned"])
    assert mesh.writes(mark) == []


def test_bind_later_in_the_same_play_with_require_waypoint_false(mesh, playbook):
    lab(mesh, waypoint=False)
    result = playbook.run(MODULE, {"splits": [LAB], "require_waypoint": False, "wait_timeout": 20})
    assert result["changed"] is True
    status = result["splits"][0]["status"][0]
    assert status["accepted"] is True and status["waypoints"].startswith("istio.io/use-waypoint label missing")
    assert any("route will not be respected" in w for w in result.get("warnings", []))
    playbook.run("ambient.mesh.waypoint", {"waypoints": [{"namespace": "hello", "enroll_namespace": True}],
                                           "wait_timeout": 20})
    again = playbook.run(MODULE, {"splits": [LAB], "wait_timeout": 20})
    assert again["changed"] is False and again["splits"][0]["status"][0]["waypoints"] == "All waypoints resolved"


def test_conflicting_virtualservice_and_destinationrule_named_then_removed(mesh, playbook):
    lab(mesh)
    mesh.put(split_virtualservice())
    mesh.put({"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
              "metadata": {"name": "helloworld", "namespace": "hello"},
              "spec": {"host": "helloworld.hello.svc.cluster.local",
                       "subsets": [{"name": "v1", "labels": {"version": "v1"}},
                                   {"name": "v2", "labels": {"version": "v2"}}]}})
    # neither an ingress-only VirtualService nor one for another host is in the way
    mesh.put({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
              "metadata": {"name": "ingress", "namespace": "hello"},
              "spec": {"hosts": ["hello.example.com"], "gateways": ["istio-ingress/gw"],
                       "http": [{"route": [{"destination": {"host": "helloworld"}}]}]}})
    mark = mesh.mark()
    refused = playbook.run(MODULE, {"splits": [LAB]}, fails=[
        "VirtualService hello/helloworld and DestinationRule hello/helloworld already routes or splits hello/helloworld",
        "remove_conflicts: true"])
    assert "ingress" not in refused["msg"]
    assert mesh.writes(mark) == []

    removed = playbook.run(MODULE, {"splits": [LAB], "remove_conflicts": True, "wait_timeout": 20}, diff=True)
    assert removed["removed"] == ["VirtualService hello/helloworld", "DestinationRule hello/helloworld"]
    assert mesh.get("networking.istio.io/v1", "VirtualService", "helloworld", "hello") is None
    assert mesh.get("networking.istio.io/v1", "DestinationRule", "helloworld", "hello") is None
    assert mesh.get("networking.istio.io/v1", "VirtualService", "ingress", "hello") is not None
    gone = [e for e in removed["diff"] if e["before_header"] == "VirtualService hello/helloworld"]
    assert gone and gone[0]["after"] == {}


def test_changing_only_the_weights_is_one_write(mesh, playbook):
    lab(mesh)
    playbook.run(MODULE, {"splits": [LAB], "wait_timeout": 20})
    mark = mesh.mark()
    step = dict(LAB, versions=[{"name": "v1", "weight": 50}, {"name": "v2", "weight": 50}])
    result = playbook.run(MODULE, {"splits": [step], "wait_timeout": 20})
    writes = mesh.writes(mark)
    assert [(w["verb"], w["resource"], w["name"]) for w in writes] == [
        ("patch", ROUTES, "hello-http-split-traffic")]
    assert [o["ref"] for o in result["objects"] if o["changed"]] == ["HTTPRoute hello/hello-http-split-traffic"]
    route = mesh.get(*ROUTE, "hello-http-split-traffic", "hello")
    assert [b["weight"] for b in route["spec"]["rules"][0]["backendRefs"]] == [50, 50]
    assert parent_conditions(route)["Accepted"][0] == "True"
    assert route["status"]["parents"][0]["conditions"][0]["observedGeneration"] == route["metadata"]["generation"] == 2


def test_a_three_way_split(mesh, playbook):
    lab(mesh)
    mesh.put(deployment("hello", "helloworld-v3", {"app": "helloworld", "version": "v3"}))
    versions = [{"name": "v1", "weight": 80}, {"name": "v2", "weight": 15}, {"name": "v3", "weight": 5}]
    result = playbook.run(MODULE, {"splits": [{"service": "helloworld", "namespace": "hello", "versions": versions}],
                                   "wait_timeout": 20})
    route = mesh.get(*ROUTE, "helloworld", "hello")  # the route is named after the Service by default
    assert [(b["name"], b["weight"]) for b in route["spec"]["rules"][0]["backendRefs"]] == [
        ("helloworld-v1", 80), ("helloworld-v2", 15), ("helloworld-v3", 5)]
    assert mesh.get(*SVC, "helloworld-v3", "hello")["spec"]["selector"] == {"app": "helloworld", "version": "v3"}
    assert result["splits"][0]["weights"] == {"v1": 80, "v2": 15, "v3": 5}
    # taking v3 out again deletes the Service this module made for it
    fewer = playbook.run(MODULE, {"splits": [{"service": "helloworld", "namespace": "hello",
                                              "versions": versions[:2]}], "wait_timeout": 20})
    assert fewer["deleted"] == ["Service hello/helloworld-v3"]
    assert mesh.get(*SVC, "helloworld-v3", "hello") is None


def test_a_two_port_service_gets_a_route_per_port(mesh, playbook):
    lab(mesh)
    svc = service("hello", "api", selector={"app": "api"})
    svc["spec"]["ports"] = [{"name": "http", "port": 8080, "targetPort": 80}, {"name": "admin", "port": 9090}]
    mesh.put(svc)
    for version in ("v1", "v2"):
        mesh.put(deployment("hello", f"api-{version}", {"app": "api", "version": version}))
    wait_bound(mesh, "hello", "api")
    versions = [{"name": "v1", "weight": 90}, {"name": "v2", "weight": 10}]
    playbook.run(MODULE, {"splits": [{"service": "api", "namespace": "hello", "versions": versions}]},
                 fails="Service hello/api has ports 8080, 9090: set ports")
    result = playbook.run(MODULE, {"splits": [{"service": "api", "namespace": "hello", "ports": [8080, 9090],
                                               "versions": versions}], "wait_timeout": 20})
    assert result["splits"][0]["routes"] == ["api-8080", "api-9090"]
    for port in (8080, 9090):
        route = mesh.get(*ROUTE, f"api-{port}", "hello")
        assert route["spec"]["parentRefs"] == [{"group": "", "kind": "Service", "name": "api", "port": port}]
        assert {b["port"] for b in route["spec"]["rules"][0]["backendRefs"]} == {port}
        assert parent_conditions(route, port)["Accepted"][0] == "True"
    v1 = mesh.get(*SVC, "api-v1", "hello")
    assert [(p["name"], p["port"], p["targetPort"]) for p in v1["spec"]["ports"]] == [
        ("http", 8080, 80), ("admin", 9090, 9090)]
    playbook.run(MODULE, {"splits": [{"service": "api", "namespace": "hello", "ports": [8081],
                                      "versions": versions}]}, fails="Service hello/api has no port 8081")


def test_a_header_match_canary(mesh, playbook):
    lab(mesh)
    canary = {"service": "helloworld", "namespace": "hello",
              "matches": [{"headers": [{"name": "x-canary", "value": "true"}]}],
              "versions": [{"name": "v1", "weight": 0}, {"name": "v2", "weight": 100}], "unmatched_version": "v1"}
    result = playbook.run(MODULE, {"splits": [canary], "wait_timeout": 20})
    assert result["splits"][0]["status"][0]["accepted"] is True
    rules = mesh.get(*ROUTE, "helloworld", "hello")["spec"]["rules"]
    assert rules[0]["matches"] == [{"headers": [{"name": "x-canary", "type": "Exact", "value": "true"}],
                                    "path": {"type": "PathPrefix", "value": "/"}}]  # the server's defaults
    assert [(b["name"], b["weight"]) for b in rules[0]["backendRefs"]] == [("helloworld-v1", 0), ("helloworld-v2", 100)]
    assert [b["name"] for b in rules[1]["backendRefs"]] == ["helloworld-v1"]  # everything else: v1
    assert rules[1].get("matches", [{"path": {"type": "PathPrefix", "value": "/"}}]) == [
        {"path": {"type": "PathPrefix", "value": "/"}}]
    assert playbook.run(MODULE, {"splits": [canary], "wait_timeout": 20})["changed"] is False


def test_absent_leaves_user_made_services_alone(mesh, playbook):
    lab(mesh)
    # helloworld-v1 made by hand as the lab made it: used as it is; canary named explicitly
    mesh.put(service("hello", "helloworld-v1", selector={"app": "helloworld", "version": "v1"}))
    mesh.put(service("hello", "helloworld-canary", selector={"app": "helloworld", "version": "v2"}))
    versions = [{"name": "v1", "weight": 90}, {"name": "v2", "weight": 5}, {"name": "v3", "weight": 5,
                                                                           "service": "helloworld-canary"}]
    present = playbook.run(MODULE, {"splits": [dict(LAB, versions=versions)], "wait_timeout": 20})
    assert [o["ref"] for o in present["objects"]] == ["Service hello/helloworld-v2",
                                                      "HTTPRoute hello/hello-http-split-traffic"]
    absent = {"splits": [{"service": "helloworld", "namespace": "hello", "state": "absent"}]}
    check = playbook.run(MODULE, absent, check=True)
    assert check["changed"] is True and mesh.get(*ROUTE, "hello-http-split-traffic", "hello") is not None
    mark = mesh.mark()
    gone = playbook.run(MODULE, absent, diff=True)
    assert gone["deleted"] == ["HTTPRoute hello/hello-http-split-traffic", "Service hello/helloworld-v2"]
    assert [(w["verb"], w["name"]) for w in mesh.writes(mark)] == [
        ("delete", "hello-http-split-traffic"), ("delete", "helloworld-v2")]
    for name in ("helloworld", "helloworld-v1", "helloworld-canary"):
        assert mesh.get(*SVC, name, "hello") is not None
    assert playbook.run(MODULE, absent)["changed"] is False


def test_a_service_of_the_same_name_made_otherwise_is_refused(mesh, playbook):
    lab(mesh)
    mesh.put(service("hello", "helloworld-v2", selector={"app": "other"}))
    mark = mesh.mark()
    playbook.run(MODULE, {"splits": [LAB]}, fails=[
        "Service hello/helloworld-v2 exists and was not made by ambient.mesh (selector app=other",
        "name it in versions[].service"])
    assert mesh.writes(mark) == []


@pytest.mark.parametrize("versions, fails", [
    ([{"name": "v1", "weight": 0}, {"name": "v2", "weight": 0}], "all weights are 0"),
    ([{"name": "v1", "weight": 1000001}, {"name": "v2", "weight": 5}], "weight 1000001; a weight is an integer from 0"),
    ([{"name": "v1", "weight": -1}, {"name": "v2", "weight": 5}], "weight -1"),
    ([{"name": f"v{i}", "weight": 1} for i in range(17)], "17 versions; an HTTPRoute rule takes at most 16"),
    ([{"name": "v1", "weight": 95}, {"name": "v9", "weight": 5}],
     "version v9 of hello/helloworld: selector app=helloworld,version=v9 matches no pod template"),
])
def test_bad_input_is_refused_before_any_change(mesh, playbook, versions, fails):
    lab(mesh)
    mark = mesh.mark()
    playbook.run(MODULE, {"splits": [dict(LAB, versions=versions)]}, fails=fails)
    assert mesh.writes(mark) == []


def test_no_workloads_yet_is_a_warning(mesh, playbook):
    lab(mesh, workloads=False)
    result = playbook.run(MODULE, {"splits": [LAB], "wait_timeout": 20})
    assert any("namespace hello has no Deployment or StatefulSet yet" in w for w in result["warnings"])


def delete_when_created(cluster, kind, name, ns):
    """Someone else (a pruning GitOps controller) deletes the object as soon as it appears. The simulated
    istiod is held until then, so it never reports on a route whose backend still exists."""
    cluster.api.routes.enabled = False

    def delete_and_resume():
        res = cluster.api.catalog.by_kind(*kind)
        cluster.api.routes.enabled = True
        cluster.api._remove(res, cluster.api._key(res, ns, name))  # wakes the simulated istiod up

    def watch():
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if cluster.get(*kind, name, ns) is not None:
                cluster._call(delete_and_resume)
                return
            time.sleep(0.02)
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


def test_route_status_failures_are_surfaced_with_their_reason(mesh, playbook):
    lab(mesh)
    thread = delete_when_created(mesh, SVC, "helloworld-v2", "hello")
    failed = playbook.run(MODULE, {"splits": [LAB], "wait_timeout": 3}, fails=[
        "HTTPRoute hello/hello-http-split-traffic (parent Service helloworld port 5000): ResolvedRefs=False "
        "(BackendNotFound): backend(helloworld-v2.hello.svc.cluster.local) not found",
        "run this task again to recreate the per-version Services"])
    thread.join()
    assert "timed out after 3s" in failed["msg"]
    assert playbook.run(MODULE, {"splits": [LAB], "wait_timeout": 20})["changed"] is True  # recreated

    mesh.delete(*SVC, "helloworld", "hello")  # the parent goes
    route = mesh.get(*ROUTE, "hello-http-split-traffic", "hello")
    deadline = time.monotonic() + 5
    while parent_conditions(route)["Accepted"][0] != "False" and time.monotonic() < deadline:
        time.sleep(0.05)
        route = mesh.get(*ROUTE, "hello-http-split-traffic", "hello")
    assert parent_conditions(route)["Accepted"] == ("False", "NoMatchingParent", 'parent service: "helloworld" not found')
    assert parent_conditions(route)["ResolvedWaypoints"] == ("True", "ResolvedWaypoints", "parent not found")


def test_istiod_not_answering_is_surfaced(mesh, playbook):
    lab(mesh)
    mesh.api.routes.enabled = False
    playbook.run(MODULE, {"splits": [LAB], "wait_timeout": 2}, fails=[
        "HTTPRoute hello/hello-http-split-traffic (parent Service helloworld port 5000): istiod has not reported on it - "
        "is istiod running"])


def test_one_call_sets_up_100_splits(mesh, playbook):
    mesh.put(ambient_namespace("scale", waypoint="waypoint"))
    for i in range(100):
        mesh.put(service("scale", f"app-{i:03d}"))
    mesh.put(waypoint_gateway("scale"))
    wait_bound(mesh, "scale", "app-099", timeout=30)
    splits = [{"service": f"app-{i:03d}", "namespace": "scale",
               "versions": [{"name": "v1", "weight": 95}, {"name": "v2", "weight": 5}]} for i in range(100)]
    mark = mesh.mark()
    started = time.monotonic()
    result = playbook.run(MODULE, {"splits": splits, "wait_timeout": 60, "concurrency": 16})
    elapsed = time.monotonic() - started
    assert result["changed"] is True and len(result["splits"]) == 100
    assert all(s["status"][0]["accepted"] for s in result["splits"])
    writes = mesh.writes(mark)
    assert len(writes) == 300 and {w["verb"] for w in writes} == {"patch"}  # 200 Services + 100 routes, once each
    reads = [r for r in mesh.requests(mark) if r["verb"] in ("get", "list")]
    assert {r["verb"] for r in reads} == {"list"}  # no GET per object
    assert elapsed < 120

    mark = mesh.mark()
    again = playbook.run(MODULE, {"splits": splits, "wait_timeout": 60, "concurrency": 16})
    assert again["changed"] is False
    assert mesh.writes(mark) == []
    assert {r["verb"] for r in mesh.requests(mark)} == {"list"}
    print(f"100 splits: first run {elapsed:.1f}s, {len(reads)} LISTs, {len(writes)} writes; "
          f"no-op run {len(mesh.requests(mark))} LISTs")


def test_the_documented_examples_run(mesh, playbook):
    """Each task of the module's EXAMPLES, in order, on the lab (the VirtualService + DestinationRule split of
    the lab put back before the example that replaces it)."""
    import ast

    from conftest import ROOT

    tree = ast.parse((ROOT / "plugins" / "modules" / "traffic_split.py").read_text(encoding="utf-8"))
    examples = next(n.value.value for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == "EXAMPLES")
    tasks = yaml.safe_load(examples)
    assert len(tasks) == 5
    lab(mesh)
    for task in tasks:
        if task.get(MODULE, {}).get("remove_conflicts"):
            mesh.put(split_virtualservice())
        if any("retry" in split for split in task.get(MODULE, {}).get("splits", [])):
            mesh.load_crds(CRDS / "gateway-api-v1.5.1-experimental-httproutes.yaml")
        result = playbook.run(MODULE, task[MODULE])
        assert result["changed"] is True, task["name"]
    assert mesh.list(*ROUTE, "hello") == [] and mesh.get(*SVC, "helloworld-v1", "hello") is None
    assert mesh.get("networking.istio.io/v1", "VirtualService", "helloworld", "hello") is None


def settled(cluster, name, ns, timeout=5):
    """The route once the simulated istiod has written status for its current generation."""
    deadline = time.monotonic() + timeout
    while True:
        route = cluster.get(*ROUTE, name, ns)
        parents = (route.get("status") or {}).get("parents") or []
        if parents and all(c.get("observedGeneration") == route["metadata"]["generation"]
                           for p in parents for c in p["conditions"]):
            return route
        assert time.monotonic() < deadline, f"no status on HTTPRoute {ns}/{name}: {route.get('status')}"
        time.sleep(0.02)


@pytest.mark.parametrize("parent, backends, expected", [
    # a backend Service that does not exist (conversion.go buildDestination)
    ("helloworld", [("helloworld-v9", 1)], {
        "Accepted": ("True", "Accepted", "Route was valid"),
        "ResolvedRefs": ("False", "BackendNotFound", "backend(helloworld-v9.hello.svc.cluster.local) not found")}),
    # a parent Service that does not exist (conversion.go referenceAllowed)
    ("nothere", [("helloworld", 1)], {
        "Accepted": ("False", "NoMatchingParent", 'parent service: "nothere" not found'),
        "ResolvedWaypoints": ("True", "ResolvedWaypoints", "parent not found")}),
    # a missing backend with weight 0 is skipped (buildHTTPDestination)
    ("helloworld", [("helloworld", 1), ("helloworld-v9", 0)], {
        "ResolvedRefs": ("True", "ResolvedRefs", "All references resolved")}),
])
def test_simulated_route_status_in_istiods_words(mesh, parent, backends, expected):
    lab(mesh, workloads=False)
    route = split_route(service_name=parent, name="r")
    route["spec"]["rules"][0]["backendRefs"] = [{"name": n, "port": 5000, "weight": w} for n, w in backends]
    mesh.put(route)
    got = parent_conditions(settled(mesh, "r", "hello"))
    assert {k: got[k] for k in expected} == expected


def test_simulated_route_status_waypoint_label_cross_namespace_and_ports(mesh):
    mesh.put(ambient_namespace("plain"))  # no waypoint label anywhere
    mesh.put(service("plain", "web", port=80))
    mesh.put(namespace("elsewhere"))
    mesh.put(service("elsewhere", "backend", port=80))
    route = split_route(ns="plain", service_name="web", port=8080, name="r")  # a port the Service does not have
    route["spec"]["rules"][0]["backendRefs"] = [{"name": "backend", "namespace": "elsewhere", "port": 80}]
    mesh.put(route)
    got = parent_conditions(settled(mesh, "r", "plain"), port=8080)
    # istiod 1.30.3 checks neither the port of a Service parent nor a ReferenceGrant for a mesh route's
    # backend (route_collections.go: enforceRefGrant = !mesh); only the waypoint label, in ResolvedWaypoints
    assert got == {"Accepted": ("True", "Accepted", "Route was valid"),
                   "ResolvedRefs": ("True", "ResolvedRefs", "All references resolved"),
                   "ResolvedWaypoints": ("True", "ResolvedWaypoints",
                                         "istio.io/use-waypoint label missing from parent and parent namespace; "
                                         "in ambient mode, route will not be respected")}
