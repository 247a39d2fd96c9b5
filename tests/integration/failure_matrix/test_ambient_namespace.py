"""ambient_namespace in the fault and bad-input matrix (issue 11 items 2, 3, 9, 10): bad inputs and bad references
refused before any write, naming what to fix; faults part way that fail with changed: true and what was written,
and that a re-run finishes (restarts included, each once)."""

import time

import pytest

from builders import namespace, waypoint
from conftest import GATEWAY_V151, seed_istio
from failure_matrix.conftest import Case

pytestmark = pytest.mark.integration
NS = "ambient.mesh.ambient_namespace"
PENDING = "ambient.mesh/restart-pending"
TEAMS = ["team-%02d" % i for i in range(20)]


def deployment(ns, name="web"):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": name}]}}}}


def lab(m, ready=True, gateway_api=True):
    """Istio's data plane, Gateway API with a waypoint in hello, and the namespaces hello, legacy (sidecars)."""
    seed_istio(m.cluster, ready=ready)
    m.cluster.put(namespace("hello"))
    m.cluster.put(namespace("legacy", **{"istio-injection": "enabled"}))
    if gateway_api:
        m.cluster.load_crds(GATEWAY_V151)
        m.cluster.put(waypoint("hello"))


def one(**item):
    return {"namespaces": [dict({"name": "hello"}, **item)]}


REFUSED = [
    Case("uppercase-name", NS, {"namespaces": [{"name": "Hello"}]},
         ["item 0: 'Hello' is not a namespace name: it has uppercase letters", "DNS-1123 label", "use 'hello'"], setup=lab),
    # issue 28: a namespace this task creates was said "not to exist"
    Case("waypoint-namespace-created-by-the-same-task", NS,
         {"namespaces": [{"name": "shared", "create": True},
                         {"name": "hello", "use_waypoint": "waypoint", "use_waypoint_namespace": "shared"}]},
         ["namespace shared is created by this task, so it holds no waypoint yet",
          "set allow_missing_waypoint: true here"], setup=lab),
    Case("listed-twice", NS, {"namespaces": [{"name": "hello"}, {"name": "hello"}]}, "namespace hello is listed twice",
         setup=lab),
    Case("namespace-missing", NS, {"namespaces": [{"name": "nowhere"}]},
         "namespaces nowhere do not exist: create them first or set create: true", setup=lab),
    Case("waypoint-namespace-without-waypoint", NS, one(use_waypoint_namespace="shared"),
         "use_waypoint_namespace needs use_waypoint", setup=lab),
    Case("dataplane-mode-choice", NS, one(dataplane_mode="sidecar"), "dataplane_mode must be one of: ambient, none",
         setup=lab),
    Case("waypoint-with-dataplane-mode-none", NS, one(dataplane_mode="none", use_waypoint="waypoint"),
         "namespace hello: use_waypoint waypoint with dataplane_mode none would do nothing", setup=lab, no_istioctl=True),
    Case("state-choice", NS, one(state="gone"), "state must be one of: present, absent", setup=lab),
    Case("unknown-key", NS, one(waypoint="waypoint"),
         ["Unsupported parameters for (ambient.mesh.ambient_namespace) module: namespaces.waypoint",
          "Supported parameters include: create, dataplane_mode, name, state, use_waypoint"], setup=lab),
    Case("bad-waypoint-label-value", NS, one(use_waypoint="my waypoint"), "use_waypoint 'my waypoint' is not a valid label value",
         setup=lab),
    Case("waypoint-missing", NS, one(use_waypoint="waypiont"), [
        "use_waypoint waypiont of hello: there is no waypoint (Gateway) hello/waypiont",
        "or set allow_missing_waypoint: true when a later task of this play deploys it"], setup=lab),
    Case("waypoint-in-another-namespace-missing", NS,
         {"namespaces": [{"name": "hello", "use_waypoint": "waypoint", "use_waypoint_namespace": "shared"},
                         {"name": "legacy", "use_waypoint": "none"}], "migrate_sidecars": True},
         "use_waypoint_namespace shared of hello: namespace shared does not exist", setup=lab),
    Case("waypoint-without-gateway-api", NS, one(use_waypoint="waypoint"),
         "no waypoint can exist, the Gateway API CRDs are not installed", setup=lambda m: lab(m, gateway_api=False)),
    # ansible-core alone says "dictionary requested, could not parse JSON or key=value", naming no option
    Case("list-of-namespaces-given-as-a-string", NS, {"namespaces": "hello"},
         ["namespaces", "a list of mappings is written as YAML items"], setup=lab),
    Case("sidecars-without-migrate", NS, {"namespaces": [{"name": "legacy"}]},
         "namespaces legacy use sidecar injection", setup=lab),
    Case("dataplane-not-ready", NS, one(), "ztunnel istio-system/ztunnel has 0/3 pods ready",
         setup=lambda m: lab(m, ready=False)),
]


@pytest.mark.parametrize("case", REFUSED, ids=lambda c: c.id)
def test_bad_input_refused_before_any_change(matrix, case):
    matrix.check(case)


def test_forbidden_names_the_permission_and_changes_nothing(cluster, playbook):
    """A 403 on every namespace write: each answered request was refused, so nothing changed (changed: false),
    the message names the permission (kube-apiserver names the namespace in it, so one group each) and says
    running again will not help."""
    seed_istio(cluster)
    cluster.put(namespace("hello"))
    cluster.put(namespace("test"))
    cluster.fail("patch", "namespaces", status=403, times=100)
    failed = playbook.run(NS, {"namespaces": [{"name": "hello"}, {"name": "test"}]},
                          fails="permission denied: user test may not patch namespaces")
    assert failed["changed"] is False and failed["namespaces"] == [] and failed["restart_pending"] == []
    assert "fix the cause above first" in failed["msg"] and "run the task again" not in failed["msg"]
    assert sorted(o for g in failed["errors"] for o in g["objects"]) == ["hello", "test"]
    assert all("istio.io/dataplane-mode" not in (n["metadata"].get("labels") or {}) for n in cluster.list("v1", "Namespace"))


def teams(m, sidecars=False):
    seed_istio(m.cluster)
    for name in TEAMS:
        m.cluster.put(namespace(name, **({"istio-injection": "enabled"} if sidecars else {})))
        m.cluster.put(deployment(name))
    m.before = {d["metadata"]["namespace"]: d["metadata"]["generation"] for d in m.cluster.list("apps/v1", "Deployment")
                if d["metadata"]["namespace"] in TEAMS}


def outage(resource, after, seconds=6):
    def setup(m):
        teams(m, sidecars=True)
        m.cluster.fail("patch", resource, dry_run=False, after=after, outage=seconds)
    return setup


def wait_for_the_server(m):
    deadline = time.monotonic() + 30
    while m.cluster.api.outage_until is not None and time.monotonic() < deadline:
        time.sleep(0.2)


def restarted_once(m, failed):
    """Over the failed run and the re-runs: every workload restarted exactly once, no marker left."""
    after = {d["metadata"]["namespace"]: d["metadata"]["generation"] for d in m.cluster.list("apps/v1", "Deployment")
             if d["metadata"]["namespace"] in TEAMS}
    assert {n: after[n] - m.before[n] for n in TEAMS} == {n: 1 for n in TEAMS}
    assert [n["metadata"]["name"] for n in m.cluster.list("v1", "Namespace")
            if PENDING in (n["metadata"].get("annotations") or {})] == []
    assert failed["changed"] is True and failed["namespaces"] and failed["restart_pending"]


def counts_add_up(failed):
    """The message's numbers agree with each other and with the result: the failed and the written add up to the
    namespaces labelled (a migration cut after its first step counts as failed, and is said to be written in part)."""
    import re

    failing, total = (int(n) for n in re.search(r"labelling (\d+) of (\d+) namespaces failed", failed["msg"]).groups())
    written = re.search(r"(\d+) objects? written before the failure stay", failed["msg"])
    written = int(written.group(1)) if written else 0
    # the result's `failed` is ansible-core's flag, so the failed refs are read from the grouped `errors`
    failed_refs = set(ref for g in failed["errors"] for ref in g["objects"])
    assert failing == sum(g["count"] for g in failed["errors"]) == len(failed_refs), failed["errors"]
    assert failing + written == total, failed["msg"]
    part = set(failed["done"]) & failed_refs
    assert written == len(set(failed["done"]) - failed_refs)
    if part:
        assert "%d of the failed objects had been written in part" % len(part) in failed["msg"] or (
            len(part) == 1 and "1 of the failed object had been written in part" in failed["msg"]), failed["msg"]


def wrote_before_the_outage(m, failed):
    counts_add_up(failed)
    restarted_once(m, failed)
    # a sidecar migration cut part way is reported with the labels it had reached
    assert all(n["labels"]["before"] == {"istio-injection": "enabled"} for n in failed["namespaces"])
    assert failed["restarted"] == [] and "labelling" in failed["msg"]


def stuck(m):
    teams(m)
    m.cluster.set_readiness("Deployment", "team-03", "web", None)


def unstick(m):
    m.cluster.set_readiness("Deployment", "team-03", "web", 0)


def waited_after_writing(m, failed):
    assert failed["changed"] is True and len(failed["namespaces"]) == len(TEAMS)
    assert len(failed["restarted"]) == len(TEAMS) and failed["restart_pending"] == []
    restarted_once(m, dict(failed, restart_pending=["not owed: the restarts were done"]))


MIGRATE = {"namespaces": [{"name": n} for n in TEAMS], "migrate_sidecars": True, "restart_workloads": True,
           "request_budget": 2}
FAULTS = [
    Case("outage-mid-labelling", NS, MIGRATE, ["labelling", "run the task again once the API server answers"],
         setup=outage("namespaces", after=25), expect="converges", changed=True, fix=wait_for_the_server,
         then=wrote_before_the_outage),
    Case("outage-mid-restarts", NS, MIGRATE, ["restarting", "run the task again once the API server answers"],
         setup=outage("deployments.apps", after=7), expect="converges", changed=True, fix=wait_for_the_server,
         then=restarted_once),
    Case("rollout-never-finishes", NS, {"namespaces": [{"name": n} for n in TEAMS], "restart_workloads": True,
                                        "wait_for_rollout": True, "wait_timeout": 2},
         "Deployment team-03/web (0/1 updated and ready)", setup=stuck, expect="converges", changed=True, fix=unstick,
         then=waited_after_writing),
]


@pytest.mark.parametrize("case", FAULTS, ids=lambda c: c.id)
def test_fault_then_a_rerun_converges(matrix, case):
    matrix.check(case)
