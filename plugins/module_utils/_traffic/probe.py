# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""traffic_probe: choose the client pod, run one curl for N requests in it, measure, judge."""


import math
import re
from urllib.parse import urlsplit

from ansible.module_utils.common.warnings import warn

from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError
from ansible_collections.ambient.mesh.plugins.module_utils._traffic.direct import endpoint_url
from ansible_collections.ambient.mesh.plugins.module_utils._kube.pod_exec import choose_container, choose_pod, run_in_pod
from ansible_collections.ambient.mesh.plugins.module_utils._traffic.curl import (
    HEADER_NAME,
    curl_argv,
    header_names,
    new_marker,
    parse_output,
    summarise,
)
from ansible_collections.ambient.mesh.plugins.module_utils._traffic.verdicts import (
    CURL_EXIT,
    error_bound_verdict,
    latency_verdict,
    normalise,
    share_verdict,
    status_rate_verdict,
    status_verdict,
)

MAX_REQUESTS = 10000
# seconds the exec may take beyond requests x timeout (connecting, the API server, slow pods)
EXEC_SLACK = 60
# RFC 9110 5.6.2: a method is a token, one or more tchar
TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
# the schemes a probe measures: curl's %{http_code} is an HTTP status only for these (curl's --write-out manual)
SCHEMES = ("http", "https")
MAX_BOUNDS = ("p50_max", "p90_max", "p95_max", "p99_max", "max")


def validate(params):
    """Refuse bad options before anything runs; the compiled backend pattern."""
    if not 1 <= params["requests"] <= MAX_REQUESTS:
        raise AmbientMeshError("requests must be between 1 and %d, not %d" % (MAX_REQUESTS, params["requests"]))
    if not 0 < params["confidence"] < 1:
        raise AmbientMeshError("confidence must be between 0 and 1 (exclusive), e.g. 0.99, not %s" % params["confidence"])
    if params["timeout"] is not None and params["timeout"] <= 0:
        raise AmbientMeshError("timeout must be more than 0 seconds")
    pattern = None
    if params["backend_pattern"] is not None:
        try:
            pattern = re.compile(params["backend_pattern"])
        except re.error as exc:
            raise AmbientMeshError("backend_pattern is not a regular expression: %s" % exc)
        if pattern.groups < 1:
            raise AmbientMeshError("backend_pattern needs a group that captures the backend's name, "
                                   "e.g. 'version: (v\\d+)'")
    if params["expected_shares"]:
        if pattern is None and not params["backend_header"]:
            raise AmbientMeshError("expected_shares needs backend_pattern or backend_header to tell the backends apart")
        _check_weights(params["expected_shares"])
    rate = params["expected_status_rate"]
    if rate:
        _check_status("expected_status_rate.status", rate["status"])
        if not 0 <= rate["percentage"] <= 100:
            raise AmbientMeshError("expected_status_rate.percentage must be between 0 and 100")
    bound = params.get("max_error_percentage")
    if bound is not None and not 0 <= bound <= 100:
        raise AmbientMeshError("max_error_percentage must be between 0 and 100; got %r" % bound)
    for index, status in enumerate(params["expected_status"] or []):
        _check_status("expected_status[%d]" % index, status)
    _check_latency(params["latency"] or {})
    _check_url(params["url"])
    _check_headers(params["headers"] or {})
    if not TOKEN.match(params["method"]):
        raise AmbientMeshError("method must be an HTTP method such as GET, HEAD or POST (one word, no spaces); got %r"
                               % params["method"])
    return pattern


def _check_weights(shares):
    for backend, weight in sorted(shares.items(), key=lambda item: str(item[0])):
        try:
            value = float(weight)
        except (TypeError, ValueError):
            raise AmbientMeshError("expected_shares.%s must be a number (weights are numbers, e.g. {v1: 95, v2: 5}); "
                                   "got %r" % (backend, weight))
        if value < 0 or math.isnan(value):
            raise AmbientMeshError("expected_shares.%s must not be negative (weights are numbers, e.g. {v1: 95, v2: 5}); "
                                   "got %r" % (backend, weight))
    try:
        normalise(dict((b, float(w)) for b, w in shares.items()))
    except ValueError as exc:
        raise AmbientMeshError("%s (weights are numbers, e.g. {v1: 95, v2: 5})" % exc)


def _check_status(option, status):
    if not 100 <= status <= 599:
        raise AmbientMeshError("%s must be an HTTP status code, 100 to 599; got %d" % (option, status))


def _check_latency(bounds):
    given = dict((k, v) for k, v in bounds.items() if v is not None)
    for name, value in sorted(given.items()):
        if value < 0:
            raise AmbientMeshError("latency.%s must be 0 seconds or more; got %g" % (name, value))
    low = given.get("p50_min")
    for name in MAX_BOUNDS:
        # p50 <= p90 <= p95 <= p99 <= max: a median of at least p50_min puts every one of them at p50_min or above
        if low is not None and name in given and given[name] < low:
            raise AmbientMeshError("latency.p50_min (%gs) is more than latency.%s (%gs): no outcome can meet both"
                                   % (low, name, given[name]))


def _check_url(url):
    """An http(s) URL with a host; without a scheme curl takes http:// (curl's URL syntax guessing)."""
    example = "e.g. http://helloworld.hello.svc.cluster.local:5000/hello"
    if not url.strip():
        raise AmbientMeshError("url is empty: give the URL to request, scheme, Service host, port and path, %s; got %r"
                               % (example, url))
    if any(c.isspace() for c in url):
        raise AmbientMeshError("url must be a URL without spaces (encode a space as %%20), %s; got %r" % (example, url))
    parts = urlsplit(url if "://" in url else "http://" + url)
    if parts.scheme.lower() not in SCHEMES:
        raise AmbientMeshError("url must be an http:// or https:// URL, %s; got %r (scheme %s)" % (example, url, parts.scheme))
    if not parts.hostname:
        raise AmbientMeshError("url has no host, %s; got %r" % (example, url))


def _check_headers(headers):
    """Names are RFC 9110 tokens; a value holds no line break: curl sends a value as given, so a CR or LF would end
    the header and start another of the value's choosing (RFC 9110 5.5: field values exclude CR, LF and NUL)."""
    for name, value in sorted(headers.items(), key=lambda item: str(item[0])):
        if not HEADER_NAME.match(str(name)):
            raise AmbientMeshError("headers: %r is not an HTTP header name (RFC 9110 token characters only, no spaces, "
                                   "colons or line breaks), e.g. x-request-id" % (name,))
        text = "" if value is None else str(value)
        if any(c in text for c in "\r\n\0"):
            raise AmbientMeshError("headers.%s: the value holds a line break or NUL (CR, LF or \\0), which would end "
                                   "this header and send the rest as another: write the value on one line; got %r"
                                   % (name, text))


def no_status_warning(measured):
    """A warning when no request got an HTTP status: the error rate then says the client could not reach the URL,
    not how the service answered (curl's %{http_code} is 000 when no response came)."""
    if not measured["requests"] or set(measured["status_codes"]) != {"000"}:
        return None
    codes = sorted(measured["transport_errors"].items(), key=lambda item: -item[1])
    seen = "; ".join("exit %s x%d: %s" % (code, n, CURL_EXIT.get(int(code), "see curl's exit codes"))
                     for code, n in codes) or "no curl exit code"
    return ("none of the %d requests got an HTTP status (curl %s), so error_rate %s measures that the client could not "
            "reach the URL, not how the service answers: check the URL's host (Service name and namespace), port and "
            "scheme" % (measured["requests"], seen, measured["error_rate"]))


def judge(params, measured):
    verdicts = []
    if params["expected_shares"]:
        weights = dict((b, float(w)) for b, w in params["expected_shares"].items())
        verdicts.append(share_verdict(measured["counts"], weights, params["confidence"],
                                      params["reuse_connection"], measured["unidentified"]))
    if params["expected_status"]:
        verdicts.append(status_verdict(measured["status_codes"], measured["transport_errors"], params["expected_status"]))
    rate = params["expected_status_rate"]
    if rate:
        verdicts.append(status_rate_verdict(measured["status_codes"], measured["requests"], rate["status"],
                                            rate["percentage"], params["confidence"]))
    if params.get("max_error_percentage") is not None:
        verdicts.append(error_bound_verdict(measured["error_rate"], measured["requests"], measured["status_codes"],
                                            params["max_error_percentage"], params["confidence"]))
    if params["latency"] and any(v is not None for v in params["latency"].values()):
        verdicts.append(latency_verdict(measured["latency"], params["latency"]))
    return verdicts


def run_probe(api, core, params):
    """The measurements and verdicts of one probe; read-only, the same in check mode."""
    pattern = validate(params)
    headers = header_names(params["backend_header"], params["capture_headers"])
    url, target = params["url"], None
    if params.get("direct_to_pod"):
        url, target = endpoint_url(api, url, params["namespace"])
    pod = choose_pod(api, params["namespace"], params["pod"], params["pod_selector"])
    container = choose_container(pod, params["container"])
    marker = new_marker()
    argv = curl_argv(url, params["requests"], marker, params["reuse_connection"], params["method"],
                     params["headers"], params["timeout"], headers)
    deadline = params["requests"] * (params["timeout"] or 300) + EXEC_SLACK
    out = run_in_pod(core, pod, container, argv, deadline)
    stdout = out.stdout.decode("utf-8", "replace")
    stderr = out.stderr.decode("utf-8", "replace")
    where = {"pod": pod["metadata"]["name"], "container": container, "command": argv, "rc": out.exit_code,
             "stderr": stderr[-4000:]}
    transfers, _rest = parse_output(stdout, marker, headers)
    if len(transfers) != params["requests"]:
        # 126/127: the shell convention for "cannot execute"/"not found", as container runtimes report it
        hint = ("; the container has no runnable curl: use a client image that has curl 7.84.0 or later "
                "(curlimages/curl)" if out.exit_code in (126, 127) and not transfers else "")
        raise AmbientMeshError("curl in %s/%s made %d of %d requests (exit code %d): %s%s" % (
            params["namespace"], pod["metadata"]["name"], len(transfers), params["requests"], out.exit_code,
            stderr.strip()[-1000:] or stdout[-500:] or "no output", hint), **where)
    result = summarise(transfers, pattern, params["backend_header"], params["capture_headers"] or [],
                       params["return_sample"])
    result.update(where)
    if target:
        result["target"] = target
    warning = no_status_warning(result)
    if warning:
        warn(warning)
    result["verdicts"] = judge(params, result)
    result["passed"] = all(v["passed"] for v in result["verdicts"])
    result["changed"] = False
    return result
