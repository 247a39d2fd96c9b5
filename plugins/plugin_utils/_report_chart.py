# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ambient.mesh.report's chart: asked vs measured share per backend over the steps, the error rate, and the
latency, drawn with matplotlib as SVG text to embed in the HTML report.

matplotlib is needed on the controller only (this runs in an action plugin, never on a managed host). Without it
the report is still written, with its tables and a note that the chart needs matplotlib."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import math
import re

try:
    import matplotlib
    from matplotlib.figure import Figure
except ImportError:
    HAS_MATPLOTLIB = False
else:
    HAS_MATPLOTLIB = True

LIBRARY = "matplotlib"
INSTALL_HINT = "the chart needs matplotlib on the controller (pip install matplotlib): the report has the tables only"
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_NAN = float("nan")


def series_id(kind, backend=None):
    """The SVG id of a series: asked-<backend>, measured-<backend>, error-rate, latency-p50, latency-p95."""
    return kind if backend is None else "%s-%s" % (kind, _ID_UNSAFE.sub("_", str(backend)))


def _value(value, scale=1.0):
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value):
        return value * scale
    return _NAN


def _backends(steps):
    seen = []
    for step in steps:
        for key in ("asked", "measured"):
            seen.extend(b for b in (step.get(key) or {}) if b not in seen)
    return seen


def chart_series(steps):
    """The panels to draw, as data: [(panel title, y label, [(series id, legend label, style, values)])].

    A panel is drawn only when some step has its figures (a fault check asks for no split)."""
    panels = []
    shares = []
    for backend in _backends(steps):
        asked = [_value((s.get("asked") or {}).get(backend)) for s in steps]
        measured = [_value((s.get("measured") or {}).get(backend), 100.0) for s in steps]
        if not all(math.isnan(v) for v in asked):
            shares.append((series_id("asked", backend), "%s asked" % backend, "asked", asked))
        if not all(math.isnan(v) for v in measured):
            shares.append((series_id("measured", backend), "%s measured" % backend, "measured", measured))
    if shares:
        panels.append(("Share of requests: asked vs measured", "% of requests", shares))
    errors = [_value(s.get("error_rate"), 100.0) for s in steps]
    if not all(math.isnan(v) for v in errors):
        panels.append(("Error rate", "% of requests", [(series_id("error-rate"), "error rate", "error", errors)]))
    latency = []
    for quantile in ("p50", "p95"):
        values = [_value((s.get("latency") or {}).get(quantile)) for s in steps]
        if not all(math.isnan(v) for v in values):
            latency.append((series_id("latency-" + quantile), quantile, quantile, values))
    if latency:
        panels.append(("Latency", "seconds", latency))
    return panels


_STYLE = {"asked": dict(linestyle="--", marker="s"), "measured": dict(linestyle="-", marker="o"),
          "error": dict(linestyle="-", marker="o", color="#c0392b"),
          "p50": dict(linestyle="-", marker="o", color="#2c3e50"), "p95": dict(linestyle="--", marker="^", color="#8e44ad")}


def render_svg(steps, title):
    """(svg text, None), or (None, why there is no chart): matplotlib missing, or no step measured anything."""
    if not HAS_MATPLOTLIB:
        return None, INSTALL_HINT
    panels = chart_series(steps)
    if not panels:
        return None, "no step has a share, an error rate or a latency to chart"
    labels = [str(s.get("label") or "step %s" % s["step"]) for s in steps]
    positions = list(range(len(steps)))
    # deterministic ids and no timestamp, so the same record gives the same SVG; text kept as text (searchable)
    with matplotlib.rc_context({"svg.hashsalt": "ambient.mesh.report", "svg.fonttype": "none"}):
        figure = Figure(figsize=(8, 2.6 * len(panels) + 0.6))
        axes = figure.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
        colours = {}
        for ax, (panel_title, ylabel, series) in zip(axes, panels):
            for sid, legend, style, values in series:
                options = dict(_STYLE[style])
                if style in ("asked", "measured"):
                    backend = legend.rsplit(" ", 1)[0]
                    options["color"] = colours.setdefault(backend, "C%d" % len(colours))
                ax.plot(positions, values, label=legend, gid=sid, **options)
            ax.set_title(panel_title, fontsize=10, loc="left")
            ax.set_ylabel(ylabel)
            if ylabel == "% of requests":
                ax.set_ylim(bottom=0, top=max(105, ax.get_ylim()[1]) if "asked" in panel_title else None)
            else:
                ax.set_ylim(bottom=0)
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=8, loc="best")
        axes[-1].set_xticks(positions)
        axes[-1].set_xticklabels(labels, rotation=20 if max(len(x) for x in labels) > 8 else 0, ha="right"
                                 if max(len(x) for x in labels) > 8 else "center")
        axes[-1].set_xlabel("step")
        figure.suptitle(title)
        figure.tight_layout()
        out = io.StringIO()
        figure.savefig(out, format="svg", metadata={"Date": None})
    text = out.getvalue()
    # inline in HTML: from the <svg> element on (no XML declaration or DOCTYPE)
    return text[text.index("<svg"):], None
