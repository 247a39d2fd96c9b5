"""mesh_info through ansible-playbook: each finding built in the test cluster, and a clean lab."""

import time

import pytest

from builders import (
    ambient_namespace,
    correct_lab,
    fault_virtualservice,
    namespace,
    service,
    split_route,
    split_virtualservice,
    wait_bound,
    waypoint,
)
from conftest import GATEWAY_V151, ISTIO_CRDS, seed_istio

pytestmark = pytest.mark.integration


@pytest.fixture
def mesh(cluster):
    cluster.load_crds(GATEWAY_V151, ISTIO_CRDS)
    return cluster


def source_labels_virtualservice():
    vs = split_virtualservice()
    vs["spec"]["http"][0]["match"] = [{"sourceLabels": {"app": "curl"}}]
    return vs


def collection_fault(name="httpbin-fault", service_name="httpbin", expires=None, labels=True):
    """A fault VirtualService as ambient.mesh.fault_injection makes it (labels, created-at, expires-at)."""
    vs = fault_virtualservice(ns="hello", host=service_name)
    vs["metadata"] = {"name": name, "namespace": "hello",
                      "annotations": {"ambient.mesh/created-at": "2000-01-01T00:00:00Z"}}
    if labels:
        vs["metadata"]["labels"] = {"app.kubernetes.io/managed-by": "ambient.mesh", "ambient.mesh/fault-for": service_name}
    if expires:
        vs["metadata"]["annotations"]["ambient.mesh/expires-at"] = expires
    return vs


def build(cluster, objects):
    for obj in objects:
        cluster.put(obj)


def test_clean_lab_reports_everything_and_finds_nothing(mesh, playbook):
    seed_istio(mesh)
    build(mesh, correct_lab())
    mark = mesh.mark()
    check = playbook.run("ambient.mesh.mesh_info", check=True)
    result = playbook.run("ambient.mesh.mesh_info")
    assert mesh.writes(mark) == []
    assert check["changed"] is False and result["changed"] is False
    assert check["findings"] == result["findings"] == []
    assert result["istio"]["installed"] is True and result["istio"]["version"] == "1.30.3"
    assert result["istio"]["profile"] == "ambient" and result["istio"]["healthy"] is True
    assert result["istio"]["components"]["ztunnel"][0] == {
        "name": "ztunnel", "namespace": "istio-system", "kind": "DaemonSet", "desired": 3, "ready_count": 3,
        "ready": True}
    assert result["gateway_api"]["version"] == "v1.5.1" and result["gateway_api"]["channel"] == "standard"
    assert {n["name"]: n["use_waypoint"] for n in result["namespaces"]} == {
        "hello": "waypoint", "httpbin": "waypoint", "test": None}
    assert [(w["namespace"], w["programmed"]) for w in result["waypoints"]] == [("hello", True), ("httpbin", True)]
    assert result["routes"][0]["services"] == ["hello/helloworld"]
    assert [b["weight"] for b in result["routes"][0]["backends"]] == [95, 5]
    assert result["fault_injections"][0]["delay"] == {"fixed_delay": "3s", "percentage": 100}
    assert result["fault_injections"][0]["abort"] == {"http_status": 500, "percentage": 50}
    # reads are one LIST per kind, whatever the number of objects
    lists = [e for e in mesh.requests(mark) if e["verb"] == "list"]
    assert len(lists) == 2 * 14 and all(e["verb"] == "list" for e in mesh.requests(mark))  # 14 kinds


def test_an_install_by_helm_is_reported_like_one_by_istioctl(mesh, playbook):
    """The charts' labels only (no operator.istio.io/*), images tagged 1.30.3-distroless, and a
    revisioned ztunnel that carries its revision as an annotation (embedded_cluster/data/istio-1.30.3)."""
    seed_istio(mesh, installer="helm", revision="1-30-3")
    result = playbook.run("ambient.mesh.mesh_info")
    assert result["istio"]["installed"] is True and result["istio"]["version"] == "1.30.3"
    assert result["istio"]["revisions"] == ["1-30-3"] and result["istio"]["profile"] == "ambient"
    assert result["istio"]["healthy"] is True
    assert [c["name"] for c in result["istio"]["components"]["ztunnel"]] == ["ztunnel"]


def test_unhealthy_install_is_reported(mesh, playbook):
    seed_istio(mesh, ready=False)
    result = playbook.run("ambient.mesh.mesh_info")
    assert result["istio"]["healthy"] is False
    assert result["istio"]["components"]["istio-cni"][0]["ready_count"] == 0
    assert result["istio"]["components"]["istiod"][0]["ready"] is False


@pytest.mark.parametrize("objects, code, obj", [
    ([ambient_namespace("hello"), service("hello", "helloworld"), split_virtualservice()],
     "VS_SPLIT_WITHOUT_WAYPOINT", "VirtualService hello/helloworld"),
    ([ambient_namespace("hello"), service("hello", "helloworld"), split_route()],
     "HTTPROUTE_WITHOUT_WAYPOINT", "HTTPRoute hello/helloworld"),
    ([ambient_namespace("hello", **{"istio-injection": "enabled"})], "SIDECAR_AND_AMBIENT", "Namespace hello"),
    ([ambient_namespace("hello", waypoint="missing")], "WAYPOINT_NOT_FOUND", "Namespace hello"),
    ([ambient_namespace("hello"), waypoint("hello", "wl", waypoint_for="workload"),
      service("hello", "helloworld", labels={"istio.io/use-waypoint": "wl"})],
     "WAYPOINT_WRONG_TYPE", "Service hello/helloworld"),
    ([ambient_namespace("hello", waypoint="waypoint"), waypoint("hello"), service("hello", "helloworld"),
      split_route(), split_virtualservice()], "VS_AND_HTTPROUTE_SAME_SERVICE", "VirtualService hello/helloworld"),
    ([ambient_namespace("hello", waypoint="waypoint"), waypoint("hello"), service("hello", "helloworld"), namespace("ops"),
      split_virtualservice(ns="ops", host="helloworld.hello.svc.cluster.local")],
     "VS_IN_THIRD_NAMESPACE", "VirtualService ops/helloworld.hello.svc.cluster.local"),
    ([ambient_namespace("hello", waypoint="waypoint"), waypoint("hello"), service("hello", "helloworld"),
      source_labels_virtualservice()], "VS_SOURCE_LABELS_AT_WAYPOINT", "VirtualService hello/helloworld"),
    ([ambient_namespace("hello", waypoint="waypoint"), waypoint("hello"), service("hello", "httpbin", port=8000),
      collection_fault(expires="2000-01-01T00:15:00Z")], "FAULT_EXPIRED", "VirtualService hello/httpbin-fault"),
])
def test_each_finding_is_reported(mesh, playbook, objects, code, obj):
    build(mesh, objects)
    result = playbook.run("ambient.mesh.mesh_info")
    assert [(f["code"], f["object"]) for f in result["findings"]] == [(code, obj)]
    assert result["findings"][0]["fix"]
    gated = playbook.run("ambient.mesh.mesh_info", {"fail_on_findings": "warning"},
                         fails="1 finding(s) at or above warning")
    assert gated["findings"][0]["code"] == code


def test_cluster_without_istio_or_gateway_api(cluster, playbook):
    build(cluster, [namespace("plain")])
    result = playbook.run("ambient.mesh.mesh_info")
    assert not result.get("failed"), result.get("msg")
    assert result["istio"]["installed"] is False and result["gateway_api"]["installed"] is False
    assert result["findings"] == [] and result["waypoints"] == []


def test_unreachable_api_server_fails_clearly(playbook, tmp_path):
    kubeconfig = tmp_path / "dead"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\nclusters: [{name: x, cluster: {server: 'http://127.0.0.1:9'}}]\n"
        "users: [{name: x, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: x, user: x}}]\n"
        "current-context: x\n")
    playbook.kubeconfig = str(kubeconfig)
    result = playbook.run("ambient.mesh.mesh_info", {"request_budget": 2}, fails="cannot reach the Kubernetes API server")
    assert result["failed"] is True and "cannot reach the Kubernetes API server" in result["msg"]


def test_fail_on_findings_error_lets_warnings_pass_and_warning_does_not(mesh, playbook):
    mesh.put(ambient_namespace("legacy", **{"istio-injection": "enabled"}))  # a warning, and nothing worse
    passed = playbook.run("ambient.mesh.mesh_info", {"fail_on_findings": "error"})
    assert [(f["code"], f["severity"]) for f in passed["findings"]] == [("SIDECAR_AND_AMBIENT", "warning")]
    failed = playbook.run("ambient.mesh.mesh_info", {"fail_on_findings": "warning"},
                          fails=["1 finding(s) at or above warning", "namespace legacy has both"])
    assert [f["code"] for f in failed["findings"]] == ["SIDECAR_AND_AMBIENT"]


def test_vs_and_httproute_finding_names_the_httproute_of_the_waypoints_namespace_first(mesh, playbook):
    """Istio 1.30.3 push_context.go VirtualServicesForGateway: the HTTPRoutes of the waypoint's namespace come
    before the public VirtualServices, the older VirtualService too."""
    build(mesh, [ambient_namespace("hello", waypoint="waypoint"), waypoint("hello"), service("hello", "helloworld")])
    mesh.put(split_virtualservice())
    vs_created = mesh.get("networking.istio.io/v1", "VirtualService", "helloworld", "hello")["metadata"]["creationTimestamp"]
    while mesh.put(split_route())["metadata"]["creationTimestamp"] == vs_created:  # a later second than the VS
        mesh.delete("gateway.networking.k8s.io/v1", "HTTPRoute", "helloworld", "hello")
        time.sleep(0.2)
    [finding] = playbook.run("ambient.mesh.mesh_info")["findings"]
    assert finding["code"] == "VS_AND_HTTPROUTE_SAME_SERVICE"
    message = finding["message"]
    assert message.index("HTTPRoute hello/helloworld (created") < message.index("VirtualService hello/helloworld (created")
    assert ("HTTPRoute hello/helloworld comes first and has a catch-all rule, so it wins: the rules of "
            "VirtualService hello/helloworld never apply") in message


def test_expired_faults_of_the_collection_are_found_and_every_fault_is_listed(mesh, playbook):
    build(mesh, [ambient_namespace("hello", waypoint="waypoint"), waypoint("hello")]
          + [service("hello", n, port=8000) for n in ("httpbin", "helloworld", "other", "plain")])
    build(mesh, [collection_fault(expires="2000-01-01T00:15:00Z"),                      # expired
                 collection_fault("helloworld-fault", "helloworld", expires="2999-01-01T00:00:00Z"),  # not yet
                 collection_fault("other-fault", "other", expires="2000-01-01T00:15:00Z", labels=False),  # not ours
                 collection_fault("plain-fault", "plain")])                             # ours, no expiry
    result = playbook.run("ambient.mesh.mesh_info")
    [finding] = result["findings"]
    assert finding == {
        "code": "FAULT_EXPIRED", "severity": "error", "object": "VirtualService hello/httpbin-fault",
        "message": "fault VirtualService hello/httpbin-fault (delay 3s for 100% of requests and HTTP 500 for 50% of "
                   "requests, on Service hello/httpbin) expired at 2000-01-01T00:15:00Z (created 2000-01-01T00:00:00Z) "
                   "and is still in force: a fault left behind, most likely by an interrupted ambient.mesh.fault_check run",
        "fix": "remove it: ambient.mesh.fault_injection with prune_expired: [hello] (or faults: [{service: httpbin, "
               "namespace: hello, state: absent}]); the fault_check role does this before every check"}
    faults = {f["name"]: f for f in result["fault_injections"]}
    assert sorted(faults) == ["helloworld-fault", "httpbin-fault", "other-fault", "plain-fault"]
    assert {n: (f["managed"], f["expired"], f["expires_at"]) for n, f in faults.items()} == {
        "httpbin-fault": (True, True, "2000-01-01T00:15:00Z"),
        "helloworld-fault": (True, False, "2999-01-01T00:00:00Z"),
        "other-fault": (False, False, None),
        "plain-fault": (True, False, None)}
    assert faults["httpbin-fault"]["service"] == "httpbin"
    assert faults["httpbin-fault"]["created_at"] == "2000-01-01T00:00:00Z"
    playbook.run("ambient.mesh.mesh_info", {"fail_on_findings": "error"}, fails=["1 finding(s) at or above error",
                                                                                 "expired at 2000-01-01T00:15:00Z"])


def test_a_fault_fault_injection_allowed_beside_a_route_is_no_finding_a_shadowed_one_is(mesh, playbook):
    seed_istio(mesh)
    build(mesh, [ambient_namespace("hello", waypoint="waypoint"), waypoint("hello", programmed=None),
                 service("hello", "httpbin", port=8000)])
    route = split_route(ns="hello", service_name="httpbin", weights=(100,), port=8000, name="httpbin-api")
    route["spec"]["rules"][0]["matches"] = [{"path": {"type": "PathPrefix", "value": "/api"}}]
    mesh.put(route)
    wait_bound(mesh, "hello", "httpbin")
    playbook.run("ambient.mesh.fault_injection", {"faults": [
        {"service": "httpbin", "namespace": "hello", "abort": {"http_status": 500, "percentage": 100},
         "match": {"path": {"type": "PathPrefix", "value": "/apiary"}}}]})
    assert playbook.run("ambient.mesh.mesh_info")["findings"] == []
    # the same fault widened to /api/v1 by hand (the module refuses it): the route's rule takes its requests
    fault = mesh.get("networking.istio.io/v1", "VirtualService", "httpbin-fault", "hello")
    fault["spec"]["http"][0]["match"] = [{"uri": {"exact": "/api/v1"}}, {"uri": {"prefix": "/api/v1/"}}]
    mesh.put(fault)
    [finding] = playbook.run("ambient.mesh.mesh_info")["findings"]
    assert (finding["code"], finding["object"]) == ("VS_AND_HTTPROUTE_SAME_SERVICE", "VirtualService hello/httpbin-fault")
    assert "HTTPRoute hello/httpbin-api (created" in finding["message"]
