"""Built-in defaults and allocations of the test API server, as kube-apiserver fills them in."""

import ipaddress

import pytest

from unit.embedded_cluster.test_apiserver import call

APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
SERVICES = "/api/v1/namespaces/default/services"


def svc(name="web", **spec):
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"}, "spec": spec}


@pytest.mark.parametrize("labels", [None, {}, {"team": "a"}, {"kubernetes.io/metadata.name": "someone-else"}])
@pytest.mark.parametrize("how", ["create", "apply"])
def test_namespace_always_carries_its_name_label(cluster, labels, how):
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "lab"}}
    if labels is not None:
        body["metadata"]["labels"] = labels
    if how == "create":
        status, doc = call(cluster, "POST", "/api/v1/namespaces", body)
    else:
        status, doc = call(cluster, "PATCH", "/api/v1/namespaces/lab", body, APPLY, fieldManager="me")
    assert status == 201, doc
    assert doc["metadata"]["labels"]["kubernetes.io/metadata.name"] == "lab"
    assert {k: v for k, v in doc["metadata"]["labels"].items() if k != "kubernetes.io/metadata.name"} == \
        {k: v for k, v in (labels or {}).items() if k != "kubernetes.io/metadata.name"}
    assert doc["spec"] == {"finalizers": ["kubernetes"]} and doc["status"] == {"phase": "Active"}
    assert "generation" not in doc["metadata"]


@pytest.mark.parametrize("method, body, ctype", [
    ("PATCH", {"metadata": {"labels": {"kubernetes.io/metadata.name": None}}}, MERGE),
    ("PATCH", [{"op": "remove", "path": "/metadata/labels/kubernetes.io~1metadata.name"}], "application/json-patch+json"),
    ("PATCH", {"metadata": {"labels": {"kubernetes.io/metadata.name": "x"}}}, MERGE),
    ("PUT", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "lab", "labels": {}}}, "application/json"),
])
def test_namespace_name_label_cannot_be_removed_or_changed(cluster, method, body, ctype):
    cluster.seed_namespace("lab", {"team": "a"})
    before = cluster.get("v1", "Namespace", "lab")
    status, doc = call(cluster, method, "/api/v1/namespaces/lab", body, ctype)
    assert status == 200, doc
    assert doc["metadata"]["labels"]["kubernetes.io/metadata.name"] == "lab"
    if method == "PATCH":  # nothing else changed: the write is a no-op
        assert doc["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


@pytest.mark.parametrize("spec, expected", [
    ({"selector": {"app": "web"}, "ports": [{"port": 80}]},
     {"type": "ClusterIP", "sessionAffinity": "None", "internalTrafficPolicy": "Cluster", "ipFamilyPolicy": "SingleStack",
      "ipFamilies": ["IPv4"], "ports": [{"port": 80, "protocol": "TCP", "targetPort": 80}]}),
    ({"ports": [{"name": "http", "port": 5000, "targetPort": "http", "protocol": "UDP"}]},
     {"ports": [{"name": "http", "port": 5000, "targetPort": "http", "protocol": "UDP"}]}),
    ({"clusterIP": "None", "selector": {"app": "web"}},  # headless: no address, single stack
     {"clusterIP": "None", "clusterIPs": ["None"], "ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4"]}),
    ({"clusterIP": "None"},  # headless and selectorless: "defaults to dual" (alloc.go)
     {"clusterIP": "None", "clusterIPs": ["None"], "ipFamilyPolicy": "RequireDualStack", "ipFamilies": ["IPv4", "IPv6"]}),
    ({"type": "ExternalName", "externalName": "example.com", "ports": [{"port": 443}]},
     {"type": "ExternalName", "sessionAffinity": "None", "ports": [{"port": 443, "protocol": "TCP", "targetPort": 443}]}),
    ({"type": "NodePort", "ports": [{"port": 80}]},
     {"type": "NodePort", "externalTrafficPolicy": "Cluster", "internalTrafficPolicy": "Cluster"}),
    ({"type": "LoadBalancer", "ports": [{"port": 80}]},
     {"type": "LoadBalancer", "allocateLoadBalancerNodePorts": True, "externalTrafficPolicy": "Cluster"}),
    ({"sessionAffinity": "ClientIP"}, {"sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}}}),
])
def test_service_defaults(cluster, spec, expected):
    status, doc = call(cluster, "POST", SERVICES, svc(**spec))
    assert status == 201, doc
    assert {k: doc["spec"].get(k) for k in expected} == expected
    assert "generation" not in doc["metadata"]
    kind = doc["spec"]["type"]
    if kind == "ExternalName":
        assert not {"clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy", "internalTrafficPolicy"} & set(doc["spec"])
    elif doc["spec"]["clusterIP"] != "None":
        assert ipaddress.ip_address(doc["spec"]["clusterIP"]) in ipaddress.ip_network("10.96.0.0/12")
        assert doc["spec"]["clusterIPs"] == [doc["spec"]["clusterIP"]]
    for port in doc["spec"].get("ports") or []:
        assert ("nodePort" in port) == (kind in ("NodePort", "LoadBalancer"))
        if "nodePort" in port:
            assert 30000 <= port["nodePort"] <= 32767


def test_cluster_ips_are_unique_kept_on_update_and_released_on_delete(cluster):
    ips = set()
    for i in range(30):
        _, doc = call(cluster, "POST", SERVICES, svc(f"s{i}", ports=[{"port": 80}]))
        ips.add(doc["spec"]["clusterIP"])
    assert len(ips) == 30
    _, before = call(cluster, "GET", f"{SERVICES}/s0")
    # a PUT without the allocated fields keeps them (patchAllocatedValues), and no generation appears
    status, doc = call(cluster, "PUT", f"{SERVICES}/s0", svc("s0", ports=[{"port": 81}]))
    assert status == 200 and doc["spec"]["clusterIP"] == before["spec"]["clusterIP"]
    assert "generation" not in doc["metadata"]
    # a taken address or one outside the range is refused, as the allocator refuses it
    taken = before["spec"]["clusterIP"]
    status, doc = call(cluster, "POST", SERVICES, svc("dup", clusterIP=taken))
    assert status == 422 and "provided IP is already allocated" in doc["message"]
    status, doc = call(cluster, "POST", SERVICES, svc("outside", clusterIP="192.168.0.1"))
    assert status == 422 and "not in the valid range" in doc["message"]
    call(cluster, "DELETE", f"{SERVICES}/s0")
    status, doc = call(cluster, "POST", SERVICES, svc("again", clusterIP=taken))
    assert status == 201 and doc["spec"]["clusterIP"] == taken


def test_service_apply_twice_is_a_no_op_and_defaults_are_not_owned(cluster):
    body = svc(selector={"app": "web"}, ports=[{"name": "http", "port": 80}])
    status, first = call(cluster, "PATCH", f"{SERVICES}/web", body, APPLY, fieldManager="me")
    assert status == 201, first
    status, second = call(cluster, "PATCH", f"{SERVICES}/web", body, APPLY, fieldManager="me")
    assert status == 200 and second["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    owned = second["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"]
    assert "f:clusterIP" not in owned and "f:type" not in owned


def test_dry_run_allocates_nothing(cluster):
    _, dry = call(cluster, "POST", SERVICES, svc("web"), dryRun="All")
    status, doc = call(cluster, "POST", SERVICES, svc("web", clusterIP=dry["spec"]["clusterIP"]))
    assert status == 201, doc
