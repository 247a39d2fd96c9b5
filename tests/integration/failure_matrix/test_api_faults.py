"""The fault rows of the API layer, the same for every module (issue 11 items 3, 5, 8, 9): a dead API server
fails the task at once, an outage mid-batch fails within the request budget with one grouped message and
`changed: true` for what was written, a 403 names the missing permission, a missing kubeconfig is named,
retries and waits are in every result. gateway_api_crds and mesh_info stand in for any module: the
behaviour lives in module_utils/_kube/client.py, _apply.py and _module.py, which every module goes through."""

import socket
import time

import pytest

from conftest import GATEWAY_V151
from failure_matrix.conftest import Case

pytestmark = pytest.mark.integration
CRDS = "ambient.mesh.gateway_api_crds"
INFO = "ambient.mesh.mesh_info"
V151 = {"version": "v1.5.1", "src": str(GATEWAY_V151)}
CRD = "customresourcedefinitions.apiextensions.k8s.io"


@pytest.fixture(autouse=True)
def own_answer_records(tmp_path, monkeypatch):
    """This test's records of the servers that answered (module_utils/_kube/answered.py): a free port may be one
    an earlier test's server answered on, which would make a dead server look like one in an outage."""
    monkeypatch.setenv("AMBIENT_MESH_CACHE_DIR", str(tmp_path / "answered"))


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dead_kubeconfig(m):
    m.port = free_port()
    path = m.tmp_path / "dead-kubeconfig"
    path.write_text("apiVersion: v1\nkind: Config\nclusters: [{name: x, cluster: {server: 'http://127.0.0.1:%d'}}]\n"
                    "users: [{name: x, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: x, user: x}}]\n"
                    "current-context: x\n" % m.port)
    m.playbook.kubeconfig = str(path)


def no_retries_and_fast(m, failed):
    assert "connection refused to http://127.0.0.1:%d" % m.port in failed["msg"]
    assert failed["retries"]["count"] == 0


def permission_named(m, failed):
    assert "verbs: [\"patch\"]" in failed["msg"] and "run again to" not in failed["msg"]
    names = [e["name"] for e in m.cluster.requests(m.mark_403, "patch")]
    assert names and len(names) < 2 * len(set(names)), names  # a 403 is not retried


def arm_403(m):
    m.mark_403 = m.cluster.mark()
    m.cluster.fail("patch", CRD, status=403, times=100)


REFUSED = [
    Case("api-server-never-answered", INFO, {"request_budget": 60}, [
        "cannot reach the Kubernetes API server: connection refused to http://127.0.0.1:",
        "it has never answered from this host, so this was not retried"], setup=dead_kubeconfig),
    Case("kubeconfig-missing", INFO, lambda m: {"kubeconfig": str(m.tmp_path / "no" / "kubeconfig")},
         # the path, split so that Ansible does not mask it (kubernetes.core declares kubeconfig no_log)
         ["kubeconfig kubeconfig in ", "/no/ does not exist (the kubeconfig option): give the path of a kubeconfig"]),
    Case("forbidden-write", CRDS, V151, [
        'permission denied: user test may not patch customresourcedefinitions (API group "apiextensions.k8s.io") at '
        "the cluster scope", "so none was changed"], setup=arm_403, then=permission_named, changed=False),
]


@pytest.mark.parametrize("case", REFUSED, ids=lambda c: c.id)
def test_refused_before_any_change(matrix, case):
    start = time.monotonic()
    failed = matrix.check(case)
    # never the 60 s request budget: ansible-playbook's own start-up is most of this
    assert time.monotonic() - start < 20
    if case.id == "api-server-never-answered":
        no_retries_and_fast(matrix, failed)


def outage_after(n, seconds):
    return lambda m: m.cluster.fail("patch", CRD, dry_run=False, after=n, outage=seconds)


def wait_for_the_server(m):
    deadline = time.monotonic() + 30
    while m.cluster.api.outage_until is not None and time.monotonic() < deadline:
        time.sleep(0.2)


def cut_mid_batch(m, failed):
    # what was written is reported, grouped, capped, with the retries taken
    assert failed["changed"] is True and 1 <= len(failed["done"]) <= 3, failed["done"]
    [group] = failed["errors"]
    assert group["error"] == "connection refused to %s" % m.cluster.url, group
    assert group["count"] == len(failed["failed_objects"]) and group["count"] + len(failed["done"]) == 10  # the v1.5.1 standard bundle
    assert failed["msg"].count("connection refused") == 1 and len(failed["msg"]) < 4000
    assert "run the task again once the API server answers" in failed["msg"]
    assert failed["retries"]["by_reason"].get("connection refused", 0) >= 1, failed["retries"]


FAULTS = [
    Case("outage-mid-batch", CRDS, dict(V151, request_budget=3), ["writes failed", "objects written before the failure"],
         setup=outage_after(2, 8), expect="converges", changed=True, fix=wait_for_the_server, then=cut_mid_batch),
]


@pytest.mark.parametrize("case", FAULTS, ids=lambda c: c.id)
def test_fault_then_a_rerun_converges(matrix, case):
    start = time.monotonic()
    matrix.check(case)
    assert time.monotonic() - start < 90


def test_retries_and_waits_are_in_every_result(cluster, playbook):
    cluster.fail("list", "namespaces", status=503, times=2)
    info = playbook.run(INFO)
    assert info["retries"]["by_reason"] == {"503": 2} and info["retries"]["count"] == 2
    assert info["waits"] == []
    cluster.api.hold_crd_establishment = True  # the wait for Established runs out, and says how it went
    crds = playbook.run(CRDS, dict(V151, wait_timeout=2), fails="timed out after 2s")
    assert crds["retries"]["count"] == 0
    waits = [w for w in crds["waits"] if "Established" in w["what"]]
    assert waits and all(w["met"] is False and w["seconds"] >= 2 and w["polls"] >= 2 for w in waits), crds["waits"]
