# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ambient.mesh.report's record: the checks the argument spec cannot express, the JSON record of a run, the file
names it is written under and the short text table (one line per step) that the task returns.

Runs on the controller only (an action plugin's helper); standard library only."""


import datetime
import json
import math
import re

from ansible.module_utils.parsing.convert_bool import boolean

from ansible_collections.ambient.mesh.plugins.module_utils._report.args import METRIC_KEYS, STEP_SPEC, VERDICT_KEYS

# Bumped when a key of the record changes meaning or goes away (adding a key does not bump it).
SCHEMA_VERSION = 1
GENERATOR = "ambient.mesh.report"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and not (
        isinstance(value, float) and math.isnan(value))


def parse_rfc3339(text):
    """The aware datetime of an RFC 3339 date-time (offset required, 'Z' allowed); None when it is not one."""
    if not isinstance(text, str) or not re.match(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}", text):
        return None
    try:
        parsed = datetime.datetime.fromisoformat(re.sub(r"[Zz]$", "+00:00", text))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _verdict_problems(item):
    problems = []
    unknown = sorted(set(item) - set(VERDICT_KEYS))
    if unknown:
        problems.append("unknown key(s) %s; a verdict has %s" % (", ".join(unknown), ", ".join(VERDICT_KEYS)))
    if not isinstance(item.get("name"), str) or not item["name"].strip():
        problems.append("name must be a non-empty text; got %r" % (item.get("name"),))
    try:
        boolean(item.get("passed"), strict=True)
    except TypeError:
        problems.append("passed must be a boolean; got %r" % (item.get("passed"),))
    if item.get("message") is not None and not isinstance(item["message"], str):
        problems.append("message must be a text; got %r" % (item["message"],))
    return problems


def _verdict(item):
    """A verdict with every key, passed as a boolean."""
    out = dict((key, item.get(key)) for key in VERDICT_KEYS)
    out.update(passed=boolean(item["passed"], strict=True), message=item.get("message") or "")
    return out


def _metric_problems(item):
    problems = []
    unknown = sorted(set(item) - set(METRIC_KEYS))
    if unknown:
        problems.append("unknown key(s) %s; a metric has %s" % (", ".join(unknown), ", ".join(METRIC_KEYS)))
    if not isinstance(item.get("name"), str) or not item["name"].strip():
        problems.append("name must be a non-empty text; got %r" % (item.get("name"),))
    for key in ("value", "requests"):
        if item.get(key) is not None and not _is_number(item[key]):
            problems.append("%s must be a number or null; got %r" % (key, item[key]))
    return problems


def _step(step):
    """A step with every key of the spec, its gates, verdicts and metrics complete."""
    out = dict((key, step.get(key)) for key in STEP_SPEC)
    for kind in ("gates", "verdicts"):
        out[kind] = [_verdict(item) for item in step.get(kind) or []]
    out["metrics"] = [dict((key, item.get(key)) for key in METRIC_KEYS) for item in step.get("metrics") or []]
    return out


def check_arguments(args):
    """What is wrong with validated arguments beyond their types, one sentence each (empty when nothing)."""
    problems = []
    for key in ("started_at", "finished_at"):
        if args.get(key) is not None and parse_rfc3339(args[key]) is None:
            problems.append("%s must be an RFC 3339 time with an offset, e.g. 2026-11-23T10:15:30Z; got %r" % (key, args[key]))
    started, finished = parse_rfc3339(args.get("started_at")), parse_rfc3339(args.get("finished_at"))
    if started is not None and finished is not None and finished < started:
        problems.append("finished_at (%s) is before started_at (%s): swapped, or a clock in another time zone without "
                        "its offset?" % (args["finished_at"], args["started_at"]))
    if not args["name"].strip():
        problems.append("name must not be empty (e.g. hello/helloworld)")
    ranges = (("asked", 0, 100, "a percent of requests, 0-100"), ("measured", 0, 1, "a share of responses, 0-1"),
              ("counts", 0, None, "a count of responses"), ("latency", 0, None, "seconds"))
    for index, step in enumerate(args["steps"]):
        where = "steps[%d] (step %s)" % (index, step["step"])
        for key, low, high, meaning in ranges:
            for backend, value in sorted((step.get(key) or {}).items()):
                if value is None and key == "latency":
                    continue
                if not _is_number(value) or value < low or (high is not None and value > high) or (
                        key == "counts" and not isinstance(value, int)):
                    problems.append("%s: %s.%s must be %s; got %r" % (where, key, backend, meaning, value))
        for kind in ("gates", "verdicts"):
            for number, item in enumerate(step.get(kind) or []):
                problems.extend("%s: %s[%d]: %s" % (where, kind, number, p) for p in _verdict_problems(item))
        for number, item in enumerate(step.get("metrics") or []):
            problems.extend("%s: metrics[%d]: %s" % (where, number, p) for p in _metric_problems(item))
        if step.get("error_rate") is not None and not 0 <= step["error_rate"] <= 1:
            problems.append("%s: error_rate must be a fraction 0-1; got %r" % (where, step["error_rate"]))
        if step.get("requests") is not None and step["requests"] < 0:
            problems.append("%s: requests must not be negative; got %r" % (where, step["requests"]))
    return problems


def build_record(args, written_at):
    """The JSON record of a run: what the task was given (the steps as validated, every key present) and when."""
    return {
        "schema_version": SCHEMA_VERSION,
        "generator": GENERATOR,
        "kind": args["kind"],
        "name": args["name"],
        "outcome": args["outcome"],
        "started_at": args.get("started_at"),
        "finished_at": args.get("finished_at"),
        "written_at": written_at.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "steps": [_step(step) for step in args["steps"]],
        "details": dict(args.get("details") or {}),
    }


def record_json(record):
    """The record as written: indented, keys in the record's order; values JSON cannot hold become their text."""
    return json.dumps(record, indent=2, default=str, ensure_ascii=False) + "\n"


def base_name(kind, name, written_at):
    """<kind>-<name, '/' and anything unsafe in a file name as '_'>-<UTC time>, without an extension."""
    stamp = written_at.astimezone(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return "%s-%s-%s" % (kind, _UNSAFE.sub("_", name.strip()).strip("._") or "_", stamp)


# ---- the summary: a short table, one line per step --------------------------------------------------------------
def percent(value, digits=1):
    return "-" if not _is_number(value) else ("%.*f%%" % (digits, value * 100))


def _number(value):
    return ("%d" % value) if float(value).is_integer() else ("%g" % value)


def asked_text(asked):
    return ", ".join("%s %s%%" % (b, _number(v)) for b, v in asked.items()) if asked else "-"


def measured_text(measured):
    return ", ".join("%s %s" % (b, percent(v)) for b, v in measured.items()) if measured else "-"


def seconds(value):
    return "-" if not _is_number(value) else ("%.3fs" % value)


def metrics_text(metrics):
    """The step's metrics in one cell: "request-success-rate 95.1% (612 req)"."""
    parts = []
    for item in metrics or []:
        value = "no value" if not _is_number(item.get("value")) else ("%.4g" % item["value"]) + (item.get("unit") or "")
        requests = "" if not _is_number(item.get("requests")) else " (%d req)" % item["requests"]
        flag = "" if item.get("passed") is not False else " FAILED"
        parts.append("%s %s%s%s" % (item["name"], value, requests, flag))
    return "; ".join(parts) or "-"


def failed_judgements(step):
    return [v["name"] for v in list(step.get("gates") or []) + list(step.get("verdicts") or []) if not v.get("passed")]


def verdict_text(step):
    failed = failed_judgements(step)
    if step.get("passed") is False or failed:
        return "FAILED" + (" (%s)" % ", ".join(failed) if failed else "")
    return "passed" if step.get("passed") else "-"


SUMMARY_COLUMNS = ("step", "label", "asked", "measured", "requests", "errors", "p95", "verdict")


def summary_lines(record):
    """A title line, a header line and one line per step, columns aligned; a metrics column when a step has one."""
    with_metrics = any(step.get("metrics") for step in record["steps"])
    columns = SUMMARY_COLUMNS[:-1] + ("metrics",) * with_metrics + SUMMARY_COLUMNS[-1:]
    rows = [columns]
    for step in record["steps"]:
        latency = step.get("latency") or {}
        rows.append((str(step["step"]), step.get("label") or "-", asked_text(step.get("asked")),
                     measured_text(step.get("measured")), "-" if step.get("requests") is None else str(step["requests"]),
                     percent(step.get("error_rate")), seconds(latency.get("p95")))
                    + (metrics_text(step.get("metrics")),) * with_metrics + (verdict_text(step),))
    widths = [max(len(row[i]) for row in rows) for i in range(len(columns) - 1)]
    count = len(record["steps"])
    lines = ["%s %s: %s (%d step%s)" % (record["kind"], record["name"], record["outcome"], count, "" if count == 1 else "s")]
    for row in rows:
        lines.append("  ".join([cell.ljust(width) for cell, width in zip(row, widths)] + [row[-1]]).rstrip())
    return lines
