"""The runnable entry points in playbooks/, against the test API server: platform.yml, gateway_api.yml, and
rollout.yml (the main job) end to end, its second run, and its check mode on a fresh and a rolled-out cluster."""

import json

import pytest
import yaml

from embedded_cluster.apiserver import TestCluster
from conftest import GATEWAY_V151, ROOT, SEED, FakeIstioctl, run_playbook

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


def test_platform_playbook_check_mode_on_an_empty_cluster_writes_nothing_and_says_what_it_would_do(cluster, kubeconfig,
                                                                                                  istioctl):
    # issue 11 item 6: check mode used to fail at enrollment, Istio "is not installed" (the install is only planned)
    extra = ["-i", str(ROOT / "playbooks" / "inventory" / "local.yml"), "-e", f"kubeconfig={kubeconfig}",
             "-e", f"install_istioctl_path={istioctl.path}", "-e", f"install_gateway_api_src={GATEWAY_V151}"]
    mark, calls = cluster.mark(), istioctl.mark()
    result = run_playbook(ROOT / "playbooks" / "platform.yml", *extra, "--check")
    assert result.returncode == 0, result.stdout[-3000:]
    assert cluster.writes(mark) == []
    assert not ISTIOCTL_WRITES & set(istioctl.subcommands(calls))
    assert recap(result.stdout)["failed"] == 0
    out = result.stdout
    assert "install: would install" in out, out[-3000:]
    # enrollment is dry-run against the API server, its readiness guard knowing the install is planned
    assert "hello: {'istio.io/dataplane-mode': 'ambient', 'istio.io/use-waypoint': 'waypoint'}" in out, out[-3000:]
    assert "waypoint: would deploy and bind a waypoint in hello, httpbin" in out, out[-3000:]
    assert "check mode: nothing was written; Istio 1.30.3 would be installed first" in out, out[-3000:]
    assert {n["metadata"]["name"] for n in cluster.list("v1", "Namespace")}.isdisjoint({"hello", "httpbin", "test"})


def test_gateway_api_playbook(cluster, kubeconfig):
    extra = ["-i", str(ROOT / "playbooks" / "inventory" / "local.yml"), "-e", f"kubeconfig={kubeconfig}",
             "-e", f"gateway_api_src={GATEWAY_V151}"]
    result = run_playbook(ROOT / "playbooks" / "gateway_api.yml", *extra)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "Gateway API: none -> v1.5.1 (standard), 8 CRDs, 10 changed" in result.stdout


# ---- rollout.yml, the main job -------------------------------------------------------------------
ROLLOUT = ROOT / "playbooks" / "rollout.yml"
# istioctl subcommands that change a cluster, which check mode must never run
ISTIOCTL_WRITES = {"install", "uninstall", "tag set", "tag remove", "waypoint apply", "waypoint delete"}


def rollout_args(kubeconfig, istioctl, reports):
    return ["-i", str(ROOT / "playbooks" / "inventory" / "local.yml"), "-e", f"kubeconfig={kubeconfig}",
            "-e", f"install_istioctl_path={istioctl.path}", "-e", f"install_gateway_api_src={GATEWAY_V151}",
            "-e", f"rollout_report_dir={reports}"]


def recap(stdout):
    """The PLAY RECAP counts of the inventory's one cluster."""
    line = next(x for x in stdout.splitlines() if x.startswith("local-cluster") and "ok=" in x)
    return {k: int(v) for k, v in (part.split("=") for part in line.split()[2:])}


def last_task_output(stdout):
    """What the playbook's last task printed (its debug msg lines)."""
    tail = stdout[stdout.rindex("TASK [Summary]"):stdout.index("PLAY RECAP")]
    return json.loads(tail[tail.index("{"):tail.rindex("}") + 1])["msg"]


def route_weights(cluster, namespace, name):
    route = cluster.get("gateway.networking.k8s.io/v1", "HTTPRoute", name, namespace)
    return {b["name"]: b.get("weight", 1) for rule in route["spec"]["rules"] for b in rule["backendRefs"]}


class RolledOut:
    """A test cluster, module-wide, that rollout.yml has rolled out once (the first run and its output)."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.cluster = TestCluster(seed=SEED).__enter__()
        self.kubeconfig = self.cluster.write_kubeconfig(workdir / "kubeconfig")
        self.istioctl = FakeIstioctl(workdir)
        self.reports = workdir / "reports"
        self.args = rollout_args(self.kubeconfig, self.istioctl, self.reports)
        # as the lab demo's first run (scripts/demo.sh): with the fault drill, which is off by default
        self.first = run_playbook(ROLLOUT, *self.args, "-e", "rollout_fault_drill=true")


@pytest.fixture(scope="module")
def rolled_out(tmp_path_factory):
    lab = RolledOut(tmp_path_factory.mktemp("rollout"))
    yield lab
    lab.cluster.__exit__(None, None, None)


def test_rollout_check_mode_on_a_fresh_cluster_writes_nothing_and_says_what_it_would_do(cluster, kubeconfig,
                                                                                         istioctl, tmp_path):
    # a report of an earlier canary on another cluster, in the same directory
    reports = tmp_path / "reports"
    reports.mkdir()
    (reports / "canary-hello_helloworld-20261101T100000Z.json").write_text("{}", encoding="utf-8")
    mark, calls = cluster.mark(), istioctl.mark()
    result = run_playbook(ROLLOUT, *rollout_args(kubeconfig, istioctl, reports), "--check")
    assert result.returncode == 0, result.stdout[-3000:]
    assert cluster.writes(mark) == []
    assert not ISTIOCTL_WRITES & set(istioctl.subcommands(calls))
    assert [p.name for p in reports.iterdir()] == ["canary-hello_helloworld-20261101T100000Z.json"]
    # the install is dry-run (the CRDs and Istio would change); what needs it first is said, not dry-run
    assert recap(result.stdout)["changed"] == 2 and recap(result.stdout)["failed"] == 0
    said = last_task_output(result.stdout)
    assert said[0].startswith("check mode: nothing was written")
    assert "enroll: would enroll hello, httpbin, test in ambient mode" in said[1]
    assert "waypoint: would deploy and bind a waypoint in hello, httpbin" in said[2]
    assert "lab apps: would deploy" in said[3]
    assert "canary: would move hello/helloworld from v1 to v2 through 5, 25, 50, 100 % to v2" in said[4]
    # the fault drill is not asked for: nothing is said about what it would do
    assert not [line for line in said if "fault check" in line]
    assert "fault drill: not run - it injects faults into live traffic" in result.stdout
    # the canary did not run: no report is shown as its, not even the one already there
    assert said[5:] == ["canary hello/helloworld (v1 -> v2): not run", "report: none (the canary did not run)"]
    assert {n["metadata"]["name"] for n in cluster.list("v1", "Namespace")}.isdisjoint({"hello", "httpbin", "test"})


def test_rollout_rolls_the_whole_lab_out(rolled_out):
    first, cluster = rolled_out.first, rolled_out.cluster
    assert first.returncode == 0, first.stdout[-5000:]
    assert recap(first.stdout)["failed"] == 0
    # platform: Istio healthy, the namespaces enrolled, the waypoints programmed, no finding
    assert "Istio 1.30.3 (ambient), healthy: True" in first.stdout
    assert "Findings (0): []" in first.stdout
    for ns in ("hello", "httpbin"):
        labels = cluster.get("v1", "Namespace", ns)["metadata"]["labels"]
        assert labels["istio.io/dataplane-mode"] == "ambient" and labels["istio.io/use-waypoint"] == "waypoint"
    # the canary: promoted, all traffic on v2 through the route, every step measured
    assert route_weights(cluster, "hello", "helloworld") == {"helloworld-v1": 0, "helloworld-v2": 100}
    [record_path] = sorted(rolled_out.reports.glob("canary-hello_helloworld-*.json"))
    record = json.loads(record_path.read_text(encoding="utf-8"))
    assert record["outcome"] == "promoted"
    assert [s["asked"]["v2"] for s in record["steps"]] == [5, 25, 50, 100]
    assert [s["requests"] for s in record["steps"]] == [200] * 4 and all(s["passed"] for s in record["steps"])
    # the fault drill, asked for, ran, said it changed the cluster and left no fault behind
    assert len(list(rolled_out.reports.glob("fault_check-*.json"))) == 1
    assert "changed: [local-cluster]" in first.stdout.split("Inject the fault, with its expiry")[1]
    assert cluster.list("networking.istio.io/v1", "VirtualService", "httpbin") == []
    # the last task: the summary table and the report's path
    said = last_task_output(first.stdout)
    assert said[0] == "canary hello/helloworld (v1 -> v2): promoted this run"
    assert said[-2] == "report: " + str(record_path.with_suffix(".html"))
    assert said[-1] == "record: " + str(record_path)
    assert any("25%" in line for line in said[1:-2]), said


AWX_TEMPLATES = ROOT / "awx" / "job_templates.yml"
VIRTUALSERVICES = "virtualservices.networking.istio.io"
# what lab.yml's kubernetes.core.k8s tasks patch on every run (the module PATCHes whatever the object holds)
LAB_APPS = {"namespaces", "services", "serviceaccounts", "deployments.apps"}


def scheduled_rollout_answers(tmp_path):
    """The extra vars of the scheduled "ambient.mesh rollout" job: its survey's defaults (awx/job_templates.yml)."""
    [template] = [t for t in yaml.safe_load(AWX_TEMPLATES.read_text(encoding="utf-8"))["awx_job_templates"]
                  if t["name"] == "ambient.mesh rollout"]
    answers = {q["variable"]: q["default"] for q in template["survey_spec"]["spec"]}
    assert answers["rollout_fault_drill"] == "false"  # a schedule never drills unless told to
    path = tmp_path / "survey.json"
    path.write_text(json.dumps(answers), encoding="utf-8")
    return ["-e", f"@{path}"]


def lab_app_versions(cluster):
    """The resourceVersion of every object of the kinds lab.yml patches, in the lab's namespaces."""
    kinds = {"namespaces": ("v1", "Namespace"), "services": ("v1", "Service"),
             "serviceaccounts": ("v1", "ServiceAccount"), "deployments.apps": ("apps/v1", "Deployment")}
    out = {}
    for resource, kind in kinds.items():
        for ns in ([None] if resource == "namespaces" else ["hello", "httpbin", "test"]):
            for obj in cluster.list(*kind, ns) if ns else cluster.list(*kind):
                out[(resource, obj["metadata"].get("namespace"), obj["metadata"]["name"])] = obj["metadata"]["resourceVersion"]
    return out


def test_rollout_scheduled_job_twice_changes_nothing_writes_nothing_and_injects_no_fault(rolled_out, tmp_path):
    assert rolled_out.first.returncode == 0, rolled_out.first.stdout[-3000:]
    survey = scheduled_rollout_answers(tmp_path)
    reports_before = sorted(rolled_out.reports.iterdir())
    for run in (1, 2):
        mark, before = rolled_out.cluster.mark(), lab_app_versions(rolled_out.cluster)
        again = run_playbook(ROLLOUT, *rolled_out.args, *survey)
        assert again.returncode == 0, again.stdout[-3000:]
        assert recap(again.stdout)["changed"] == 0, [line for line in again.stdout.splitlines() if "changed:" in line]
        # no fault injected, none removed: the VirtualServices were only read
        assert rolled_out.cluster.writes(mark, resource=VIRTUALSERVICES) == [], run
        assert "Inject the fault" not in again.stdout and "fault drill: not run" in again.stdout
        # the only requests that write are lab.yml's kubernetes.core.k8s PATCHes of the apps with what they hold
        # (the module patches whatever the object holds): they change no object
        writes = rolled_out.cluster.writes(mark)
        assert {w["resource"] for w in writes} <= LAB_APPS and {w["verb"] for w in writes} <= {"patch"}, [
            (w["verb"], w["resource"], w["name"]) for w in writes]
        assert lab_app_versions(rolled_out.cluster) == before, run
        # the canary measured nothing new: the summary is the first run's report
        said = last_task_output(again.stdout)
        assert said[0] == "canary hello/helloworld (v1 -> v2): promoted, nothing measured this run"
        assert said[-1].startswith("record: " + str(rolled_out.reports / "canary-hello_helloworld-"))
    assert sorted(rolled_out.reports.iterdir()) == reports_before  # no new report: no canary, no drill


def test_rollout_check_mode_on_the_rolled_out_cluster_writes_nothing(rolled_out):
    assert rolled_out.first.returncode == 0, rolled_out.first.stdout[-3000:]
    mark, calls = rolled_out.cluster.mark(), rolled_out.istioctl.mark()
    reports_before = sorted(rolled_out.reports.iterdir())
    result = run_playbook(ROLLOUT, *rolled_out.args, "--check")
    assert result.returncode == 0, result.stdout[-3000:]
    assert rolled_out.cluster.writes(mark) == []
    assert not ISTIOCTL_WRITES & set(rolled_out.istioctl.subcommands(calls))
    assert sorted(rolled_out.reports.iterdir()) == reports_before
    assert recap(result.stdout)["changed"] == 0
    # every phase was dry-run: nothing is listed as not dry-run
    said = last_task_output(result.stdout)
    assert not said[0].startswith("check mode:"), said
