# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ambient.mesh.report's chart, drawn with matplotlib as SVG text to embed in the HTML report.

A canary's steps are one route's progression: asked vs measured share per backend over the steps with the band in
which the share gate passes (the exact binomial test's acceptance region at each step's expected share), the error
rate and the latency with the gates' limits the record carries. A fault check's steps are unrelated checks: one
panel each, with its own caption, and no line joining one check to the next.

matplotlib is needed on the controller only (this runs in an action plugin, never on a managed host). Without it
the report is still written, with its tables and a note that the chart needs matplotlib."""


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

from ansible_collections.ambient.mesh.plugins.module_utils._traffic.verdicts import binomial_p_value

LIBRARY = "matplotlib"
# the share verdict's message names its confidence ("99% Wilson intervals"); traffic_probe's default otherwise
_CONFIDENCE = re.compile(r"(\d+)% Wilson intervals")
DEFAULT_CONFIDENCE = 0.99
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
        for key in ("asked", "measured", "counts"):
            seen.extend(b for b in (step.get(key) or {}) if b not in seen)
    return seen


def _was_measured(step):
    """A step whose probe named a backend: a backend it asked for and did not see got 0% (traffic_probe's shares
    list only the backends that answered)."""
    return bool(step.get("measured")) or any(_value(c) > 0 for c in (step.get("counts") or {}).values())


def _judgements(step):
    return list(step.get("gates") or []) + list(step.get("verdicts") or [])


def _limit(step, name, key):
    """A bound a step's gate or verdict carries (the error-rate gate's max, the latency verdict's p95_max), or NaN."""
    for item in _judgements(step):
        expected = item.get("expected")
        if item.get("name") == name and isinstance(expected, dict):
            return _value(expected.get(key))
    return _NAN


def _share_gate(step):
    """(identified responses, {backend: expected share 0-1}, level) of a step's share verdict, or None."""
    for item in _judgements(step):
        if item.get("name") == "shares" and isinstance(item.get("expected"), dict) and isinstance(item.get("measured"), dict):
            counts = [m.get("count") for m in item["measured"].values() if isinstance(m, dict)]
            if not counts or not all(isinstance(c, int) for c in counts):
                return None
            match = _CONFIDENCE.search(item.get("message") or "")
            confidence = int(match.group(1)) / 100.0 if match else DEFAULT_CONFIDENCE
            return sum(counts), item["expected"], (1 - confidence) / max(1, len(item["measured"]))
    return None


def accepted_range(n, p, level):
    """The shares (0-1) of n responses that the exact binomial test at `level` accepts for an expected share p: the
    band in which a step's measured share passes the share gate."""
    if n <= 0:
        return _NAN, _NAN
    mode = int(round(n * p))

    def ok(k):
        return binomial_p_value(k, n, p) > level

    if not ok(mode):
        return _NAN, _NAN
    low, high = 0, mode  # the smallest accepted k (p-values grow towards the mode)
    while low < high:
        mid = (low + high) // 2
        if ok(mid):
            high = mid
        else:
            low = mid + 1
    first = low
    low, high = mode, n  # the largest accepted k
    while low < high:
        mid = (low + high + 1) // 2
        if ok(mid):
            low = mid
        else:
            high = mid - 1
    return 100.0 * first / n, 100.0 * low / n


def chart_series(steps):
    """The canary's panels, as data: [(panel id, caption, y label, [(series id, legend label, style, values)])].

    The steps are one route's progression: asked vs measured share per backend with the band the share gate
    accepts, the error rate with its limit, the latency with the p95 limit. A panel is drawn only when some step
    has its figures."""
    panels = []
    shares = []
    gates = [_share_gate(s) for s in steps]
    for backend in _backends(steps):
        asked = [_value((s.get("asked") or {}).get(backend)) for s in steps]
        measured = [_value((s.get("measured") or {}).get(backend, 0.0 if _was_measured(s) else None), 100.0)
                    for s in steps]
        bands = [accepted_range(g[0], float(g[1][backend]), g[2]) if g and backend in g[1] else (_NAN, _NAN)
                 for g in gates]
        if not all(math.isnan(v) for v in asked):
            shares.append((series_id("asked", backend), "%s asked" % backend, "asked", asked))
        if not all(math.isnan(low) for low, _high in bands):
            shares.append((series_id("bound", backend), "%s: the gate's band" % backend, "band", bands))
        if not all(math.isnan(v) for v in measured):
            shares.append((series_id("measured", backend), "%s measured" % backend, "measured", measured))
    if shares:
        panels.append(("shares", "Share per version: asked (dashed), measured (solid), where the share gate passes "
                       "(shaded)", "% of requests", shares))
    errors = [_value(s.get("error_rate"), 100.0) for s in steps]
    if not all(math.isnan(v) for v in errors):
        series = [(series_id("error-rate"), "error rate", "error", errors)]
        limit = [_limit(s, "error_rate", "max") * 100.0 for s in steps]
        if not all(math.isnan(v) for v in limit):
            series.append((series_id("limit-error-rate"), "gate: at most", "limit", limit))
        panels.append(("error-rate", "Error rate per step, and the error-rate gate's limit", "% of requests", series))
    latency = []
    for quantile in ("p50", "p95"):
        values = [_value((s.get("latency") or {}).get(quantile)) for s in steps]
        if not all(math.isnan(v) for v in values):
            latency.append((series_id("latency-" + quantile), quantile, quantile, values))
    limit = [_limit(s, "latency", "p95_max") for s in steps]
    if latency and not all(math.isnan(v) for v in limit):
        latency.append((series_id("limit-latency-p95"), "gate: p95 at most", "limit", limit))
    if latency:
        panels.append(("latency", "Latency per step (p50, p95), and the p95 gate's limit", "seconds", latency))
    return panels


def check_panels(steps):
    """A fault check's panels: one per check, [(panel id, caption, [(series id, label, value, limit or None)])].

    The checks are unrelated (another Service, another fault), so nothing joins them: each has its own panel, with
    its error rate and its latency, and the bounds its verdicts carry."""
    panels = []
    for index, step in enumerate(steps):
        latency = step.get("latency") or {}
        bars = [(series_id("check-%d-error-rate" % (index + 1)), "error rate (%)",
                 _value(step.get("error_rate"), 100.0), _NAN)]
        rate = [i for i in _judgements(step) if i.get("name") == "status_rate" and isinstance(i.get("expected"), dict)]
        if rate:
            bars[0] = bars[0][:3] + (_value(rate[0]["expected"].get("percentage")),)
        bounds = dict((i.get("name"), i.get("expected")) for i in _judgements(step) if isinstance(i.get("expected"), dict))
        lat = bounds.get("latency") or {}
        for quantile, bound in (("p50", "p50_min"), ("p95", "p95_max")):
            bars.append((series_id("check-%d-latency-%s" % (index + 1, quantile)), "%s (s)" % quantile,
                         _value(latency.get(quantile)), _value(lat.get(bound))))
        if all(math.isnan(b[2]) for b in bars):
            continue
        verdict = "passed" if step.get("passed") else ("FAILED" if step.get("passed") is False else "not judged")
        panels.append(("check-%d" % (index + 1), "Check %s: %s - %s" % (
            step.get("step"), step.get("label") or "step %s" % step.get("step"), verdict), bars))
    return panels


_STYLE = {"asked": dict(linestyle="--", marker="s"), "measured": dict(linestyle="-", marker="o"),
          "error": dict(linestyle="-", marker="o", color="#c0392b"),
          "limit": dict(linestyle=":", marker="_", color="#7f8c8d"),
          "p50": dict(linestyle="-", marker="o", color="#2c3e50"), "p95": dict(linestyle="--", marker="^", color="#8e44ad")}


def _is_checks(steps):
    """A fault check's steps ask for no split: each is a check of its own, not a step of one progression."""
    return not any(step.get("asked") for step in steps)


def render_svg(steps, title):
    """(svg text, None), or (None, why there is no chart): matplotlib missing, or no step measured anything."""
    if not HAS_MATPLOTLIB:
        return None, INSTALL_HINT
    figure = build_figure(steps, title)
    if figure is None:
        return None, "no step has a share, an error rate or a latency to chart"
    # deterministic ids and no timestamp, so the same record gives the same SVG; text kept as text (searchable)
    with matplotlib.rc_context({"svg.hashsalt": "ambient.mesh.report", "svg.fonttype": "none"}):
        out = io.StringIO()
        figure.savefig(out, format="svg", metadata={"Date": None})
    text = out.getvalue()
    # inline in HTML: from the <svg> element on (no XML declaration or DOCTYPE)
    return text[text.index("<svg"):], None


def build_figure(steps, title):
    """The matplotlib Figure of the chart, or None when there is nothing to draw."""
    if _is_checks(steps):
        panels = check_panels(steps)
        if not panels:
            return None
        return _checks_figure(panels, title)
    panels = chart_series(steps)
    if not panels:
        return None
    return _progression_figure(steps, panels, title)


def _panel_group(ax, panel_id):
    """Each panel's axes carry its id, so the SVG says which panel a drawing belongs to."""
    ax.set_gid("panel-" + panel_id)


def _progression_figure(steps, panels, title):
    labels = [str(s.get("label") or "step %s" % s["step"]) for s in steps]
    positions = list(range(len(steps)))
    figure = Figure(figsize=(8, 2.8 * len(panels) + 0.6))
    axes = figure.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    colours = {}
    for ax, (panel_id, caption, ylabel, series) in zip(axes, panels):
        _panel_group(ax, panel_id)
        for sid, legend, style, values in series:
            backend = legend.rsplit(" ", 1)[0].split(":")[0]
            if style == "band":
                low = [b[0] for b in values]
                high = [b[1] for b in values]
                colour = colours.setdefault(backend, "C%d" % len(colours))
                ax.fill_between(positions, low, high, color=colour, alpha=0.15, linewidth=0, gid=sid, label=legend)
                continue
            options = dict(_STYLE[style])
            if style in ("asked", "measured"):
                options["color"] = colours.setdefault(backend, "C%d" % len(colours))
            ax.plot(positions, values, label=legend, gid=sid, **options)
        ax.set_title(caption, fontsize=9, loc="left")
        ax.set_ylabel(ylabel)
        if panel_id == "shares":
            ax.set_ylim(bottom=-2, top=max(105, ax.get_ylim()[1]))
        else:
            ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    axes[-1].set_xticks(positions)
    wide = max(len(x) for x in labels) > 8
    axes[-1].set_xticklabels(labels, rotation=20 if wide else 0, ha="right" if wide else "center")
    axes[-1].set_xlabel("step")
    figure.suptitle(title)
    figure.tight_layout()
    return figure


def _checks_figure(panels, title):
    figure = Figure(figsize=(8, 1.9 * len(panels) + 0.8))
    axes = figure.subplots(len(panels), 1, squeeze=False)[:, 0]
    for ax, (panel_id, caption, bars) in zip(axes, panels):
        _panel_group(ax, panel_id)
        names = [b[1] for b in bars]
        rows = list(range(len(bars)))
        colours = ["#c0392b", "#2c3e50", "#8e44ad"]
        top = 0.0
        for row, (sid, _name, value, limit) in zip(rows, bars):
            if not math.isnan(value):
                ax.barh([row], [value], color=colours[row % 3], gid=sid, height=0.6)
                ax.annotate("%g" % round(value, 4), (value, row), xytext=(3, 0), textcoords="offset points",
                            va="center", fontsize=7)
                top = max(top, value)
            if not math.isnan(limit):
                ax.plot([limit, limit], [row - 0.4, row + 0.4], color="#7f8c8d", linestyle=":", gid=sid + "-bound")
                top = max(top, limit)
        ax.set_yticks(rows)
        ax.set_yticklabels(names, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(left=0, right=max(1.0, top * 1.2))
        ax.set_title(caption, fontsize=9, loc="left")
        ax.grid(True, axis="x", alpha=0.3)
    figure.suptitle(title + " (one panel per check; dotted: the bound its verdict judged)", fontsize=10)
    figure.tight_layout()
    return figure
