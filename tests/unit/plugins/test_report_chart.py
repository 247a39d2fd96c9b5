"""The report's chart (issue 28 item 6): a fault check gets one panel per check with its own caption and no line
from one check to the next; a canary's chart shows the share gate's band, the error-rate and p95 limits, and a
version measured at 0% as a point at 0."""

import re

import pytest

from ansible_collections.ambient.mesh.plugins.module_utils._report.args import STEP_SPEC, VERDICT_KEYS
from ansible_collections.ambient.mesh.plugins.module_utils._traffic.verdicts import share_verdict
from ansible_collections.ambient.mesh.plugins.plugin_utils import _report_chart

pytestmark = pytest.mark.skipif(not _report_chart.HAS_MATPLOTLIB, reason="matplotlib is in requirements-test.txt")


def step(number, **values):
    out = {k: ({} if spec.get("default") == {} else [] if spec.get("default") == [] else None)
           for k, spec in STEP_SPEC.items()}
    out.update(step=number, **values)
    return out


def verdict(name, passed, **values):
    out = dict(dict.fromkeys(VERDICT_KEYS), message="")
    out.update(name=name, passed=passed, **values)
    return out


def canary_step(number, asked, counts, error_rate=0.0, p95=0.01):
    n = sum(counts.values())
    shares = dict((b, round(c / n, 4)) for b, c in counts.items() if c)  # as traffic_probe returns them
    return step(number, label="%s%%" % asked["v2"], asked=asked, measured=shares, counts=counts, requests=n,
                error_rate=error_rate, latency={"p50": p95 / 2, "p95": p95},
                gates=[share_verdict(counts, asked, 0.99),
                       verdict("latency", True, expected={"p95_max": 0.5}),
                       verdict("error_rate", error_rate <= 0.01, expected={"max": 0.01}, measured=error_rate)])


CANARY = [canary_step(1, {"v1": 95, "v2": 5}, {"v1": 191, "v2": 9}),
          canary_step(2, {"v1": 75, "v2": 25}, {"v1": 200, "v2": 0}, error_rate=0.005)]  # v2 got nothing

CHECKS = [step(1, label="hello/helloworld delay 3s", requests=20, error_rate=0.0, latency={"p50": 3.004, "p95": 3.01},
               passed=True, verdicts=[verdict("latency", True, expected={"p50_min": 2.7})]),
          step(2, label="httpbin/httpbin abort 500 50%", requests=50, error_rate=0.52,
               latency={"p50": 0.003, "p95": 0.004}, passed=False,
               verdicts=[verdict("status_rate", False, expected={"status": 500, "percentage": 50})])]


def group(svg, gid):
    """The text of the SVG group with this id (matplotlib writes <g id="..."> ... </g>)."""
    match = re.search(r'<g id="%s">(.*?)</g>' % re.escape(gid), svg, re.DOTALL)
    assert match, "no %s in the SVG" % gid
    return match.group(1)


def points(svg, gid):
    numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", re.search(r'd="([^"]*)"', group(svg, gid)).group(1))]
    return list(zip(numbers[::2], numbers[1::2]))


def test_a_fault_check_gets_one_panel_per_check_with_its_own_caption_and_no_line_between_checks():
    svg, note = _report_chart.render_svg(CHECKS, "fault_check hello/helloworld, httpbin/httpbin: failed")
    assert note is None
    assert svg.count('id="panel-check-') == 2
    assert "Check 1: hello/helloworld delay 3s - passed" in svg
    assert "Check 2: httpbin/httpbin abort 500 50% - FAILED" in svg
    assert "asked vs measured" not in svg.lower() and "Share of requests" not in svg
    # no series spans both checks: each check's figures are its own bars
    assert 'id="error-rate"' not in svg and 'id="latency-p50"' not in svg
    for check in (1, 2):
        group(svg, "check-%d-error-rate" % check)
        group(svg, "check-%d-latency-p95" % check)
    group(svg, "check-1-latency-p50-bound")  # the delay check's p50_min
    group(svg, "check-2-error-rate-bound")  # the abort check's expected 50%


def test_the_canary_chart_shows_the_gates_bounds_and_a_version_measured_at_zero():
    svg, note = _report_chart.render_svg(CANARY, "canary hello/helloworld: rolled_back")
    assert note is None and svg.count('id="panel-') == 3
    assert "where the share gate passes (shaded)" in svg
    assert "Error rate per step, and the error-rate gate" in svg and "the p95 gate's limit" in svg
    measured = points(svg, "measured-v2")
    assert len(measured) == 2  # step 2's 0% is a point, not a gap
    zero_y = points(svg, "measured-v1")[1][1]  # v1 at 100%: the top; v2 at 0% lies far below it
    assert measured[1][1] > measured[0][1] > zero_y
    group(svg, "bound-v2")  # the shaded band of each backend
    group(svg, "bound-v1")
    assert len(points(svg, "limit-error-rate")) == 2 and len(points(svg, "limit-latency-p95")) == 2


@pytest.mark.parametrize("n, p, low, high", [
    (200, 0.05, 1.0, 9.5),  # 95/5 at 200: 2 to 19 responses of v2 pass at 0.005
    (200, 0.5, 40.0, 60.0),
    (200, 0.0, 0.0, 0.0),  # a weight of 0: only 0% passes
])
def test_the_band_is_what_the_share_gate_accepts(n, p, low, high):
    lo, hi = _report_chart.accepted_range(n, p, 0.005)
    assert lo == pytest.approx(low, abs=1.0) and hi == pytest.approx(high, abs=1.0)
    # the edges pass the gate and one response beyond them does not
    from ansible_collections.ambient.mesh.plugins.module_utils._traffic.verdicts import binomial_p_value
    k_lo, k_hi = round(lo * n / 100), round(hi * n / 100)
    assert binomial_p_value(k_lo, n, p) > 0.005 and binomial_p_value(k_hi, n, p) > 0.005
    if k_lo > 0:
        assert binomial_p_value(k_lo - 1, n, p) <= 0.005
    if k_hi < n:
        assert binomial_p_value(k_hi + 1, n, p) <= 0.005
