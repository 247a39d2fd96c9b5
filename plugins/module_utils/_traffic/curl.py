# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""traffic_probe's curl: the argument list for N requests in one run, and what its output says.

The command line follows curl's manual (curl 8.x, docs/cmdline-opts/*.md): several transfers in
one run, each followed by its own --write-out; %{http_code} is 000 when no response came;
%{exitcode} is the transfer's own exit code (7.75.0); %header{name} a response header (7.84.0).
"""


import binascii
import math
import os
import re

from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError

# the --write-out variables, one line each between the markers, in this order
FIELDS = ("http_code", "time_total", "num_connects", "exitcode", "errormsg")
# RFC 9110 5.1 field-name = token; keeps a name from closing %header{...} early
HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
# curl's URL globbing treats these as pattern syntax (docs/cmdline-opts/globoff.md)
GLOB_CHARS = re.compile(r"[\[\]{}]")


def new_marker():
    """A marker no response body can contain by accident (128 random bits)."""
    return "ambient-mesh-probe-" + binascii.hexlify(os.urandom(16)).decode("ascii")


def header_names(backend_header=None, capture_headers=None):
    names = []
    for name in ([backend_header] if backend_header else []) + list(capture_headers or []):
        if not HEADER_NAME.match(name or ""):
            raise AmbientMeshError("%r is not an HTTP header name (RFC 9110 token characters only)" % name)
        if name.lower() not in names:
            names.append(name.lower())
    return names


def write_out(marker, headers):
    """One record per transfer: a start line, one field per line, an end line. Header values and curl's
    error message are single lines, so the record parses unambiguously; the body precedes it."""
    lines = ["%%{%s}" % f for f in FIELDS] + ["%%header{%s}" % h for h in headers]
    return "\n%s\n%s\n%s/\n" % (marker, "\n".join(lines), marker)


def curl_argv(url, requests, marker, reuse_connection=False, method="GET", headers=None, timeout=None,
              header_names_=()):
    """The argv of one curl run making `requests` transfers to url; never through a shell.

    N transfers come from a URL glob over the fragment, url#[1-N]: one argument whatever N is, and
    curl never sends a fragment (the request target is the path and query, curl lib/http.c
    Curl_http_target), so every request is the same on the wire.
    A URL that has glob characters itself (an IPv6 literal [::1], braces) is repeated N times under
    --globoff instead."""
    url = url.split("#", 1)[0]
    argv = ["curl", "-s", "-S"]
    if method.upper() == "HEAD":
        argv.append("--head")  # -X HEAD would wait for a body that never comes (curl's -X manual)
    elif method.upper() != "GET":
        argv += ["-X", method.upper()]
    given = dict((str(k).lower(), v) for k, v in (headers or {}).items())
    if not reuse_connection and "connection" not in given:
        # without a waypoint ztunnel picks the pod per connection: a new connection per request
        # lets the balancing show (DESIGN.md 1)
        argv += ["-H", "Connection: close"]
    for name, value in sorted((headers or {}).items()):
        argv += ["-H", "%s: %s" % (name, value)]
    if timeout:
        argv += ["--max-time", "%g" % timeout]
    argv += ["-w", write_out(marker, header_names_)]
    if GLOB_CHARS.search(url):
        argv.append("--globoff")
        argv += [url] * requests
    else:
        argv.append("%s#[1-%d]" % (url, requests))
    return argv


def parse_output(stdout, marker, headers=()):
    """[{status, http_code, time_total, connects, exitcode, errormsg, body, headers}] per transfer."""
    record = re.compile(r"(.*?)\n%s\n(.*?)\n%s/\n" % (re.escape(marker), re.escape(marker)), re.DOTALL)
    transfers = []
    pos = 0
    for m in record.finditer(stdout):
        pos = m.end()
        values = m.group(2).split("\n")
        if len(values) != len(FIELDS) + len(headers):
            raise AmbientMeshError("curl's --write-out record %d has %d fields, expected %d: %r"
                                   % (len(transfers) + 1, len(values), len(FIELDS) + len(headers), m.group(2)))
        field = dict(zip(FIELDS, values))
        try:
            transfers.append({
                "status": field["http_code"], "time_total": float(field["time_total"]),
                "connects": int(field["num_connects"]), "exitcode": int(field["exitcode"]),
                "errormsg": field["errormsg"], "body": m.group(1),
                "headers": dict(zip(headers, values[len(FIELDS):]))})
        except ValueError:
            raise AmbientMeshError("curl's --write-out record %d is not what was asked for: %r"
                                   % (len(transfers) + 1, m.group(2)))
    return transfers, stdout[pos:]


def percentile(sorted_values, p):
    """Nearest-rank percentile: the smallest value with at least p% of the values at or below it."""
    if not sorted_values:
        return 0.0
    rank = max(1, int(math.ceil(p / 100.0 * len(sorted_values))))
    return sorted_values[rank - 1]


def backend_of(transfer, pattern=None, header=None):
    if pattern is not None:
        m = pattern.search(transfer["body"])
        return m.group(1) if m else None
    if header:
        return transfer["headers"].get(header.lower()) or None
    return None


def is_error(transfer):
    return transfer["exitcode"] != 0 or not transfer["status"][:1] in ("2", "3")


def summarise(transfers, pattern=None, backend_header=None, capture=(), sample=False):
    n = len(transfers)
    counts, status, errors, seen = {}, {}, {}, {}
    unidentified = 0
    for t in transfers:
        t["backend"] = backend_of(t, pattern, backend_header)
        if t["backend"] is None:
            unidentified += 1
        else:
            counts[t["backend"]] = counts.get(t["backend"], 0) + 1
        status[t["status"]] = status.get(t["status"], 0) + 1
        if t["exitcode"]:
            errors[str(t["exitcode"])] = errors.get(str(t["exitcode"]), 0) + 1
        for name in capture:
            value = t["headers"].get(name.lower())
            if value:
                values = seen.setdefault(name, {})
                values[value] = values.get(value, 0) + 1
    identified = n - unidentified
    times = sorted(t["time_total"] for t in transfers)
    out = {
        "requests": n,
        "counts": counts,
        "shares": dict((b, round(c / identified, 4)) for b, c in counts.items()) if identified else {},
        "unidentified": unidentified if (pattern is not None or backend_header) else 0,
        "status_codes": status,
        "error_rate": round(sum(is_error(t) for t in transfers) / n, 4) if n else 0.0,
        "transport_errors": errors,
        "connections": sum(t["connects"] for t in transfers),
        "latency": dict((name, round(percentile(times, p), 6))
                        for name, p in (("p50", 50), ("p90", 90), ("p95", 95), ("p99", 99)))
    }
    out["latency"]["max"] = round(times[-1], 6) if times else 0.0
    out["headers"] = dict((name, seen.get(name, {})) for name in capture)
    if sample:
        out["sample"] = [{"status": t["status"], "time_total": t["time_total"], "backend": t["backend"],
                          "exitcode": t["exitcode"], "connects": t["connects"], "headers": t["headers"],
                          "error": t["errormsg"]} for t in transfers]
    return out
