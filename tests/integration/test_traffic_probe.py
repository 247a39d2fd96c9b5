"""traffic_probe through ansible-playbook against the test cluster: curl runs in the lab's client pod
through pods/exec, on the simulated data plane, and the module measures and judges what came back."""

import time

import pytest
import yaml

from builders import ambient_namespace, fault_virtualservice
from conftest import DATA, GATEWAY_V151, ISTIO_CRDS, ROOT, seed_istio

pytestmark = pytest.mark.integration
MODULE = "ambient.mesh.traffic_probe"
SAMPLES = DATA / "istio-1.30.3" / "samples"
HELLO = "http://helloworld.hello.svc.cluster.local:5000/hello"
CLIENT = {"namespace": "test", "pod_selector": "app=curl"}
PATTERN = r"version: (v\d+)"


def documents(path, namespace):
    for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        if doc:
            doc["metadata"]["namespace"] = namespace
            yield doc


def ready_pods(cluster, namespace, app):
    return [p for p in cluster.list("v1", "Pod", namespace)
            if (p["metadata"].get("labels") or {}).get("app") == app
            and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or [])]


def wait_ready(cluster, namespace, app, count, timeout=20):
    deadline = time.monotonic() + timeout
    while len(ready_pods(cluster, namespace, app)) < count:
        assert time.monotonic() < deadline, f"{count} Ready {app} pods in {namespace} never came"
        time.sleep(0.05)
    return ready_pods(cluster, namespace, app)


@pytest.fixture
def lab(cluster):
    """Istio ambient, namespaces hello and test in the mesh (no waypoint), Istio's helloworld (v1 and v2,
    one pod each) and curl samples as they are upstream."""
    cluster.load_crds(GATEWAY_V151, ISTIO_CRDS)
    seed_istio(cluster)
    for ns in ("hello", "test"):
        cluster.put(ambient_namespace(ns))
    for doc in documents(SAMPLES / "helloworld.yaml", "hello"):
        cluster.put(doc)
    for doc in documents(SAMPLES / "curl.yaml", "test"):
        cluster.put(doc)
    wait_ready(cluster, "hello", "helloworld", 2)
    wait_ready(cluster, "test", "curl", 1)
    return cluster


def exec_requests(cluster, mark):
    return [e for e in cluster.requests(mark) if e["resource"] == "pods" and e.get("subresource") == "exec"]


def test_counts_per_version_status_codes_and_one_exec(lab, playbook):
    mark = lab.mark()
    result = playbook.run(MODULE, dict(CLIENT, url=HELLO, requests=100, backend_pattern=PATTERN, return_sample=True))
    assert result["changed"] is False and result["passed"] is True and result["verdicts"] == []
    assert result["requests"] == 100 and result["status_codes"] == {"200": 100}
    # one pod per version, a new connection per request, ztunnel picks per connection: both answer
    assert set(result["counts"]) == {"v1", "v2"} and sum(result["counts"].values()) == 100
    assert min(result["counts"].values()) >= 25, result["counts"]
    assert result["connections"] == 100 and result["error_rate"] == 0 and result["transport_errors"] == {}
    assert result["pod"].startswith("curl-") and result["container"] == "curl"
    assert len(result["sample"]) == 100 and {s["backend"] for s in result["sample"]} == {"v1", "v2"}
    assert 0 < result["latency"]["p50"] <= result["latency"]["p90"] <= result["latency"]["p99"] <= result["latency"]["max"]
    assert len(exec_requests(lab, mark)) == 1, lab.requests(mark)
    assert lab.writes(mark) == []


def test_the_trap_without_a_waypoint_fails_the_share_verdict_with_the_waypoint_hint(lab, playbook):
    trap = yaml.safe_load((ROOT / "playbooks" / "files" / "lab" / "trap.yaml").read_text(encoding="utf-8"))
    for doc in trap["items"]:  # one v1 List
        doc["metadata"]["namespace"] = "hello"
        lab.put(doc)
    result = playbook.run(MODULE, dict(CLIENT, url=HELLO, requests=200, backend_pattern=PATTERN,
                                       expected_shares={"v1": 95, "v2": 5}),
                          fails=["the split is not enforced", "is a waypoint bound to the Service? see mesh_info",
                                 "expected v1 95.0%, v2 5.0%"])
    assert 0.35 <= result["shares"]["v1"] <= 0.65, result["shares"]
    verdict = result["verdicts"][0]
    assert verdict["name"] == "shares" and verdict["passed"] is False
    assert verdict["expected"] == {"v1": 0.95, "v2": 0.05}
    assert verdict["measured"]["v2"]["count"] == result["counts"]["v2"]


def test_check_mode_probes_the_same_and_reports_no_change(lab, playbook):
    mark = lab.mark()
    result = playbook.run(MODULE, dict(CLIENT, url=HELLO, requests=20, backend_pattern=PATTERN,
                                       expected_status=[200]), check=True)
    assert result["changed"] is False and result["requests"] == 20 and result["status_codes"] == {"200": 20}
    assert result["verdicts"][0]["name"] == "status_codes" and result["verdicts"][0]["passed"]
    assert len(exec_requests(lab, mark)) == 1 and lab.writes(mark) == []


def test_one_kept_alive_connection_stays_on_one_pod(lab, playbook):
    result = playbook.run(MODULE, dict(CLIENT, url=HELLO, requests=50, backend_pattern=PATTERN, reuse_connection=True))
    assert result["connections"] == 1
    assert len(result["counts"]) == 1 and sum(result["counts"].values()) == 50, result["counts"]
    failed = playbook.run(MODULE, dict(CLIENT, url=HELLO, requests=50, backend_pattern=PATTERN, reuse_connection=True,
                                       expected_shares={"v1": 1, "v2": 1}),
                          fails=["reuse_connection: true", "ztunnel picks the pod per connection"])
    assert failed["connections"] == 1


def test_a_pod_by_name_and_container(lab, playbook):
    name = ready_pods(lab, "test", "curl")[0]["metadata"]["name"]
    result = playbook.run(MODULE, {"namespace": "test", "pod": name, "container": "curl", "url": HELLO, "requests": 5})
    assert result["pod"] == name and result["status_codes"] == {"200": 5}


@pytest.mark.parametrize("args, message", [
    ({"pod_selector": "app=nothing"}, "no pod in namespace test matches app=nothing"),
    ({"pod": "curl-gone"}, "pod test/curl-gone not found"),
    ({"pod_selector": "app=curl", "container": "sidecar"}, "has no container sidecar; its containers: curl"),
])
def test_no_pod_or_no_container_fails_before_any_exec(lab, playbook, args, message):
    mark = lab.mark()
    playbook.run(MODULE, dict(args, namespace="test", url=HELLO, requests=5), fails=message)
    assert exec_requests(lab, mark) == []


def test_a_pod_without_curl_says_so(lab, playbook):
    name = ready_pods(lab, "hello", "helloworld")[0]["metadata"]["name"]
    playbook.run(MODULE, {"namespace": "hello", "pod": name, "url": HELLO, "requests": 2}, fails=["exec in container",
                                                                                                   "curl"])


def test_an_unknown_host_is_a_transport_error_per_request(lab, playbook):
    result = playbook.run(MODULE, dict(CLIENT, url="http://nothing.hello.svc.cluster.local:5000/", requests=3,
                                       expected_status=[200]),
                          fails=["3 transfers failed with curl exit 6", "could not resolve the host"])
    assert result["status_codes"] == {"000": 3} and result["transport_errors"] == {"6": 3}
    assert result["error_rate"] == 1.0



def test_an_abort_through_the_waypoint_is_judged_by_its_rate_and_who_answered(lab, playbook):
    playbook.run("ambient.mesh.waypoint", {"waypoints": [{"namespace": "hello", "enroll_namespace": True}],
                                           "wait_timeout": 30})
    lab.put(fault_virtualservice(ns="hello", host="helloworld", delay=None, abort=500, abort_pct=50))
    args = dict(CLIENT, url=HELLO, requests=200, capture_headers=["server"], backend_pattern=PATTERN)
    result = playbook.run(MODULE, dict(args, expected_status_rate={"status": 500, "percentage": 50}))
    aborted = result["status_codes"]["500"]
    assert result["passed"] and 70 <= aborted <= 130, result["status_codes"]
    # the waypoint's Envoy answers every response (it overwrites Server); the aborted ones never reach an app,
    # so they name no version
    assert result["headers"]["server"] == {"istio-envoy": 200}
    assert result["unidentified"] == aborted and sum(result["counts"].values()) == 200 - aborted
    assert result["verdicts"][0]["measured"]["count"] == aborted
    playbook.run(MODULE, dict(args, expected_status_rate={"status": 500, "percentage": 10}),
                 fails=["status 500 rate: expected 10.0%", "differs from the fault's percentage"])
