"""The test API server keeps kube-apiserver's semantics where the collection relies on them."""

import json
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import GATEWAY_V121, GATEWAY_V151, ISTIO_CRDS

ROUTES = "/apis/gateway.networking.k8s.io/v1/namespaces/hello/httproutes"


def call(cluster, method, path, body=None, ctype="application/json", **query):
    url = cluster.url + path + ("?" + urllib.parse.urlencode(query) if query else "")
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def route(weight=95, backends=1, name="helloworld"):
    return {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": "hello"},
        "spec": {
            "parentRefs": [{"group": "", "kind": "Service", "name": "helloworld", "port": 5000}],
            "rules": [{"backendRefs": [{"name": f"helloworld-v{i}", "port": 5000, "weight": weight}
                                       for i in range(backends)]}],
        },
    }


@pytest.fixture
def gw(cluster):
    cluster.load_crds(GATEWAY_V151)
    cluster.seed_namespace("hello")
    return cluster


@pytest.mark.parametrize("crds", [GATEWAY_V121, GATEWAY_V151])
@pytest.mark.parametrize("body, field, text", [
    (route(weight=-1), "spec.rules[0].backendRefs[0].weight", "should be greater than or equal to 0"),
    (route(weight=1000001), "spec.rules[0].backendRefs[0].weight", "should be less than or equal to 1000000"),
    (route(backends=17), "spec.rules[0].backendRefs", "must have at most 16 items"),
])
def test_httproute_schema_violations_are_422(cluster, crds, body, field, text):
    cluster.load_crds(crds)
    cluster.seed_namespace("hello")
    status, doc = call(cluster, "POST", ROUTES, body)
    assert status == 422
    assert doc["kind"] == "Status" and doc["reason"] == "Invalid" and doc["code"] == 422
    assert any(c["field"] == field and text in c["message"] for c in doc["details"]["causes"]), doc
    assert cluster.get("gateway.networking.k8s.io/v1", "HTTPRoute", "helloworld", "hello") is None


@pytest.mark.parametrize("mutate, field", [
    (lambda r: r["spec"]["parentRefs"][0].pop("name"), "spec.parentRefs[0].name"),
    (lambda r: r["spec"]["rules"][0]["backendRefs"][0].update(name=""), "spec.rules[0].backendRefs[0].name"),
    (lambda r: r["spec"].update(rules=[{}] * 17), "spec.rules"),
    (lambda r: r["spec"].update(parentRefs=r["spec"]["parentRefs"] * 33), "spec.parentRefs"),
    (lambda r: r["spec"]["rules"][0].update(matches=[{"path": {"type": "Bogus", "value": "/"}}]),
     "spec.rules[0].matches[0].path.type"),
    (lambda r: r["spec"]["rules"][0]["backendRefs"][0].update(weight="95"), "spec.rules[0].backendRefs[0].weight"),
])
def test_more_schema_rules(gw, mutate, field):
    body = route()
    mutate(body)
    status, doc = call(gw, "POST", ROUTES, body)
    assert status == 422, doc
    assert field in [c["field"] for c in doc["details"]["causes"]]


def test_defaults_and_pruning(gw):
    body = route()
    body["spec"]["unknownField"] = "dropped"
    status, doc = call(gw, "POST", ROUTES, body)
    assert status == 201
    assert "unknownField" not in doc["spec"]
    assert doc["spec"]["rules"][0]["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]


def test_identity_versions_and_generation(gw):
    _, created = call(gw, "POST", ROUTES, route())
    meta = created["metadata"]
    assert meta["uid"] and meta["creationTimestamp"] and meta["generation"] == 1
    # a label change is metadata: new resourceVersion, same generation
    _, labelled = call(gw, "PATCH", f"{ROUTES}/helloworld", {"metadata": {"labels": {"a": "b"}}},
                       "application/merge-patch+json")
    assert labelled["metadata"]["generation"] == 1
    assert int(labelled["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])
    # a spec change bumps generation
    _, changed = call(gw, "PATCH", f"{ROUTES}/helloworld",
                      [{"op": "replace", "path": "/spec/rules/0/backendRefs/0/weight", "value": 5}],
                      "application/json-patch+json")
    assert changed["metadata"]["generation"] == 2
    assert changed["metadata"]["uid"] == meta["uid"]
    # a no-op write keeps the resourceVersion
    _, same = call(gw, "PATCH", f"{ROUTES}/helloworld", {"metadata": {"labels": {"a": "b"}}},
                   "application/merge-patch+json")
    assert same["metadata"]["resourceVersion"] == changed["metadata"]["resourceVersion"]


def test_stale_resource_version_is_409(gw):
    _, created = call(gw, "POST", ROUTES, route())
    call(gw, "PATCH", f"{ROUTES}/helloworld", {"metadata": {"labels": {"a": "b"}}}, "application/merge-patch+json")
    stale = dict(created)
    status, doc = call(gw, "PUT", f"{ROUTES}/helloworld", stale)
    assert status == 409 and doc["reason"] == "Conflict"
    assert "the object has been modified" in doc["message"]


def test_not_found_and_already_exists_status_bodies(gw):
    status, doc = call(gw, "GET", f"{ROUTES}/missing")
    assert (status, doc["reason"], doc["kind"]) == (404, "NotFound", "Status")
    assert doc["message"] == 'httproutes.gateway.networking.k8s.io "missing" not found'
    call(gw, "POST", ROUTES, route())
    status, doc = call(gw, "POST", ROUTES, route())
    assert (status, doc["reason"]) == (409, "AlreadyExists")
    elsewhere = route()
    elsewhere["metadata"]["namespace"] = "nowhere"
    status, doc = call(gw, "POST", "/apis/gateway.networking.k8s.io/v1/namespaces/nowhere/httproutes", elsewhere)
    assert status == 404 and 'namespaces "nowhere" not found' in doc["message"]


def test_dry_run_changes_nothing(gw):
    status, doc = call(gw, "POST", ROUTES, route(), dryRun="All")
    assert status == 201 and doc["metadata"]["name"] == "helloworld"
    assert gw.get("gateway.networking.k8s.io/v1", "HTTPRoute", "helloworld", "hello") is None
    call(gw, "POST", ROUTES, route())
    before = gw.get("gateway.networking.k8s.io/v1", "HTTPRoute", "helloworld", "hello")
    _, doc = call(gw, "PATCH", f"{ROUTES}/helloworld", {"spec": {"hostnames": ["x"]}},
                  "application/merge-patch+json", dryRun="All")
    assert doc["spec"]["hostnames"] == ["x"]
    call(gw, "DELETE", f"{ROUTES}/helloworld", dryRun="All")
    assert gw.get("gateway.networking.k8s.io/v1", "HTTPRoute", "helloworld", "hello") == before


def test_status_subresource_is_isolated(gw):
    call(gw, "POST", ROUTES, route())
    body = route()
    body["status"] = {"parents": []}
    body["spec"]["hostnames"] = ["via-status"]
    _, doc = call(gw, "PUT", f"{ROUTES}/helloworld/status", body)
    assert doc["status"] == {"parents": []} and "hostnames" not in doc["spec"]
    body = route()
    body["status"] = {"parents": [{"parentRef": {"name": "x"}, "controllerName": "a.b/c", "conditions": []}]}
    _, doc = call(gw, "PUT", f"{ROUTES}/helloworld", body)
    assert doc["status"] == {"parents": []}


def test_server_side_apply_ownership(gw):
    body = route()
    body["metadata"]["labels"] = {"owned": "mine"}
    status, doc = call(gw, "PATCH", f"{ROUTES}/helloworld", body, "application/apply-patch+yaml",
                       fieldManager="ambient.mesh")
    assert status == 201
    assert [m["manager"] for m in doc["metadata"]["managedFields"]] == ["ambient.mesh"]
    # another writer adds a label: it survives the next apply
    call(gw, "PATCH", f"{ROUTES}/helloworld", {"metadata": {"labels": {"foreign": "keep"}}},
         "application/merge-patch+json", fieldManager="kubectl")
    status, doc = call(gw, "PATCH", f"{ROUTES}/helloworld", body, "application/apply-patch+yaml",
                       fieldManager="ambient.mesh")
    assert doc["metadata"]["labels"] == {"owned": "mine", "foreign": "keep"}
    # dropping a field from the configuration removes it
    del body["metadata"]["labels"]
    _, doc = call(gw, "PATCH", f"{ROUTES}/helloworld", body, "application/apply-patch+yaml",
                  fieldManager="ambient.mesh")
    assert doc["metadata"]["labels"] == {"foreign": "keep"}
    # another manager changing an owned field conflicts, naming the owner and the field
    other = route(weight=50)
    status, doc = call(gw, "PATCH", f"{ROUTES}/helloworld", other, "application/apply-patch+yaml",
                       fieldManager="someone-else")
    assert status == 409
    assert {"reason": "FieldManagerConflict", "message": 'conflict with "ambient.mesh"', "field": ".spec.rules"} \
        in doc["details"]["causes"]
    status, doc = call(gw, "PATCH", f"{ROUTES}/helloworld", other, "application/apply-patch+yaml",
                       fieldManager="someone-else", force="true")
    assert status == 200 and doc["spec"]["rules"][0]["backendRefs"][0]["weight"] == 50


def test_apply_requires_field_manager(gw):
    status, doc = call(gw, "PATCH", f"{ROUTES}/helloworld", route(), "application/apply-patch+yaml")
    assert status == 400 and "fieldManager" in doc["message"]


def test_strategic_merge_on_builtins_and_415_on_custom_resources(gw):
    dep = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "hello"},
           "spec": {"template": {"spec": {"containers": [{"name": "a", "image": "a:1"}, {"name": "b", "image": "b:1"}]}}}}
    call(gw, "POST", "/apis/apps/v1/namespaces/hello/deployments", dep)
    _, doc = call(gw, "PATCH", "/apis/apps/v1/namespaces/hello/deployments/web",
                  {"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": "now"}},
                                         "spec": {"containers": [{"name": "b", "image": "b:2"}]}}}},
                  "application/strategic-merge-patch+json")
    assert [c["image"] for c in doc["spec"]["template"]["spec"]["containers"]] == ["a:1", "b:2"]
    assert doc["metadata"]["generation"] == 2
    call(gw, "POST", ROUTES, route())
    status, _doc = call(gw, "PATCH", f"{ROUTES}/helloworld", {"spec": {}}, "application/strategic-merge-patch+json")
    assert status == 415


@pytest.mark.parametrize("selector, names", [
    ("istio.io/dataplane-mode=ambient", ["a", "b"]),
    ("istio.io/dataplane-mode!=ambient", ["c", "default", "kube-system"]),
    ("istio.io/dataplane-mode in (ambient,none)", ["a", "b", "c"]),
    ("istio.io/dataplane-mode,istio.io/use-waypoint", ["b"]),
    ("!istio.io/dataplane-mode", ["default", "kube-system"]),
])
def test_label_selectors(cluster, selector, names):
    cluster.seed_namespace("a", {"istio.io/dataplane-mode": "ambient"})
    cluster.seed_namespace("b", {"istio.io/dataplane-mode": "ambient", "istio.io/use-waypoint": "waypoint"})
    cluster.seed_namespace("c", {"istio.io/dataplane-mode": "none"})
    _, doc = call(cluster, "GET", "/api/v1/namespaces", labelSelector=selector)
    assert sorted(i["metadata"]["name"] for i in doc["items"]) == names


def test_field_selector_and_list_scope(cluster):
    for ns in ("a", "b"):
        cluster.seed_namespace(ns)
        call(cluster, "POST", f"/api/v1/namespaces/{ns}/services", {"metadata": {"name": "svc"}, "spec": {}})
    _, doc = call(cluster, "GET", "/api/v1/services")
    assert len(doc["items"]) == 2 and doc["kind"] == "ServiceList"
    _, doc = call(cluster, "GET", "/api/v1/namespaces/a/services")
    assert [i["metadata"]["namespace"] for i in doc["items"]] == ["a"]
    _, doc = call(cluster, "GET", "/api/v1/services", fieldSelector="metadata.namespace=b")
    assert [i["metadata"]["namespace"] for i in doc["items"]] == ["b"]


def test_discovery_serves_crds_created_at_run_time(cluster):
    status, _doc = call(cluster, "GET", "/apis/networking.istio.io/v1")
    assert status == 404
    cluster.load_crds(ISTIO_CRDS)
    _, groups = call(cluster, "GET", "/apis")
    istio = [g for g in groups["groups"] if g["name"] == "networking.istio.io"][0]
    assert istio["preferredVersion"]["version"] == "v1"
    _, doc = call(cluster, "GET", "/apis/networking.istio.io/v1")
    kinds = {r["name"]: r for r in doc["resources"]}
    assert kinds["virtualservices"]["kind"] == "VirtualService" and kinds["virtualservices"]["namespaced"]
    assert "virtualservices/status" in kinds
    _, crd = call(cluster, "GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/virtualservices.networking.istio.io")
    assert {"type": "Established", "status": "True"}.items() <= crd["status"]["conditions"][1].items()


def test_deleting_a_crd_stops_serving_it(gw):
    call(gw, "POST", ROUTES, route())
    call(gw, "DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/httproutes.gateway.networking.k8s.io")
    status, _doc = call(gw, "GET", ROUTES)
    assert status == 404


def test_injected_faults_and_request_log(gw):
    mark = gw.mark()
    gw.fail("list", "namespaces", status=429, times=1, retry_after=1)
    status, doc = call(gw, "GET", "/api/v1/namespaces")
    assert status == 429 and doc["reason"] == "TooManyRequests"
    status, _doc = call(gw, "GET", "/api/v1/namespaces")
    assert status == 200
    assert [e.get("injected") for e in gw.requests(mark, "list")] == [429, None]
    assert gw.writes(mark) == []


def test_cli_writes_a_kubeconfig(tmp_path):
    import subprocess
    import sys
    import time
    import yaml
    kubeconfig = tmp_path / "kc"
    proc = subprocess.Popen([sys.executable, "-m", "embedded_cluster", "--kubeconfig", str(kubeconfig)],
                            cwd=str(__import__("conftest").ROOT), stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in line
        deadline = time.time() + 10
        while not kubeconfig.exists() and time.time() < deadline:
            time.sleep(0.1)
        server = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
        with urllib.request.urlopen(server + "/api/v1/namespaces") as resp:
            assert {i["metadata"]["name"] for i in json.loads(resp.read())["items"]} == {"default", "kube-system"}
    finally:
        proc.terminate()
        proc.wait(10)


def _deployment(name="web"):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c"}]}}}}


def test_workloads_become_ready_after_their_delay_or_never(cluster):
    import time
    cluster.set_readiness("Deployment", "default", "slow", 0.5)
    cluster.set_readiness("Deployment", "default", "never", None)
    for name in ("fast", "slow", "never"):
        call(cluster, "POST", "/apis/apps/v1/namespaces/default/deployments", _deployment(name))
    time.sleep(0.2)
    ready = {n: cluster.get("apps/v1", "Deployment", n, "default")["status"]["readyReplicas"]
             for n in ("fast", "slow", "never")}
    assert ready == {"fast": 2, "slow": 0, "never": 0}
    time.sleep(0.6)
    assert cluster.get("apps/v1", "Deployment", "slow", "default")["status"]["readyReplicas"] == 2
    never = cluster.get("apps/v1", "Deployment", "never", "default")["status"]
    assert never["conditions"][0]["reason"] == "MinimumReplicasUnavailable"
    ds = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "ztunnel", "namespace": "default"},
          "spec": {"selector": {"matchLabels": {"app": "z"}}, "template": {"spec": {"containers": [{"name": "z"}]}}}}
    call(cluster, "POST", "/apis/apps/v1/namespaces/default/daemonsets", ds)
    time.sleep(0.1)
    status = cluster.get("apps/v1", "DaemonSet", "ztunnel", "default")["status"]
    assert status["numberReady"] == status["desiredNumberScheduled"] == 3


def _istiod(cluster):
    cluster.seed_namespace("istio-system")
    cluster.put({"apiVersion": "apps/v1", "kind": "Deployment",
                 "metadata": {"name": "istiod", "namespace": "istio-system", "labels": {"app": "istiod"}},
                 "spec": {"selector": {"matchLabels": {"app": "istiod"}},
                          "template": {"spec": {"containers": [{"name": "discovery"}]}}}})


def _bound(cluster, ns, name):
    svc = cluster.get("v1", "Service", name, ns)
    for cond in (svc.get("status") or {}).get("conditions") or []:
        if cond["type"] == "istio.io/WaypointBound":
            return cond["status"], cond["reason"]
    return None


def test_simulated_istiod_programs_waypoints_and_binds_services(cluster):
    import time
    from builders import ambient_namespace, namespace, service, waypoint
    cluster.load_crds(GATEWAY_V151)
    cluster.put(ambient_namespace("hello", waypoint="waypoint"))
    cluster.put(service("hello", "helloworld"))
    gw = waypoint("hello", programmed=None)
    cluster.put(gw)
    time.sleep(0.2)
    pending = cluster.get("gateway.networking.k8s.io/v1", "Gateway", "waypoint", "hello")["status"]["conditions"]
    assert {c["type"]: c["status"] for c in pending} == {"Accepted": "Unknown", "Programmed": "Unknown"}  # no istiod
    assert _bound(cluster, "hello", "helloworld") is None  # no istiod runs: nobody writes the condition
    _istiod(cluster)
    time.sleep(0.3)
    programmed = cluster.get("gateway.networking.k8s.io/v1", "Gateway", "waypoint", "hello")["status"]["conditions"]
    assert {c["type"]: c["status"] for c in programmed} == {"Accepted": "True", "Programmed": "True"}
    assert cluster.get("apps/v1", "Deployment", "waypoint", "hello") is not None
    assert _bound(cluster, "hello", "helloworld") == ("True", "WaypointAccepted")

    cluster.put(namespace("other", **{"istio.io/dataplane-mode": "ambient", "istio.io/use-waypoint": "waypoint",
                                      "istio.io/use-waypoint-namespace": "hello"}))
    cluster.put(service("other", "svc"))
    cluster.put(service("hello", "wl-bound", labels={"istio.io/use-waypoint": "wl"}))
    cluster.put(waypoint("hello", "wl", waypoint_for="workload", programmed=None))
    cluster.set_readiness("Deployment", "hello", "blocked", None)
    cluster.put(service("hello", "to-blocked", labels={"istio.io/use-waypoint": "blocked"}))
    cluster.put(waypoint("hello", "blocked", programmed=None))
    time.sleep(0.3)
    assert _bound(cluster, "other", "svc") == ("False", "AttachmentDenied")
    assert _bound(cluster, "hello", "wl-bound") == ("False", "UnsupportedTrafficType")
    assert _bound(cluster, "hello", "to-blocked") == ("False", "WaypointIsNotReady")
    opened = cluster.get("gateway.networking.k8s.io/v1", "Gateway", "waypoint", "hello")
    opened["spec"]["listeners"][0]["allowedRoutes"] = {"namespaces": {"from": "All"}}
    opened.pop("status")
    cluster.put(opened)
    time.sleep(0.3)
    assert _bound(cluster, "other", "svc") == ("True", "WaypointAccepted")


# ---- the scale subresource (scale.py: pkg/registry/apps/deployment/storage/storage.go ScaleREST) ----------
DEPLOYMENTS = "/apis/apps/v1/namespaces/hello/deployments"


def test_the_scale_subresource_reads_and_writes_a_deployments_replicas(cluster):
    cluster.seed_namespace("hello")
    template = {"metadata": {"labels": {"app": "helloworld", "version": "v1"}},
                "spec": {"containers": [{"name": "app", "image": "docker.io/istio/examples-helloworld-v1:1.0"}]}}
    status, dep = call(cluster, "POST", DEPLOYMENTS, {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "helloworld-v1", "namespace": "hello"},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"version": "v1", "app": "helloworld"}},
                 "template": template}})
    assert status == 201
    [entry] = [r for r in call(cluster, "GET", "/apis/apps/v1")[1]["resources"] if r["name"] == "deployments/scale"]
    assert entry == {"name": "deployments/scale", "singularName": "", "namespaced": True, "group": "autoscaling",
                     "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}

    status, scale = call(cluster, "GET", f"{DEPLOYMENTS}/helloworld-v1/scale")
    assert status == 200 and scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"] == {"replicas": 2} and scale["status"]["selector"] == "app=helloworld,version=v1"
    assert scale["metadata"]["uid"] == dep["metadata"]["uid"]

    # kubernetes.core.k8s_scale's request: a merge patch of the Scale; the Deployment takes the replicas
    status, scale = call(cluster, "PATCH", f"{DEPLOYMENTS}/helloworld-v1/scale", {"spec": {"replicas": 0}},
                         "application/merge-patch+json", fieldManager="k8s_scale")
    assert status == 200 and scale["spec"] == {}  # omitempty: 0 is left out
    stored = cluster.get("apps/v1", "Deployment", "helloworld-v1", "hello")
    assert stored["spec"]["replicas"] == 0 and stored["metadata"]["generation"] == 2
    assert stored["spec"]["template"]["metadata"]["labels"] == template["metadata"]["labels"]  # the rest survives
    assert [(m["manager"], m.get("subresource")) for m in stored["metadata"]["managedFields"]
            if m["manager"] == "k8s_scale"] == [("k8s_scale", "scale")]

    # refused before anything changes: negative replicas, a stale resourceVersion, another uid
    status, doc = call(cluster, "PATCH", f"{DEPLOYMENTS}/helloworld-v1/scale", {"spec": {"replicas": -1}},
                       "application/merge-patch+json")
    assert status == 422 and doc["message"] == ('Scale.autoscaling "helloworld-v1" is invalid: spec.replicas: '
                                                "Invalid value: -1: must be greater than or equal to 0")
    stale = dict(scale, spec={"replicas": 3}, metadata=dict(scale["metadata"], resourceVersion="1"))
    assert call(cluster, "PUT", f"{DEPLOYMENTS}/helloworld-v1/scale", stale)[0] == 409
    other = dict(scale, spec={"replicas": 3}, metadata=dict(scale["metadata"], uid="not-its-uid"))
    status, doc = call(cluster, "PUT", f"{DEPLOYMENTS}/helloworld-v1/scale", other)
    assert status == 409 and "Precondition failed: UID in precondition: not-its-uid" in doc["message"]
    assert cluster.get("apps/v1", "Deployment", "helloworld-v1", "hello")["spec"]["replicas"] == 0

    # a PUT of the current Scale (the controller has written the status since) with new replicas; no scale for
    # a kind without one
    scale = call(cluster, "GET", f"{DEPLOYMENTS}/helloworld-v1/scale")[1]
    status, scale = call(cluster, "PUT", f"{DEPLOYMENTS}/helloworld-v1/scale", dict(scale, spec={"replicas": 1}))
    assert status == 200 and scale["spec"] == {"replicas": 1}
    assert call(cluster, "GET", "/api/v1/namespaces/hello/services/x/scale")[0] == 404
