"""Server-side apply in the test API server, held to kube-apiserver's rules (table-driven)."""

import copy

import pytest

from conftest import GATEWAY_V151
from unit.apiserver.test_apiserver import call

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
    assert status == 200 and doc["status"] == CONTROLLER_STATUS, doc
    body = gateway()
    if status_in_body is not None:
        body["status"] = status_in_body
    status, again = call(gw, "PATCH", f"{GATEWAYS}/gw", body, APPLY, fieldManager="ambient.mesh")
    assert status == 200, again
    assert again["status"] == CONTROLLER_STATUS
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
    assert [entry["name"] for entry in doc["spec"]["listeners"]] == ["mesh"] and doc["status"] == CONTROLLER_STATUS
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
