"""Server-side apply in the test API server, held to kube-apiserver's rules (table-driven)."""

import copy

import pytest

from conftest import GATEWAY_V151
from unit.embedded_cluster.test_apiserver import call

APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
GATEWAYS = "/apis/gateway.networking.k8s.io/v1/namespaces/hello/gateways"


def gateway(listeners=None, name="gw"):
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": name, "namespace": "hello"},
            "spec": {"gatewayClassName": "lab",  # not istio-waypoint: the simulated istiod leaves it alone
                     "listeners": listeners if listeners is not None else
                     [{"name": "mesh", "port": 15008, "protocol": "HBONE"}]}}


CONTROLLER_STATUS = {"conditions": [
    {"type": "Accepted", "status": "True", "reason": "Accepted", "message": "by the controller",
     "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1}]}


def _put_status(cluster, doc):
    return call(cluster, "PUT", f"{GATEWAYS}/gw/status", dict(doc, status=CONTROLLER_STATUS),
                fieldManager="controller")


def _merge_status(cluster, doc):
    return call(cluster, "PATCH", f"{GATEWAYS}/gw/status", {"status": CONTROLLER_STATUS}, MERGE,
                fieldManager="controller")


def _apply_status(cluster, doc):
    body = {"apiVersion": doc["apiVersion"], "kind": "Gateway", "metadata": {"name": "gw", "namespace": "hello"},
            "status": CONTROLLER_STATUS}
    return call(cluster, "PATCH", f"{GATEWAYS}/gw/status", body, APPLY, fieldManager="controller", force="true")


@pytest.fixture
def gw(cluster):
    cluster.load_crds(GATEWAY_V151)
    cluster.seed_namespace("hello")
    return cluster


def _managers(doc):
    return {(m["manager"], m["operation"], m.get("subresource", "")): m["fieldsV1"]
            for m in doc["metadata"]["managedFields"]}


@pytest.mark.parametrize("write_status", [_put_status, _merge_status, _apply_status])
@pytest.mark.parametrize("status_in_body", [None, {"conditions": []}, CONTROLLER_STATUS])
def test_reapply_over_a_controller_status_is_no_conflict(gw, write_status, status_in_body):
    """Status is reset on the main resource: an apply neither sets, owns nor conflicts on it."""
    status, created = call(gw, "PATCH", f"{GATEWAYS}/gw", gateway(), APPLY, fieldManager="ambient.mesh")
    assert status == 201, created
    status, doc = write_status(gw, created)
    # (an apply merges conditions by type: the schema's default Programmed stays next to Accepted)
    assert status == 200 and CONTROLLER_STATUS["conditions"][0] in doc["status"]["conditions"], doc
    body = gateway()
    if status_in_body is not None:
        body["status"] = status_in_body
    status, again = call(gw, "PATCH", f"{GATEWAYS}/gw", body, APPLY, fieldManager="ambient.mesh")
    assert status == 200, again
    assert again["status"] == doc["status"]
    assert again["metadata"]["resourceVersion"] == doc["metadata"]["resourceVersion"]  # nothing changed
    mine = _managers(again)[("ambient.mesh", "Apply", "")]
    assert "f:status" not in mine and "f:spec" in mine
    assert "f:status" in _managers(again)[("controller", "Apply" if write_status is _apply_status else "Update",
                                           "status")]


def test_status_apply_ignores_spec_and_keeps_the_main_entry(gw):
    """An apply to /status changes only status, and is an entry of its own next to the same manager's
    apply of the object (managedFields are keyed by manager, operation and subresource)."""
    call(gw, "PATCH", f"{GATEWAYS}/gw", gateway(), APPLY, fieldManager="ambient.mesh")
    body = gateway(listeners=[{"name": "other", "port": 80, "protocol": "HTTP"}])
    body["status"] = CONTROLLER_STATUS
    status, doc = call(gw, "PATCH", f"{GATEWAYS}/gw/status", body, APPLY, fieldManager="ambient.mesh")
    assert status == 200, doc
    assert [entry["name"] for entry in doc["spec"]["listeners"]] == ["mesh"]
    assert CONTROLLER_STATUS["conditions"][0] in doc["status"]["conditions"]
    entries = _managers(doc)
    assert "f:spec" in entries[("ambient.mesh", "Apply", "")]
    assert set(entries[("ambient.mesh", "Apply", "status")]) == {"f:status"}
    # the main apply again: the status entry stays
    status, doc = call(gw, "PATCH", f"{GATEWAYS}/gw", gateway(), APPLY, fieldManager="ambient.mesh")
    assert status == 200 and ("ambient.mesh", "Apply", "status") in _managers(doc)


def test_namespace_apply_cannot_set_finalizers_or_status(cluster):
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"},
            "spec": {"finalizers": ["example.com/x"]}, "status": {"phase": "Terminating"}}
    status, doc = call(cluster, "PATCH", "/api/v1/namespaces/n", copy.deepcopy(body), APPLY, fieldManager="me")
    assert status == 201, doc
    assert "example.com/x" not in (doc.get("spec") or {}).get("finalizers", [])
    assert (doc.get("status") or {}).get("phase") != "Terminating"


@pytest.mark.parametrize("version, expected", [
    ("stale", 409),  # the resourceVersion the object had before someone else wrote it
    ("current", 200),
    (None, 200),  # no precondition: the apply is unconditional
])
@pytest.mark.parametrize("force", [None, "true"])
def test_resource_version_in_an_apply_is_a_precondition(gw, version, expected, force):
    _, created = call(gw, "PATCH", f"{GATEWAYS}/gw", gateway(), APPLY, fieldManager="ambient.mesh")
    _, changed = call(gw, "PATCH", f"{GATEWAYS}/gw", {"metadata": {"labels": {"a": "b"}}}, MERGE,
                      fieldManager="kubectl")
    body = gateway(listeners=[{"name": "mesh", "port": 15009, "protocol": "HBONE"}])
    if version:
        body["metadata"]["resourceVersion"] = (created if version == "stale" else changed)["metadata"]["resourceVersion"]
    query = {"force": force} if force else {}
    status, doc = call(gw, "PATCH", f"{GATEWAYS}/gw", body, APPLY, fieldManager="ambient.mesh", **query)
    assert status == expected, doc
    stored = gw.get("gateway.networking.k8s.io/v1", "Gateway", "gw", "hello")
    if expected == 409:
        assert (doc["reason"], doc["details"]["name"], doc["details"]["kind"]) == ("Conflict", "gw", "gateways")
        assert doc["message"] == ('Operation cannot be fulfilled on gateways.gateway.networking.k8s.io "gw": the object '
                                  "has been modified; please apply your changes to the latest version and try again")
        assert stored["spec"]["listeners"][0]["port"] == 15008
    else:
        assert stored["spec"]["listeners"][0]["port"] == 15009


MESH = {"name": "mesh", "port": 15008, "protocol": "HBONE"}
OTHER = {"name": "other", "port": 80, "protocol": "HTTP"}


def _apply(cluster, path, body, manager, **query):
    return call(cluster, "PATCH", path, body, APPLY, fieldManager=manager, **query)


def _listeners(doc):
    return {entry["name"]: entry["port"] for entry in doc["spec"]["listeners"]}


def test_list_map_entries_are_owned_one_by_one(gw):
    """spec.listeners is x-kubernetes-list-type: map keyed by name: each manager owns its listener."""
    _apply(gw, f"{GATEWAYS}/gw", gateway([MESH]), "a")
    status, doc = _apply(gw, f"{GATEWAYS}/gw", gateway([OTHER]), "b")
    assert status == 200, doc
    assert _listeners(doc) == {"mesh": 15008, "other": 80}
    fields = _managers(doc)
    mesh = fields[("a", "Apply", "")]["f:spec"]["f:listeners"]
    assert mesh == {'k:{"name":"mesh"}': {".": {}, "f:name": {}, "f:port": {}, "f:protocol": {}}}
    assert list(fields[("b", "Apply", "")]["f:spec"]["f:listeners"]) == ['k:{"name":"other"}']
    # each re-applies its own: both survive
    status, doc = _apply(gw, f"{GATEWAYS}/gw", gateway([MESH]), "a")
    assert status == 200 and _listeners(doc) == {"mesh": 15008, "other": 80}
    status, doc = _apply(gw, f"{GATEWAYS}/gw", gateway([dict(OTHER, port=81)]), "b")
    assert status == 200 and _listeners(doc) == {"mesh": 15008, "other": 81}
    # a manager that drops its listener from the configuration removes only that one
    status, doc = _apply(gw, f"{GATEWAYS}/gw", gateway([MESH]), "b")
    assert status == 200 and _listeners(doc) == {"mesh": 15008}
    assert set(_managers(doc)[("b", "Apply", "")]["f:spec"]["f:listeners"]) == {'k:{"name":"mesh"}'}


@pytest.mark.parametrize("body, field", [
    (gateway([dict(MESH, port=15009)]), '.spec.listeners[name="mesh"].port'),
    (gateway([dict(MESH, protocol="HTTP")]), '.spec.listeners[name="mesh"].protocol'),
    (gateway([dict(MESH, hostname="a.example.com"), OTHER]), None),  # new fields, a new entry: no conflict
    (gateway([MESH]), None),  # the same values: shared ownership, no conflict
])
def test_list_map_conflicts_name_the_entry(gw, body, field):
    _apply(gw, f"{GATEWAYS}/gw", gateway([MESH]), "ambient.mesh")
    status, doc = _apply(gw, f"{GATEWAYS}/gw", body, "someone-else")
    if field is None:
        assert status == 200, doc
        return
    assert status == 409, doc
    assert doc["details"]["causes"] == [{"reason": "FieldManagerConflict", "message": 'conflict with "ambient.mesh"',
                                         "field": field}]
    assert doc["message"] == f'Apply failed with 1 conflict: conflict with "ambient.mesh": {field}'
    status, doc = _apply(gw, f"{GATEWAYS}/gw", body, "someone-else", force="true")
    assert status == 200
    owned = _managers(doc)[("ambient.mesh", "Apply", "")]["f:spec"]["f:listeners"]['k:{"name":"mesh"}']
    assert "." in owned and "f:" + field.rsplit(".", 1)[1] not in owned  # the entry stays shared, the field moved


def test_an_update_takes_only_the_fields_it_changed_in_an_entry(gw):
    _apply(gw, f"{GATEWAYS}/gw", gateway([MESH, OTHER]), "ambient.mesh")
    _, doc = call(gw, "GET", f"{GATEWAYS}/gw")
    doc["spec"]["listeners"][1]["port"] = 8080
    status, doc = call(gw, "PUT", f"{GATEWAYS}/gw", doc, fieldManager="kubectl-edit")
    assert status == 200, doc
    assert _managers(doc)[("kubectl-edit", "Update", "")] == {
        "f:spec": {"f:listeners": {'k:{"name":"other"}': {"f:port": {}}}}}
    mine = _managers(doc)[("ambient.mesh", "Apply", "")]["f:spec"]["f:listeners"]
    assert "f:port" not in mine['k:{"name":"other"}'] and "f:port" in mine['k:{"name":"mesh"}']
    status, doc = _apply(gw, f"{GATEWAYS}/gw", gateway([MESH, OTHER]), "ambient.mesh")
    assert status == 409 and doc["details"]["causes"][0]["field"] == '.spec.listeners[name="other"].port'


@pytest.mark.parametrize("path, live, mine, theirs, field", [
    # Service ports: +listType=map keyed by port and protocol (TCP when left out)
    ("/api/v1/namespaces/hello/services/web",
     {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "hello"},
      "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}},
     {"ports": [{"name": "grpc", "port": 90}]},
     {"ports": [{"name": "http", "port": 80, "targetPort": 9090}]},
     '.spec.ports[port=80,protocol="TCP"].targetPort'),
    # Deployment containers by name, their env by name
    ("/apis/apps/v1/namespaces/hello/deployments/web",
     {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "hello"},
      "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}},
               "spec": {"containers": [{"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}]}]}}}},
     {"template": {"spec": {"containers": [{"name": "sidecar", "image": "sidecar:1"}]}}},
     {"template": {"spec": {"containers": [{"name": "app", "env": [{"name": "A", "value": "2"}]}]}}},
     '.spec.template.spec.containers[name="app"].env[name="A"].value'),
])
def test_builtin_list_maps(gw, path, live, mine, theirs, field):
    status, doc = _apply(gw, path, live, "owner")
    assert status == 201, doc
    body = {k: v for k, v in live.items() if k != "spec"}
    status, doc = _apply(gw, path, dict(body, spec=mine), "helper")
    assert status == 200, doc  # a new entry next to the owner's: no conflict, both kept
    status, doc = _apply(gw, path, live, "owner")
    assert status == 200, doc
    status, doc = _apply(gw, path, dict(body, spec=theirs), "intruder")
    assert status == 409 and [c["field"] for c in doc["details"]["causes"]] == [field], doc
    _, doc = call(gw, "GET", path)
    if "ports" in mine:
        assert sorted(p["name"] for p in doc["spec"]["ports"]) == ["grpc", "http"]
        entry = 'k:{"port":80,"protocol":"TCP"}'
        assert entry in _managers(doc)[("owner", "Apply", "")]["f:spec"]["f:ports"]
    else:
        assert [c["name"] for c in doc["spec"]["template"]["spec"]["containers"]] == ["app", "sidecar"]


def test_lists_without_the_marker_stay_atomic(gw):
    route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
             "metadata": {"name": "r", "namespace": "hello"},
             "spec": {"hostnames": ["a.example.com"], "parentRefs": [{"name": "gw"}]}}
    _apply(gw, "/apis/gateway.networking.k8s.io/v1/namespaces/hello/httproutes/r", route, "a")
    other = copy.deepcopy(route)
    other["spec"]["hostnames"] = ["b.example.com"]
    status, doc = _apply(gw, "/apis/gateway.networking.k8s.io/v1/namespaces/hello/httproutes/r", other, "b")
    assert status == 409 and [c["field"] for c in doc["details"]["causes"]] == [".spec.hostnames"]
