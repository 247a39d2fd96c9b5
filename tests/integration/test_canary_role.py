"""The canary role through ansible-playbook on the lab's helloworld (v1 -> v2) and curl client (Istio's samples),
with a waypoint bound to hello and the simulated data plane answering the probes."""

import time

import pytest
import yaml

from builders import ambient_namespace
from conftest import DATA, GATEWAY_V151, ISTIO_CRDS, run_role, seed_istio

pytestmark = pytest.mark.integration
ROLE = "ambient.mesh.canary"
HTTPROUTE = ("gateway.networking.k8s.io/v1", "HTTPRoute")
HELLO = "http://helloworld.hello.svc.cluster.local:5000/hello"


def samples(name, namespace):
    docs = yaml.safe_load_all((DATA / "istio-1.30.3" / "samples" / f"{name}.yaml").read_text(encoding="utf-8"))
    return [dict(d, metadata=dict(d["metadata"], namespace=namespace)) for d in docs if d]


def ready_pods(cluster, namespace, selector, count=1, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        pods = [p for p in cluster.list("v1", "Pod", namespace)
                if all(p["metadata"].get("labels", {}).get(k) == v for k, v in selector.items())
                and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or [])]
        if len(pods) >= count:
            return pods
        assert time.monotonic() < deadline, f"no Ready pod {selector} in {namespace}"
        time.sleep(0.1)


@pytest.fixture
def lab(cluster, playbook):
    """helloworld v1 and v2 (namespace hello, a waypoint bound) and the curl client (namespace test), from Istio's
    samples as playbooks/lab.yml deploys them."""
    cluster.load_crds(GATEWAY_V151, ISTIO_CRDS)
    seed_istio(cluster)
    if getattr(cluster.api, "dataplane", None) is None:
        from apiserver.dataplane import DataPlane
        cluster.api.dataplane = DataPlane(cluster.api, seed=10)
    for ns in ("hello", "test"):
        cluster.put(ambient_namespace(ns))
    for obj in samples("helloworld", "hello") + samples("curl", "test"):
        cluster.put(obj)
    playbook.run("ambient.mesh.waypoint", {"waypoints": [{"namespace": "hello", "enroll_namespace": True}],
                                           "wait_timeout": 30})
    for version in ("v1", "v2"):
        ready_pods(cluster, "hello", {"app": "helloworld", "version": version})
    ready_pods(cluster, "test", {"app": "curl"})
    return cluster


def variables(playbook, **extra):
    base = {"canary_service": "helloworld", "canary_namespace": "hello", "canary_probe": {"url": HELLO},
            "canary_report_dir": str(playbook.workdir / "reports"), "canary_wait_timeout": 30,
            "canary_kubernetes_auth": {"kubeconfig": playbook.kubeconfig}}
    return dict(base, **extra)


def canary(playbook, fails=None, check=False, **extra):
    return run_role(playbook.kubeconfig, playbook.workdir, ROLE, variables(playbook, **extra), fails=fails, check=check)


def weights(cluster, name="helloworld"):
    route = cluster.get(*HTTPROUTE, name, "hello")
    return {ref["name"]: ref.get("weight", 1) for rule in route["spec"]["rules"] for ref in rule["backendRefs"]}


def test_a_canary_reaches_100_with_every_step_measured_within_bounds(lab, playbook):
    result = canary(playbook)
    print(result.stdout[-6000:])
    assert weights(lab) == {"helloworld-v1": 0, "helloworld-v2": 100}
