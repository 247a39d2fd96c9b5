"""The canary role through ansible-playbook on the lab's helloworld (v1 -> v2) and curl client (Istio's samples),
with a waypoint bound to hello and the simulated data plane answering the probes."""

import copy
import json
import time

import pytest
import yaml

from builders import ambient_namespace
from conftest import DATA, GATEWAY_V151, ISTIO_CRDS, interrupt_role, run_role, seed_istio

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


def deploy_lab(cluster, playbook, v2_error_rate=None):
    """helloworld v1 and v2 (namespace hello, a waypoint bound) and the curl client (namespace test), from Istio's
    samples as playbooks/lab.yml deploys them; v2_error_rate sets the simulated app's test-only error-rate
    annotation on helloworld-v2's pod template (embedded_cluster/apiserver/dataplane/apps.py)."""
    cluster.load_crds(GATEWAY_V151, ISTIO_CRDS)
    seed_istio(cluster)
    for ns in ("hello", "test"):
        cluster.put(ambient_namespace(ns))
    for obj in samples("helloworld", "hello") + samples("curl", "test"):
        if v2_error_rate is not None and obj["kind"] == "Deployment" and obj["metadata"]["name"] == "helloworld-v2":
            obj = copy.deepcopy(obj)
            obj["spec"]["template"]["metadata"].setdefault("annotations", {})["dataplane.test/error-rate"] = v2_error_rate
        cluster.put(obj)
    playbook.run("ambient.mesh.waypoint", {"waypoints": [{"namespace": "hello", "enroll_namespace": True}],
                                           "wait_timeout": 30})
    for version in ("v1", "v2"):
        ready_pods(cluster, "hello", {"app": "helloworld", "version": version})
    ready_pods(cluster, "test", {"app": "curl"})
    return cluster


@pytest.fixture
def lab(cluster, playbook):
    return deploy_lab(cluster, playbook)


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


def route_writes(cluster, mark):
    return [w for w in cluster.writes(mark) if w["resource"] == "httproutes.gateway.networking.k8s.io"]


def probes(cluster, mark):
    """The probes since mark: each is one exec in the client pod."""
    return [e for e in cluster.requests(mark, resource="pods") if e.get("subresource") == "exec"]


def reports(playbook, suffix):
    return sorted((playbook.workdir / "reports").glob(f"canary-hello_helloworld-*.{suffix}"))


def last_report(playbook):
    return json.loads(reports(playbook, "json")[-1].read_text(encoding="utf-8"))


def test_a_canary_reaches_100_with_every_step_measured_within_bounds_and_a_rerun_changes_nothing(lab, playbook):
    mark = lab.mark()
    planned = canary(playbook, check=True)
    assert lab.writes(mark) == [] and not (playbook.workdir / "reports").exists()
    assert "step 1 of 4 would set the weights v1 - -> 95, v2 - -> 5" in planned.stdout, planned.stdout[-3000:]
    assert "step 4 of 4 would set the weights v1 50 -> 0, v2 50 -> 100" in planned.stdout

    mark = lab.mark()
    result = canary(playbook)
    assert weights(lab) == {"helloworld-v1": 0, "helloworld-v2": 100}
    # one route write per step (the per-version Services come with the first)
    assert len(route_writes(lab, mark)) == 4, route_writes(lab, mark)
    record = last_report(playbook)
    assert record["outcome"] == "promoted"
    assert [(s["step"], s["label"], s["asked"]) for s in record["steps"]] == [
        (1, "5%", {"v1": 95, "v2": 5}), (2, "25%", {"v1": 75, "v2": 25}), (3, "50%", {"v1": 50, "v2": 50}),
        (4, "100%", {"v1": 0, "v2": 100})]
    for step in record["steps"]:
        assert step["passed"] and step["requests"] == 200 and step["error_rate"] == 0.0
        assert {g["name"]: g["passed"] for g in step["gates"]} == {"shares": True, "latency": True, "error_rate": True}
        asked = step["asked"]["v2"] / 100
        assert abs(step["measured"].get("v2", 0.0) - asked) <= 0.1, step["measured"]
        assert sum(step["counts"].values()) == 200 and step["latency"]["p95"] <= 1.0
    html = reports(playbook, "html")[-1].read_text(encoding="utf-8")
    assert "<svg" in html and "</svg>" in html
    assert "report: " + str(reports(playbook, "html")[-1]) in result.stdout

    mark = lab.mark()
    again = canary(playbook)
    assert again.changed == 0 and lab.writes(mark) == [], again.stdout[-3000:]
    assert "the canary is already promoted, nothing to do" in again.stdout
    assert probes(lab, mark) == []  # production is not probed when there is nothing left to do
    assert len(reports(playbook, "json")) == 1  # nothing measured, nothing reported
    checked = canary(playbook, check=True)
    assert checked.changed == 0 and lab.writes(mark) == []


def test_a_canary_whose_v2_answers_errors_is_rolled_back_at_the_first_step(cluster, playbook):
    lab = deploy_lab(cluster, playbook, v2_error_rate="0.5")
    mark = lab.mark()
    result = canary(playbook, fails=["failed at step 1 of 4 (5% to v2)", "gate error_rate - error rate: expected at most 1%",
                                     "Rolled back: all traffic to v1, measured {'v1': 1.0} ({'v1': 200} of 200"])
    assert weights(lab) == {"helloworld-v1": 100, "helloworld-v2": 0}
    assert len(route_writes(lab, mark)) == 2  # step 1, then the rollback
    assert "step 2 (25% to v2): measured" not in result.stdout
    record = last_report(playbook)
    assert record["outcome"] == "rolled_back"
    first, rollback = record["steps"]
    assert first["label"] == "5%" and not first["passed"] and first["error_rate"] > 0.01
    assert "error_rate" in [g["name"] for g in first["gates"] if not g["passed"]]
    assert first["details"]["status_codes"]["500"] > 0
    assert rollback["label"] == "rollback" and rollback["passed"] and rollback["measured"] == {"v1": 1.0}
    assert rollback["counts"] == {"v1": 200} and rollback["error_rate"] == 0.0


def interrupted(playbook, cluster, canary_percent, **extra):
    """The role, sent SIGINT (Ctrl-C) as soon as the route gives the canary `canary_percent` (that step's write
    is done, its probe runs); returns (exit code, output)."""
    def reached():
        return cluster.get(*HTTPROUTE, "helloworld", "hello") is not None \
            and weights(cluster).get("helloworld-v2") == canary_percent
    return interrupt_role(playbook, ROLE, variables(playbook, **extra), until=reached)


def test_an_interrupted_canary_resumes_from_the_routes_weights(lab, playbook):
    code, output = interrupted(playbook, lab, 25)
    assert code != 0 and "step 3 (50% to v2): measured" not in output, output[-3000:]
    assert weights(lab) == {"helloworld-v1": 75, "helloworld-v2": 25}

    mark = lab.mark()
    result = canary(playbook)
    assert "the route helloworld sends 25.0% to v2" in result.stdout and "resuming at [25, 50, 100]" in result.stdout
    assert "step 1 (5% to v2): measured" not in result.stdout
    assert len(route_writes(lab, mark)) == 2  # 50 and 100; 25 is in place already and measured again
    assert weights(lab) == {"helloworld-v1": 0, "helloworld-v2": 100}
    record = last_report(playbook)
    assert record["outcome"] == "promoted"
    assert [(s["step"], s["label"], s["passed"]) for s in record["steps"]] == [(2, "25%", True), (3, "50%", True),
                                                                             (4, "100%", True)]


def test_rollback_after_an_interrupted_canary(lab, playbook):
    code, output = interrupted(playbook, lab, 25)
    assert code != 0, output[-3000:]
    mark = lab.mark()
    result = canary(playbook, canary_action="rollback")
    assert "rolling back to v1" in result.stdout and "% to v2): measured" not in result.stdout
    assert weights(lab) == {"helloworld-v1": 100, "helloworld-v2": 0}
    assert len(route_writes(lab, mark)) == 1
    record = last_report(playbook)
    assert record["outcome"] == "rolled_back"
    assert [(s["label"], s["measured"], s["passed"]) for s in record["steps"]] == [("rollback", {"v1": 1.0}, True)]


def test_a_failing_check_of_your_own_rolls_back_and_a_collapsed_promotion_keeps_one_backend(lab, playbook):
    checks = playbook.workdir / "checks.yml"
    # the user's smoke test: the canary's share measured at this step must stay under 20%
    checks.write_text(yaml.safe_dump([{"name": "the canary's share stays under 20%", "ansible.builtin.assert": {
        "that": ["canary_probe_result.shares.get('v2', 0) < 0.2"], "fail_msg": "v2 takes too much"}}]), encoding="utf-8")
    mark = lab.mark()
    canary(playbook, canary_checks_file=str(checks), fails=["failed at step 2 of 4 (25% to v2)", "gate checks"])
    assert weights(lab) == {"helloworld-v1": 100, "helloworld-v2": 0}
    assert len(route_writes(lab, mark)) == 3  # steps 1 and 2, then the rollback
    record = last_report(playbook)
    assert record["outcome"] == "rolled_back"
    assert [g["name"] for g in record["steps"][1]["gates"] if not g["passed"]] == ["checks"]

    canary(playbook, canary_promote="collapse")
    route = lab.get(*HTTPROUTE, "helloworld", "hello")
    assert [ref["name"] for rule in route["spec"]["rules"] for ref in rule["backendRefs"]] == ["helloworld-v2"]
    mark = lab.mark()
    again = canary(playbook, canary_promote="collapse")
    assert again.changed == 0 and lab.writes(mark) == []



def test_a_promoted_canary_probes_production_again_only_when_asked(lab, playbook):
    quick = {"url": HELLO, "requests": 50}
    canary(playbook, canary_steps=[100], canary_probe=quick)
    assert weights(lab) == {"helloworld-v1": 0, "helloworld-v2": 100}
    mark = lab.mark()
    again = canary(playbook, canary_steps=[100], canary_probe=quick)
    assert again.changed == 0 and lab.writes(mark) == [] and probes(lab, mark) == [], again.stdout[-3000:]
    assert len(reports(playbook, "json")) == 1

    # asked for, it measures production once more at the route's weights and reports it, writing nothing
    measured = canary(playbook, canary_steps=[100], canary_probe=quick, canary_probe_when_done=True)
    assert lab.writes(mark) == [] and len(probes(lab, mark)) == 1, measured.stdout[-3000:]
    assert measured.changed == 1  # the report, on the controller
    assert len(reports(playbook, "json")) == 2
    record = last_report(playbook)
    assert record["outcome"] == "promoted"
    (done,) = record["steps"]
    assert done["label"] == "promoted" and done["asked"] == {"v1": 0, "v2": 100} and done["measured"] == {"v2": 1.0}
    assert done["passed"] and done["counts"] == {"v2": 50}


def test_without_an_approval_the_canary_stops_before_100_and_a_later_run_promotes(lab, playbook):
    quick = {"url": HELLO, "requests": 50}
    mark = lab.mark()
    # ansible-playbook without a terminal: pause cannot ask, so nobody typed "promote" - the role must stop there
    stopped = canary(playbook, canary_steps=[50, 100], canary_approval=True, canary_pause=1, canary_probe=quick)
    assert weights(lab) == {"helloworld-v1": 50, "helloworld-v2": 50}
    assert len(route_writes(lab, mark)) == 1, route_writes(lab, mark)
    assert "step 2 (100% to v2): measured" not in stopped.stdout
    assert "Pausing for 1 seconds" in stopped.stdout  # canary_pause, between step 1 and step 2
    record = last_report(playbook)
    assert record["outcome"] == "awaiting_approval"
    assert [(s["label"], s["passed"]) for s in record["steps"]] == [("50%", True)]

    # without the approval asked for, the next run resumes at 50 (measured again, no pause) and promotes
    mark = lab.mark()
    promoted = canary(playbook, canary_steps=[50, 100], canary_probe=quick)
    assert "Pausing for" not in promoted.stdout
    assert weights(lab) == {"helloworld-v1": 0, "helloworld-v2": 100}
    assert len(route_writes(lab, mark)) == 1  # 50 is in place already and measured again
    record = last_report(playbook)
    assert record["outcome"] == "promoted"
    assert [(s["label"], s["passed"]) for s in record["steps"]] == [("50%", True), ("100%", True)]
