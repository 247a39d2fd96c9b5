"""The install role through ansible-playbook, with the fake istioctl and the test API server."""

import pytest

from builders import ambient_namespace
from conftest import GATEWAY_V151, run_role

pytestmark = pytest.mark.integration


def role_vars(istioctl, **extra):
    return dict({"install_istioctl_path": istioctl.path, "install_gateway_api_src": str(GATEWAY_V151),
                 "install_wait_timeout": 20}, **extra)


def test_four_step_idempotence_and_ordered_uninstall(cluster, kubeconfig, tmp_path, istioctl):
    check = run_role(kubeconfig, tmp_path, "ambient.mesh.install", role_vars(istioctl), check=True)
    assert not check.failed, check.stdout
    assert check.changed == 2  # CRDs and Istio would change
    assert cluster.list("apps/v1", "Deployment", "istio-system") == []
    assert cluster.get("apiextensions.k8s.io/v1", "CustomResourceDefinition",
                       "httproutes.gateway.networking.k8s.io") is None

    run = run_role(kubeconfig, tmp_path, "ambient.mesh.install", role_vars(istioctl))
    assert not run.failed, run.stdout
    assert run.changed == 2
    assert "ztunnel istio-system/ztunnel: 3/3 ready" in run.stdout
    assert "istiod istio-system/istiod: 1/1 ready" in run.stdout
    crd = cluster.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", "httproutes.gateway.networking.k8s.io")
    assert crd["metadata"]["annotations"]["gateway.networking.k8s.io/bundle-version"] == "v1.5.1"

    mark = istioctl.mark()
    assert run_role(kubeconfig, tmp_path, "ambient.mesh.install", role_vars(istioctl), check=True).changed == 0
    again = run_role(kubeconfig, tmp_path, "ambient.mesh.install", role_vars(istioctl))
    assert again.changed == 0 and not again.failed
    assert "install" not in istioctl.subcommands(mark)

    cluster.put(ambient_namespace("hello"))
    run_role(kubeconfig, tmp_path, "ambient.mesh.install",
             role_vars(istioctl, install_state="absent", install_purge=True), fails="namespace hello")
    removed = run_role(kubeconfig, tmp_path, "ambient.mesh.install",
                       role_vars(istioctl, install_state="absent", install_purge=True, install_force=True,
                                 install_remove_gateway_api=True))
    assert not removed.failed, removed.stdout
    assert cluster.list("apps/v1", "Deployment", "istio-system") == []
    assert cluster.get("apiextensions.k8s.io/v1", "CustomResourceDefinition",
                       "httproutes.gateway.networking.k8s.io") is None


@pytest.mark.parametrize("variables, fragment", [
    ({"install_istio_version": "1.31.0", "install_gateway_api_version": "v1.5.1"},
     "is version 1.30.3, but 1.31.0 is asked for"),
    ({"install_istioctl_path": "/nonexistent/istioctl"}, "istioctl was not found or failed"),
    ({"install_istio_version": "1.99.0"}, "no Gateway API version is known: set install_gateway_api_version"),
    # the message names the variable that is wrong, not install_gateway_api_version
    ({"install_istio_version": "latest"}, "install_istio_version must be an Istio version like 1.30.3 (or v1.30.3), got latest"),
    ({"install_state": "upgrade"}, "value of install_state must be one of: present, absent, got: upgrade"),
])
def test_preflight_stops_bad_input_before_any_change(cluster, kubeconfig, tmp_path, istioctl, variables, fragment):
    mark = cluster.mark()
    run_role(kubeconfig, tmp_path, "ambient.mesh.install", dict(role_vars(istioctl), **variables), fails=fragment)
    assert cluster.writes(mark) == []


def test_a_hung_istioctl_version_in_the_preflight_is_stopped_at_its_deadline(cluster, kubeconfig, tmp_path, istioctl):
    """The preflight's `istioctl version` hangs (ignoring SIGTERM, with a child): the play fails at the role's
    deadline naming it, and nothing of the hung istioctl survives the play."""
    from embedded_cluster import fake_istioctl

    istioctl.configure(hang={"version": {"child": True, "ignore_term": True}})
    mark = cluster.mark()
    run_role(kubeconfig, tmp_path, "ambient.mesh.install", role_vars(istioctl, install_istioctl_timeout=2),
             fails="istioctl version did not finish within its deadline of 2 s and was stopped")
    pids = fake_istioctl.hung(istioctl.home)
    assert len(pids) == 2, pids
    assert not [p for p in pids if fake_istioctl.alive(p)], "istioctl outlived the preflight's deadline"
    assert cluster.writes(mark) == []


def test_preflight_refuses_an_old_kubernetes(kubeconfig, tmp_path, istioctl, cluster):
    cluster.api.kubernetes_version = "v1.29.4"
    run_role(kubeconfig, tmp_path, "ambient.mesh.install", role_vars(istioctl),
             fails="needs Kubernetes 1.32 or newer; this cluster runs v1.29.4")


def test_a_v_prefixed_version_is_accepted(cluster, kubeconfig, tmp_path, istioctl):
    check = run_role(kubeconfig, tmp_path, "ambient.mesh.install", role_vars(istioctl, install_istio_version="v1.30.3"),
                     check=True)
    assert check.changed == 2  # the CRDs and Istio would change: preflight and the module took v1.30.3
