# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The checks a run judges: built-in ones named as Flagger names them, and free PromQL with placeholders.

Flagger's built-in Istio checks (fluxcd/flagger pkg/metrics/observers/istio.go) select
`reporter="destination"`: the metrics of a sidecar on the server side. In ambient mode no sidecar reports: the
request metrics come from the waypoint, `reporter="waypoint"` (istio/proxy istio_stats.cc, Reporter ServerGateway),
and ztunnel reports no istio_requests_total at all - so Flagger's queries as they stand find no series in an
ambient mesh. The built-ins here are Flagger's queries with the reporter of the mesh mode (waypoint by default):

- request-success-rate: the percentage of requests not answered 5xx (Flagger: min 99);
- request-duration: a quantile of the duration in milliseconds, p99 as Flagger's (Flagger: max 500).

They select the workload (destination_workload, a regex as Flagger's `target`) in its namespace; without a
workload, the Service (destination_service_name, and destination_service_namespace). At a waypoint a request that
reached no pod - a fault abort, no healthy upstream - has destination_workload "unknown", so it counts only in a
Service's check. Each built-in also counts the requests in its window, for the "not enough traffic" verdict.

Placeholders in free PromQL: $namespace, $service, $workload, $version, $interval, $reporter ($$ for a dollar
sign); PromQL itself has no `$`, and Jinja2 does not touch it in a playbook.
"""

import re
from string import Template

from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError

BUILTINS = ("request-success-rate", "request-duration")
PLACEHOLDERS = ("namespace", "service", "workload", "version", "interval", "reporter")
# Prometheus's duration syntax (model.ParseDuration): units in descending order, each at most once
DURATION = re.compile(r"^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?$")
UNITS = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)


def seconds_of(text, what):
    """Seconds of a Prometheus duration ("1m", "90s", "1h30m"), or AmbientMeshError naming the option."""
    m = DURATION.match(str(text or ""))
    if not m or not any(m.groups()):
        raise AmbientMeshError("%s: %r is not a Prometheus duration (for example 30s, 1m, 1h30m)" % (what, text))
    total = sum(int(v) * unit for v, unit in zip(m.groups(), UNITS) if v)
    if total <= 0:
        raise AmbientMeshError("%s: %r is no time at all" % (what, text))
    return total


def _selector(ctx):
    """The label matchers of a built-in: the reporter, then the workload in its namespace or the Service."""
    parts = ['reporter="%s"' % ctx["reporter"]]
    if ctx.get("workload"):
        parts += ['destination_workload_namespace="%s"' % ctx["namespace"], 'destination_workload=~"%s"' % ctx["workload"]]
    else:
        parts += ['destination_service_namespace="%s"' % ctx["namespace"], 'destination_service_name=~"%s"' % ctx["service"]]
    if ctx.get("version"):
        parts.append('destination_version="%s"' % ctx["version"])
    return ", ".join(parts)


def builtin_queries(metric, ctx, quantile):
    """(the check's PromQL, the PromQL of its request count) for a built-in."""
    sel, interval = _selector(ctx), ctx["interval"]
    requests = "sum(increase(istio_requests_total{%s}[%s]))" % (sel, interval)
    if metric == "request-success-rate":
        query = ('sum(rate(istio_requests_total{%s, response_code!~"5.*"}[%s])) / sum(rate(istio_requests_total{%s}[%s]))'
                 ' * 100' % (sel, interval, sel, interval))
    else:
        query = ("histogram_quantile(%s, sum(rate(istio_request_duration_milliseconds_bucket{%s}[%s])) by (le))"
                 % (_number(quantile), sel, interval))
    return query, requests


def render(text, ctx, what):
    """Free PromQL with its placeholders filled from the check's context."""
    try:
        return Template(text).substitute({k: "" if ctx.get(k) is None else str(ctx[k]) for k in PLACEHOLDERS})
    except KeyError as exc:
        raise AmbientMeshError("%s: unknown placeholder $%s; the placeholders are %s"
                               % (what, exc.args[0], ", ".join("$" + p for p in PLACEHOLDERS)))
    except ValueError as exc:
        raise AmbientMeshError("%s: %s (write $$ for a dollar sign)" % (what, exc))


def plan(params):
    """Every check, validated and rendered, before any query: [{name, kind, query, requests_query, ...}]."""
    checks, seen = [], set()
    for index, check in enumerate(params["checks"] or []):
        what = "checks[%d]" % index
        name = check.get("name") or check.get("metric")
        if not name:
            raise AmbientMeshError("%s: give it a name (or a built-in metric, whose name it then takes)" % what)
        what = "checks[%d] (%s)" % (index, name)
        if name in seen:
            raise AmbientMeshError("%s: two checks are named %r; names tell the results apart" % (what, name))
        seen.add(name)
        if bool(check.get("metric")) == bool(check.get("query")):
            raise AmbientMeshError("%s: give either metric (%s) or query (your PromQL), not %s"
                                   % (what, " or ".join(BUILTINS), "both" if check.get("metric") else "neither"))
        ctx = dict((k, check.get(k) if check.get(k) is not None else params.get(k)) for k in PLACEHOLDERS)
        seconds_of(ctx["interval"], what + " interval")
        lo, hi = check.get("min"), check.get("max")
        if lo is not None and hi is not None and lo > hi:
            raise AmbientMeshError("%s: min %g is above max %g; no value can pass" % (what, lo, hi))
        quantile = check.get("quantile")
        if quantile is not None and not 0 <= quantile <= 1:
            raise AmbientMeshError("%s: quantile must be from 0 to 1, not %g" % (what, quantile))
        if check.get("metric"):
            if quantile is not None and check["metric"] != "request-duration":
                raise AmbientMeshError("%s: quantile applies to request-duration only" % what)
            if not ctx.get("namespace") or not (ctx.get("workload") or ctx.get("service")):
                raise AmbientMeshError("%s: the built-in %s needs namespace and a workload or a service to select "
                                       "(set them on the check or for the whole task)" % (what, check["metric"]))
            query, requests = builtin_queries(check["metric"], ctx, 0.99 if quantile is None else quantile)
        else:
            if quantile is not None:
                raise AmbientMeshError("%s: quantile applies to the built-in request-duration only" % what)
            query = render(check["query"], ctx, what + " query")
            requests = render(check["requests_query"], ctx, what + " requests_query") if check.get("requests_query") else None
        min_requests = check.get("min_requests")
        if min_requests is None:
            min_requests = 1 if check.get("metric") else 0
        if min_requests < 0:
            raise AmbientMeshError("%s: min_requests must be 0 or more, not %d" % (what, min_requests))
        if min_requests and requests is None:
            raise AmbientMeshError("%s: min_requests needs requests_query, the PromQL that counts the requests "
                                   "(the built-ins count their own)" % what)
        span = seconds_of(check["range"], what + " range") if check.get("range") else None
        step = seconds_of(check.get("step") or "15s", what + " step") if span else None
        checks.append({"name": name, "metric": check.get("metric"), "query": query, "requests_query": requests,
                       "min": lo, "max": hi, "min_requests": min_requests,
                       "range": span, "step": step, "interval": ctx["interval"], "unit": _unit(check)})
    if not checks:
        raise AmbientMeshError("checks is empty: give at least one check (a built-in metric or your query)")
    return checks


def _unit(check):
    return {"request-success-rate": "%", "request-duration": "ms"}.get(check.get("metric"), check.get("unit") or "")


def _number(value):
    return ("%f" % value).rstrip("0").rstrip(".") or "0"
