"""playbooks/lab.yml deploys the lab's apps, and the lab replayed end to end: the trap measured,
the fix measured, faults measured and removed (issue: measure, don't trust)."""

import pytest

from conftest import ISTIO_CRDS, ROOT, run_playbook

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
