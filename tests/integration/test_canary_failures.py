"""The canary role under failure (issue 28): an API server that refuses the route writes in the middle of a canary,
so that the rollback fails too; a rollback whose proving probe fails; a report directory that cannot be written;
variables that break several rules. Each run must say where traffic stands and never move it before a check
that could have failed first."""

import time

import pytest
import yaml

from conftest import PlayResult, expect_outcome, run_playbook
from test_canary_role import (HELLO, HTTPROUTE, ROLE, canary, deploy_lab, last_report, ready_pods, reports, route_writes,
                              weights)

pytestmark = pytest.mark.integration
ROUTES = "httproutes.gateway.networking.k8s.io"


@pytest.fixture
def lab(cluster, playbook):
    return deploy_lab(cluster, playbook)


def execs(cluster, mark):
    """The probes run since mark: each is one exec in the client pod."""
    return [e for e in cluster.requests(mark, resource="pods") if e.get("subresource") == "exec"]


def canary_with_budget(playbook, budget, fails=None, **extra):
    """The role as run_role runs it, with the collection's modules giving up on a refused request after `budget`
    seconds of retries (request_budget), so that an API server that keeps answering 503 fails a task quickly."""
    variables = {"canary_service": "helloworld", "canary_namespace": "hello",
                 "canary_probe": {"url": HELLO, "requests": 50},
                 "canary_report_dir": str(playbook.workdir / "reports"), "canary_wait_timeout": 30,
                 "canary_kubernetes_auth": {"kubeconfig": playbook.kubeconfig}}
    variables.update(extra)
    play = [{"hosts": "localhost", "gather_facts": False,
             "module_defaults": {"group/ambient.mesh.k8s": {"kubeconfig": playbook.kubeconfig, "request_budget": budget}},
             "roles": [{"role": ROLE, "vars": variables}]}]
    book = playbook.workdir / "canary-budget.yml"
    book.write_text(yaml.safe_dump(play), encoding="utf-8")
    result = PlayResult(run_playbook(book))
    expect_outcome(result.failed, result.stdout + result.stderr, fails, "canary role", result.stdout + result.stderr)
    return result


OUTAGE = 20  # seconds: the outage, inside the default request budget (60 s)


def test_an_outage_between_two_steps_is_ridden_out_and_the_promotion_scales_the_stable_version_down(lab, playbook):
    """Issue 28, item 1, at the canary's scale: the API server goes down for 20 s right after step 1's checks (the
    embedded server's fault endpoint, from the user's checks file); step 2's route write rides it out and the canary
    promotes, with canary_promote=scale_down_stable scaling helloworld-v1 to 0 through the scale subresource."""
    checks = playbook.workdir / "outage.yml"
    checks.write_text(yaml.safe_dump([{
        "name": "the API server goes down for %d s" % OUTAGE, "when": "canary_percent | int == 50",
        "ansible.builtin.uri": {"url": lab.url + "/debug/faults", "method": "POST", "body_format": "json",
                                "body": {"outage": OUTAGE}}}]), encoding="utf-8")
    quick = {"url": HELLO, "requests": 50}
    start = time.monotonic()
    result = canary(playbook, canary_steps=[50, 100], canary_probe=quick, canary_checks_file=str(checks),
                    canary_promote="scale_down_stable")
    assert time.monotonic() - start >= OUTAGE
    assert "riding out the outage" in result.stdout + result.stderr, result.stderr[-3000:]
    assert weights(lab) == {"helloworld-v1": 0, "helloworld-v2": 100}
    assert lab.get("apps/v1", "Deployment", "helloworld-v1", "hello")["spec"]["replicas"] == 0
    assert lab.get("apps/v1", "Deployment", "helloworld-v2", "hello")["spec"]["replicas"] == 1
    deadline = time.monotonic() + 30
    while [p for p in lab.list("v1", "Pod", "hello") if p["metadata"]["labels"].get("version") == "v1"]:
        assert time.monotonic() < deadline, "helloworld-v1's pod is still there"
        time.sleep(0.2)
    ready_pods(lab, "hello", {"app": "helloworld", "version": "v2"})
    record = last_report(playbook)
    assert record["outcome"] == "promoted"
    assert [(s["label"], s["passed"]) for s in record["steps"]] == [("50%", True), ("100%", True)]

    mark = lab.mark()
    again = canary(playbook, canary_steps=[50, 100], canary_probe=quick, canary_promote="scale_down_stable")
    assert again.changed == 0 and lab.writes(mark) == [], again.stdout[-3000:]


def test_route_writes_refused_after_step_1_leave_a_report_and_say_traffic_is_still_split(lab, playbook):
    # step 1's write goes through, then every real write of the route gets 503: step 2 fails, so does the rollback
    lab.fail("patch", ROUTES, status=503, times=10000, dry_run=False, after=1)
    mark = lab.mark()
    result = canary_with_budget(playbook, 2, fails=[
        "could not finish: step 2 of 4 (25% to v2) failed",
        'then the rollback failed at "Roll back - all traffic to v1"',
        "TRAFFIC IS STILL SPLIT: the route hello/helloworld sends helloworld-v1 95, helloworld-v2 5 (5% to v2), as "
        "read after the failure",
        "run the same playbook again with -e canary_action=rollback"])
    assert weights(lab) == {"helloworld-v1": 95, "helloworld-v2": 5}
    written = [w for w in route_writes(lab, mark) if "injected" not in w]
    refused = [w for w in route_writes(lab, mark) if w.get("injected") == 503]
    assert len(written) == 1 and refused, route_writes(lab, mark)  # step 1; step 2 and the rollback refused
    # the report is written with what was measured, and named in the message
    record = last_report(playbook)
    assert record["outcome"] == "unfinished"
    assert [(s["step"], s["label"], s["passed"]) for s in record["steps"]] == [(1, "5%", True)]
    assert record["details"]["unfinished"]["task"] == "Roll back - all traffic to v1"
    assert "Report: " + str(reports(playbook, "html")[-1]) in result.stdout

    # what the message says to run rolls back once the API server takes writes again
    lab._call(lab.api.faults.clear)
    canary(playbook, canary_action="rollback")
    assert weights(lab) == {"helloworld-v1": 100, "helloworld-v2": 0}


def test_a_rollback_whose_probe_fails_fails_the_run_as_unproven(lab, playbook):
    # the user's check at step 1 breaks v1 (its pods answer every request with 500, the simulated app's knob) and
    # fails the step: the rollback's write succeeds but its probe cannot see one response from v1
    checks = playbook.workdir / "checks.yml"
    auth = {"kubeconfig": playbook.kubeconfig}
    checks.write_text(yaml.safe_dump([
        {"name": "Find v1's pods", "kubernetes.core.k8s_info": dict(auth, kind="Pod", namespace="hello",
                                                                    label_selectors=["version=v1"]),
         "register": "v1_pods"},
        {"name": "Break v1", "kubernetes.core.k8s": dict(auth, state="patched", kind="Pod", namespace="hello",
                                                          name="{{ item.metadata.name }}", definition={
                                                              "metadata": {"annotations": {
                                                                  "dataplane.test/error-rate": "1.0"}}}),
         "loop": "{{ v1_pods.resources }}", "loop_control": {"label": "{{ item.metadata.name }}"}},
        {"name": "Fail the step", "ansible.builtin.fail": {"msg": "v1 was broken on purpose"}}]), encoding="utf-8")
    canary(playbook, canary_checks_file=str(checks), canary_probe={"url": HELLO, "requests": 50},
           fails=["the rollback of hello/helloworld is not proven", "no response named a backend"])
    assert weights(lab) == {"helloworld-v1": 100, "helloworld-v2": 0}
    record = last_report(playbook)
    assert record["outcome"] == "rollback_unproven"
    assert record["steps"][-1]["label"] == "rollback" and not record["steps"][-1]["passed"]


@pytest.mark.parametrize("action", ["run", "rollback"])
def test_a_report_directory_that_cannot_be_written_fails_before_traffic_moves(lab, playbook, action):
    blocked = playbook.workdir / "a-file"
    blocked.write_text("in the way", encoding="utf-8")
    mark = lab.mark()
    canary(playbook, canary_report_dir=str(blocked / "reports"), canary_action=action,
           fails=[f"canary_report_dir {blocked / 'reports'} cannot be written on the controller",
                  "nothing was changed in the cluster"])
    assert lab.writes(mark) == [] and execs(lab, mark) == []
    assert lab.get(*HTTPROUTE, "helloworld", "hello") is None


def test_the_variables_check_names_each_broken_rule(cluster, playbook):
    mark = cluster.mark()
    result = canary(playbook, canary_steps=[50, 25], canary_probe={"url": "helloworld.hello:5000/hello"},
                    canary_confidence=1.5, fails=["the canary's variables break 3 rule(s)"])
    text = result.stdout
    assert "canary_steps: ascending whole percents above 0 and at most 100, each once" in text and "[50, 25]" in text
    assert 'canary_probe.url: an http:// or https:// URL' in text and '"helloworld.hello:5000/hello"' in text
    assert "canary_confidence: between 0 and 1, for example 0.99 (given 1.5)" in text
    assert "canary_max_p95" not in text.split("break 3 rule(s)")[1].split("\n")[0]
    assert cluster.writes(mark) == []

