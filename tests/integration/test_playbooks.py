"""The runnable entry points in playbooks/, against the test API server."""

import pytest

from conftest import GATEWAY_V151, ROOT, run_playbook

pytestmark = pytest.mark.integration


def test_platform_playbook_rolls_out_and_is_idempotent(cluster, kubeconfig, istioctl):
    extra = ["-i", str(ROOT / "playbooks" / "inventory" / "local.yml"), "-e", f"kubeconfig={kubeconfig}",
             "-e", f"install_istioctl_path={istioctl.path}", "-e", f"install_gateway_api_src={GATEWAY_V151}"]
    first = run_playbook(ROOT / "playbooks" / "platform.yml", *extra)
    assert first.returncode == 0, first.stdout[-3000:]
    assert "Istio 1.30.3 (ambient), healthy: True" in first.stdout
    assert "Findings (0): []" in first.stdout
    assert {w["metadata"]["namespace"] for w in cluster.list("gateway.networking.k8s.io/v1", "Gateway")} == {
        "hello", "httpbin"}
    second = run_playbook(ROOT / "playbooks" / "platform.yml", *extra)
    assert second.returncode == 0 and "changed=0" in second.stdout, second.stdout[-3000:]


def test_gateway_api_playbook(cluster, kubeconfig):
    extra = ["-i", str(ROOT / "playbooks" / "inventory" / "local.yml"), "-e", f"kubeconfig={kubeconfig}",
             "-e", f"gateway_api_src={GATEWAY_V151}"]
    result = run_playbook(ROOT / "playbooks" / "gateway_api.yml", *extra)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Gateway API: none -> v1.5.1 (standard), 8 CRDs, 10 changed" in result.stdout
