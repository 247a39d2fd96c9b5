"""playbooks/lab.yml deploys the lab's apps, and the lab replayed end to end: the trap measured,
the fix measured, faults measured and removed (issue: measure, don't trust)."""

import pytest

from conftest import GATEWAY_V151, ISTIO_CRDS, ROOT, run_playbook, seed_istio

pytestmark = pytest.mark.integration

LAB = ROOT / "playbooks" / "lab.yml"


def lab(kubeconfig, *extra):
    return run_playbook(LAB, "-i", str(ROOT / "playbooks" / "inventory" / "local.yml"),
                        "-e", f"kubeconfig={kubeconfig}", *extra)


def resource_versions(cluster):
    kinds = [("apps/v1", "Deployment"), ("v1", "Service"), ("v1", "ServiceAccount"), ("v1", "Namespace"),
             ("networking.istio.io/v1", "VirtualService"), ("networking.istio.io/v1", "DestinationRule")]
    return {(kind, o["metadata"].get("namespace"), o["metadata"]["name"]): o["metadata"]["resourceVersion"]
            for api, kind in kinds for o in cluster.list(api, kind)}


def test_the_lab_playbook_deploys_the_apps_idempotently_and_removes_them(cluster, kubeconfig):
    cluster.load_crds(ISTIO_CRDS)
    first = lab(kubeconfig, "-e", "lab_trap=true")
    assert first.returncode == 0, first.stdout[-3000:]
    deployments = {(d["metadata"]["namespace"], d["metadata"]["name"]) for d in cluster.list("apps/v1", "Deployment")}
    assert deployments == {("hello", "helloworld-v1"), ("hello", "helloworld-v2"), ("httpbin", "httpbin"), ("test", "curl")}
    services = {(s["metadata"]["namespace"], s["metadata"]["name"]) for s in cluster.list("v1", "Service")}
    assert {("hello", "helloworld"), ("hello", "helloworld-v1"), ("hello", "helloworld-v2"),
            ("httpbin", "httpbin"), ("test", "curl")} <= services
    assert [v["metadata"]["name"] for v in cluster.list("networking.istio.io/v1", "VirtualService")] == ["helloworld"]

    versions = resource_versions(cluster)
    second = lab(kubeconfig, "-e", "lab_trap=true")
    assert second.returncode == 0 and "changed=0" in second.stdout, second.stdout[-3000:]
    # kubernetes.core.k8s sends its (no-op) patches again: nothing stored may change
    assert resource_versions(cluster) == versions

    gone = lab(kubeconfig, "-e", "lab_trap=true", "-e", "lab_state=absent")
    assert gone.returncode == 0, gone.stdout[-3000:]
    assert cluster.list("apps/v1", "Deployment") == []
    assert cluster.list("networking.istio.io/v1", "VirtualService") == []
    assert {n["metadata"]["name"] for n in cluster.list("v1", "Namespace")} >= {"hello", "httpbin", "test"}


def test_bad_lab_variables_are_refused_before_any_change(cluster, kubeconfig):
    mark = cluster.mark()
    result = lab(kubeconfig, "-e", "lab_state=gone")
    assert result.returncode != 0 and "lab_state must be present or absent" in result.stdout, result.stdout[-2000:]
    assert cluster.writes(mark) == []


HELLO = "http://helloworld.hello.svc.cluster.local:5000/hello"
HTTPBIN = "http://httpbin.httpbin.svc.cluster.local:8000"
CLIENT = {"namespace": "test", "pod_selector": "app=curl"}


def probe(playbook, url, fails=None, **options):
    return playbook.run("ambient.mesh.traffic_probe", dict(CLIENT, url=url, **options), fails=fails)


def test_the_lab_replayed_measures_the_trap_the_fix_and_the_faults(cluster, kubeconfig, playbook):
    """The lab, step by step, with the numbers the probe measured on the simulated data plane."""
    cluster.load_crds(GATEWAY_V151)
    cluster.load_crds(ISTIO_CRDS)
    seed_istio(cluster)
    playbook.run("ambient.mesh.ambient_namespace", {"namespaces": [
        {"name": ns, "create": True} for ns in ("hello", "httpbin", "test")]})
    result = lab(kubeconfig, "-e", "lab_trap=true")
    assert result.returncode == 0, result.stdout[-3000:]

    # 1. the trap: VirtualService + DestinationRule 95/5 and no waypoint -> per-connection L4, ~50/50
    trap = probe(playbook, HELLO, requests=200, backend_pattern=r"version: (v\d+)",
                 expected_shares={"v1": 95, "v2": 5}, fails="is a waypoint bound to the Service?")
    assert trap["requests"] == 200 and trap["status_codes"] == {"200": 200}
    assert 0.35 <= trap["shares"]["v1"] <= 0.65, trap["shares"]
    info = playbook.run("ambient.mesh.mesh_info", {})
    assert "VS_SPLIT_WITHOUT_WAYPOINT" in {f["code"] for f in info["findings"]}

    # 2. the fix: the lab's objects go, a waypoint and an HTTPRoute 95/5 come -> per-request weights
    for kind in ("VirtualService", "DestinationRule"):
        cluster.delete("networking.istio.io/v1", kind, "helloworld", "hello")
    playbook.run("ambient.mesh.waypoint", {"waypoints": [{"namespace": ns, "enroll_namespace": True}
                                                         for ns in ("hello", "httpbin")], "wait_timeout": 30})
    playbook.run("ambient.mesh.traffic_split", {"splits": [{
        "service": "helloworld", "namespace": "hello",
        "versions": [{"name": "v1", "weight": 95}, {"name": "v2", "weight": 5}]}], "wait_timeout": 30})
    fixed = probe(playbook, HELLO, requests=200, backend_pattern=r"version: (v\d+)",
                  expected_shares={"v1": 95, "v2": 5})
    assert fixed["passed"] and fixed["status_codes"] == {"200": 200}
    assert fixed["shares"]["v1"] >= 0.88, fixed["shares"]

    # 3. httpbin through its waypoint: a 3 s delay, then an HTTP 500 abort, then nothing
    fault = {"service": "httpbin", "namespace": "httpbin"}
    playbook.run("ambient.mesh.fault_injection", {"faults": [dict(fault, delay={"fixed_delay": "3s", "percentage": 100})]})
    delayed = probe(playbook, f"{HTTPBIN}/status/200", requests=20, timeout=10, latency={"p50_min": 2.9, "p50_max": 3.5})
    assert 2.9 <= delayed["latency"]["p50"] <= 3.5, delayed["latency"]
    playbook.run("ambient.mesh.fault_injection", {"faults": [dict(fault, abort={"http_status": 500, "percentage": 100})]})
    aborted = probe(playbook, f"{HTTPBIN}/status/200", requests=50, capture_headers=["server"])
    assert aborted["status_codes"] == {"500": 50}
    assert aborted["headers"]["server"] == {"istio-envoy": 50}
    playbook.run("ambient.mesh.fault_injection", {"faults": [dict(fault, state="absent")]})
    assert [v for v in cluster.list("networking.istio.io/v1", "VirtualService")
            if v["metadata"]["namespace"] == "httpbin"] == []
    healthy = probe(playbook, f"{HTTPBIN}/status/200", requests=50, expected_status=[200])
    assert healthy["status_codes"] == {"200": 50} and healthy["latency"]["p50"] < 0.5
