"""ambient.mesh.report through ansible-playbook, as a play calls it: an action plugin on the controller that writes
the run's JSON record and HTML report (with the chart) and returns the summary table; check mode writes nothing; a
file in the way of the directory fails with the summary in the message; bad arguments are refused; without
matplotlib the report still has its tables. No cluster: the task needs none, even in a play whose module_defaults
give group/ambient.mesh.k8s a kubeconfig (the report is not in that group)."""

import json
import pathlib
import re
import subprocess
import sys

import pytest
import yaml

from conftest import ansible_env, expect_outcome

pytestmark = pytest.mark.integration

STEPS = [
    {"step": 1, "label": "5%", "asked": {"v1": 95, "v2": 5}, "measured": {"v1": 0.955, "v2": 0.045},
     "counts": {"v1": 191, "v2": 9}, "requests": 200, "error_rate": 0.0,
     "latency": {"p50": 0.004, "p95": 0.009, "p99": 0.012, "max": 0.013}, "passed": True,
     "verdicts": [{"name": "shares", "passed": True, "expected": {"v1": 0.95, "v2": 0.05},
                   "measured": {"v1": {"count": 191, "share": 0.955}}, "message": "shares: measured v1 95.5%"}]},
    {"step": 2, "label": "25%", "asked": {"v1": 75, "v2": 25}, "measured": {"v1": 0.755, "v2": 0.245},
     "counts": {"v1": 151, "v2": 49}, "requests": 200, "error_rate": 0.05, "latency": {"p50": 0.005, "p95": 0.011},
     "passed": False, "gates": [{"name": "error_rate", "passed": False, "expected": 0.01, "measured": 0.05,
                                 "message": "error rate 5.0% above 1.0%"}]},
]
ARGS = {"kind": "canary", "name": "hello/helloworld", "outcome": "rolled_back", "started_at": "2026-11-23T10:15:30Z",
        "finished_at": "2026-11-23T10:16:02Z", "steps": STEPS, "details": {"route": "hello/helloworld"}}
STEP_LINES = ["1     5%     v1 95%, v2 5%   v1 95.5%, v2 4.5%   200       0.0%    0.009s  passed",
              "2     25%    v1 75%, v2 25%  v1 75.5%, v2 24.5%  200       5.0%    0.011s  FAILED (error_rate)"]
NAME = re.compile(r"canary-hello_helloworld-\d{8}T\d{6}Z\.(json|html)$")


def report(tmp_path, args, check=False, fails=None, pythonpath=None):
    """Runs the report task in a play as a user writes it; returns its registered result and the play's output."""
    runs = len(list(tmp_path.glob("report-play-*.yml"))) + 1
    out = tmp_path / f"report-result-{runs}.json"
    play = [{"hosts": "localhost", "gather_facts": False,
             "module_defaults": {"group/ambient.mesh.k8s": {"kubeconfig": str(tmp_path / "kubeconfig")}},
             "tasks": [{"name": "report", "ambient.mesh.report": args, "register": "result", "ignore_errors": True,
                        "check_mode": check},
                       {"name": "keep the result", "ansible.builtin.copy": {
                           "content": "{{ result | to_json }}", "dest": str(out)}, "check_mode": False}]}]
    book = tmp_path / f"report-play-{runs}.yml"
    book.write_text(yaml.safe_dump(play), encoding="utf-8")
    env = ansible_env()
    if pythonpath:
        env["PYTHONPATH"] = str(pythonpath)
    binary = pathlib.Path(sys.executable).parent / "ansible-playbook"
    proc = subprocess.run([str(binary), "-i", "localhost,", "-c", "local", str(book)], capture_output=True,
                          text=True, env=env, timeout=300, check=False)
    assert out.exists(), proc.stdout + proc.stderr
    result = json.loads(out.read_text(encoding="utf-8"))
    expect_outcome(bool(result.get("failed")), str(result.get("msg", "")), fails, "report", proc.stdout)
    return result, proc.stdout + proc.stderr


def test_the_record_and_the_report_with_its_chart_are_written(tmp_path):
    directory = tmp_path / "reports" / "hello"  # missing: made
    result, _ = report(tmp_path, dict(ARGS, directory=str(directory)))
    assert result["changed"] is True
    json_path, html_path = pathlib.Path(result["json_path"]), pathlib.Path(result["html_path"])
    assert json_path.parent == directory and NAME.search(json_path.name) and html_path == json_path.with_suffix(".html")
    assert sorted(p.name for p in directory.iterdir()) == sorted([json_path.name, html_path.name])

    record = json.loads(json_path.read_text(encoding="utf-8"))
    assert (record["schema_version"], record["kind"], record["name"], record["outcome"]) == (
        1, "canary", "hello/helloworld", "rolled_back")
    assert (record["started_at"], record["finished_at"]) == ("2026-11-23T10:15:30Z", "2026-11-23T10:16:02Z")
    assert [s["step"] for s in record["steps"]] == [1, 2]
    for given, kept in zip(STEPS, record["steps"], strict=True):
        assert {k: kept[k] for k in given} == given  # every step as given
    assert record["details"] == {"route": "hello/helloworld"}

    page = html_path.read_text(encoding="utf-8")
    svg = page[page.index("<svg"):page.index("</svg>")]
    for series in ("asked-v1", "measured-v1", "asked-v2", "measured-v2", "error-rate", "latency-p95"):
        assert f'<g id="{series}">' in svg, series
    assert "<script" not in page and not re.search(r'(src|href)="(?!#)', page)  # self-contained: nothing fetched
    for text in ("error rate 5.0% above 1.0%", "shares: measured v1 95.5%", "FAILED (error_rate)", "v1 191, v2 9"):
        assert text in page, text

    assert result["summary"][0] == "canary hello/helloworld: rolled_back (2 steps)"
    assert result["summary"][2:] == STEP_LINES


def test_check_mode_writes_nothing_and_returns_the_paths(tmp_path):
    directory = tmp_path / "reports"
    result, _ = report(tmp_path, dict(ARGS, directory=str(directory)), check=True)
    assert not directory.exists()
    assert NAME.search(result["json_path"]) and NAME.search(result["html_path"])
    assert pathlib.Path(result["json_path"]).parent == directory
    assert result["summary"][2:] == STEP_LINES


def test_a_file_in_the_way_is_a_clear_error_that_keeps_what_was_measured(tmp_path):
    (tmp_path / "reports").write_text("a file, not a directory", encoding="utf-8")
    for check in (True, False):
        result, _ = report(tmp_path, dict(ARGS, directory=str(tmp_path / "reports" / "hello")), check=check, fails=[
            f"cannot write the report to {tmp_path / 'reports' / 'hello'}: {tmp_path / 'reports'} is a file",
            "a file is in the way", "what was measured:", *STEP_LINES])
        assert result["record"]["steps"][1]["gates"][0]["measured"] == 0.05
    assert (tmp_path / "reports").read_text(encoding="utf-8") == "a file, not a directory"


@pytest.mark.parametrize("change, message", [
    ({"kind": "rollout"}, "value of kind must be one of: canary, fault_check, got: rollout"),
    ({"steps": [{"step": 1, "pased": True}]}, "pased"),
    ({"steps": [{"label": "5%"}]}, "missing required arguments: step"),
    ({"steps": [{"step": 1, "asked": {"v2": 150}}]}, "asked.v2 must be a percent of requests, 0-100; got 150"),
    ({"started_at": "yesterday"}, "started_at must be an RFC 3339 time"),
    ({"directory": None}, "directory"),
])
def test_bad_arguments_are_refused_and_nothing_is_written(tmp_path, change, message):
    args = {**ARGS, "directory": str(tmp_path / "reports"), **change}
    report(tmp_path, {k: v for k, v in args.items() if v is not None}, fails=message)
    assert not (tmp_path / "reports").exists()


def test_without_matplotlib_the_report_has_its_tables_and_the_task_warns(tmp_path):
    # a matplotlib that cannot be imported, first on the controller's path: as on a controller without it
    shadow = tmp_path / "no-matplotlib" / "matplotlib"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('matplotlib is not installed (test)')\n", encoding="utf-8")
    result, output = report(tmp_path, dict(ARGS, directory=str(tmp_path / "reports")), pythonpath=shadow.parent)
    assert "the chart needs matplotlib on the controller" in output
    page = pathlib.Path(result["html_path"]).read_text(encoding="utf-8")
    assert "<svg" not in page and "No chart: the chart needs matplotlib on the controller" in page
    assert "error rate 5.0% above 1.0%" in page
    assert len(json.loads(pathlib.Path(result["json_path"]).read_text(encoding="utf-8"))["steps"]) == 2
