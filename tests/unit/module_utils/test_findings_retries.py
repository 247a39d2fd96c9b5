"""mesh_info on the routes' timeouts and retries (issue 26): each rule's policy in words, and the finding for a rule
that retries an answer's status for requests of any method (RETRY_NON_IDEMPOTENT)."""

import pytest

from ansible_collections.ambient.mesh.plugins.module_utils._istio.route_resilience import describe
from ansible_collections.ambient.mesh.plugins.module_utils._mesh_info.describe import route_summary
from ansible_collections.ambient.mesh.plugins.module_utils._mesh_info.findings import Snapshot, find_misconfigurations
from builders import correct_lab

RETRY_503 = {"attempts": 2, "codes": [503]}


def lab_route(**rule_fields):
    lab = correct_lab()
    route = [o for o in lab if o["kind"] == "HTTPRoute"][0]
    route["spec"]["rules"][0].update(rule_fields)
    return lab, route


def codes(objects):
    by_kind = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], []).append(obj)
    snap = Snapshot(namespaces=by_kind.get("Namespace", []), services=by_kind.get("Service", []),
                    gateways=by_kind.get("Gateway", []), httproutes=by_kind.get("HTTPRoute", []),
                    virtualservices=by_kind.get("VirtualService", []))
    return [(f["code"], f["object"], f["message"]) for f in find_misconfigurations(snap) if f["code"] == "RETRY_NON_IDEMPOTENT"]


def test_each_rules_timeouts_and_retry_in_the_route_summary():
    lab, route = lab_route(timeouts={"request": "1s", "backendRequest": "250ms"}, retry=RETRY_503)
    [summary] = route_summary({"httproutes": [route]})
    assert summary["resilience"] == [{"rule": 0, "timeouts": {"request": "1s", "backendRequest": "250ms"},
                                      "retry": RETRY_503,
                                      "summary": "request timeout 1s; per-try timeout 250ms; 2 retries on connection "
                                                 "failures and 503"}]
    lab, route = lab_route(timeouts={"request": "3s", "backendRequest": "1s"})
    assert route_summary({"httproutes": [route]})[0]["resilience"][0]["summary"] == (
        "request timeout 1s (without retry istiod makes backend_request the route timeout)")


@pytest.mark.parametrize("fields, summary", [
    ({"timeouts": {"request": "0s"}}, "no timeout"),
    ({"retry": {"attempts": 1}}, "1 retry on connection failures"),
    ({"retry": {"attempts": 0, "codes": [503]}}, "no retries"),
    ({"timeouts": {"request": "1s", "backendRequest": "1s"}, "retry": {}},
     "request timeout 1s; no per-try timeout (Envoy drops one not shorter than the request timeout); 2 retries on "
     "connection failures"),
])
def test_summaries_say_what_istio_and_envoy_make_of_the_fields(fields, summary):
    assert describe(fields) == summary
    lab, route = lab_route()
    assert route_summary({"httproutes": [route]})[0]["resilience"] == []


@pytest.mark.parametrize("rule_fields, found", [
    ({"retry": RETRY_503}, True),
    ({"retry": dict(RETRY_503, attempts=0)}, False),  # no retries at all
    ({"retry": {"attempts": 2}}, False),  # connection failures only, as Istio's default
    ({"retry": RETRY_503, "matches": [{"method": "GET"}]}, False),
    ({"retry": RETRY_503, "matches": [{"method": "GET"}, {"method": "POST"}]}, True),
    ({"timeouts": {"request": "1s"}}, False),
])
def test_a_route_that_retries_statuses_for_any_method(rule_fields, found):
    lab, route = lab_route(**rule_fields)
    got = codes(lab)
    assert bool(got) == found, got
    if found:
        assert got[0][1] == "HTTPRoute hello/helloworld"
        assert "rule 0 of HTTPRoute hello/helloworld retries answers with 503 for requests of any method" in got[0][2]


def test_a_virtualservice_that_retries_5xx_is_found_too():
    vs = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
          "metadata": {"name": "httpbin", "namespace": "hello"},
          "spec": {"hosts": ["httpbin"], "http": [
              {"match": [{"method": {"exact": "GET"}}], "retries": {"attempts": 3, "retryOn": "5xx"},
               "route": [{"destination": {"host": "httpbin"}}]},
              {"retries": {"attempts": 3, "retryOn": "connect-failure,503"}, "route": [{"destination": {"host": "httpbin"}}]}]}}
    got = codes([vs])
    assert [(c, o) for c, o, _m in got] == [("RETRY_NON_IDEMPOTENT", "VirtualService hello/httpbin")]
    assert "rule 1 of VirtualService hello/httpbin retries answers with 503" in got[0][2]
