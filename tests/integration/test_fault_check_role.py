"""The fault_check role through ansible-playbook on the lab's httpbin and curl client (Istio's samples), with the
simulated data plane: checks that pass, a check that fails, and a play interrupted during the probe."""

import datetime
import json
import pathlib
import time

import pytest
import yaml

from builders import ambient_namespace
from conftest import (CRDS, DATA, GATEWAY_V151, ISTIO_CRDS, PlayResult, expect_outcome, interrupt_role, run_playbook, run_role,
                      seed_istio)

pytestmark = pytest.mark.integration
ROLE = "ambient.mesh.fault_check"
VS = ("networking.istio.io/v1", "VirtualService")
HTTPBIN = "http://httpbin.httpbin.svc.cluster.local:8000"
DELAY = {"service": "httpbin", "namespace": "httpbin", "delay": {"fixed_delay": "3s", "percentage": 100},
         "tolerance": 0.5, "probe": {"url": f"{HTTPBIN}/status/200", "requests": 20}}
ABORT = {"service": "httpbin", "namespace": "httpbin", "abort": {"http_status": 500, "percentage": 100},
         "probe": {"url": f"{HTTPBIN}/status/200", "requests": 50}}
# resilience drills (issue 26): nothing injected; httpbin misbehaves on its own and the route answers for it
RETRY_DRILL = {"service": "httpbin", "namespace": "httpbin", "client": {"max_error_percentage": 0.8},
               "probe": {"url": f"{HTTPBIN}/status/200:0.8,503:0.2", "requests": 500}}
TIMEOUT_DRILL = {"service": "httpbin", "namespace": "httpbin", "client": {"status": [504], "latency": {"p99_max": 1.2}},
                 "probe": {"url": f"{HTTPBIN}/drip?delay=3&duration=0", "requests": 50}}


def samples(name, namespace):
    docs = yaml.safe_load_all((DATA / "istio-1.30.3" / "samples" / f"{name}.yaml").read_text(encoding="utf-8"))
    return [dict(d, metadata=dict(d["metadata"], namespace=namespace)) for d in docs if d]


def ready_pod(cluster, namespace, app, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        for pod in cluster.list("v1", "Pod", namespace):
            conditions = (pod.get("status") or {}).get("conditions") or []
            if pod["metadata"].get("labels", {}).get("app") == app and any(
                    c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                return pod
        assert time.monotonic() < deadline, f"no Ready {app} pod in {namespace}"
        time.sleep(0.1)


@pytest.fixture
def lab(cluster, playbook):
    return deploy_lab(cluster, playbook)


def deploy_lab(cluster, playbook):
    """httpbin (namespace httpbin, with a bound waypoint) and the curl client (namespace test), as playbooks/lab.yml
    deploys them, from Istio's samples; the simulated data plane answers the probe's exec."""
    cluster.load_crds(GATEWAY_V151, ISTIO_CRDS)
    seed_istio(cluster)
    for ns in ("httpbin", "test"):
        cluster.put(ambient_namespace(ns))
    for obj in samples("httpbin", "httpbin") + samples("curl", "test"):
        cluster.put(obj)
    playbook.run("ambient.mesh.waypoint", {"waypoints": [{"namespace": "httpbin", "enroll_namespace": True}],
                                           "wait_timeout": 30})
    ready_pod(cluster, "httpbin", "httpbin")
    ready_pod(cluster, "test", "curl")
    return cluster


def role(playbook, variables, **kwargs):
    return run_role(playbook.kubeconfig, playbook.workdir, ROLE, variables, **kwargs)


def faults(cluster):
    return [v["metadata"]["name"] for v in cluster.list(*VS, "httpbin")]


def test_the_labs_delay_and_abort_checks_pass_and_leave_nothing(lab, playbook):
    mark = lab.mark()
    result = role(playbook, {"fault_check_checks": [DELAY, ABORT]})
    # each check's injection and removal report changed: live traffic was disturbed while the fault was in force
    assert result.changed == 4, result.stdout[-3000:]
    assert "latency: measured p50 3.0" in result.stdout and "status 500 rate: expected 100" in result.stdout
    assert "baseline back" in result.stdout
    assert faults(lab) == []
    # each check: the fault applied (once by dry run in preflight, once for real), then deleted
    writes = [(w["verb"], w["name"]) for w in lab.writes(mark) if w["resource"] == "virtualservices.networking.istio.io"]
    assert writes == [("patch", "httpbin-fault"), ("delete", "httpbin-fault")] * 2

    record, page = the_report(playbook)
    assert (record["kind"], record["name"], record["outcome"]) == ("fault_check", "httpbin/httpbin", "passed")
    delay, abort = record["steps"]  # every check, in order
    assert (delay["label"], abort["label"]) == ("httpbin/httpbin delay 3s", "httpbin/httpbin abort 500 100%")
    assert delay["requests"] == 20 and 3.0 <= delay["latency"]["p50"] <= 3.5 and delay["error_rate"] == 0.0
    assert abort["requests"] == 50 and abort["error_rate"] == 1.0 and abort["details"]["status_codes"] == {"500": 50}
    assert [v["name"] for v in delay["verdicts"]] == ["latency"] and [v["name"] for v in abort["verdicts"]] == ["status_rate"]
    for step in (delay, abort):
        assert step["passed"] is True and [(g["name"], g["passed"]) for g in step["gates"]] == [("baseline back", True)]
        assert step["details"]["baseline"]["requests"] == 20
    # one chart panel per check, each with its error rate and latency
    for check in (1, 2):
        assert '<g id="check-%d-latency-p50">' % check in page and '<g id="check-%d-error-rate">' % check in page
    assert "httpbin/httpbin abort 500 100%" in result.stdout and "report: " in result.stdout  # the summary, printed


def the_report(playbook):
    """The one report of the run (JSON record, HTML page) in the default directory, beside the playbook."""
    records = sorted((pathlib.Path(playbook.workdir) / "reports").glob("fault_check-*.json"))
    assert len(records) == 1, records
    return (json.loads(records[0].read_text(encoding="utf-8")),
            records[0].with_suffix(".html").read_text(encoding="utf-8"))


def test_a_check_that_fails_removes_its_fault_before_failing(lab, playbook):
    impossible = dict(DELAY, tolerance=0.0001)  # the simulated hops add milliseconds to the 3 s
    result = role(playbook, {"fault_check_checks": [impossible, ABORT]}, fails=[
        "fault check of httpbin/httpbin failed (the fault has been removed)", "latency: measured p50 3.0",
        "expected at most 3.0001s"])
    assert faults(lab) == []
    assert "Remove the fault" in result.stdout and "Probe again - the baseline must be back" in result.stdout
    assert result.stdout.count("Inject the fault, with its expiry") == 1  # the second check never started
    record, _ = the_report(playbook)  # written all the same, with the check that ran
    assert record["outcome"] == "failed" and [s["passed"] for s in record["steps"]] == [False]
    assert "expected at most 3.0001s" in record["steps"][0]["details"]["failure"]


def test_a_fault_no_waypoint_would_apply_stops_the_role_before_any_change(lab, playbook):
    lab.put(ambient_namespace("bare"))
    for obj in samples("httpbin", "bare"):
        lab.put(obj)
    mark = lab.mark()
    role(playbook, {"fault_check_checks": [dict(DELAY, namespace="bare")]},
         fails="no waypoint serves Service bare/httpbin")
    assert lab.writes(mark) == []


def test_bad_variables_are_refused_by_preflight(lab, playbook):
    mark = lab.mark()
    role(playbook, {"fault_check_checks": [dict(DELAY, delay={"fixed_delay": "3s", "percentage": 30})]},
         fails="give delay.percentage above 50")
    role(playbook, {"fault_check_checks": [{"service": "httpbin", "namespace": "httpbin", "probe": {"url": HTTPBIN}}]},
         fails="each with a service, a namespace, a delay, an abort or client expectations")
    role(playbook, {"fault_check_checks": [dict(DELAY, client={"status": [504]})]},
         fails=["client expectations make it a resilience drill", "a fault injected at the waypoint never reaches",
                "Leave delay and abort out"])
    role(playbook, {"fault_check_checks": [dict(RETRY_DRILL, client={"max_errors": 1})]},
         fails="client takes status (a list), max_error_percentage and latency")
    role(playbook, {"fault_check_checks": [dict(RETRY_DRILL, client={"status": [], "latency": {"p99_max": None}})]},
         fails="at least one of them")
    assert lab.writes(mark) == []


def interrupted_run(playbook, cluster, variables):
    """The role, sent SIGINT (Ctrl-C) as soon as the fault VirtualService appears, i.e. while the probe runs;
    returns (exit code, output)."""
    return interrupt_role(playbook, ROLE, variables, timeout=120,
                          until=lambda: cluster.get(*VS, "httpbin-fault", "httpbin") is not None)


def test_an_interrupted_run_leaves_an_expiring_fault_that_mesh_info_reports_and_the_next_run_removes(lab, playbook):
    code, output = interrupted_run(playbook, lab, {"fault_check_checks": [DELAY], "fault_check_expires_after": "12s"})
    assert code != 0 and "Remove the fault" not in output, output[-3000:]
    left = lab.get(*VS, "httpbin-fault", "httpbin")
    assert left is not None, "the interrupt came too late: the play removed its fault"
    annotations = left["metadata"]["annotations"]
    assert annotations["ambient.mesh/expires-at"] > annotations["ambient.mesh/created-at"]

    before = playbook.run("ambient.mesh.mesh_info")
    assert [f["expired"] for f in before["fault_injections"] if f["name"] == "httpbin-fault"] == [False]
    assert "FAULT_EXPIRED" not in {f["code"] for f in before["findings"]}
    expires = datetime.datetime.strptime(annotations["ambient.mesh/expires-at"], "%Y-%m-%dT%H:%M:%SZ")
    time.sleep(max(0.0, (expires.replace(tzinfo=datetime.timezone.utc) - datetime.datetime.now(datetime.timezone.utc))
                   .total_seconds() + 1))
    after = playbook.run("ambient.mesh.mesh_info")
    assert [(f["code"], f["object"]) for f in after["findings"] if f["code"] == "FAULT_EXPIRED"] == [
        ("FAULT_EXPIRED", "VirtualService httpbin/httpbin-fault")]

    mark = lab.mark()
    result = role(playbook, {"fault_check_checks": [DELAY]})
    assert result.changed == 3, result.stdout[-3000:]  # the expired fault pruned; this run's injected and removed
    writes = [(w["verb"], w["name"]) for w in lab.writes(mark) if w["resource"] == "virtualservices.networking.istio.io"]
    assert writes == [("delete", "httpbin-fault"), ("patch", "httpbin-fault"), ("delete", "httpbin-fault")]
    assert faults(lab) == []
    assert [f["code"] for f in playbook.run("ambient.mesh.mesh_info")["findings"]] == []


VIRTUALSERVICES = "virtualservices.networking.istio.io"


def role_with_budget(playbook, variables, budget, fails=None):
    """The role with fault_injection's request budget cut to `budget` seconds (a failing removal gives up sooner)."""
    play = [{"hosts": "localhost", "gather_facts": False,
             "module_defaults": {"group/ambient.mesh.k8s": {"kubeconfig": playbook.kubeconfig},
                                 "ambient.mesh.fault_injection": {"request_budget": budget}},
             "roles": [{"role": ROLE, "vars": variables}]}]
    book = pathlib.Path(playbook.workdir) / "role-budget.yml"
    book.write_text(yaml.safe_dump(play), encoding="utf-8")
    result = PlayResult(run_playbook(book))
    expect_outcome(result.failed, result.stdout + result.stderr, fails, ROLE, result.stdout + result.stderr)
    return result


def test_a_failed_removal_fails_the_run_changed_naming_the_live_fault_and_the_report_keeps_the_measurement(lab, playbook):
    lab.fail("delete", VIRTUALSERVICES, status=503, times=1000, dry_run=False)
    result = role_with_budget(playbook, {"fault_check_checks": [DELAY, ABORT]}, budget=3, fails=[
        '"msg": "FAULT STILL LIVE on Service httpbin/httpbin: its removal failed, so VirtualService httpbin/httpbin-fault',
        "kubectl -n httpbin delete virtualservice httpbin-fault",
        "state: absent}]"])
    live = lab.get(*VS, "httpbin-fault", "httpbin")
    assert live is not None  # what the message says: the fault is in force
    annotations = live["metadata"]["annotations"]
    assert (f"is in force since {annotations['ambient.mesh/created-at']} and expires at "
            f"{annotations['ambient.mesh/expires-at']}") in result.stdout
    assert result.changed >= 1, result.recap  # the injection: the run changed the cluster
    assert result.stdout.count("Inject the fault, with its expiry") == 1  # the second check never started
    record, _ = the_report(playbook)
    assert record["outcome"] == "failed: a fault is still live on httpbin/httpbin"
    [step] = record["steps"]  # the measurement made with the fault in place, kept
    assert step["passed"] is False and step["details"]["still_live"] is True
    assert step["gates"] == [] and step["details"]["baseline"] == {}  # no baseline probed against a live fault
    assert step["requests"] == 20 and 3.0 <= step["latency"]["p50"] <= 3.5 and step["verdicts"][0]["passed"] is True
    assert step["details"]["failure"].startswith("FAULT STILL LIVE on Service httpbin/httpbin")


def test_a_baseline_that_is_not_back_after_the_removal_fails_the_check(lab, playbook):
    # the backend answers 500 itself: with the fault the abort is measured, without it the 500s stay
    failing = dict(ABORT, probe={"url": f"{HTTPBIN}/status/500", "requests": 20})
    role(playbook, {"fault_check_checks": [failing], "fault_check_baseline_requests": 10}, fails=[
        "fault check of httpbin/httpbin failed (the fault has been removed): the baseline is not back after the fault "
        "was removed"])
    assert faults(lab) == []
    record, _ = the_report(playbook)
    assert record["outcome"] == "failed"
    [step] = record["steps"]
    assert step["passed"] is False and [(g["name"], g["passed"]) for g in step["gates"]] == [("baseline back", False)]


def test_a_delay_that_never_happened_fails_even_with_a_tolerance_as_large_as_the_delay(lab, playbook):
    # the fault takes only /delay; the probe asks /status/200, so its requests are never delayed
    unseen = dict(DELAY, delay={"fixed_delay": "400ms", "percentage": 100}, tolerance=0.5,
                  match={"path": {"type": "Exact", "value": "/delay"}})
    role(playbook, {"fault_check_checks": [unseen]}, fails=["expected at least 0.2s", "an expected delay did not happen"])
    assert faults(lab) == []


def test_a_client_selector_that_matches_no_pod_stops_the_role_before_any_fault(lab, playbook):
    mark = lab.mark()
    result = role(playbook, {"fault_check_checks": [DELAY], "fault_check_client_selector": "app=nothing"},
                  fails="no pod in namespace test matches app=nothing")
    assert lab.writes(mark) == []
    assert "Inject the fault" not in result.stdout and "the baseline is not back" not in result.stdout


def test_a_report_directory_that_cannot_be_written_stops_the_role_before_any_fault(lab, playbook, tmp_path):
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    mark = lab.mark()
    role(playbook, {"fault_check_checks": [DELAY], "fault_check_report_dir": str(tmp_path / "a-file" / "reports")},
         fails=[f"fault_check_report_dir {tmp_path / 'a-file' / 'reports'} cannot be written", "no fault was injected"])
    assert lab.writes(mark) == []


def test_a_probe_url_that_is_not_one_is_refused_by_preflight(lab, playbook):
    mark = lab.mark()
    role(playbook, {"fault_check_checks": [dict(DELAY, probe={"url": "httpbin:8000/get"})]},
         fails="an http:// or https:// URL with a host")
    assert lab.writes(mark) == []


def resilient_route(playbook, cluster, **policy):
    """httpbin's traffic through an HTTPRoute with the given timeouts and retry (traffic_split, one version)."""
    cluster.load_crds(CRDS / "gateway-api-v1.5.1-experimental-httproutes.yaml")
    playbook.run("ambient.mesh.traffic_split", {"splits": [dict(
        {"service": "httpbin", "namespace": "httpbin", "versions": [{"name": "v1", "weight": 100}]}, **policy)],
        "wait_timeout": 20})


def test_resilience_drills_show_the_upstream_alone_beside_the_clients_view(lab, playbook):
    resilient_route(playbook, lab, timeouts={"request": "1s"}, retry={"attempts": 2, "codes": [503]})
    mark = lab.mark()
    clean = {"service": "httpbin", "namespace": "httpbin", "client": {"max_error_percentage": 0},
             "probe": {"url": f"{HTTPBIN}/status/200", "requests": 20}}
    result = role(playbook, {"fault_check_checks": [RETRY_DRILL, TIMEOUT_DRILL, clean]})
    assert result.changed == 0 and lab.writes(mark) == [], result.stdout[-3000:]  # nothing injected, nothing to remove
    record, page = the_report(playbook)
    assert record["outcome"] == "passed"
    raw_503, client_503, raw_slow, client_slow, _raw_clean, client_clean = record["steps"]
    # a bound of 0 is a bound ("no failure"), not a missing one
    assert [(v["name"], v["expected"]) for v in client_clean["verdicts"]] == [("error_bound", {"percentage": 0.0})]
    assert [s["label"] for s in record["steps"][:4]] == [
        "httpbin/httpbin /status/200:0.8,503:0.2: the upstream alone", "httpbin/httpbin /status/200:0.8,503:0.2: the client's view",
        "httpbin/httpbin /drip?delay=3&duration=0: the upstream alone", "httpbin/httpbin /drip?delay=3&duration=0: the client's view"]
    # the raw effect: httpbin's own 20% of 503 and 3 s, at its pod
    assert 60 <= raw_503["counts"]["503"] <= 140 and raw_503["details"]["target"].startswith("pod httpbin/httpbin-")
    assert raw_slow["counts"] == {"200": 50} and raw_slow["latency"]["p50"] >= 3.0
    # the client's view: the retries leave under 1%, the timeout turns 3 s into a 504 at 1 s
    assert client_503["counts"].get("503", 0) <= 10 and client_503["passed"] is True
    assert [v["name"] for v in client_503["verdicts"]] == ["error_bound"]
    assert client_slow["counts"] == {"504": 50} and client_slow["latency"]["p99"] <= 1.2 and client_slow["passed"] is True
    assert "the upstream alone" in page and "the client&#x27;s view" in page

    # the same drill without the retry fails, and the report says why
    resilient_route(playbook, lab, timeouts={"request": "1s"})
    role(playbook, {"fault_check_checks": [RETRY_DRILL]}, fails=[
        "resilience drill of httpbin/httpbin failed (nothing was injected", "error rate: expected at most 0.8%",
        "Istio's default retry policy retries no status code"])
    records = sorted((pathlib.Path(playbook.workdir) / "reports").glob("fault_check-*.json"))
    failed = json.loads(records[-1].read_text(encoding="utf-8"))
    assert failed["outcome"] == "failed" and failed["steps"][1]["passed"] is False
    assert 60 <= failed["steps"][1]["counts"]["503"] <= 140
