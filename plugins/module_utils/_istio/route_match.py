# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which requests a fault's match takes, and whether another route's rule may take the same ones first.

A fault is limited by one HTTPRoute-like match (path PathPrefix or Exact, headers Exact or
RegularExpression). It is written as VirtualService matches with the HTTPRoute meaning, and compared with
the rules of the HTTPRoutes and VirtualServices that route the same Service: at a waypoint all of them are
merged into one list in creation order (Istio 1.30.3 pilot/pkg/networking/core/listener_waypoint.go,
buildWaypointInboundHTTPRouteConfig) and Envoy takes the first route that matches, so a rule of another
object that may take the fault's requests either shadows the fault (when older) or is shadowed by it.

The comparison is conservative: two matches are disjoint only when it is provable from paths (prefix and
exact values) or from an Exact header both require with different values; anything else - regular
expressions, methods, query parameters, header presence - counts as overlapping.
"""


PATH_TYPES = ("PathPrefix", "Exact")
HEADER_TYPES = ("Exact", "RegularExpression")


def match_problems(match, where):
    """What is wrong with a fault's match parameter, as messages."""
    problems = []
    if not match:
        return problems
    unknown = sorted(set(match) - set(["path", "headers"]))
    if unknown:
        problems.append("%s: match takes path and headers, not %s" % (where, ", ".join(unknown)))
    path = match.get("path")
    if path is not None:
        if not isinstance(path, dict):
            problems.append("%s: match.path must be a mapping of type (%s) and value, for example {type: PathPrefix, "
                            "value: /delay}, not %r" % (where, ", ".join(PATH_TYPES), path))
        elif path.get("type", "PathPrefix") not in PATH_TYPES:
            problems.append("%s: match.path.type must be one of %s" % (where, ", ".join(PATH_TYPES)))
        elif not str(path.get("value") or "").startswith("/"):
            problems.append("%s: match.path.value must start with /" % where)
    headers = match.get("headers")
    if headers is not None and not isinstance(headers, list):
        # a string would be read character by character, a mapping key by key: say what was meant instead
        problems.append("%s: match.headers must be a list of mappings (name, value, type), for example "
                        "[{name: x-chaos, value: 'on'}], not %r" % (where, headers))
        headers = []
    for header in headers or []:
        if not isinstance(header, dict) or not header.get("name") or header.get("value") is None:
            problems.append("%s: each match.headers entry needs a name and a value" % where)
        elif header.get("type", "Exact") not in HEADER_TYPES:
            problems.append("%s: match.headers[].type must be one of %s" % (where, ", ".join(HEADER_TYPES)))
    return problems


def _path_of(match):
    """(type, value) of a fault or HTTPRoute match; Gateway API's default is PathPrefix / (everything)."""
    path = (match or {}).get("path") or {}
    kind = path.get("type", "PathPrefix")
    value = path.get("value", "/")
    if kind == "PathPrefix" and value != "/":
        value = value.rstrip("/") or "/"  # "When specified, a trailing `/` is ignored." (conversion.go createURIMatch)
    return kind, value


def virtualservice_matches(match):
    """The VirtualService `match` list for a fault's match ([] for none: every request).

    A VirtualService prefix is a plain string prefix, while an HTTPRoute PathPrefix matches whole path
    segments (Istio 1.30.3 pilot/pkg/networking/core/route/route.go translateRouteMatch uses Envoy's
    path_separated_prefix only for Gateway API routes). So PathPrefix /delay becomes two matches, exact
    /delay or prefix /delay/, and /delayed is not taken - as an HTTPRoute would decide."""
    if not match:
        return []
    headers = {}
    for header in match.get("headers") or []:
        op = "regex" if header.get("type") == "RegularExpression" else "exact"
        # VirtualService header names must be lowercase (the CRD's description); HTTP header names are not
        # case-sensitive, so nothing is lost
        headers[str(header["name"]).lower()] = {op: str(header["value"])}
    kind, value = _path_of(match)
    if match.get("path") is None:
        uris = [None]
    elif kind == "Exact":
        uris = [{"exact": value}]
    elif value == "/":
        uris = [{"prefix": "/"}]
    else:
        uris = [{"exact": value}, {"prefix": value + "/"}]
    out = []
    for uri in uris:
        entry = {}
        if uri:
            entry["uri"] = uri
        if headers:
            entry["headers"] = headers
        out.append(entry)
    return out


# ---- what another rule may take --------------------------------------------------------------
def _under(path, prefix):
    """True when a path lies under a segment prefix."""
    return prefix == "/" or path == prefix or path.startswith(prefix + "/")


def _paths_overlap(fault, other):
    """fault: (PathPrefix|Exact, value) with segment semantics; other: (kind, value, segments) where kind
    is PathPrefix, Exact or RegularExpression and segments says whether a prefix is whole segments
    (HTTPRoute) or a string prefix (VirtualService)."""
    f_kind, f_value = fault
    o_kind, o_value, segments = other
    if o_kind not in ("PathPrefix", "Exact"):
        return True  # a regular expression: not provably disjoint
    if o_kind == "Exact" and f_kind == "Exact":
        return o_value == f_value
    if o_kind == "Exact":
        return _under(o_value, f_value)
    if segments:
        if f_kind == "Exact":
            return _under(f_value, o_value)
        return _under(f_value, o_value) or _under(o_value, f_value)
    # a VirtualService string prefix takes every path that starts with it
    if f_kind == "Exact":
        return f_value.startswith(o_value)
    return f_value.startswith(o_value) or _under(o_value, f_value)


def _headers_disjoint(fault_headers, other_exact):
    """True when both require an exact value of the same header, and the values differ."""
    for header in fault_headers or []:
        if header.get("type", "Exact") != "Exact":
            continue
        value = other_exact.get(str(header["name"]).lower())
        if value is not None and value != str(header["value"]):
            return True
    return False


def _route_match_view(match):
    """(path, exact headers) of an HTTPRoute match."""
    kind, value = _path_of(match)
    exact = dict((str(h.get("name", "")).lower(), str(h.get("value")))
                 for h in match.get("headers") or [] if h.get("type", "Exact") == "Exact")
    return (kind, value, True), exact


def _vs_match_view(match):
    """(path, exact headers) of a VirtualService match; no uri is every path."""
    uri = match.get("uri") or {}
    if "exact" in uri:
        path = ("Exact", uri["exact"], False)
    elif "prefix" in uri:
        path = ("PathPrefix", uri["prefix"], False)
    elif "regex" in uri:
        path = ("RegularExpression", uri["regex"], False)
    else:
        path = ("PathPrefix", "/", False)
    exact = dict((str(name).lower(), str(cond["exact"])) for name, cond in (match.get("headers") or {}).items()
                 if isinstance(cond, dict) and "exact" in cond)
    return path, exact


def _may_take(fault_match, view):
    path, exact = view
    if not fault_match:
        return True  # the fault takes every request: any rule takes some of them
    if not _paths_overlap(_path_of(fault_match), path):
        return False
    return not _headers_disjoint(fault_match.get("headers"), exact)


def httproute_catches(route, fault_match):
    """The indexes of the HTTPRoute's rules that may take requests of the fault's match: a rule without
    matches takes everything (Gateway API: path defaults to PathPrefix /)."""
    out = []
    for index, rule in enumerate((route.get("spec") or {}).get("rules") or []):
        matches = rule.get("matches") or [{}]
        if any(_may_take(fault_match, _route_match_view(m)) for m in matches):
            out.append(index)
    return out


def virtualservice_catches(vs, fault_match):
    """The indexes of the VirtualService's http routes that may take requests of the fault's match. Matches
    with sourceLabels are dropped at a waypoint (listener_waypoint.go waypointInboundRoute), so they take
    nothing there; a route without match takes everything."""
    out = []
    for index, route in enumerate((vs.get("spec") or {}).get("http") or []):
        matches = route.get("match")
        if not matches:
            out.append(index)
            continue
        kept = [m for m in matches if not m.get("sourceLabels")]
        if any(_may_take(fault_match, _vs_match_view(m)) for m in kept):
            out.append(index)
    return out


# ---- a written fault VirtualService, read back -----------------------------------------------
def _prefix_as_path(prefix):
    """The narrowest segment PathPrefix holding every path a VirtualService string prefix takes: the prefix
    itself when it ends at a segment ("/delay/" -> /delay), else its parent segment ("/del" -> /)."""
    if prefix.endswith("/"):
        return prefix.rstrip("/") or "/"
    parent = prefix[:prefix.rfind("/")]
    return parent or "/"


def fault_match_of(vs_match):
    """A VirtualService match as a fault match (path, headers) that takes at least the same requests, or None
    when the match is dropped at a waypoint (sourceLabels, listener_waypoint.go waypointInboundRoute).

    What the fault match cannot say is widened, never narrowed, so an overlap found with it is never missed:
    a regex uri becomes every path, a string prefix its segment prefix, prefix or regex headers and method,
    query and port conditions are left out. The two matches virtualservice_matches writes for a PathPrefix
    (exact /p, prefix /p/) come back as Exact /p and PathPrefix /p, together exactly the original."""
    if vs_match.get("sourceLabels"):
        return None
    out = {}
    uri = vs_match.get("uri") or {}
    if "exact" in uri:
        out["path"] = {"type": "Exact", "value": uri["exact"]}
    elif "prefix" in uri:
        out["path"] = {"type": "PathPrefix", "value": _prefix_as_path(uri["prefix"])}
    headers = []
    for name, cond in sorted((vs_match.get("headers") or {}).items()):
        if isinstance(cond, dict) and "exact" in cond:
            headers.append({"name": name, "type": "Exact", "value": cond["exact"]})
    if headers:
        out["headers"] = headers
    return out


def virtualservice_route_overlap(vs, route):
    """The (http route index, HTTPRoute rule index) pairs where a rule of the HTTPRoute may take requests
    an http route of the VirtualService takes (an http route without match takes every request)."""
    out = []
    for index, http in enumerate((vs.get("spec") or {}).get("http") or []):
        if not http.get("match"):
            rules = httproute_catches(route, None)
        else:
            rules = set()
            for match in http["match"]:
                fault_match = fault_match_of(match)
                if fault_match is not None:
                    rules.update(httproute_catches(route, fault_match))
        out.extend((index, rule) for rule in sorted(rules))
    return out
