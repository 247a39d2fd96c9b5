"""The enroll and waypoint roles on the lab's layout, through ansible-playbook."""

import pytest

from builders import namespace, service
from conftest import GATEWAY_V151, run_role, seed_istio

pytestmark = pytest.mark.integration

ENROLL = {"enroll_namespaces": [{"name": "hello", "use_waypoint": "waypoint"},
                                {"name": "httpbin", "use_waypoint": "waypoint"},
                                {"name": "test", "create": True}],
          "enroll_wait_timeout": 20, "enroll_allow_missing_waypoint": True}  # the waypoint role runs after it
WAYPOINTS = {"waypoint_namespaces": ["hello", "httpbin"], "waypoint_wait_timeout": 20}


@pytest.fixture
def lab(cluster):
    cluster.load_crds(GATEWAY_V151)
    seed_istio(cluster)
    cluster.put(namespace("hello", team="hello-team"))
    cluster.put(namespace("httpbin"))
    cluster.put(service("hello", "helloworld"))
    cluster.put(service("httpbin", "httpbin", port=8000))
    cluster.put({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "helloworld-v1", "namespace": "hello"},
                 "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "helloworld"}},
                          "template": {"metadata": {"labels": {"app": "helloworld"}},
                                       "spec": {"containers": [{"name": "hw"}]}}}})
    return cluster


def four_steps(kubeconfig, tmp_path, role, variables):
    check = run_role(kubeconfig, tmp_path, role, variables, check=True)
    assert not check.failed and check.changed > 0, check.stdout
    run = run_role(kubeconfig, tmp_path, role, variables)
    assert not run.failed and run.changed > 0, run.stdout
    again_check = run_role(kubeconfig, tmp_path, role, variables, check=True)
    assert not again_check.failed and again_check.changed == 0, again_check.stdout
    again = run_role(kubeconfig, tmp_path, role, variables)
    assert not again.failed and again.changed == 0, again.stdout
    return check, run


def test_enroll_then_waypoint_roles_on_the_lab(lab, kubeconfig, tmp_path):
    check, run = four_steps(kubeconfig, tmp_path, "ambient.mesh.enroll", ENROLL)
    labels = lab.get("v1", "Namespace", "hello")["metadata"]["labels"]
    # kubernetes.io/metadata.name is kube-apiserver's own (SetDefaults_Namespace), never the roles' to touch
    assert labels == {"team": "hello-team", "istio.io/dataplane-mode": "ambient", "istio.io/use-waypoint": "waypoint",
                      "kubernetes.io/metadata.name": "hello"}
    assert lab.get("v1", "Namespace", "test")["metadata"]["labels"] == {"istio.io/dataplane-mode": "ambient",
                                                                         "kubernetes.io/metadata.name": "test"}
    assert "restarted Deployment/helloworld-v1" in run.stdout

    four_steps(kubeconfig, tmp_path, "ambient.mesh.waypoint", WAYPOINTS)
    for ns, svc in (("hello", "helloworld"), ("httpbin", "httpbin")):
        conditions = lab.get("v1", "Service", svc, ns)["status"]["conditions"]
        assert [(c["type"], c["status"]) for c in conditions] == [("istio.io/WaypointBound", "True")]
    assert lab.get("v1", "Namespace", "hello")["metadata"]["labels"]["team"] == "hello-team"


def test_role_preflight_rejects_bad_input(lab, kubeconfig, tmp_path):
    mark = lab.mark()
    enroll = run_role(kubeconfig, tmp_path, "ambient.mesh.enroll", {"enroll_namespaces": ["hello"]},
                      fails="enroll_namespaces")
    assert "dict" in enroll.stdout
    run_role(kubeconfig, tmp_path, "ambient.mesh.waypoint", {"waypoint_namespaces": ["hello"], "waypoint_name": "none"},
             fails="waypoint_name cannot be none")
    assert lab.writes(mark) == []
