# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a check's numbers say: pass, fail, not enough traffic, or no data - with what was expected and measured.

- "not enough traffic": fewer requests in the check's interval than its min_requests. A success rate of 100% over
  3 requests proves little; this verdict says so instead of passing (it fails a gate: wait for traffic, or lower
  min_requests knowingly).
- "no data": the query found no series, or only NaN (0/0: no request at all) - Flagger's "no values found". With
  no threshold set the check only measures, and passes.
- "pass" / "fail": every value (every series; every point of a range query) within min and max.
"""

import math


def expected_text(check):
    unit = check["unit"]
    parts = []
    if check["min"] is not None:
        parts.append(">= %s%s" % (_fmt(check["min"]), unit))
    if check["max"] is not None:
        parts.append("<= %s%s" % (_fmt(check["max"]), unit))
    return " and ".join(parts) or "measured only"


def _fmt(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "no value"
    return ("%.3f" % value).rstrip("0").rstrip(".")


def _within(check, value):
    if value is None or math.isnan(value):
        return False
    return (check["min"] is None or value >= check["min"]) and (check["max"] is None or value <= check["max"])


def clean(value):
    """NaN and infinities as None: JSON has no such numbers."""
    return None if value is None or math.isnan(value) or math.isinf(value) else value


def judge(check, series, requests):
    """The verdict of one check from its series ([(labels, value)] or [(labels, [(t, value)])]) and request count."""
    thresholds = check["min"] is not None or check["max"] is not None
    if check["range"]:
        values = [v for _labels, points in series for _t, v in points]
    else:
        values = [v for _labels, v in series]
    known = [v for v in values if not math.isnan(v)]
    out = {"name": check["name"], "expected": expected_text(check), "interval": check["interval"],
           "requests": clean(requests), "min_requests": check["min_requests"], "query": check["query"],
           "series": len(series)}
    if len(series) == 1 and not check["range"]:
        out["value"] = clean(series[0][1])
    else:
        out["value"] = [clean(v) for v in values]
    count = 0.0 if requests is None or math.isnan(requests) else requests  # NaN: no series, no request
    if check["min_requests"] and count < check["min_requests"]:
        out.update(verdict="not enough traffic", passed=False, message=(
            "%s: not enough traffic - %s requests in the last %s, fewer than min_requests %d; the check was not "
            "judged (send traffic, wait longer, or lower min_requests)"
            % (check["name"], _fmt(count), check["interval"], check["min_requests"])))
        return out
    if not known:
        out.update(verdict="no data" if thresholds else "measured", passed=not thresholds, message=(
            "%s: no data - the query found %s (is traffic reaching it, and do its labels select the workload?): %s"
            % (check["name"], "no series" if not series else "only NaN (no request at all)", check["query"])))
        return out
    if not thresholds:
        out.update(verdict="measured", passed=True, message="%s: measured %s%s" % (
            check["name"], ", ".join(_fmt(v) for v in known[:5]), check["unit"]))
        return out
    bad = [v for v in values if not _within(check, v)]
    shown = _fmt(known[0]) if len(values) == 1 else "%d of %d values outside (first %s)" % (
        len(bad), len(values), _fmt(bad[0]) if bad else "-")
    if bad:
        out.update(verdict="fail", passed=False, message="%s: %s%s, expected %s (over %s%s)" % (
            check["name"], shown, check["unit"] if len(values) == 1 else "", out["expected"], check["interval"],
            "" if requests is None else ", %s requests" % _fmt(requests)))
    else:
        out.update(verdict="pass", passed=True, message="%s: %s%s, within %s" % (
            check["name"], _fmt(known[0]) if len(values) == 1 else "%d values" % len(values),
            check["unit"] if len(values) == 1 else "", out["expected"]))
    return out
