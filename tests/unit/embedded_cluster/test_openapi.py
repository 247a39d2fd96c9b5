"""/openapi/v3 and fieldValidation: what kubectl relies on to create and apply with validation on."""

import pytest

from conftest import GATEWAY_V151
from unit.embedded_cluster.test_apiserver import call

GATEWAYS = "/apis/gateway.networking.k8s.io/v1/namespaces/hello/gateways"


@pytest.fixture
def gw(cluster):
    cluster.load_crds(GATEWAY_V151)
    cluster.seed_namespace("hello")
    return cluster


@pytest.mark.parametrize("group_version, path, kind", [
    ("api/v1", "/api/v1/namespaces/{namespace}/services/{name}", {"group": "", "version": "v1", "kind": "Service"}),
    ("api/v1", "/api/v1/namespaces/{name}", {"group": "", "version": "v1", "kind": "Namespace"}),
    ("apis/gateway.networking.k8s.io/v1", "/apis/gateway.networking.k8s.io/v1/namespaces/{namespace}/gateways/{name}",
     {"group": "gateway.networking.k8s.io", "version": "v1", "kind": "Gateway"}),
])
def test_openapi_v3_names_each_kinds_patch_operation_with_field_validation(gw, group_version, path, kind):
    status, index = call(gw, "GET", "/openapi/v3")
    assert status == 200
    url = index["paths"][group_version]["serverRelativeURL"]
    assert url.startswith(f"/openapi/v3/{group_version}?hash=")
    status, doc = call(gw, "GET", url.split("?")[0])
    assert status == 200 and doc["openapi"].startswith("3.")
    patch = doc["paths"][path]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == kind
    assert "fieldValidation" in [p["name"] for p in patch["parameters"]]


@pytest.mark.parametrize("path", ["/openapi/v3/apis/example.com/v1", "/openapi/v2"])
def test_what_is_not_served_is_404(gw, path):
    assert call(gw, "GET", path)[0] == 404


@pytest.mark.parametrize("directive, status", [("Strict", 400), ("Ignore", 201), ("Warn", 201), (None, 201),
                                               ("Sloppy", 400)])
def test_field_validation_on_custom_resources(gw, directive, status):
    body = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": {"name": "gw", "namespace": "hello"},
            "spec": {"gatewayClassName": "x", "listners": [], "listeners": [{"name": "mesh", "port": 15008, "protocol": "HBONE"}]}}
    query = {"fieldValidation": directive} if directive else {}
    got, doc = call(gw, "POST", GATEWAYS, body, **query)
    assert got == status, doc
    if directive == "Strict":
        assert doc["reason"] == "BadRequest" and doc["message"] == 'strict decoding error: unknown field "spec.listners"'
    elif status == 201:
        assert "listners" not in doc["spec"]  # pruned
