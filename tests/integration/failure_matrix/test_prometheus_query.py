"""prometheus_query: bad checks refused before any query, each message naming the check and what is wrong; a
query Prometheus refuses, named with Prometheus's own error; and a Prometheus that is down, which fails naming the
URL and, once it is up, is queried by the same task. The module only reads: nothing reaches the API server."""

import socket

import pytest

from embedded_cluster.apiserver.prometheus import Prometheus
from failure_matrix.conftest import Case

pytestmark = pytest.mark.integration
MODULE = "ambient.mesh.prometheus_query"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prometheus(m, port=None):
    """A real Prometheus with nothing to scrape (the queries here need no series)."""
    (m.tmp_path / "targets.json").write_text("[]", encoding="utf-8")
    m.prometheus = Prometheus(str(m.tmp_path / "prometheus"), str(m.tmp_path / "targets.json"), port=port).start()
    return m.prometheus


def refused(case_id, checks, fragment, **options):
    def args(m):
        return dict({"url": "http://127.0.0.1:9", "namespace": "hello", "checks": checks}, **options)
    return Case(case_id, MODULE, args, fragment)


CASES = [
    refused("metric-and-query", [{"metric": "request-success-rate", "query": "up"}],
            "checks[0] (request-success-rate): give either metric (request-success-rate or request-duration) or query "
            "(your PromQL), not both", service="helloworld"),
    refused("neither", [{"name": "x", "min": 1}], "checks[0] (x): give either metric"),
    refused("min-above-max", [{"metric": "request-duration", "min": 10, "max": 5}],
            "checks[0] (request-duration): min 10 is above max 5; no value can pass", service="helloworld"),
    refused("builtin-without-selector", [{"metric": "request-duration"}],
            "the built-in request-duration needs namespace and a workload or a service"),
    refused("min-requests-without-count", [{"name": "q", "query": "up", "min_requests": 5}],
            "min_requests needs requests_query"),
    refused("unknown-placeholder", [{"name": "q", "query": "sum($nope)"}],
            "checks[0] (q) query: unknown placeholder $nope; the placeholders are $namespace, $service"),
    refused("interval-not-a-duration", [{"metric": "request-duration"}],
            "checks[0] (request-duration) interval: '1 minute' is not a Prometheus duration", service="x",
            interval="1 minute"),
    refused("metric-unknown", [{"metric": "request-rate"}],
            "value of metric must be one of: request-success-rate, request-duration, got: request-rate"),
    refused("username-without-password", [{"name": "q", "query": "up"}],
            "parameters are required together: username, password", username="admin"),
    refused("token-and-basic-auth", [{"name": "q", "query": "up"}],
            "parameters are mutually exclusive: bearer_token|username", bearer_token="s3cr3t-token", username="u",
            password="pa55word"),
    refused("wait-negative", [{"name": "q", "query": "up"}], "wait_for_traffic must be 0 or more seconds, not -5",
            wait_for_traffic=-5),
    refused("checks-empty", [], "checks is empty: give at least one check"),
    Case("promql-refused", MODULE,
         lambda m: {"url": m.prometheus.url, "checks": [{"name": "q", "query": "sum(rate(up[1m]) by"}]},
         ["Prometheus refused the query 'sum(rate(up[1m]) by'", "bad_data"], setup=prometheus),
    Case("prometheus-down", MODULE,
         lambda m: {"url": "http://127.0.0.1:%d" % m.port, "checks": [{"name": "one", "query": "vector(1)", "min": 1}]},
         ["cannot reach Prometheus at http://127.0.0.1:", "is url right, and reachable from where the module runs?"],
         setup=lambda m: setattr(m, "port", free_port()), expect="converges",
         fix=lambda m: prometheus(m, port=m.port)),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input_and_an_unreachable_prometheus(matrix, case):
    try:
        matrix.check(case)
    finally:
        if getattr(matrix, "prometheus", None) is not None:
            matrix.prometheus.stop()
