"""mesh_info's VS_AND_HTTPROUTE_SAME_SERVICE agrees with fault_injection: a fault the module allowed next to an
HTTPRoute (its match disjoint from every rule of the route) is not reported; one a rule may take still is."""

import datetime

import pytest

from ansible_collections.ambient.mesh.plugins.module_utils._faults.injection import Live, normalize, other_routing, virtual_service
from ansible_collections.ambient.mesh.plugins.module_utils._istio.route_match import fault_match_of, virtualservice_route_overlap
from ansible_collections.ambient.mesh.plugins.module_utils._mesh_info.findings import Snapshot, find_misconfigurations
from builders import ambient_namespace, service, split_route, waypoint

CREATED = datetime.datetime(2026, 1, 2, tzinfo=datetime.timezone.utc)


def api_route():
    """The route of the fault_injection integration test: PathPrefix /api, and Exact /headers with x-env: prod."""
    route = split_route(ns="hello", service_name="httpbin", weights=(100,), port=8000, name="httpbin-api")
    route["spec"]["rules"][0]["matches"] = [{"path": {"type": "PathPrefix", "value": "/api"}},
                                            {"path": {"type": "Exact", "value": "/headers"},
                                             "headers": [{"name": "x-env", "value": "prod"}]}]
    route["metadata"]["creationTimestamp"] = "2026-01-01T00:00:00Z"
    return route


def cluster_with(fault_vs, route):
    return [ambient_namespace("hello", waypoint="waypoint"), waypoint("hello"),
            service("hello", "httpbin", port=8000), route, fault_vs]


def fault_from_module(match, route):
    """The fault VirtualService fault_injection writes for the match (no catch-all next to a route), and the
    module's own verdict: the problems that make it refuse."""
    [spec] = normalize([{"service": "httpbin", "namespace": "hello", "abort": {"http_status": 500, "percentage": 100},
                         "match": match}])
    svc = service("hello", "httpbin", port=8000)
    live = Live(namespaces=[ambient_namespace("hello", waypoint="waypoint")], services=[svc], httproutes=[route])
    _beside, problems = other_routing(spec, svc, live)
    vs = virtual_service(spec, CREATED, catch_all=False)
    vs["metadata"]["creationTimestamp"] = "2026-01-02T00:00:00Z"
    return vs, problems


def findings(objects):
    by_kind = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], []).append(obj)
    snap = Snapshot(namespaces=by_kind["Namespace"], services=by_kind["Service"], gateways=by_kind["Gateway"],
                    httproutes=by_kind["HTTPRoute"], virtualservices=by_kind["VirtualService"])
    return [f for f in find_misconfigurations(snap) if f["code"] == "VS_AND_HTTPROUTE_SAME_SERVICE"]


@pytest.mark.parametrize("match, allowed", [
    ({"path": {"type": "PathPrefix", "value": "/apiary"}}, True),  # not under /api: whole segments
    ({"path": {"type": "Exact", "value": "/headers"}, "headers": [{"name": "X-Env", "value": "test"}]}, True),
    ({"path": {"type": "PathPrefix", "value": "/delay"}}, True),
    ({"path": {"type": "Exact", "value": "/api2"}}, True),
    ({"path": {"type": "PathPrefix", "value": "/api/v1"}}, False),
    ({"path": {"type": "PathPrefix", "value": "/"}}, False),
    ({"path": {"type": "Exact", "value": "/headers"}}, False),  # x-env: prod requests are the route's
    ({"path": {"type": "Exact", "value": "/headers"},
      "headers": [{"name": "x-env", "value": "pro.", "type": "RegularExpression"}]}, False),
    (None, False),
])
def test_the_finding_agrees_with_fault_injection(match, allowed):
    route = api_route()
    vs, problems = fault_from_module(match, route)
    assert (problems == []) is allowed
    found = findings(cluster_with(vs, route))
    if allowed:
        assert found == []
    else:
        [finding] = found
        assert finding["object"] == "VirtualService hello/httpbin-fault"
        assert "HTTPRoute hello/httpbin-api (created 2026-01-01T00:00:00Z)" in finding["message"]


def test_a_disjoint_virtualservice_not_made_by_the_collection_is_still_reported():
    route = api_route()
    vs, _ = fault_from_module({"path": {"type": "PathPrefix", "value": "/delay"}}, route)
    del vs["metadata"]["labels"]
    assert [f["object"] for f in findings(cluster_with(vs, route))] == ["VirtualService hello/httpbin-fault"]


@pytest.mark.parametrize("vs_match, expected", [
    # what virtualservice_matches writes for PathPrefix /delay comes back as exactly that
    ({"uri": {"exact": "/delay"}}, {"path": {"type": "Exact", "value": "/delay"}}),
    ({"uri": {"prefix": "/delay/"}}, {"path": {"type": "PathPrefix", "value": "/delay"}}),
    ({"uri": {"prefix": "/"}}, {"path": {"type": "PathPrefix", "value": "/"}}),
    # a string prefix that ends inside a segment widens to its parent segment
    ({"uri": {"prefix": "/api/ve"}}, {"path": {"type": "PathPrefix", "value": "/api"}}),
    ({"uri": {"prefix": "/de"}}, {"path": {"type": "PathPrefix", "value": "/"}}),
    # what a fault match cannot say is left out: every path, any value of the header
    ({"uri": {"regex": "/d.*"}, "headers": {"x-a": {"prefix": "p"}, "x-b": {"exact": "1"}}, "method": {"exact": "GET"}},
     {"headers": [{"name": "x-b", "type": "Exact", "value": "1"}]}),
    ({"sourceLabels": {"app": "curl"}, "uri": {"prefix": "/"}}, None),  # dropped at a waypoint
])
def test_fault_match_of_a_virtualservice_match(vs_match, expected):
    assert fault_match_of(vs_match) == expected


def test_overlap_names_the_http_route_and_the_rule():
    route = api_route()
    vs = {"kind": "VirtualService", "spec": {"http": [
        {"match": [{"uri": {"prefix": "/delay/"}}]},
        {"match": [{"uri": {"prefix": "/api/"}}, {"sourceLabels": {"app": "x"}}]},
        {"route": []}]}}
    assert virtualservice_route_overlap(vs, route) == [(1, 0), (2, 0)]
