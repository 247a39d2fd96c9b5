"""The lab's httpbin resilience drill through ansible-playbook (issue 26): traffic_split writes the route's timeout
and retry, the simulated waypoint applies them as Istio 1.30.3 and Envoy do, and traffic_probe measures what the
client sees. The upstream's faults are httpbin's own (/drip?delay=3: a slow answer; /status/200:0.8,503:0.2: 20%
503s): a fault injected at the same waypoint would never reach the route's timeout or retries."""

import time

import pytest
import yaml

from builders import ambient_namespace
from conftest import CRDS, DATA, GATEWAY_V151, ISTIO_CRDS, seed_istio

pytestmark = pytest.mark.integration
SPLIT = "ambient.mesh.traffic_split"
PROBE = "ambient.mesh.traffic_probe"
ROUTE = ("gateway.networking.k8s.io/v1", "HTTPRoute")
SAMPLES = DATA / "istio-1.30.3" / "samples"
BIN = "http://httpbin.httpbin.svc.cluster.local:8000"
CLIENT = {"namespace": "test", "pod_selector": "app=curl"}
EXPERIMENTAL_HTTPROUTE = CRDS / "gateway-api-v1.5.1-experimental-httproutes.yaml"


def documents(name, namespace):
    for doc in yaml.safe_load_all((SAMPLES / name).read_text(encoding="utf-8")):
        if doc:
            doc["metadata"]["namespace"] = namespace
            yield doc


def wait_ready(cluster, namespace, app, timeout=20):
    deadline = time.monotonic() + timeout
    while not [p for p in cluster.list("v1", "Pod", namespace) if (p["metadata"].get("labels") or {}).get("app") == app
               and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or [])]:
        assert time.monotonic() < deadline, f"no Ready {app} pod in {namespace}"
        time.sleep(0.05)


@pytest.fixture
def drill(cluster, playbook):
    """Istio ambient with the experimental channel's HTTPRoute CRD; httpbin (Istio's sample) in namespace httpbin
    behind a namespace waypoint; the curl client in test."""
    cluster.load_crds(GATEWAY_V151, ISTIO_CRDS, EXPERIMENTAL_HTTPROUTE)
    seed_istio(cluster)
    for ns in ("httpbin", "test"):
        cluster.put(ambient_namespace(ns))
    for doc in documents("httpbin.yaml", "httpbin"):
        cluster.put(doc)
    for doc in documents("curl.yaml", "test"):
        cluster.put(doc)
    wait_ready(cluster, "httpbin", "httpbin")
    wait_ready(cluster, "test", "curl")
    playbook.run("ambient.mesh.waypoint", {"waypoints": [{"namespace": "httpbin", "enroll_namespace": True}],
                                           "wait_timeout": 30})
    return cluster


def split(**policy):
    return {"splits": [dict({"service": "httpbin", "namespace": "httpbin", "versions": [{"name": "v1", "weight": 100}]},
                            **policy)], "wait_timeout": 20}


def test_timeouts_and_retry_four_steps_then_the_drill(drill, playbook):
    args = split(timeouts={"request": "1s"}, retry={"attempts": 2, "codes": [503]})
    mark = drill.mark()
    check = playbook.run(SPLIT, args, check=True, diff=True)
    assert check["changed"] is True and drill.writes(mark) == []
    after = [e["after"] for e in check["diff"] if e["after_header"] == "HTTPRoute httpbin/httpbin"][0]
    [rule] = after["spec"]["rules"]
    assert rule["timeouts"] == {"request": "1s"} and rule["retry"] == {"attempts": 2, "codes": [503]}

    run = playbook.run(SPLIT, args)
    assert run["changed"] is True
    assert run["splits"][0]["policy"] == {"timeouts": {"request": "1s"}, "retry": {"attempts": 2, "codes": [503]},
                                          "summary": "request timeout 1s; 2 retries on connection failures and 503"}
    rule = drill.get(*ROUTE, "httpbin", "httpbin")["spec"]["rules"][0]
    assert rule["timeouts"] == {"request": "1s"} and rule["retry"] == {"attempts": 2, "codes": [503]}

    mark = drill.mark()
    assert playbook.run(SPLIT, args, check=True)["changed"] is False
    again = playbook.run(SPLIT, args, diff=True)
    assert again["changed"] is False and not again.get("diff") and drill.writes(mark) == []

    # the timeout: a 3 s upstream is cut at 1 s, every reply the waypoint's 504
    slow = playbook.run(PROBE, dict(CLIENT, url=BIN + "/drip?delay=3&duration=0", requests=50, expected_status=[504],
                                    latency={"p99_max": 1.2, "p50_min": 1.0}, return_sample=True))
    assert slow["passed"] and slow["status_codes"] == {"504": 50}, slow["verdicts"]
    assert 1.0 <= slow["latency"]["p50"] <= slow["latency"]["max"] < 1.02
    # the retries: 20% of 503 upstream, at most 0.8% at the client (one-sided exact binomial test)
    flaky = dict(CLIENT, url=BIN + "/status/200:0.8,503:0.2", requests=500, max_error_percentage=0.8)
    retried = playbook.run(PROBE, flaky)
    assert retried["passed"] and retried["status_codes"].get("503", 0) <= 10, retried["status_codes"]

    # without the retry the same drill fails, and says why
    playbook.run(SPLIT, split(timeouts={"request": "1s"}))
    assert "retry" not in drill.get(*ROUTE, "httpbin", "httpbin")["spec"]["rules"][0]
    bare = playbook.run(PROBE, flaky, fails=["error rate: expected at most 0.8%", "above the bound beyond chance",
                                             "Istio's default retry policy retries no status code"])
    assert 70 <= bare["status_codes"]["503"] <= 130, bare["status_codes"]


def test_direct_to_pod_measures_the_app_alone_past_the_route(drill, playbook):
    """With the retry in place the client sees under 1% of 503s; the same URL sent to the pod itself (past the
    waypoint) shows httpbin's own 20%: the raw effect next to the client's view."""
    playbook.run(SPLIT, split(retry={"attempts": 2, "codes": [503]}))
    probe = dict(CLIENT, url=BIN + "/status/200:0.8,503:0.2", requests=400)
    raw = playbook.run(PROBE, dict(probe, direct_to_pod=True, capture_headers=["server"]))
    pod = [p for p in drill.list("v1", "Pod", "httpbin") if p["metadata"]["labels"].get("app") == "httpbin"][0]
    assert raw["target"] == (f"pod httpbin/{pod['metadata']['name']} at {pod['status']['podIP']}:8080, a ready endpoint of "
                             "Service httpbin/httpbin port 8000, past its waypoint and routes")
    assert raw["headers"]["server"] == {}  # go-httpbin sends no Server header; no waypoint answered
    assert 50 <= raw["status_codes"]["503"] <= 110, raw["status_codes"]
    client = playbook.run(PROBE, dict(probe, capture_headers=["server"]))
    assert client["headers"]["server"] == {"istio-envoy": 400} and client["status_codes"].get("503", 0) <= 10
    playbook.run(PROBE, dict(probe, url="http://10.0.0.1:8000/get", direct_to_pod=True),
                 fails="direct_to_pod needs a URL that names a Service")
