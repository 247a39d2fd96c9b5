# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A split's timeouts and retry policy: checked, and written as the HTTPRoute rule's `timeouts` and `retry`.

What Istio 1.30.3 makes of them (pilot/pkg/config/kube/gateway/conversion.go convertHTTPRoute):
- timeouts.request is the route timeout; it covers every attempt and the waits between them.
- timeouts.backendRequest is the per-try timeout when the rule has a retry, and otherwise the route timeout.
- retry: `attempts` retries (2 when unset, 0 for none) on connection failures, refused streams and each of
  `codes`; `backoff` is the base of Envoy's jittered exponential back-off (25 ms when unset).
- Without retry, Istio's default policy applies (route/retry/retry.go): 2 retries of connection failures, and of
  no status code - an app's 503 reaches the client.
- A fault injected at the same waypoint is applied before the router: its delay does not count toward the
  timeout and its aborts are never retried (Envoy fault filter, router.cc).

`timeouts` is in the Gateway API standard channel; `retry` only in the experimental channel's HTTPRoute CRD.
An API server whose CRD lacks the field drops it silently, so the module reads the CRD first and refuses.
"""

import re

from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError

# Gateway API Duration (GEP-2257), the CRD's pattern for every duration of an HTTPRoute rule
DURATION = re.compile(r"^([0-9]{1,5}(h|m|s|ms)){1,4}$")
DURATION_HELP = "a Gateway API duration (GEP-2257): 1 to 4 parts of up to 5 digits and a unit h, m, s or ms, like 1s, 500ms, 1m30s"
UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
# Go net/http status.go StatusText for 400-599: istiod's parseRetryOn takes a number as a status code only when
# Go knows its text (retry.go); any other number would become an unknown retry condition.
GO_STATUS_CODES = frozenset(list(range(400, 419)) + [421, 422, 423, 424, 425, 426, 428, 429, 431, 451]
                            + list(range(500, 509)) + [510, 511])
HTTPROUTE_CRD = "httproutes.gateway.networking.k8s.io"
RULE_FIELDS = ("timeouts", "retry")


def seconds(text):
    return sum(int(n) * UNITS[u] for n, u in re.findall(r"([0-9]+)(ms|h|m|s)", text))


def _duration(value, what, problems):
    if value is None:
        return None
    if not isinstance(value, str) or not DURATION.match(value):
        problems.append("%s %r is not %s" % (what, value, DURATION_HELP))
        return None
    return value


def check(spec, where, problems):
    """The split's `timeouts` and `retry` as the HTTPRoute rule fields, or problems (before any change)."""
    out = {}
    timeouts = spec.get("timeouts") or {}
    request = _duration(timeouts.get("request"), "%s: timeouts.request" % where, problems)
    backend = _duration(timeouts.get("backend_request"), "%s: timeouts.backend_request" % where, problems)
    if request is not None and backend is not None and seconds(request) != 0 and seconds(backend) > seconds(request):
        # the CRD's CEL rule on HTTPRouteTimeouts
        problems.append("%s: timeouts.backend_request %s is longer than timeouts.request %s (backendRequest timeout "
                        "cannot be longer than request timeout)" % (where, backend, request))
    rule_timeouts = dict((k, v) for k, v in (("request", request), ("backendRequest", backend)) if v is not None)
    if rule_timeouts:
        out["timeouts"] = rule_timeouts
    retry = spec.get("retry")
    if retry is not None:
        rule_retry = {}
        attempts = retry.get("attempts")
        if attempts is not None:
            if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 0:
                problems.append("%s: retry.attempts %r is not a whole number from 0 (0: no retries at all, not even "
                                "Istio's default ones)" % (where, attempts))
            else:
                rule_retry["attempts"] = attempts
        codes = retry.get("codes") or []
        bad = [c for c in codes if isinstance(c, bool) or not isinstance(c, int) or c not in GO_STATUS_CODES]
        if bad:
            problems.append("%s: retry.codes %s: each must be an HTTP status from 400 to 599 that Go's net/http "
                            "knows (istiod's parseRetryOn takes no other)" % (where, ", ".join(repr(c) for c in bad)))
        elif codes:
            rule_retry["codes"] = sorted(set(codes))
        backoff = _duration(retry.get("backoff"), "%s: retry.backoff" % where, problems)
        if backoff is not None and seconds(backoff) == 0:
            # Envoy route_components.proto RetryBackOff.base_interval: required, gt {} - istiod passes 0 on and the
            # waypoint would reject the route
            problems.append("%s: retry.backoff %s: Envoy needs a back-off above 0 (its waypoint would reject the route); "
                            "leave it out for Envoy's 25 ms" % (where, backoff))
        elif backoff is not None:
            rule_retry["backoff"] = backoff
        out["retry"] = rule_retry
    return out


def read_rule_fields(api, crd_kind):
    """rule_fields of the cluster's HTTPRoute CRD; False when it cannot be read (no right to read CRDs: the check
    is skipped, with a warning, rather than the run refused)."""
    try:
        return rule_fields(api.get(crd_kind[0], crd_kind[1], HTTPROUTE_CRD))
    except AmbientMeshError:
        return False


def rule_fields(crd):
    """The resilience fields the HTTPRoute CRD's v1 schema has on a rule (timeouts: standard channel; retry:
    experimental), or None when the CRD is missing."""
    if crd is None:
        return None
    for version in (crd.get("spec") or {}).get("versions") or []:
        if version.get("name") == "v1" and version.get("served"):
            props = ((((((version.get("schema") or {}).get("openAPIV3Schema") or {}).get("properties") or {})
                       .get("spec") or {}).get("properties") or {}).get("rules") or {}).get("items", {}).get("properties") or {}
            return set(f for f in RULE_FIELDS if f in props)
    return set()


def crd_problem(fields, wanted, where):
    """A rule field the cluster's HTTPRoute CRD lacks: the API server would drop it without a word."""
    if not isinstance(fields, set):
        return None
    missing = sorted(f for f in wanted if f not in fields)
    if not missing:
        return None
    if "retry" in missing:
        return ("%s: retry needs the HTTPRoute CRD of the Gateway API experimental channel, and the cluster's has no "
                "retry field: the API server would drop it and Istio's default policy (no status code retried) would "
                "apply. Install the experimental channel (ambient.mesh.gateway_api_crds with channel: experimental and "
                "allow_channel_switch: true), or leave retry out" % where)
    return ("%s: the cluster's HTTPRoute CRD has no %s field (a Gateway API release before v1.2?): the API server "
            "would drop it; upgrade the CRDs with ambient.mesh.gateway_api_crds" % (where, ", ".join(missing)))


def unchecked_warning(fields, wanted, where):
    """A warning when the CRD could not be read (read_rule_fields gave False) and the split writes its fields."""
    if fields is False and wanted:
        return ("%s: the HTTPRoute CRD could not be read (no right to get customresourcedefinitions?), so whether it "
                "keeps %s was not checked; an API server drops a field its CRD lacks" % (where, ", ".join(sorted(wanted))))
    return None


def describe(fields):
    """A line for messages and the result: what the client will see of the route's policy, as istiod converts it
    (conversion.go) and Envoy applies it (router.cc finalTimeout drops a per-try timeout not under the route's)."""
    timeouts = fields.get("timeouts") or {}
    retry = fields.get("retry")
    request = seconds(timeouts["request"]) if "request" in timeouts else 0
    backend = seconds(timeouts["backendRequest"]) if "backendRequest" in timeouts else 0
    parts = []
    if retry is None and backend:
        parts.append("request timeout %s (without retry istiod makes backend_request the route timeout)"
                     % timeouts["backendRequest"])
    elif request:
        parts.append("request timeout %s" % timeouts["request"])
    if retry is not None and backend:
        parts.append(("per-try timeout %s" % timeouts["backendRequest"]) if not request or backend < request
                     else "no per-try timeout (Envoy drops one not shorter than the request timeout)")
    if retry is not None:
        attempts = retry.get("attempts", 2)
        codes = retry.get("codes") or []
        parts.append("no retries" if attempts == 0 else "%d %s on connection failures%s" % (
            attempts, "retry" if attempts == 1 else "retries", (" and " + ", ".join(str(c) for c in codes)) if codes else ""))
    return "; ".join(parts) or "no timeout"


def result(fields):
    """The split result's policy: the rule fields as written and their summary; {} without them."""
    if not fields:
        return {}
    return dict(fields, summary=describe(fields))


# RFC 9110 9.2.2: the idempotent methods
IDEMPOTENT_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE")
# Envoy retry_on conditions that retry after the app may have handled the request (an answer's status, or a reset
# after the request was sent)
STATUS_CONDITIONS = ("5xx", "gateway-error", "retriable-4xx", "retriable-status-codes", "reset")


def retried_statuses(rule, kind):
    """What an HTTPRoute or VirtualService rule retries after an answer: a text such as "503" or "5xx", or None
    when it retries only what never reached the app (Istio's default: connection failures, refused streams)."""
    if kind == "HTTPRoute":
        retry = rule.get("retry")
        if retry is None or retry.get("attempts", 2) == 0 or not retry.get("codes"):
            return None
        return ", ".join(str(c) for c in retry["codes"])
    retries = rule.get("retries") or {}
    if not retries.get("attempts"):
        return None
    parts = [p.strip() for p in (retries.get("retryOn") or "").split(",") if p.strip()]
    codes = [p for p in parts if p.isdigit()]
    hits = codes + [p for p in parts if p in STATUS_CONDITIONS and (p != "retriable-status-codes" or codes)]
    return ", ".join(hits) or None


def non_idempotent_matches(rule, kind):
    """Whether some request of a non-idempotent method (POST, PATCH) takes the rule: a rule without matches, or a
    match that names no method or a non-idempotent one."""
    matches = rule.get("matches" if kind == "HTTPRoute" else "match") or [{}]
    for match in matches:
        method = match.get("method")
        if isinstance(method, dict):  # a VirtualService StringMatch
            method = method.get("exact")
        if not method or method.upper() not in IDEMPOTENT_METHODS:
            return True
    return False
