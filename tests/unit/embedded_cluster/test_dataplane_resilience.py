"""Timeouts and retries at the waypoint (issue 26): what the client sees, from the route istiod converts
(pilot/pkg/config/kube/gateway/conversion.go, route/retry/retry.go) and Envoy's router applies (router.cc,
retry_state_impl.cc); the upstream's own faults come from go-httpbin (/delay, weighted /status)."""

import collections
import math

import pytest
from conftest import CRDS
from dataplane_lab import Lab

N = 1000
BIN = "http://httpbin.hello:8000"
EXPERIMENTAL_HTTPROUTE = CRDS / "gateway-api-v1.5.1-experimental-httproutes.yaml"


def route(timeouts=None, retry=None, name="httpbin"):
    rule = {"backendRefs": [{"name": "httpbin", "port": 8000}]}
    if timeouts is not None:
        rule["timeouts"] = timeouts
    if retry is not None:
        rule["retry"] = retry
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": name, "namespace": "hello"},
            "spec": {"parentRefs": [{"group": "", "kind": "Service", "name": "httpbin", "port": 8000}],
                     "rules": [rule]}}


def lab_with(cluster, *objects, seed=0, experimental=True):
    lab = Lab(cluster, seed=seed)
    if experimental:
        cluster.load_crds(EXPERIMENTAL_HTTPROUTE)
    for obj in objects:
        cluster.put(obj)
    lab.add_waypoint(services=("httpbin",))
    return lab


def status_counts(lab, path, n=N):
    text = lab.curl("-sS", "-o", "/dev/null", "-w", "%{http_code}\n", f"{BIN}{path}?[1-{n}]").stdout.decode()
    return collections.Counter(text.split())


def test_request_timeout_cuts_a_slow_upstream_at_one_second(cluster):
    """timeouts.request 1s is the route timeout (conversion.go); /drip?delay=3 answers after 3 s, so the router's
    timer fires first: 504 `upstream request timeout` at 1 s (router.cc onResponseTimeout)."""
    lab = lab_with(cluster, route(timeouts={"request": "1s"}))
    result = lab.curl("-sS", "-w", "|%{http_code}|%{time_total}|%header{server}", f"{BIN}/drip?delay=3&duration=0")
    body, code, total, server = result.stdout.decode().split("|")
    assert (body, code, server) == ("upstream request timeout", "504", "istio-envoy")
    assert 1.0 <= float(total) < 1.01
    # an upstream inside the timeout is untouched (go-httpbin /drip: the status after the delay)
    result = lab.curl("-sS", "-w", "|%{http_code}|%{time_total}", f"{BIN}/drip?delay=0.5&duration=0&numbytes=3")
    body, code, total = result.stdout.decode().split("|")
    assert (body, code) == ("***", "200") and 0.5 <= float(total) < 0.51


def test_a_fault_delay_at_the_same_waypoint_does_not_count_toward_the_timeout(cluster):
    """The fault filter runs before the router, whose timer starts once it has the request (router.cc
    onRequestComplete): a 3 s injected delay with a 1 s route timeout is a 200 after 3 s, not a 504."""
    vs = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
          "metadata": {"name": "httpbin", "namespace": "hello"},
          "spec": {"hosts": ["httpbin"], "http": [{
              "fault": {"delay": {"fixedDelay": "3s", "percentage": {"value": 100}}},
              "timeout": "1s", "route": [{"destination": {"host": "httpbin"}}]}]}}
    lab = lab_with(cluster, vs, experimental=False)
    code, total = lab.curl("-sS", "-o", "/dev/null", "-w", "%{http_code} %{time_total}",
                           f"{BIN}/status/200").stdout.decode().split()
    assert code == "200" and 3.0 <= float(total) < 3.01
    # the same route's timeout does cut a slow upstream: 3 s delay, then 1 s of the router's timer
    code, total = lab.curl("-sS", "-o", "/dev/null", "-w", "%{http_code} %{time_total}",
                           f"{BIN}/drip?delay=2&duration=0").stdout.decode().split()
    assert code == "504" and 4.0 <= float(total) < 4.01


def test_weighted_status_of_go_httpbin_draws_each_request(cluster):
    """handlers.go Status with a comma: a weighted choice per request (helpers.go weightedRandomChoice)."""
    lab = lab_with(cluster, experimental=False)
    counts = status_counts(lab, "/status/200:0.8,503:0.2")
    assert set(counts) == {"200", "503"} and abs(counts["503"] / N - 0.2) < 4 * math.sqrt(0.16 / N), counts


@pytest.mark.parametrize("seed", (0, 1))
def test_two_retries_of_503_bring_a_20_percent_error_rate_under_one_percent(cluster, seed):
    """retry {attempts: 2, codes: [503]}: each 503 is tried again up to twice, each try an independent draw
    of the upstream, so the client sees 0.2^3 = 0.8%; without retry Istio's default policy retries no status
    code and the client sees the upstream's 20%."""
    lab = lab_with(cluster, route(retry={"attempts": 2, "codes": [503]}), seed=seed)
    counts = status_counts(lab, "/status/200:0.8,503:0.2")
    assert counts["200"] + counts["503"] == N
    assert counts["503"] / N <= 0.008 + 4 * math.sqrt(0.008 * 0.992 / N), counts
    cluster.put(route())  # the retry taken out: Istio's default policy
    counts = status_counts(lab, "/status/200:0.8,503:0.2")
    assert abs(counts["503"] / N - 0.2) < 4 * math.sqrt(0.16 / N), counts


def test_retry_is_dropped_by_a_standard_channel_crd(cluster):
    """The standard channel's HTTPRoute CRD has no retry: the API server prunes it, and the 503s reach the
    client as without it (why traffic_split reads the CRD before writing a retry)."""
    lab = lab_with(cluster, route(retry={"attempts": 2, "codes": [503]}), experimental=False)
    stored = cluster.get("gateway.networking.k8s.io/v1", "HTTPRoute", "httpbin", "hello")
    assert "retry" not in stored["spec"]["rules"][0]
    counts = status_counts(lab, "/status/200:0.8,503:0.2")
    assert abs(counts["503"] / N - 0.2) < 4 * math.sqrt(0.16 / N), counts


def test_attempts_0_turns_retries_off_and_other_codes_are_not_retried(cluster):
    lab = lab_with(cluster, route(retry={"attempts": 0, "codes": [503]}))
    counts = status_counts(lab, "/status/200:0.5,503:0.5", n=400)
    assert 0.4 < counts["503"] / 400 < 0.6, counts
    cluster.put(route(retry={"attempts": 2, "codes": [500]}))
    counts = status_counts(lab, "/status/200:0.5,503:0.5", n=400)
    assert 0.4 < counts["503"] / 400 < 0.6, counts


def test_a_fault_abort_is_never_retried(cluster):
    """The fault filter's abort is a local reply before the router (fault_filter.cc abortWithStatus): a retry
    on its status changes nothing."""
    vs = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
          "metadata": {"name": "httpbin", "namespace": "hello"},
          "spec": {"hosts": ["httpbin"], "http": [{
              "fault": {"abort": {"httpStatus": 503, "percentage": {"value": 20}}},
              "retries": {"attempts": 2, "retryOn": "503"}, "route": [{"destination": {"host": "httpbin"}}]}]}}
    lab = lab_with(cluster, vs, experimental=False)
    counts = status_counts(lab, "/status/200")
    assert abs(counts["503"] / N - 0.2) < 4 * math.sqrt(0.16 / N), counts


def test_the_request_timeout_covers_every_try_and_the_back_off(cluster):
    """The route timeout runs across tries and the waits between them (router.cc: the timer is disarmed only in
    cleanup; during a back-off it still fires). With a 1 s back-off base the waits before the two retries are
    drawn below 1 s and 2 s (backoff_strategy.cc): a quarter of the requests get all three 503s inside 1 s, the
    rest the router's 504 at 1 s - none later."""
    lab = lab_with(cluster, route(timeouts={"request": "1s"}, retry={"attempts": 2, "codes": [503], "backoff": "1s"}))
    text = lab.curl("-sS", "-o", "/dev/null", "-w", "%{http_code} %{time_total}\n",
                    f"{BIN}/status/503?[1-400]").stdout.decode()
    got = [line.split() for line in text.splitlines()]
    counts = collections.Counter(code for code, _ in got)
    assert set(counts) == {"503", "504"} and abs(counts["503"] / 400 - 0.25) < 4 * math.sqrt(0.1875 / 400), counts
    assert max(float(t) for _, t in got) < 1.01
    assert all(1.0 <= float(t) for code, t in got if code == "504")


def test_a_per_try_timeout_is_not_retried_under_istios_conditions(cluster):
    """backendRequest with a retry is the per-try timeout (conversion.go); a per-try timeout is retried only
    under retry_on 5xx, gateway-error or reset (retry_state_impl.cc wouldRetryFromReset), which the
    conversion never sets: the first try's timeout is the client's 504."""
    lab = lab_with(cluster, route(timeouts={"request": "3s", "backendRequest": "500ms"},
                                  retry={"attempts": 2, "codes": [503]}))
    result = lab.curl("-sS", "-w", "|%{http_code}|%{time_total}", f"{BIN}/drip?delay=1&duration=0")
    body, code, total = result.stdout.decode().split("|")
    assert (body, code) == ("upstream request timeout", "504") and 0.5 <= float(total) < 0.51


def test_backend_request_without_retry_is_the_route_timeout(cluster):
    """conversion.go: without a retry, timeouts.backendRequest replaces timeouts.request as the route timeout."""
    lab = lab_with(cluster, route(timeouts={"request": "3s", "backendRequest": "1s"}), experimental=False)
    code, total = lab.curl("-sS", "-o", "/dev/null", "-w", "%{http_code} %{time_total}",
                           f"{BIN}/drip?delay=2&duration=0").stdout.decode().split()
    assert code == "504" and 1.0 <= float(total) < 1.01


def test_an_upstream_503_passes_through_istios_default_policy(cluster):
    """No retry on the route: Istio's default policy (retry.go) lists no status code, so the app's 503 is
    the client's, with the app's body and headers."""
    lab = lab_with(cluster, experimental=False)
    result = lab.curl("-sS", "-w", "|%{http_code}|%header{server}|%header{content-type}", f"{BIN}/status/503")
    assert result.stdout == b"|503|istio-envoy|text/plain; charset=utf-8"


def test_a_virtualservice_retrying_5xx_retries_any_5xx_and_gateway_error_only_502_to_504(cluster):
    """retry_state_impl.cc wouldRetryFromHeaders: retryOn 5xx takes every 5xx, gateway-error 502, 503 and 504."""
    def vs(retry_on):
        return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
                "metadata": {"name": "httpbin", "namespace": "hello"},
                "spec": {"hosts": ["httpbin"], "http": [{"retries": {"attempts": 2, "retryOn": retry_on},
                                                         "route": [{"destination": {"host": "httpbin"}}]}]}}
    lab = lab_with(cluster, vs("5xx"), experimental=False)
    counts = status_counts(lab, "/status/200:0.5,500:0.5", n=400)
    assert counts["500"] / 400 <= 0.125 + 4 * math.sqrt(0.125 * 0.875 / 400), counts  # 0.5^3
    cluster.put(vs("gateway-error"))
    counts = status_counts(lab, "/status/200:0.5,500:0.5", n=400)
    assert 0.4 < counts["500"] / 400 < 0.6, counts  # a 500 is no gateway error
    counts = status_counts(lab, "/status/200:0.5,502:0.5", n=400)
    assert counts["502"] / 400 <= 0.125 + 4 * math.sqrt(0.125 * 0.875 / 400), counts
