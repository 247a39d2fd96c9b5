"""The traffic_split role through ansible-playbook: the lab's split, four steps, preflight refusals, absent."""

import pytest

from conftest import GATEWAY_V151, ISTIO_CRDS, run_role, seed_istio
from test_traffic_split import LAB, ROUTE, SVC, lab, parent_conditions

pytestmark = pytest.mark.integration
ROLE = "ambient.mesh.traffic_split"


@pytest.fixture
def mesh(cluster):
    cluster.load_crds(GATEWAY_V151, ISTIO_CRDS)
    seed_istio(cluster)
    return cluster


def test_four_steps_then_absent(mesh, kubeconfig, tmp_path):
    lab(mesh)
    variables = {"traffic_split_splits": [LAB], "traffic_split_wait_timeout": 20}
    mark = mesh.mark()
    check = run_role(kubeconfig, tmp_path, ROLE, variables, check=True)
    assert check.changed > 0 and mesh.writes(mark) == []
    first = run_role(kubeconfig, tmp_path, ROLE, variables)
    assert first.changed > 0
    route = mesh.get(*ROUTE, "hello-http-split-traffic", "hello")
    assert [(b["name"], b["weight"]) for b in route["spec"]["rules"][0]["backendRefs"]] == [
        ("helloworld-v1", 95), ("helloworld-v2", 5)]
    assert parent_conditions(route)["Accepted"][0] == "True"
    assert "hello/helloworld (present): weights" in first.stdout
    mark = mesh.mark()
    assert run_role(kubeconfig, tmp_path, ROLE, variables, check=True).changed == 0
    assert run_role(kubeconfig, tmp_path, ROLE, variables).changed == 0
    assert mesh.writes(mark) == []

    absent = {"traffic_split_splits": [{"service": "helloworld", "namespace": "hello", "state": "absent"}]}
    assert run_role(kubeconfig, tmp_path, ROLE, absent).changed > 0
    assert mesh.get(*ROUTE, "hello-http-split-traffic", "hello") is None
    assert mesh.get(*SVC, "helloworld-v1", "hello") is None and mesh.get(*SVC, "helloworld", "hello") is not None
    assert run_role(kubeconfig, tmp_path, ROLE, absent).changed == 0


def test_preflight_stops_a_service_without_a_waypoint(mesh, kubeconfig, tmp_path):
    lab(mesh, waypoint=False)
    mark = mesh.mark()
    result = run_role(kubeconfig, tmp_path, ROLE, {"traffic_split_splits": [LAB]},
                      fails="no waypoint serves Service hello/helloworld")
    assert "Check every split against the cluster" in result.stdout and "Apply the splits" not in result.stdout
    assert mesh.writes(mark) == []


def test_preflight_checks_the_variables(mesh, kubeconfig, tmp_path):
    run_role(kubeconfig, tmp_path, ROLE, {"traffic_split_splits": [{"service": "helloworld"}]},
             fails="each with a service and a namespace")
