"""ambient_namespace through ansible-playbook against the test API server."""

import pytest

from builders import namespace, waypoint
from conftest import GATEWAY_V151, run_playbook, run_role, seed_istio

pytestmark = pytest.mark.integration
MODULE = "ambient.mesh.ambient_namespace"
PENDING = "ambient.mesh/restart-pending"


def dataplane(cluster, ztunnel_ready=True):
    """The ambient data plane as the install leaves it (all ready, or nothing ever ready)."""
    seed_istio(cluster, ready=ztunnel_ready)


def deployment(ns, name):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": name}]}}}}


def labels(cluster, name):
    """The namespace's labels, without the one the API server sets on every namespace."""
    found = cluster.get("v1", "Namespace", name)["metadata"].get("labels") or {}
    return {k: v for k, v in found.items() if k != "kubernetes.io/metadata.name"}


def restarted_at(cluster, ns, name, kind="Deployment"):
    obj = cluster.get("apps/v1", kind, name, ns)
    return (obj["spec"]["template"].get("metadata", {}).get("annotations") or {}).get("kubectl.kubernetes.io/restartedAt")


def with_waypoints(cluster, *namespaces):
    """Gateway API and a programmed waypoint named waypoint in each namespace."""
    cluster.load_crds(GATEWAY_V151)
    for ns in namespaces:
        cluster.put(waypoint(ns))


def test_four_step_idempotence_keeps_foreign_labels(cluster, playbook):
    dataplane(cluster)
    cluster.put(namespace("hello", team="payments"))
    with_waypoints(cluster, "hello")
    ns = cluster.get("v1", "Namespace", "hello")
    ns["metadata"]["annotations"] = {"owner": "someone"}
    cluster.put(ns)
    args = {"namespaces": [{"name": "hello", "use_waypoint": "waypoint"},
                           {"name": "test", "create": True}]}
    check = playbook.run(MODULE, args, check=True, diff=True)
    assert check["changed"] is True and not check.get("failed"), check.get("msg")
    assert labels(cluster, "hello") == {"team": "payments"} and cluster.get("v1", "Namespace", "test") is None
    assert check["diff"][0]["after"]["metadata"]["labels"]["istio.io/use-waypoint"] == "waypoint"

    run = playbook.run(MODULE, args)
    assert run["changed"] is True
    assert labels(cluster, "hello") == {"team": "payments", "istio.io/dataplane-mode": "ambient",
                                        "istio.io/use-waypoint": "waypoint"}
    assert cluster.get("v1", "Namespace", "hello")["metadata"]["annotations"] == {"owner": "someone"}
    assert labels(cluster, "test") == {"istio.io/dataplane-mode": "ambient"}

    mark = cluster.mark()
    assert playbook.run(MODULE, args, check=True)["changed"] is False
    assert playbook.run(MODULE, args)["changed"] is False
    assert cluster.writes(mark) == []

    gone = playbook.run(MODULE, {"namespaces": [{"name": "hello", "state": "absent"}]})
    assert gone["changed"] is True
    assert labels(cluster, "hello") == {"team": "payments"}
    assert cluster.get("v1", "Namespace", "hello")["metadata"]["annotations"] == {"owner": "someone"}


def test_enrollment_refused_while_ztunnel_is_not_ready(cluster, playbook):
    dataplane(cluster, ztunnel_ready=False)
    cluster.put(namespace("hello"))
    mark = cluster.mark()
    result = playbook.run(MODULE, {"namespaces": [{"name": "hello"}]}, fails="ztunnel istio-system/ztunnel has 0/3 pods ready")
    assert result["failed"] is True
    assert "ztunnel istio-system/ztunnel has 0/3 pods ready" in result["msg"]
    assert cluster.writes(mark) == []
    skipped = playbook.run(MODULE, {"namespaces": [{"name": "hello"}], "check_dataplane": False})
    assert skipped["changed"] is True


def test_sidecar_namespace_needs_migrate_then_migrates_in_order(cluster, playbook):
    dataplane(cluster)
    cluster.put(namespace("legacy", **{"istio-injection": "enabled", "team": "a"}))
    cluster.put(namespace("untouched", **{"istio-injection": "enabled"}))
    cluster.put(namespace("plain"))
    for ns, name in (("legacy", "web"), ("legacy", "api"), ("untouched", "other"), ("plain", "p")):
        cluster.put(deployment(ns, name))
    with_waypoints(cluster, "legacy")
    args = {"namespaces": [{"name": "legacy", "use_waypoint": "waypoint"}], "restart_workloads": True}
    mark = cluster.mark()
    refused = playbook.run(MODULE, args, fails="legacy")
    assert refused["failed"] is True and "legacy" in refused["msg"] and "migrate_sidecars: true" in refused["msg"]
    assert cluster.writes(mark) == []

    mark = cluster.mark()
    migrated = playbook.run(MODULE, dict(args, migrate_sidecars=True))
    assert migrated["changed"] is True, migrated.get("msg")
    ns_patches = [e["body"]["metadata"] for e in cluster.writes(mark) if e["resource"] == "namespaces"]
    # use-waypoint, then dataplane-mode, then injection removed with the restart marked pending, then
    # (after the restarts) the marker removed
    assert len(ns_patches) == 4 and ns_patches[2]["annotations"] == {PENDING: ns_patches[2]["annotations"][PENDING]}
    assert ns_patches[3] == {"annotations": {PENDING: None}} and migrated["restart_pending"] == []
    assert PENDING not in (cluster.get("v1", "Namespace", "legacy")["metadata"].get("annotations") or {})
    history = [o for o in migrated["namespaces"]]
    assert history[0]["steps"] == 3 and history[0]["capture_changed"] is True
    assert labels(cluster, "legacy") == {"team": "a", "istio.io/dataplane-mode": "ambient",
                                         "istio.io/use-waypoint": "waypoint"}
    assert sorted(migrated["restarted"]) == ["Deployment legacy/api", "Deployment legacy/web"]
    restarts = [e for e in cluster.writes(mark) if e["resource"] == "deployments.apps"]
    assert len(restarts) == 2
    assert restarted_at(cluster, "legacy", "web") and restarted_at(cluster, "untouched", "other") is None
    assert restarted_at(cluster, "plain", "p") is None

    mark = cluster.mark()
    again = playbook.run(MODULE, dict(args, migrate_sidecars=True))
    assert again["changed"] is False and again["restarted"] == [] and cluster.writes(mark) == []


def test_order_of_the_migration_steps(cluster, kubeconfig, tmp_path):
    """Each step lands before the next: read the three patches the server received."""
    dataplane(cluster)
    cluster.put(namespace("legacy", **{"istio.io/rev": "1-29-0"}))
    from conftest import Playbook
    mark = cluster.mark()
    Playbook(kubeconfig, tmp_path).run(MODULE, {"namespaces": [{"name": "legacy", "use_waypoint": "wp"}],
                                                "migrate_sidecars": True, "allow_missing_waypoint": True})
    patches = [e for e in cluster.writes(mark) if e["resource"] == "namespaces"]
    bodies = [p["body"]["metadata"]["labels"] for p in patches]
    assert bodies == [{"istio.io/use-waypoint": "wp"}, {"istio.io/dataplane-mode": "ambient"},
                      {"istio.io/rev": None}]


def test_restart_with_rollout_wait(cluster, playbook):
    dataplane(cluster)
    cluster.put(namespace("hello"))
    cluster.put(deployment("hello", "web"))
    cluster.put({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "hello"},
                 "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"spec": {"containers": [{"name": "a"}]}}}})
    result = playbook.run(MODULE, {"namespaces": [{"name": "hello"}], "restart_workloads": True,
                                   "wait_for_rollout": True, "wait_timeout": 10})
    assert not result.get("failed"), result.get("msg")
    assert sorted(result["restarted"]) == ["DaemonSet hello/agent", "Deployment hello/web"]
    cluster.set_readiness("Deployment", "hello", "web", None)
    stuck = playbook.run(MODULE, {"namespaces": [{"name": "hello", "state": "absent"}], "restart_workloads": True,
                                  "wait_for_rollout": True, "wait_timeout": 2}, fails="Deployment hello/web (0/1 updated and ready)")
    assert stuck["failed"] is True and "Deployment hello/web (0/1 updated and ready)" in stuck["msg"]


@pytest.mark.parametrize("args, fragment", [
    ({"namespaces": [{"name": "Bad_Name"}]}, "'Bad_Name' is not a namespace name"),
    ({"namespaces": [{"name": "a"}, {"name": "a"}]}, "namespace a is listed twice"),
    ({"namespaces": [{"name": "nowhere"}]}, "namespaces nowhere do not exist"),
    ({"namespaces": [{"name": "default", "use_waypoint_namespace": "x"}]}, "use_waypoint_namespace needs use_waypoint"),
    ({"namespaces": [{"name": "default", "dataplane_mode": "sidecar"}]}, "dataplane_mode must be one of"),
])
def test_bad_input_fails_before_any_change(cluster, playbook, args, fragment):
    dataplane(cluster)
    mark = cluster.mark()
    result = playbook.run(MODULE, args, fails=fragment)
    assert result["failed"] is True and fragment in result["msg"], result["msg"]
    assert cluster.writes(mark) == []


def pending(cluster, name):
    return (cluster.get("v1", "Namespace", name)["metadata"].get("annotations") or {}).get(PENDING)


def generation(cluster, ns, name="web"):
    return cluster.get("apps/v1", "Deployment", name, ns)["metadata"]["generation"]


def test_migration_without_restart_leaves_the_restart_owed_until_a_run_restarts_once(cluster, playbook):
    """Issue 11 item 2: migrate_sidecars without restart_workloads used to end in "success" with the pods keeping
    their sidecars, and no later run restarted them."""
    dataplane(cluster)
    cluster.put(namespace("legacy", **{"istio-injection": "enabled"}))
    cluster.put(namespace("plain"))
    cluster.put(deployment("legacy", "web"))
    cluster.put(deployment("plain", "web"))
    args = {"namespaces": [{"name": "legacy"}, {"name": "plain"}], "migrate_sidecars": True}
    first = playbook.run(MODULE, args)
    assert first["changed"] is True and first["restarted"] == [] and first["restart_pending"] == ["legacy"]
    assert any("legacy" in w and "restart_workloads: true" in w for w in first.get("warnings", [])), first.get("warnings")
    assert pending(cluster, "legacy") and pending(cluster, "plain") is None  # a plain enrollment owes no restart
    assert generation(cluster, "legacy") == 1

    # the labels are as asked now, yet the next run still knows the restart is owed
    mark = cluster.mark()
    again = playbook.run(MODULE, args, check=True)
    assert again["changed"] is False and again["restart_pending"] == ["legacy"] and cluster.writes(mark) == []
    check = playbook.run(MODULE, dict(args, restart_workloads=True), check=True)
    assert check["changed"] is True and check["restarted"] == ["Deployment legacy/web"] and cluster.writes(mark) == []

    done = playbook.run(MODULE, dict(args, restart_workloads=True))
    assert done["changed"] is True and done["restarted"] == ["Deployment legacy/web"] and done["restart_pending"] == []
    assert [n["name"] for n in done["namespaces"]] == ["legacy"]
    assert pending(cluster, "legacy") is None and generation(cluster, "legacy") == 2 and generation(cluster, "plain") == 1
    mark = cluster.mark()
    settled = playbook.run(MODULE, dict(args, restart_workloads=True))
    assert settled["changed"] is False and settled["restarted"] == [] and cluster.writes(mark) == []


def test_a_missing_waypoint_is_refused_unless_it_comes_later(cluster, playbook, kubeconfig, tmp_path):
    dataplane(cluster)
    cluster.put(namespace("httpbin"))
    cluster.put(namespace("hello"))
    with_waypoints(cluster, "hello")
    args = {"namespaces": [{"name": "httpbin", "use_waypoint": "waypoint"}, {"name": "hello", "use_waypoint": "waypoint"}]}
    mark = cluster.mark()
    refused = playbook.run(MODULE, args, fails="there is no waypoint (Gateway) httpbin/waypoint")
    assert refused["changed"] is False and cluster.writes(mark) == [] and "hello/waypoint" not in refused["msg"]
    # the waypoint of another namespace: it exists, and use_waypoint_namespace says where
    shared = playbook.run(MODULE, {"namespaces": [{"name": "httpbin", "use_waypoint": "waypoint",
                                                   "use_waypoint_namespace": "hello"}]})
    assert shared["changed"] is True
    later = playbook.run(MODULE, dict(args, allow_missing_waypoint=True))
    assert later["changed"] is True and labels(cluster, "httpbin")["istio.io/use-waypoint"] == "waypoint"
    # already written: a no-op run reads no Gateways and refuses nothing
    mark = cluster.mark()
    assert playbook.run(MODULE, args)["changed"] is False
    assert [e["resource"] for e in cluster.requests(mark)] == ["namespaces"]

    # the enroll role allows it when the waypoint role is in the same play, and only then
    cluster.put(namespace("fresh"))
    alone = run_role(kubeconfig, tmp_path, "ambient.mesh.enroll", {"enroll_namespaces": [
        {"name": "fresh", "use_waypoint": "waypoint"}], "enroll_wait_timeout": 10}, fails="fresh/waypoint")
    assert alone.failed and "allow_missing_waypoint" in alone.stdout
    book = tmp_path / "enroll-then-waypoint.yml"
    book.write_text(
        "- hosts: localhost\n  gather_facts: false\n  module_defaults:\n    group/ambient.mesh.k8s:\n"
        "      kubeconfig: %s\n  tasks:\n"
        "    - ansible.builtin.import_role: {name: ambient.mesh.enroll}\n"
        "      vars: {enroll_namespaces: [{name: fresh, use_waypoint: waypoint}], enroll_wait_timeout: 10}\n"
        "    - ansible.builtin.import_role: {name: ambient.mesh.waypoint}\n"
        "      vars: {waypoint_namespaces: [fresh], waypoint_wait_timeout: 20}\n" % kubeconfig)
    played = run_playbook(book)
    assert played.returncode == 0, played.stdout[-3000:]
    assert labels(cluster, "fresh")["istio.io/use-waypoint"] == "waypoint"
    assert cluster.get("gateway.networking.k8s.io/v1", "Gateway", "waypoint", "fresh") is not None
