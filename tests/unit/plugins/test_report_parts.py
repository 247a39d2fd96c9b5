"""ambient.mesh.report's parts on the controller: the argument checks the spec cannot express, the file names, the
summary table, the files (made, never overwritten, a clear error when a file is in the way), the chart's series in
the SVG, and the HTML's escaping. Through ansible-playbook: tests/integration/test_report.py."""

import datetime
import json
import re

import pytest

from ansible_collections.ambient.mesh.plugins.module_utils._report.args import STEP_SPEC, VERDICT_KEYS
from ansible_collections.ambient.mesh.plugins.plugin_utils import _report_chart
from ansible_collections.ambient.mesh.plugins.plugin_utils._report_files import ReportWriteError, write_report
from ansible_collections.ambient.mesh.plugins.plugin_utils._report_html import render_html
from ansible_collections.ambient.mesh.plugins.plugin_utils._report_record import (
    base_name,
    build_record,
    check_arguments,
    record_json,
    summary_lines,
)

WHEN = datetime.datetime(2026, 11, 23, 10, 16, 2, tzinfo=datetime.timezone.utc)


def step(number, **values):
    """A step as the argument spec leaves it: every key, defaults filled."""
    out = {k: ({} if spec.get("default") == {} else [] if spec.get("default") == [] else None)
           for k, spec in STEP_SPEC.items()}
    out.update(step=number, **values)
    return out


def verdict(name, passed, **values):
    out = dict(dict.fromkeys(VERDICT_KEYS), message="")
    out.update(name=name, passed=passed, **values)
    return out


CANARY_STEPS = [
    step(1, label="5%", asked={"v1": 95, "v2": 5}, measured={"v1": 0.955, "v2": 0.045}, counts={"v1": 191, "v2": 9},
         requests=200, error_rate=0.0, latency={"p50": 0.004, "p95": 0.009}, passed=True,
         verdicts=[verdict("shares", True)]),
    step(2, label="25%", asked={"v1": 75, "v2": 25}, measured={"v1": 0.74, "v2": 0.26}, requests=200, error_rate=0.02,
         latency={"p50": 0.004, "p95": 0.019}, passed=False,
         gates=[verdict("error_rate", False, expected=0.01, measured=0.02), verdict("p95", True)]),
    step(3, label="50%", asked={"v1": 50, "v2": 50}),  # never probed: the run stopped before
]


def args(**overrides):
    base = {"directory": "/tmp/r", "kind": "canary", "name": "hello/helloworld", "outcome": "rolled_back",
            "started_at": None, "finished_at": None, "steps": CANARY_STEPS, "details": {}}
    base.update(overrides)
    return base


@pytest.mark.parametrize("overrides, problem", [
    ({"started_at": "yesterday"}, "started_at must be an RFC 3339 time"),
    ({"finished_at": "2026-11-23T10:16:02"}, "finished_at must be an RFC 3339 time with an offset"),
    ({"name": "  "}, "name must not be empty"),
    ({"steps": [step(1, asked={"v2": 150})]}, "steps[0] (step 1): asked.v2 must be a percent of requests, 0-100; got 150"),
    ({"steps": [step(4, measured={"v2": 25})]}, "steps[0] (step 4): measured.v2 must be a share of responses, 0-1"),
    ({"steps": [step(1, measured={"v2": "0.5"})]}, "measured.v2 must be a share of responses, 0-1; got '0.5'"),
    ({"steps": [step(1, counts={"v1": 1.5})]}, "counts.v1 must be a count of responses"),
    ({"steps": [step(1, counts={"v1": True})]}, "counts.v1 must be a count of responses"),
    ({"steps": [step(1, latency={"p95": -1})]}, "latency.p95 must be seconds"),
    ({"steps": [step(1, error_rate=1.5)]}, "error_rate must be a fraction 0-1"),
    ({"steps": [step(1, requests=-1)]}, "requests must not be negative"),
    ({"steps": [step(1, gates=[{"name": "p95", "passed": "maybe"}])]}, "steps[0] (step 1): gates[0]: passed must be a boolean"),
    ({"steps": [step(1, verdicts=[{"passed": True}])]}, "verdicts[0]: name must be a non-empty text"),
    ({"steps": [step(1, gates=[{"name": "p95", "passed": True, "mesage": "x"}])]}, "gates[0]: unknown key(s) mesage"),
])
def test_bad_values_are_named(overrides, problem):
    assert any(problem in p for p in check_arguments(args(**overrides))), check_arguments(args(**overrides))


@pytest.mark.parametrize("overrides", [
    {}, {"started_at": "2026-11-23T10:15:30Z", "finished_at": "2026-11-23T11:15:30+01:00"}, {"steps": []},
    {"steps": [step(1, latency={"p50": 0.1, "p95": None})]},
])
def test_good_values_pass(overrides):
    assert check_arguments(args(**overrides)) == []


@pytest.mark.parametrize("kind, name, expected", [
    ("canary", "hello/helloworld", "canary-hello_helloworld-20261123T101602Z"),
    ("fault_check", "httpbin/httpbin, hello/helloworld", "fault_check-httpbin_httpbin_hello_helloworld-20261123T101602Z"),
    ("canary", "../../etc/passwd", "canary-etc_passwd-20261123T101602Z"),
    ("canary", "..", "canary-_-20261123T101602Z"),
])
def test_file_names(kind, name, expected):
    assert base_name(kind, name, WHEN) == expected


def test_summary_is_a_table_one_line_per_step():
    lines = summary_lines(build_record(args(), WHEN))
    assert lines == [
        "canary hello/helloworld: rolled_back (3 steps)",
        "step  label  asked           measured            requests  errors  p95     verdict",
        "1     5%     v1 95%, v2 5%   v1 95.5%, v2 4.5%   200       0.0%    0.009s  passed",
        "2     25%    v1 75%, v2 25%  v1 74.0%, v2 26.0%  200       2.0%    0.019s  FAILED (error_rate)",
        "3     50%    v1 50%, v2 50%  -                   -         -       -       -",
    ]


def test_verdicts_are_completed_in_the_record():
    given = args(steps=[step(1, gates=[{"name": "p95", "passed": "yes"}])])
    assert check_arguments(given) == []
    assert build_record(given, WHEN)["steps"][0]["gates"] == [
        {"name": "p95", "passed": True, "expected": None, "measured": None, "message": ""}]


def test_the_record_holds_every_step_with_every_key():
    record = json.loads(record_json(build_record(args(started_at="2026-11-23T10:15:30Z", details={"route": "x"}), WHEN)))
    assert record["schema_version"] == 1 and record["written_at"] == "2026-11-23T10:16:02Z"
    assert [s["step"] for s in record["steps"]] == [1, 2, 3]
    assert all(list(s) == list(STEP_SPEC) for s in record["steps"])
    assert record["steps"][1]["gates"][0]["measured"] == 0.02 and record["details"] == {"route": "x"}


def test_a_missing_directory_is_made_and_no_report_is_overwritten(tmp_path):
    directory = tmp_path / "a" / "b"
    first = write_report(str(directory), "canary-x-1", "{}\n", "<html>1</html>")
    second = write_report(str(directory), "canary-x-1", "{}\n", "<html>2</html>")
    assert first == (str(directory / "canary-x-1.json"), str(directory / "canary-x-1.html"))
    assert second == (str(directory / "canary-x-1-2.json"), str(directory / "canary-x-1-2.html"))
    assert (directory / "canary-x-1.html").read_text() == "<html>1</html>"


@pytest.mark.parametrize("blocked", ["reports", "reports/sub"])
def test_a_file_in_the_way_is_a_clear_error(tmp_path, blocked):
    (tmp_path / "reports").write_text("not a directory")
    target = tmp_path / blocked
    with pytest.raises(ReportWriteError) as error:
        write_report(str(target), "canary-x-1", "{}", "<html/>")
    assert str(error.value) == (f"cannot write the report to {target}: {tmp_path / 'reports'} is a file, not a "
                                "directory (a file is in the way)")


def series_points(svg, sid):
    """The (x, y) points of a series' line in matplotlib's SVG (<g id="sid"><path d="M x y L x y ..."/>)."""
    match = re.search(r'<g id="%s">\s*<path d="([^"]*)"' % re.escape(sid), svg)
    assert match, f"no series {sid} in the SVG"
    numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", match.group(1))]
    return list(zip(numbers[::2], numbers[1::2], strict=True))


@pytest.mark.skipif(not _report_chart.HAS_MATPLOTLIB, reason="matplotlib is in requirements-test.txt")
def test_the_chart_draws_asked_and_measured_per_backend_the_error_rate_and_latency():
    svg, note = _report_chart.render_svg(CANARY_STEPS, "canary hello/helloworld")
    assert note is None and svg.startswith("<svg")
    asked, measured = series_points(svg, "asked-v2"), series_points(svg, "measured-v2")
    assert len(asked) == 3 and len(measured) == 2  # step 3 was never measured: no point
    # SVG's y grows downwards: v2's share rises from 5% to 25%, v1's falls
    assert asked[0][1] > asked[1][1] > asked[2][1] and measured[0][1] > measured[1][1]
    assert series_points(svg, "measured-v1")[0][1] < series_points(svg, "measured-v1")[1][1]
    errors = series_points(svg, "error-rate")
    assert len(errors) == 2 and errors[0][1] > errors[1][1]  # 0% then 2%
    assert len(series_points(svg, "latency-p95")) == 2
    assert _report_chart.render_svg(CANARY_STEPS, "canary hello/helloworld")[0] == svg  # deterministic


@pytest.mark.skipif(not _report_chart.HAS_MATPLOTLIB, reason="matplotlib is in requirements-test.txt")
def test_a_fault_check_asks_for_no_split_so_its_chart_has_no_share_panel():
    steps = [step(1, label="httpbin delay 3s", requests=20, error_rate=0.0, latency={"p50": 3.004, "p95": 3.01}),
             step(2, label="httpbin abort 500", requests=50, error_rate=1.0, latency={"p50": 0.003, "p95": 0.004})]
    svg, _ = _report_chart.render_svg(steps, "fault_check")
    assert "asked-" not in svg and "measured-" not in svg
    # one panel per check, no line joining two unrelated checks
    assert 'id="panel-check-1"' in svg and 'id="panel-check-2"' in svg
    assert 'id="error-rate"' not in svg and 'id="latency-p50"' not in svg
    for check in (1, 2):
        assert 'id="check-%d-error-rate"' % check in svg and 'id="check-%d-latency-p50"' % check in svg


def test_no_chart_says_why(monkeypatch):
    assert _report_chart.render_svg([step(1, label="x")], "t") == (
        None, "no step has a share, an error rate or a latency to chart")
    monkeypatch.setattr(_report_chart, "HAS_MATPLOTLIB", False)
    assert _report_chart.render_svg(CANARY_STEPS, "t") == (None, _report_chart.INSTALL_HINT)


def test_the_html_escapes_what_it_is_given_and_says_why_there_is_no_chart():
    hostile = [step(1, label="<script>alert(1)</script>", gates=[verdict("<b>gate</b>", False, message="a < b & c")])]
    page = render_html(build_record(args(name="<i>x</i>", steps=hostile), WHEN), None, _report_chart.INSTALL_HINT)
    assert "<script>" not in page and "<i>x</i>" not in page and "<b>gate</b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "a &lt; b &amp; c" in page
    assert "No chart: the chart needs matplotlib on the controller" in page
    assert 'class="failed"' in page


def test_a_records_steps_can_be_given_again_and_unknown_keys_are_refused():
    """A play may summarise a written record again (its steps, every key present, nulls included), as the action
    validates its arguments: with ansible-core's ArgumentSpecValidator over the one spec."""
    from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

    from ansible_collections.ambient.mesh.plugins.module_utils._report.args import report_argument_spec

    record = json.loads(record_json(build_record(args(), WHEN)))
    given = {"directory": "/tmp/r", "kind": "canary", "name": record["name"], "outcome": "promoted",
             "steps": record["steps"]}
    result = ArgumentSpecValidator(report_argument_spec()).validate(given)
    assert result.error_messages == [] and result.validated_parameters["steps"] == record["steps"]
    typo = dict(given, steps=[{"step": 1, "pased": True}])
    assert any("pased" in m for m in ArgumentSpecValidator(report_argument_spec()).validate(typo).error_messages)


def _steps_table_cells(page):
    """The rendered steps table as {header: [cell text per row]} (the first table with class "steps")."""
    from html.parser import HTMLParser

    class Table(HTMLParser):
        def __init__(self):
            super().__init__()
            self.rows, self.inside, self.cell = [], False, None

        def handle_starttag(self, tag, attrs):
            if tag == "table" and ("class", "steps") in attrs:
                self.inside = True
            elif self.inside and tag == "tr":
                self.rows.append([])
            elif self.inside and tag in ("th", "td"):
                self.cell = ""

        def handle_endtag(self, tag):
            if tag == "table":
                self.inside = False
            elif self.inside and tag in ("th", "td"):
                self.rows[-1].append(self.cell)
                self.cell = None

        def handle_data(self, data):
            if self.cell is not None:
                self.cell += data

    table = Table()
    table.feed(page)
    head, *rows = table.rows
    return {name: [row[i] for row in rows] for i, name in enumerate(head)}


def test_the_html_steps_table_shows_each_steps_asked_and_measured_in_their_own_columns():
    page = render_html(build_record(args(), WHEN), None, "no chart")
    cells = _steps_table_cells(page)
    assert cells["step"] == ["1", "2", "3"] and cells["label"] == ["5%", "25%", "50%"]
    assert cells["asked"] == ["v1 95%, v2 5%", "v1 75%, v2 25%", "v1 50%, v2 50%"]
    assert cells["measured"] == ["v1 95.5%, v2 4.5%", "v1 74.0%, v2 26.0%", "-"]
    assert cells["counts"] == ["v1 191, v2 9", "-", "-"]
    assert cells["requests"] == ["200", "200", "-"] and cells["error rate"][:2] == ["0.00%", "2.00%"]
    assert cells["p95"][:2] == ["0.009s", "0.019s"]
