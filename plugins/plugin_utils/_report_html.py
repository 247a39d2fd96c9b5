# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ambient.mesh.report's HTML: one self-contained file (inline CSS and SVG, nothing fetched) with the run, the
chart, a table of the steps and, per step, its gates and verdicts. Every value from the record is escaped."""


import json
from html import escape

from ansible_collections.ambient.mesh.plugins.plugin_utils._report_record import (
    asked_text,
    measured_text,
    metrics_text,
    percent,
    seconds,
    verdict_text,
)

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 72em; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.passed { color: #1e7e34; font-weight: 600; }
.failed { color: #b00020; font-weight: 600; }
.note { background: #fff8e1; border: 1px solid #f0c36d; padding: 0.6em; }
pre { background: #f7f7f7; padding: 0.6em; overflow-x: auto; }
figure { margin: 0 0 1.5em; }
"""


def _cell(text, cls=None):
    return "<td%s>%s</td>" % (' class="%s"' % cls if cls else "", escape(str(text)))


def _verdict_class(text):
    return "failed" if text.startswith("FAILED") else ("passed" if text == "passed" else None)


def _json(value):
    return escape(json.dumps(value, indent=2, default=str, ensure_ascii=False))


def _steps_table(steps):
    head = ("step", "label", "asked", "measured", "counts", "requests", "error rate", "p50", "p95", "p99", "max",
            "metrics (Prometheus)", "verdict")
    rows = []
    for step in steps:
        latency = step.get("latency") or {}
        counts = ", ".join("%s %s" % (b, n) for b, n in (step.get("counts") or {}).items()) or "-"
        verdict = verdict_text(step)
        rows.append("<tr>%s</tr>" % "".join([
            _cell(step["step"]), _cell(step.get("label") or "-"), _cell(asked_text(step.get("asked"))),
            _cell(measured_text(step.get("measured"))), _cell(counts),
            _cell("-" if step.get("requests") is None else step["requests"], "num"),
            _cell(percent(step.get("error_rate"), 2), "num")]
            + [_cell(seconds(latency.get(q)), "num") for q in ("p50", "p95", "p99", "max")]
            + [_cell(metrics_text(step.get("metrics"))), _cell(verdict, _verdict_class(verdict))]))
    return '<table class="steps"><tr>%s</tr>%s</table>' % ("".join("<th>%s</th>" % h for h in head), "".join(rows))


def _judgements(step):
    rows = []
    for kind in ("gates", "verdicts"):
        for item in step.get(kind) or []:
            passed = item.get("passed")
            rows.append("<tr>%s</tr>" % "".join([
                _cell(kind[:-1]), _cell(item.get("name")),
                _cell("passed" if passed else "FAILED", "passed" if passed else "failed"),
                "<td><code>%s</code></td>" % _json(item.get("expected")),
                "<td><code>%s</code></td>" % _json(item.get("measured")), _cell(item.get("message") or "")]))
    if not rows:
        return "<p>No gates or verdicts for this step.</p>"
    head = "".join("<th>%s</th>" % h for h in ("", "name", "result", "expected", "measured", "message"))
    return "<table><tr>%s</tr>%s</table>" % (head, "".join(rows))


def render_html(record, chart_svg, chart_note):
    """The report page. chart_svg is inline SVG text, or None; then chart_note says why there is no chart."""
    title = "%s %s: %s" % (record["kind"], record["name"], record["outcome"])
    facts = [("kind", record["kind"]), ("name", record["name"]), ("outcome", record["outcome"]),
             ("started", record.get("started_at") or "-"), ("finished", record.get("finished_at") or "-"),
             ("written", record["written_at"]), ("steps", len(record["steps"])),
             ("record", "schema version %s, written by %s" % (record["schema_version"], record["generator"]))]
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        "<title>%s</title>" % escape(title), "<style>%s</style>" % _CSS, "</head>", "<body>",
        "<h1>%s</h1>" % escape(title),
        "<table>%s</table>" % "".join("<tr><th>%s</th>%s</tr>" % (escape(k), _cell(v)) for k, v in facts),
        "<h2>Chart</h2>",
    ]
    if chart_svg:
        parts.append('<figure class="chart">%s<figcaption>Asked (dashed) vs measured (solid) share per backend over '
                     "the steps, the error rate and the latency.</figcaption></figure>" % chart_svg)
    else:
        parts.append('<p class="note">No chart: %s.</p>' % escape(chart_note or "nothing to chart"))
    parts += ["<h2>Steps</h2>", _steps_table(record["steps"]) if record["steps"] else "<p>No steps were run.</p>"]
    for step in record["steps"]:
        label = (": " + escape(step["label"])) if step.get("label") else ""
        parts.append("<h3>Step %s%s</h3>" % (escape(str(step["step"])), label))
        parts.append(_judgements(step))
        if step.get("details"):
            parts.append("<details><summary>details</summary><pre>%s</pre></details>" % _json(step["details"]))
    if record.get("details"):
        parts += ["<h2>Details</h2>", "<pre>%s</pre>" % _json(record["details"])]
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)
