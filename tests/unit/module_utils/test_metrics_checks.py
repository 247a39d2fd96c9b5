"""prometheus_query's logic without a server: the checks planned and refused before any query (_metrics/checks.py),
the verdicts (_metrics/thresholds.py), and the HTTP client's credentials and errors against a local HTTP server
that records what it was sent (_metrics/prometheus_api.py). The queries against a real Prometheus are in
tests/integration/test_metrics.py."""

import base64
import http.server
import json
import math
import threading

import pytest

from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError
from ansible_collections.ambient.mesh.plugins.module_utils._metrics import checks, thresholds
from ansible_collections.ambient.mesh.plugins.module_utils._metrics.prometheus_api import PrometheusApi
from ansible_collections.ambient.mesh.plugins.module_utils._metrics.run import run_checks

BASE = {"url": "http://127.0.0.1:9", "namespace": "hello", "workload": None, "service": None, "version": None,
        "interval": "1m", "reporter": "waypoint", "timeout": 5, "validate_certs": True, "wait_for_traffic": 0}


def params(*items, **overrides):
    full = [dict({k: None for k in ("name", "metric", "query", "requests_query", "min", "max", "min_requests",
                                    "quantile", "range", "unit", "namespace", "workload", "service", "version",
                                    "interval", "reporter")}, **dict({"step": "15s"}, **item)) for item in items]
    return dict(BASE, checks=full, **overrides)


def test_the_builtins_are_flaggers_queries_with_the_waypoint_as_reporter():
    (rate, duration) = checks.plan(params({"metric": "request-success-rate", "min": 99},
                                          {"metric": "request-duration", "max": 500}, workload="helloworld-v2"))
    sel = 'reporter="waypoint", destination_workload_namespace="hello", destination_workload=~"helloworld-v2"'
    assert rate["query"] == ('sum(rate(istio_requests_total{%s, response_code!~"5.*"}[1m])) / '
                             'sum(rate(istio_requests_total{%s}[1m])) * 100' % (sel, sel))
    assert duration["query"] == ("histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{%s}[1m])) "
                                 "by (le))" % sel)
    assert rate["requests_query"] == "sum(increase(istio_requests_total{%s}[1m]))" % sel
    assert (rate["unit"], duration["unit"], rate["min_requests"]) == ("%", "ms", 1)


def test_a_service_check_selects_the_services_name_and_a_version_its_revision():
    (check,) = checks.plan(params({"metric": "request-duration", "quantile": 0.5, "service": "httpbin",
                                   "version": "v2", "interval": "30s", "reporter": "destination"}))
    assert check["query"] == (
        'histogram_quantile(0.5, sum(rate(istio_request_duration_milliseconds_bucket{reporter="destination", '
        'destination_service_namespace="hello", destination_service_name=~"httpbin", destination_version="v2"}[30s])) '
        'by (le))')


def test_free_promql_gets_its_placeholders_and_keeps_its_braces():
    (check,) = checks.plan(params({"name": "5xx", "query": 'sum(rate(x{ns="$namespace", s="$service"}[$interval])) $$',
                                   "requests_query": "sum(increase(y{ns=\"$namespace\"}[$interval]))",
                                   "min_requests": 10}, service="httpbin"))
    assert check["query"] == 'sum(rate(x{ns="hello", s="httpbin"}[1m])) $'
    assert check["requests_query"] == 'sum(increase(y{ns="hello"}[1m]))' and check["min_requests"] == 10


@pytest.mark.parametrize("item, overrides, message", [
    ({"metric": "request-duration", "query": "up"}, {}, "give either metric"),
    ({"name": "x"}, {}, "give either metric (request-success-rate or request-duration) or query (your PromQL), not neither"),
    ({"query": "up"}, {}, "checks[0]: give it a name"),
    ({"metric": "request-duration"}, {"workload": "w", "interval": "5 min"}, "'5 min' is not a Prometheus duration"),
    ({"metric": "request-duration"}, {"workload": "w", "interval": "0s"}, "is no time at all"),
    ({"metric": "request-duration", "min": 5, "max": 1}, {"workload": "w"}, "min 5 is above max 1"),
    ({"metric": "request-duration", "quantile": 1.5}, {"workload": "w"}, "quantile must be from 0 to 1"),
    ({"metric": "request-success-rate", "quantile": 0.5}, {"workload": "w"}, "quantile applies to request-duration only"),
    ({"metric": "request-duration"}, {}, "needs namespace and a workload or a service"),
    ({"name": "q", "query": "up", "min_requests": 3}, {}, "min_requests needs requests_query"),
    ({"name": "q", "query": "up", "quantile": 0.5}, {}, "quantile applies to the built-in request-duration only"),
    ({"name": "q", "query": "sum($ns)"}, {}, "unknown placeholder $ns"),
    ({"name": "q", "query": "up", "range": "1h", "step": "fast"}, {}, "'fast' is not a Prometheus duration"),
    ({"metric": "request-duration", "min_requests": -1}, {"workload": "w"}, "min_requests must be 0 or more"),
])
def test_bad_checks_are_refused_before_any_query_naming_the_check(item, overrides, message):
    with pytest.raises(AmbientMeshError) as caught:
        run_checks(params(item, **overrides))  # the URL is unreachable: a query would fail otherwise
    assert message in caught.value.msg


def test_two_checks_of_one_name_and_no_check_are_refused():
    with pytest.raises(AmbientMeshError, match="two checks are named 'request-duration'"):
        checks.plan(params({"metric": "request-duration"}, {"metric": "request-duration"}, workload="w"))
    with pytest.raises(AmbientMeshError, match="checks is empty"):
        checks.plan(params())


def check(**kw):
    base = {"name": "c", "min": None, "max": None, "unit": "%", "interval": "1m", "min_requests": 0, "query": "q",
            "range": None}
    base.update(kw)
    return base


@pytest.mark.parametrize("spec, series, requests, verdict, passed, message", [
    (check(min=99), [({}, 99.5)], 300.0, "pass", True, "c: 99.5%, within >= 99%"),
    (check(min=99), [({}, 95.0)], 300.0, "fail", False, "c: 95%, expected >= 99% (over 1m, 300 requests)"),
    (check(max=500, unit="ms"), [({}, 750.0)], None, "fail", False, "c: 750ms, expected <= 500ms (over 1m)"),
    (check(min=99, min_requests=100), [({}, 100.0)], 12.0, "not enough traffic", False,
     "c: not enough traffic - 12 requests in the last 1m, fewer than min_requests 100"),
    (check(min=99, min_requests=1), [({}, float("nan"))], float("nan"), "not enough traffic", False,
     "c: not enough traffic - 0 requests"),
    (check(min=99), [], None, "no data", False, "c: no data - the query found no series"),
    (check(min=99), [({}, float("nan"))], None, "no data", False, "only NaN (no request at all)"),
    (check(), [], None, "measured", True, "no series"),
    (check(), [({}, 3.0)], None, "measured", True, "c: measured 3%"),
    (check(min=1, max=2), [({"a": "1"}, 1.5), ({"a": "2"}, 2.5)], None, "fail", False, "1 of 2 values outside (first 2.5)"),
    (check(min=1, range=60), [({}, [(0, 1.0), (15, 0.5)])], None, "fail", False, "1 of 2 values outside (first 0.5)"),
])
def test_verdicts(spec, series, requests, verdict, passed, message):
    out = thresholds.judge(spec, series, requests)
    assert (out["verdict"], out["passed"]) == (verdict, passed)
    assert message in out["message"]
    values = out["value"] if isinstance(out["value"], list) else [out["value"]]
    assert all(v is None or not math.isnan(v) for v in values)  # JSON has no NaN


class Recorder(http.server.BaseHTTPRequestHandler):
    """Answers as Prometheus's API does, from `answers` (path prefix -> (status, body)); keeps each request."""

    answers = {}
    seen = []

    def do_GET(self):  # noqa: N802 - http.server's name
        Recorder.seen.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        status, body = next((v for k, v in Recorder.answers.items() if self.path.startswith(k)), (404, b"not found"))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body if isinstance(body, bytes) else json.dumps(body).encode())

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    Recorder.seen, Recorder.answers = [], {}
    yield "http://127.0.0.1:%d/prom" % httpd.server_port
    httpd.shutdown()
    httpd.server_close()


def vector(value):
    return {"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}, "value": [1, str(value)]}]}}


def api(url, **extra):
    return PrometheusApi(dict(BASE, url=url, **extra))


def test_a_bearer_token_and_basic_auth_are_sent_as_prometheus_expects(server):
    Recorder.answers = {"/prom/api/v1/query": (200, vector(1))}
    assert api(server, bearer_token="s3cret").instant("up") == [({}, 1.0)]
    assert api(server, username="u", password="p").instant("up") == [({}, 1.0)]
    assert api(server, headers={"X-Scope-OrgID": "team-a"}).instant("up") == [({}, 1.0)]
    (path, first), (_p, second), (_q, third) = Recorder.seen
    assert path == "/prom/api/v1/query?query=up"  # the URL's path prefix is kept
    assert first["authorization"] == "Bearer s3cret"
    assert second["authorization"] == "Basic " + base64.b64encode(b"u:p").decode()
    assert third["x-scope-orgid"] == "team-a" and "authorization" not in third


@pytest.mark.parametrize("status, body, message", [
    (401, {"status": "error", "errorType": "unauthorized", "error": "no token"}, "refused the credentials (HTTP 401"),
    (400, {"status": "error", "errorType": "bad_data", "error": "parse error at char 5"},
     "Prometheus refused the query 'up': bad_data: parse error at char 5"),
    (503, b"down for maintenance", "answered HTTP 503 to /api/v1/query: down for maintenance"),
    (200, b"<html>login</html>", "did not answer JSON"),
    (200, {"status": "success", "data": {"resultType": "matrix", "result": []}}, "a check needs a vector or a scalar"),
])
def test_prometheus_errors_are_named(server, status, body, message):
    Recorder.answers = {"/prom/api/v1/query": (status, body)}
    with pytest.raises(AmbientMeshError) as caught:
        api(server).instant("up")
    assert message in caught.value.msg


def test_waiting_for_traffic_polls_until_every_check_has_its_requests(server):
    counts = iter([3, 8, 40])
    clock = [0.0]

    def answer():
        Recorder.answers = {"/prom/api/v1/query?query=sum%28increase": (200, vector(next(counts))),
                            "/prom/api/v1/query?query=sum%28rate": (200, vector(100))}
    answer()

    def sleep(seconds):
        clock[0] += seconds
        answer()

    result = run_checks(params({"metric": "request-success-rate", "min": 99, "min_requests": 30}, url=server,
                               workload="w", wait_for_traffic=30), sleep=sleep, clock=lambda: clock[0])
    assert result["passed"] and result["requests"] == {"request-success-rate": 40.0} and result["waited_for_traffic"] == 4.0
