"""report: bad arguments refused on the controller (report is an action plugin) before anything is written - no
report directory, no file, no API request - each message naming the argument and what is wrong; and a directory
that cannot be written, which fails with what was measured and, once the operator clears the way, is written by the
same task."""

import json
import pathlib

import pytest

from failure_matrix.conftest import Case
from test_report import ARGS, STEPS

pytestmark = pytest.mark.integration
MODULE = "ambient.mesh.report"


def reports(m):
    return m.tmp_path / "reports"


def step(**change):
    return [dict(STEPS[0], **change), STEPS[1]]


def nothing_written(m, failed):
    assert not reports(m).exists(), sorted(str(p) for p in reports(m).rglob("*"))
    assert m.cluster.requests(m.start) == []
    assert "Traceback" not in failed["msg"]


def mark_start(m):
    m.start = m.cluster.mark()


def refused(case_id, change, fragment, drop=()):
    def args(m):
        given = dict(ARGS, directory=str(reports(m)), **change)
        return {k: v for k, v in given.items() if k not in drop}
    return Case(case_id, MODULE, args, fragment, setup=mark_start, then=nothing_written)


BAD_INPUTS = [
    refused("kind-unknown", {"kind": "rollout"}, "value of kind must be one of: canary, fault_check, got: rollout"),
    refused("unknown-option", {"dir": "/tmp"},
            "Unsupported parameters for (ambient.mesh.report) module: dir. Supported parameters include: details, directory"),
    refused("directory-missing", {}, "missing required arguments: directory", drop=("directory",)),
    refused("steps-missing", {}, "missing required arguments: steps", drop=("steps",)),
    refused("steps-given-as-a-string", {"steps": "step 1: 5%"},
            ["Elements value for option 'steps' is of type str and we were unable to convert to dict",
             "(steps is a list of mappings, written as YAML items: '- step: 1', not as a string)"]),
    refused("step-without-its-number", {"steps": [{"label": "5%"}]}, "missing required arguments: step"),
    refused("step-number-a-word", {"steps": step(step="first")},
            "argument 'step' is of type str found in 'steps'. and we were unable to convert to int"),
    refused("step-key-misspelt", {"steps": step(pased=True)}, "Unsupported parameters for (ambient.mesh.report) module: steps.pased"),
    refused("asked-over-100", {"steps": step(asked={"v1": 95, "v2": 150})},
            "steps[0] (step 1): asked.v2 must be a percent of requests, 0-100; got 150"),
    refused("measured-as-a-percent", {"steps": step(measured={"v1": 95.5, "v2": 4.5})},
            "steps[0] (step 1): measured.v1 must be a share of responses, 0-1; got 95.5"),
    refused("counts-negative", {"steps": step(counts={"v1": -1})},
            "steps[0] (step 1): counts.v1 must be a count of responses; got -1"),
    refused("counts-fraction", {"steps": step(counts={"v1": 0.5})},
            "steps[0] (step 1): counts.v1 must be a count of responses; got 0.5"),
    refused("error-rate-as-a-percent", {"steps": step(error_rate=5)}, "steps[0] (step 1): error_rate must be a fraction 0-1; got 5"),
    refused("latency-negative", {"steps": step(latency={"p95": -0.1})}, "steps[0] (step 1): latency.p95 must be seconds; got -0.1"),
    refused("requests-negative", {"steps": step(requests=-200)}, "steps[0] (step 1): requests must not be negative; got -200"),
    refused("verdict-without-passed", {"steps": step(verdicts=[{"name": "shares"}])},
            "steps[0] (step 1): verdicts[0]: passed must be a boolean; got None"),
    refused("gate-passed-a-word", {"steps": step(gates=[{"name": "error_rate", "passed": "maybe"}])},
            "steps[0] (step 1): gates[0]: passed must be a boolean; got 'maybe'"),
    refused("verdict-unknown-key", {"steps": step(verdicts=[{"name": "shares", "passed": True, "why": "x"}])},
            "steps[0] (step 1): verdicts[0]: unknown key(s) why"),
    refused("started-at-not-a-time", {"started_at": "yesterday"},
            "started_at must be an RFC 3339 time with an offset, e.g. 2026-11-23T10:15:30Z; got 'yesterday'"),
    refused("finished-at-without-offset", {"finished_at": "2026-11-23T10:16:02"},
            "finished_at must be an RFC 3339 time with an offset"),
    refused("finished-before-started", {"started_at": "2026-11-23T10:15:30Z", "finished_at": "2026-11-23T09:15:30Z"},
            "finished_at (2026-11-23T09:15:30Z) is before started_at (2026-11-23T10:15:30Z)"),
    refused("name-empty", {"name": "  "}, "name must not be empty (e.g. hello/helloworld)"),
    refused("details-given-as-a-string", {"details": "route hello/helloworld"},
            "argument 'details' is of type str and we were unable to convert to dict"),
]


@pytest.mark.parametrize("case", BAD_INPUTS, ids=lambda c: c.id)
def test_bad_input_is_refused_and_nothing_is_written(matrix, case):
    matrix.check(case)


@pytest.mark.parametrize("check", [False, True], ids=["run", "check-mode"])
def test_a_file_in_the_way_fails_keeps_what_was_measured_and_a_rerun_writes_the_report(matrix, check):
    """The fault a report meets: its directory cannot be made (a file is in the way). The task fails naming both
    paths, with the measured steps in the message and the record in the result, and writes nothing; once the
    operator moves the file, the same task writes the report - one JSON and one HTML file, nothing else."""
    blocker = matrix.tmp_path / "reports"
    blocker.write_text("a file, not a directory", encoding="utf-8")
    args = dict(ARGS, directory=str(blocker / "hello"))
    failed = matrix.playbook.run(MODULE, args, check=check, fails=[
        "cannot write the report to %s: %s is a file, not a directory (a file is in the way)" % (blocker / "hello", blocker),
        "The report was not written; what was measured:", "v1 95.5%, v2 4.5%", "FAILED (error_rate)"])
    assert failed["changed"] is False and failed["record"]["steps"][1]["gates"][0]["measured"] == 0.05
    assert blocker.read_text(encoding="utf-8") == "a file, not a directory"
    blocker.unlink()  # the operator's fix
    again = matrix.playbook.run(MODULE, args, check=check)
    written = sorted(p.name for p in (blocker / "hello").iterdir()) if (blocker / "hello").exists() else []
    assert again["changed"] is True and again["json_path"].startswith(str(blocker / "hello"))
    if check:  # it would write (changed), and writes nothing
        assert written == [] and not pathlib.Path(again["json_path"]).exists(), written
        return
    assert len(written) == 2, written
    record = json.loads(pathlib.Path(again["json_path"]).read_text(encoding="utf-8"))
    assert record["outcome"] == "rolled_back" and len(record["steps"]) == 2
    assert pathlib.Path(again["html_path"]).exists()
