"""traffic_probe: bad inputs refused before curl runs (no pods/exec request, no write: the module is read-only),
each message naming the option and what is wrong; and an API fault on the exec that fails the run, after which a
re-run measures as if nothing happened."""

import pytest

from builders import ambient_namespace
from conftest import GATEWAY_V151, ISTIO_CRDS, seed_istio
from failure_matrix.conftest import Case
from test_traffic_probe import SAMPLES, documents, wait_ready

pytestmark = pytest.mark.integration
MODULE = "ambient.mesh.traffic_probe"
HELLO = "http://helloworld.hello.svc.cluster.local:5000/hello"
CLIENT = {"namespace": "test", "pod_selector": "app=curl", "url": HELLO, "requests": 5}
PATTERN = r"version: (v\d+)"


def lab(m):
    """Istio ambient, namespaces hello and test in the mesh, Istio's helloworld (v1, v2) and curl samples, as
    tests/integration/test_traffic_probe.py sets them up; then the exec mark: the module's pods/exec requests
    come after it."""
    m.cluster.load_crds(GATEWAY_V151, ISTIO_CRDS)
    seed_istio(m.cluster)
    for ns in ("hello", "test"):
        m.cluster.put(ambient_namespace(ns))
    for doc in documents(SAMPLES / "helloworld.yaml", "hello"):
        m.cluster.put(doc)
    for doc in documents(SAMPLES / "curl.yaml", "test"):
        m.cluster.put(doc)
    wait_ready(m.cluster, "hello", "helloworld", 2)
    wait_ready(m.cluster, "test", "curl", 1)
    m.exec_mark = m.cluster.mark()


def no_exec(m, failed):
    """curl never ran: no pods/exec request reached the API server."""
    execs = [e for e in m.cluster.requests(m.exec_mark) if e["resource"] == "pods" and e.get("subresource") == "exec"]
    assert execs == [], execs
    assert "Traceback" not in failed["msg"] and "MODULE FAILURE" not in failed["msg"]


def refused(case_id, change, fragment, drop=()):
    args = {k: v for k, v in dict(CLIENT, **change).items() if k not in drop}
    return Case(case_id, MODULE, args, fragment, setup=lab, then=no_exec)


BAD_INPUTS = [
    refused("requests-zero", {"requests": 0}, "requests must be between 1 and 10000, not 0"),
    refused("requests-too-many", {"requests": 50000}, "requests must be between 1 and 10000, not 50000"),
    refused("requests-not-a-number", {"requests": "lots"}, "argument 'requests' is of type str and we were unable to convert to int"),
    refused("timeout-negative", {"timeout": -1}, "timeout must be more than 0 seconds"),
    refused("timeout-with-a-unit", {"timeout": "3x"}, "argument 'timeout' is of type str and we were unable to convert to float"),
    # issue 26: the error bound is a percentage; direct_to_pod needs a URL that names a Service that exists
    refused("max-error-percentage-above-100", {"max_error_percentage": 150},
            "max_error_percentage must be between 0 and 100; got 150"),
    refused("direct-to-pod-an-ip-url", {"direct_to_pod": True, "url": "http://10.0.0.1:8000/get"},
            "direct_to_pod needs a URL that names a Service (name, name.namespace or name.namespace.svc.cluster.local), "
            "not '10.0.0.1'"),
    refused("direct-to-pod-service-missing", {"direct_to_pod": True, "url": "http://nothere.hello:5000/hello"},
            "direct_to_pod: Service hello/nothere (from the URL) does not exist"),
    refused("confidence-a-percent", {"confidence": 99}, "confidence must be between 0 and 1 (exclusive), e.g. 0.99, not 99"),
    refused("backend-pattern-not-a-regex", {"backend_pattern": "version: (v\\d+"}, "backend_pattern is not a regular expression"),
    refused("backend-pattern-without-a-group", {"backend_pattern": "version: v\\d+"},
            "backend_pattern needs a group that captures the backend's name"),
    refused("shares-without-a-way-to-tell-backends-apart", {"expected_shares": {"v1": 95, "v2": 5}},
            "expected_shares needs backend_pattern or backend_header"),
    refused("shares-negative-weight", {"backend_pattern": PATTERN, "expected_shares": {"v1": 105, "v2": -5}},
            "expected_shares.v2 must not be negative (weights are numbers, e.g. {v1: 95, v2: 5}); got -5"),
    refused("shares-all-zero", {"backend_pattern": PATTERN, "expected_shares": {"v1": 0, "v2": 0}},
            "expected_shares: the weights must add up to more than 0"),
    refused("shares-weight-a-word", {"backend_pattern": PATTERN, "expected_shares": {"v1": "most", "v2": "few"}},
            "expected_shares.v1 must be a number (weights are numbers, e.g. {v1: 95, v2: 5}); got 'most'"),
    refused("shares-given-as-a-string", {"backend_pattern": PATTERN, "expected_shares": "v1 95, v2 5"},
            "argument 'expected_shares' is of type str and we were unable to convert to dict"),
    refused("status-rate-over-100", {"expected_status_rate": {"status": 500, "percentage": 150}},
            "expected_status_rate.percentage must be between 0 and 100"),
    refused("status-rate-without-percentage", {"expected_status_rate": {"status": 500}},
            "missing required arguments: percentage found in expected_status_rate"),
    refused("pattern-and-header", {"backend_pattern": PATTERN, "backend_header": "x-version"},
            "parameters are mutually exclusive: backend_pattern|backend_header"),
    refused("pod-and-selector", {"pod": "curl-1"}, "parameters are mutually exclusive: pod|pod_selector"),
    refused("neither-pod-nor-selector", {}, "one of the following is required: pod, pod_selector", drop=("pod_selector",)),
    refused("url-missing", {}, "missing required arguments: url", drop=("url",)),
    refused("namespace-missing", {"namespace": "nowhere"}, "no pod in namespace nowhere matches app=curl"),
    refused("pod-not-found", {"pod": "curl-gone"}, "pod test/curl-gone not found", drop=("pod_selector",)),
    refused("container-not-in-pod", {"container": "istio-proxy"}, "has no container istio-proxy; its containers: curl"),
    refused("unknown-option", {"request": 5}, "Unsupported parameters for (ambient.mesh.traffic_probe) module: request"),
    # issue 11 hardening: each of these used to run curl (and "ftp" ended in ansible's "Unknown error")
    refused("url-unsupported-scheme", {"url": "ftp://helloworld.hello/hello"},
            "url must be an http:// or https:// URL, e.g. http://helloworld.hello.svc.cluster.local:5000/hello; "
            "got 'ftp://helloworld.hello/hello' (scheme ftp)"),
    refused("url-without-a-host", {"url": "http://:5000/hello"}, "url has no host"),
    refused("url-with-a-space", {"url": HELLO + "?q=a b"}, "url must be a URL without spaces (encode a space as %20)"),
    refused("expected-status-not-a-status", {"expected_status": [200, 2000]},
            "expected_status[1] must be an HTTP status code, 100 to 599; got 2000"),
    refused("status-rate-status-not-a-status", {"expected_status_rate": {"status": 5000, "percentage": 50}},
            "expected_status_rate.status must be an HTTP status code, 100 to 599; got 5000"),
    refused("latency-bound-negative", {"latency": {"p95_max": -1}}, "latency.p95_max must be 0 seconds or more; got -1"),
    refused("latency-bounds-contradict", {"latency": {"p50_min": 3, "max": 1}},
            "latency.p50_min (3s) is more than latency.max (1s): no outcome can meet both"),
    refused("method-with-a-space", {"method": "GET /admin"},
            "method must be an HTTP method such as GET, HEAD or POST (one word, no spaces); got 'GET /admin'"),
    # issue 28: an empty URL was called "a URL without spaces"; a header value with CR/LF went to curl as it was
    refused("url-empty", {"url": ""}, ["url is empty: give the URL to request",
                                       "e.g. http://helloworld.hello.svc.cluster.local:5000/hello"]),
    refused("header-value-with-crlf", {"headers": {"x-user": "a\r\nx-admin: yes"}},
            ["headers.x-user: the value holds a line break", "write the value on one line"]),
    refused("header-value-with-lf", {"headers": {"x-trace": "1\nHost: evil"}}, "headers.x-trace: the value holds a line break"),
    refused("header-name-with-a-colon", {"headers": {"x-a: b": "c"}}, "headers: 'x-a: b' is not an HTTP header name"),
]


@pytest.mark.parametrize("case", BAD_INPUTS, ids=lambda c: c.id)
def test_bad_input_is_refused_before_curl_runs(matrix, case):
    matrix.check(case)


def test_failed_transfers_without_a_verdict_are_measured_not_an_unknown_error(matrix):
    """No verdict asked for: transfers that fail are what was measured (error_rate, transport_errors), and the task
    succeeds - it used to fail with ansible-core's "Unknown error", which takes a non-zero rc as a failure."""
    lab(matrix)
    result = matrix.playbook.run(MODULE, dict(CLIENT, url="http://nothing.hello.svc.cluster.local:5000/", requests=3))
    assert result["failed"] is False and result["passed"] is True and result["changed"] is False
    assert result["status_codes"] == {"000": 3} and result["transport_errors"] == {"6": 3} and result["error_rate"] == 1.0
    assert result["rc"] == 6


def exec_refused(m):
    lab(m)
    # the exec is a WebSocket upgrade, verb get on pods (embedded_cluster/apiserver/exec.py); the pod is chosen by a list
    m.cluster.fail("get", "pods", status=503, times=1000)


FAULTS = [
    # the API server refuses the exec for a while: the run fails saying so, measures nothing, changes nothing; once
    # the server answers, the same task measures
    Case("exec-unavailable", MODULE, dict(CLIENT, backend_pattern=PATTERN, expected_status=[200]),
         ["exec in container curl of pod test/curl-", "failed: 503 ServiceUnavailable"],
         setup=exec_refused, expect="converges", changed=False, fix=lambda m: m.cluster.api.faults.clear()),
]


@pytest.mark.parametrize("case", FAULTS, ids=lambda c: c.id)
def test_fault_then_a_rerun_converges(matrix, case):
    matrix.check(case)
