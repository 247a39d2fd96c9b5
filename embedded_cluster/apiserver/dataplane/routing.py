"""L7 at a waypoint and at a sidecar client (Istio 1.30.3): the route table the proxy's Envoy gets for one
Service, and what it does with one request. The waypoint's rules follow; a sidecar client's are in
sidecar_routes.

Rules, each from the file named:
- pilot/pkg/model/push_context.go getSidecarScope: a waypoint's scope is sidecar.go DefaultSidecarScopeForGateway
  (or, once a sidecar of its namespace has made it, the namespace's default scope, convertToSidecarScope with
  no Sidecar - virtualservice.go SelectVirtualServices, which gives the same order for the configs simulated
  here), whose VirtualServices are push_context.go VirtualServicesForGateway(waypoint namespace, "mesh").
- push_context.go initVirtualServices: mesh VirtualServices (no gateways, or "mesh") indexed by exportTo
  (default "*", MeshConfig defaultVirtualServiceExportTo unset): "*" public; else "~" nowhere; "." or the own
  namespace private to that namespace; another namespace's name exported to it. Each list keeps
  MergedVirtualServices' order (virtualservice_controller.go, config.go sortConfigByCreationTime: creation
  second, then name, then namespace).
- VirtualServicesForGateway: the list is the private ones of the waypoint's namespace, then those exported to
  it, then the public ones with gateway semantics (converted HTTPRoutes, virtualservice.go
  UseGatewaySemantics) in the waypoint's namespace, then every other public one - so at a waypoint in the
  Service's namespace a public VirtualService comes after the HTTPRoutes whatever its age; with the waypoint
  in another namespace (istio.io/use-waypoint-namespace) the Service's HTTPRoutes are "other public ones" and
  are ordered with the public VirtualServices by creation time.
- pilot/pkg/networking/core/listener_waypoint.go getVirtualServiceForWaypoint keeps that order and only the
  VirtualServices in the Service's namespace or the waypoint's own namespace whose hosts match the Service's
  hostname.
- pilot/pkg/model/config.go ResolveShortnameToFQDN: a host without a dot is `<host>.<vs namespace>.svc.<domain>`;
  a host with a dot is taken as written.
- listener_waypoint.go buildWaypointInboundHTTPRouteConfig + waypointInboundRoute: the routes of every such
  VirtualService are concatenated in that order; an http rule without match is a catch-all and ends that
  VirtualService; a match with sourceLabels is dropped; a VirtualService yielding no route is skipped; with
  no route at all the waypoint uses the default inbound route (the Service itself).
- route/route.go TranslateRoute: a match whose port is not the listener's port gives no route (nil), so it
  neither matches nor ends the VirtualService as a catch-all (IsCatchAllRoute is asked only of routes made).
- Envoy routes in order, first match wins; a request no route matches gets Envoy's 404 with response flag NR
  (router.cc: sendLocalReply(NotFound, "", ..., route_not_found)).
- pilot/pkg/config/kube/gateway/route_collections.go HTTPRouteCollection: an HTTPRoute with a Service parent is
  a VirtualService in the route's namespace for `<svc>.<ns>.svc.<domain>`, one http rule per (rule, match),
  port match added from parentRef.port to every match, a match made for a rule without one
  (conversion.go augmentPortMatch), sorted by conversion.go sortHTTPRoutes, and routes of several HTTPRoutes
  for the same namespace/port/host merged oldest first (mergeHTTPRoutes, conversion.go
  sortRoutesByCreationTime) and the merged rules sorted again (sortHTTPRoutes, stable), named by that key with
  "/" -> "~" and the oldest route's creation time; it carries the gateway-semantics annotation (routeMeta).
- conversion.go convertHTTPRoute / buildDestination: a rule whose backend weights sum to 0 is a direct response,
  404 without backendRefs, 500 with only weight-0 ones; a backend Service that does not exist keeps its share,
  and the proxy, which has no cluster for it, answers 500 (route/route.go: gateway-semantics routes set
  cluster_not_found_response_code). A route in a third (consumer) namespace is public; a waypoint leaves it
  out (getVirtualServiceForWaypoint, above) unless it is in the waypoint's own namespace.
- Weighted destinations are Envoy weighted clusters: one pick per request. Faults: Envoy's fault filter
  (source/extensions/filters/http/fault/fault_filter.cc) picks delay and abort independently per request,
  the delay first, then the abort, whose local reply is the status with body `fault filter abort`.
"""

import re

from . import resilience
from .cluster import DOMAIN, labels
from .messages import NotSimulated

ROOT_NAMESPACE = "istio-system"  # MeshConfig rootNamespace default (pkg/config/mesh/mesh.go DefaultMeshConfig)

VS_HTTP_FIELDS = {"name", "match", "route", "fault", "timeout", "retries"}
VS_MATCH_FIELDS = {"name", "uri", "headers", "queryParams", "method", "port", "sourceLabels"}


class Direct:
    """A route's direct response (route.go ApplyDirectResponse: the status, and no body when none is set)."""

    def __init__(self, status):
        self.status = status


class Route:
    def __init__(self, source, match, destinations, fault, policy=None):
        self.source = source  # "VirtualService ns/name" | "HTTPRoute ns/name"
        self.match = match  # dict: uri (kind, value), headers [(name, kind, value)], method, query, port
        # [(Service | None when it does not exist, port, subset labels | None, weight)], or a Direct
        self.destinations = destinations
        self.fault = fault  # {"delay": (seconds, percent), "abort": (status, percent)}
        self.policy = policy or resilience.Policy()  # the route timeout and retry policy

    def matches(self, req, port):
        m = self.match
        if m.get("port") is not None and m["port"] != port:
            return False
        path, _, query = req.path.partition("?")
        if "uri" in m and not _string_match(m["uri"], path):
            return False
        if "method" in m and not _string_match(m["method"], req.method):
            return False
        for name, kind, value in m.get("headers", []):
            got = req.header(name)
            if got is None or not _string_match((kind, value), got):
                return False
        params = {}
        for pair in query.split("&") if query else []:
            key, _, val = pair.partition("=")
            params.setdefault(key, val)
        for name, kind, value in m.get("query", []):
            if name not in params or not _string_match((kind, value), params[name]):
                return False
        return True


def _string_match(spec, text):
    kind, value = spec
    if kind == "exact":
        return text == value
    if kind == "prefix":
        return text.startswith(value)
    if kind == "regex":  # Envoy safe_regex (RE2), full match
        return re.fullmatch(value, text) is not None
    if kind == "path_prefix":  # Gateway API PathPrefix: element-wise prefix of the path
        value = value.rstrip("/")
        return value == "" or text == value or text.startswith(value + "/")
    raise NotSimulated(f"string match {kind}")


def fqdn(host, namespace):
    if "." not in host and host != "*":
        return f"{host}.{namespace}.svc.{DOMAIN}"
    return host


def host_matches(pattern, hostname):
    """pkg/config/host Name.Matches for the names used here ("*" and "*.suffix" wildcards)."""
    if pattern == "*":
        return True
    if pattern.startswith("*."):
        return hostname.endswith(pattern[1:])
    return pattern == hostname


def _created(obj):
    return obj["metadata"].get("creationTimestamp", "")


GATEWAY_SEMANTICS = ("internal.istio.io/route-semantics", "gateway")  # constants.go InternalRouteSemantics


def waypoint_routes(view, svc, port, waypoint):
    """The waypoint's route list for a Service port, or None when the default route (the Service) applies."""
    ns, wns = svc["metadata"]["namespace"], waypoint["metadata"]["namespace"]
    hostname = f"{svc['metadata']['name']}.{ns}.svc.{DOMAIN}"
    # (list, gateway-exact, creationTimestamp, name, namespace, source, build): list 0 private to the waypoint's
    # namespace, 1 exported to it, 2 public; gateway-exact 0 for a public gateway-semantics config of the
    # waypoint's namespace (push_context.go VirtualServicesForGateway)
    candidates = []
    dr_namespaces = (ns, wns, ROOT_NAMESPACE)
    for vs in view.all("networking.istio.io", "virtualservices"):
        vns = vs["metadata"]["namespace"]
        spec = vs.get("spec") or {}
        gateways = spec.get("gateways")
        if gateways and "mesh" not in gateways:
            continue
        if vns not in (ns, wns):
            continue  # getVirtualServiceForWaypoint: other namespaces are ignored
        if not any(host_matches(fqdn(h, vns), hostname) for h in spec.get("hosts") or []):
            continue
        if spec.get("delegate") or spec.get("tcp") or spec.get("tls"):
            raise NotSimulated(f"VirtualService {vns}/{vs['metadata']['name']}: delegate/tcp/tls")
        if (vs["metadata"].get("annotations") or {}).get(GATEWAY_SEMANTICS[0]) == GATEWAY_SEMANTICS[1]:
            raise NotSimulated(f"VirtualService {vns}/{vs['metadata']['name']} with the internal gateway-semantics annotation")
        rank = _visibility(spec.get("exportTo") or ["*"], vns, wns)
        if rank is None or not spec.get("http"):
            continue
        candidates.append((rank, 1, _created(vs), vs["metadata"]["name"], vns, f"VirtualService {vns}/{vs['metadata']['name']}",
                           lambda spec=spec, vns=vns: [_vs_http(view, h, vns, dr_namespaces) for h in spec["http"]]))
    for created, name, rns, source, https in _httproute_configs(view, svc, hostname, namespaces=(ns, wns)):
        candidates.append((2, 0 if rns == wns else 1, created, name, rns, source, lambda https=https: https))
    candidates.sort(key=lambda c: c[:5])
    routes = []
    for *_order, source, build in candidates:
        # sourceLabels matches are dropped at waypoints (waypointInboundRoute; istio/istio#51565)
        routes.extend(_translate(source, build(), port, lambda match: not match.get("sourceLabels")))
    return routes or None


def _translate(source, https, port, keep):
    """route.go BuildHTTPRoutesForVirtualService (a sidecar) and listener_waypoint.go waypointInboundRoute (a
    waypoint): the http rules in order, one route per match TranslateRoute makes - none for a match on
    another port than the listener's, none for a match not kept (sourceLabels); a rule without match, or a
    catch-all route made (IsCatchAllRoute), ends the VirtualService."""
    routes = []
    for matches, destinations, fault, policy in https:
        if not matches:
            routes.append(Route(source, {}, destinations, fault, policy))
            break
        ended = False
        for match in matches:
            if match.get("port") is not None and match["port"] != port:
                continue  # TranslateRoute: match.Port != listenPort -> nil
            if not keep(match):
                continue
            route = Route(source, {k: v for k, v in match.items() if k not in ("sourceLabels", "port")}, destinations, fault,
                          policy)
            routes.append(route)
            if _catch_all(route.match):
                ended = True
                break
        if ended:
            break
    return routes


def _catch_all(match):
    """pilot/pkg/networking/core/route/route.go IsCatchAllRoute: prefix "/" (or none, route.go TranslateRouteMatch),
    or regex ".*", and no header (the method is one), query or metadata match."""
    uri = match.get("uri")
    return (uri is None or uri in (("prefix", "/"), ("path_prefix", "/"), ("path_prefix", ""), ("regex", ".*"))) \
        and not match.get("headers") and not match.get("query") and "method" not in match


def _vs_http(view, http, vs_ns, dr_namespaces):
    unknown = set(http) - VS_HTTP_FIELDS
    if unknown:
        raise NotSimulated(f"VirtualService http fields {sorted(unknown)}")
    matches = []
    for m in http.get("match") or []:
        bad = set(m) - VS_MATCH_FIELDS
        if bad:
            raise NotSimulated(f"VirtualService match fields {sorted(bad)}")
        out = {"sourceLabels": m.get("sourceLabels")} if m.get("sourceLabels") else {}
        if m.get("uri"):
            out["uri"] = _vs_string(m["uri"])
        if m.get("method"):
            out["method"] = _vs_string(m["method"])
        if m.get("port"):
            out["port"] = m["port"]
        out["headers"] = [(k.lower(), *_vs_string(v)) for k, v in (m.get("headers") or {}).items()]
        out["query"] = [(k, *_vs_string(v)) for k, v in (m.get("queryParams") or {}).items()]
        matches.append(out)
    destinations = []
    for dest in http.get("route") or []:
        d = dest.get("destination") or {}
        if set(dest) - {"destination", "weight"}:
            raise NotSimulated(f"VirtualService route fields {sorted(set(dest) - {'destination', 'weight'})}")
        target = _service_for_host(view, fqdn(d.get("host", ""), vs_ns))
        port = (d.get("port") or {}).get("number") or _only_port(target)
        subset = _subset(view, target, d["subset"], dr_namespaces) if d.get("subset") else None
        destinations.append((target, port, subset, dest.get("weight")))
    if len(destinations) == 1 and not destinations[0][3]:
        destinations[0] = destinations[0][:3] + (100,)
    if not destinations:
        raise NotSimulated("a VirtualService http rule without route (redirect/directResponse)")
    return matches, destinations, _fault(http.get("fault")), resilience.from_virtualservice_http(http, _seconds)


def _vs_string(spec):
    (kind, value), = spec.items()
    if kind not in ("exact", "prefix", "regex"):
        raise NotSimulated(f"StringMatch {kind}")
    return kind, value


def _only_port(svc):
    ports = (svc.get("spec") or {}).get("ports") or []
    if len(ports) != 1:
        raise NotSimulated(f"a VirtualService destination without port for a Service with {len(ports)} ports")
    return ports[0]["port"]


def _service_for_host(view, host):
    suffix = f".svc.{DOMAIN}"
    if host.endswith(suffix) and host[: -len(suffix)].count(".") == 1:
        name, ns = host[: -len(suffix)].split(".")
        svc = view.service(ns, name)
        if svc is not None:
            return svc
    raise NotSimulated(f"a route destination host {host!r} that is no Service of the cluster")


def _destination_rules(view, svc, dr_namespaces):
    ns = svc["metadata"]["namespace"]
    hostname = f"{svc['metadata']['name']}.{ns}.svc.{DOMAIN}"
    return [dr for dr in view.all("networking.istio.io", "destinationrules")
            if dr["metadata"]["namespace"] in dr_namespaces
            and host_matches(fqdn((dr.get("spec") or {}).get("host", ""), dr["metadata"]["namespace"]), hostname)]


def _subset(view, svc, name, dr_namespaces):
    """The DestinationRule subset's labels. DestinationRules for the host from the namespaces the proxy reads
    (at a waypoint: the Service's, the waypoint's, the root namespace istio-system; at a sidecar: its own, the
    Service's, the root); more than one is a merge the simulation does not do."""
    hostname = f"{svc['metadata']['name']}.{svc['metadata']['namespace']}.svc.{DOMAIN}"
    rules = _destination_rules(view, svc, dr_namespaces)
    if len(rules) != 1:
        raise NotSimulated(f"{len(rules)} DestinationRules for {hostname} (subset {name})")
    spec = rules[0].get("spec") or {}
    if spec.get("trafficPolicy") or spec.get("exportTo"):
        raise NotSimulated("DestinationRule trafficPolicy/exportTo")
    for subset in spec.get("subsets") or []:
        if subset.get("name") == name:
            if subset.get("trafficPolicy"):
                raise NotSimulated("DestinationRule subset trafficPolicy")
            return subset.get("labels") or {}
    raise NotSimulated(f"subset {name} missing from DestinationRule {rules[0]['metadata']['name']} (Envoy: no cluster)")


def _fault(fault):
    if not fault:
        return {}
    out = {}
    if set(fault) - {"delay", "abort"}:
        raise NotSimulated(f"fault fields {sorted(set(fault) - {'delay', 'abort'})}")
    for kind, field in (("delay", "fixedDelay"), ("abort", "httpStatus")):
        spec = fault.get(kind)
        if not spec:
            continue
        if field not in spec or "percentage" not in spec:
            raise NotSimulated(f"fault {kind} without {field} or percentage")
        value = _seconds(spec[field]) if kind == "delay" else int(spec[field])
        out[kind] = (value, float(spec["percentage"].get("value", 0)))
    return out


def _seconds(duration):
    """A protobuf Duration as YAML writes it ("3s", "0.5s", "100ms" are what Istio accepts)."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration)
    if not m:
        raise NotSimulated(f"duration {duration!r}")
    return float(m.group(1)) * {"ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}[m.group(2)]


# ---- HTTPRoutes (Gateway API, mesh parent) -----------------------------------------------------------
def _httproute_configs(view, svc, hostname, namespaces=None):
    """The converted VirtualServices of the HTTPRoutes whose parent is the Service, one per (route namespace, port,
    host) key; with `namespaces`, only those of routes in these namespaces (a waypoint: the Service's and its own,
    listener_waypoint.go getVirtualServiceForWaypoint). A route in a third (consumer) namespace is public
    (route_collections.go sets no exportTo), so a sidecar client sees it."""
    ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
    by_key = {}
    for route in view.all("gateway.networking.k8s.io", "httproutes"):
        rns = route["metadata"]["namespace"]
        spec = route.get("spec") or {}
        for ref in spec.get("parentRefs") or []:
            if ref.get("kind") != "Service" or ref.get("group", "") not in ("", "core") or ref.get("name") != name \
                    or ref.get("namespace", rns) != ns:
                continue
            if namespaces is not None and rns not in namespaces:
                continue
            port = ref.get("port")
            key = f"{rns}/{port}/{hostname}" if port is not None else f"{rns}/{hostname}"
            by_key.setdefault(key, []).append((route, port))
    configs = []
    for key, items in by_key.items():
        items.sort(key=lambda i: (_created(i[0]), i[0]["metadata"]["namespace"], i[0]["metadata"]["name"]))
        https = []
        for route, port in items:  # route_collections.go mergeHTTPRoutes: oldest first, rules appended
            https.extend(_sorted_rules(view, route, port))
        https.sort(key=_precedence)  # mergeHTTPRoutes: sortHTTPRoutes(baseVS.Http) over the merged rules
        oldest = items[0][0]
        configs.append((_created(oldest), key.replace("/", "~"), oldest["metadata"]["namespace"],
                        "HTTPRoute " + ", ".join(f"{r['metadata']['namespace']}/{r['metadata']['name']}" for r, _ in items),
                        https))
    return configs


def _sorted_rules(view, route, port):
    rns = route["metadata"]["namespace"]
    out = []
    for rule in (route.get("spec") or {}).get("rules") or []:
        known = {"matches", "backendRefs", "name", "timeouts", "retry"}
        if set(rule) - known:
            raise NotSimulated(f"HTTPRoute rule fields {sorted(set(rule) - known)}")
        policy = resilience.from_httproute_rule(rule)
        destinations = []
        for ref in rule.get("backendRefs") or []:
            if ref.get("kind", "Service") != "Service" or ref.get("group", "") not in ("", "core") \
                    or ref.get("filters"):
                raise NotSimulated(f"HTTPRoute backendRef {ref}")
            # conversion.go buildDestination: the backend's namespace defaults to the route's (a mesh route needs no
            # ReferenceGrant, route_collections.go enforceRefGrant = !mesh); a Service that does not exist keeps its
            # host (ResolvedRefs False, BackendNotFound) and the route its share; the proxy has no cluster for it
            # (None here)
            target = view.service(ref.get("namespace") or rns, ref["name"])
            destinations.append((target, ref.get("port"), None, ref.get("weight", 1)))
        if sum(int(d[3] or 0) for d in destinations) == 0:
            # conversion.go convertHTTPRoute (weightSum == 0): no backendRefs at all -> a direct 404; backends
            # that all weigh 0 -> a direct 500 ("per the Gateway API spec")
            destinations = Direct(404 if not destinations else 500)
        for match in rule.get("matches") or [None]:
            converted = {"port": port} if port is not None else {}
            if match:
                if set(match) - {"path", "headers", "queryParams", "method"}:
                    raise NotSimulated(f"HTTPRoute match {match}")
                path = match.get("path") or {"type": "PathPrefix", "value": "/"}
                kind = {"Exact": "exact", "PathPrefix": "path_prefix", "RegularExpression": "regex"}[path.get("type", "PathPrefix")]
                converted["uri"] = (kind, path.get("value", "/"))
                if match.get("method"):
                    converted["method"] = ("exact", match["method"])
                converted["headers"] = [(h["name"].lower(), {"Exact": "exact", "RegularExpression": "regex"}[h.get("type", "Exact")],
                                         h["value"]) for h in match.get("headers") or []]
                converted["query"] = [(q["name"], {"Exact": "exact", "RegularExpression": "regex"}[q.get("type", "Exact")],
                                       q["value"]) for q in match.get("queryParams") or []]
            out.append(([converted] if converted else [], destinations, {}, policy))
    return sorted(out, key=_precedence)  # sorted() is stable, as sort.SliceStable


def _precedence(http):
    """conversion.go sortHTTPRoutes: rules with a match first; exact > prefix > regex, longer path, method,
    more headers, more query params (a key for Python's stable sort)."""
    matches = http[0]
    if not matches or "uri" not in matches[0]:
        return (1, 0, 0, 0, 0, 0) if not matches else (0, 1, 0, 0, 0, 0)
    m = matches[0]
    rank = {"exact": 3, "path_prefix": 2, "prefix": 2, "regex": 1}[m["uri"][0]]
    return (0, -rank, -len(m["uri"][1]), 0 if "method" in m else 1, -len(m.get("headers", [])), -len(m.get("query", [])))


def pick_weighted(rng, destinations):
    """Envoy weighted clusters: one pick per request, proportional to the weights."""
    total = sum(int(d[3] or 0) for d in destinations)
    if total <= 0:
        raise NotSimulated("a VirtualService route whose weights are all 0")
    point = rng.randrange(total)
    for dest in destinations:
        point -= int(dest[3] or 0)
        if point < 0:
            return dest
    raise AssertionError("unreachable")


def fault_hits(rng, percent):
    """Envoy's runtime fractional percent (denominator one million; Istio translatePercentToFractionalPercent)."""
    return rng.randrange(1_000_000) < int(round(percent * 10_000))


def is_sidecar(pod):
    """An injected pod. The test cluster runs no injection webhook, so a test puts the pod as the injector
    leaves it: the sidecar.istio.io/status annotation (what istio-cni reads to leave a pod to its sidecar,
    cni/pkg/util/podutil.go podHasSidecar) and the istio-proxy container (the Envoy that routes its traffic;
    a native sidecar is an init container of that name, pkg/kube/inject/inject.go). One without the other is
    no pod the injector makes."""
    spec = pod.get("spec") or {}
    container = any(c.get("name") == "istio-proxy" for c in (spec.get("containers") or []) + (spec.get("initContainers") or []))
    annotated = "sidecar.istio.io/status" in ((pod.get("metadata") or {}).get("annotations") or {})
    if container != annotated:
        raise NotSimulated(f"pod {pod['metadata'].get('namespace')}/{pod['metadata']['name']} with "
                           + ("an istio-proxy container but no sidecar.istio.io/status annotation" if container
                              else "a sidecar.istio.io/status annotation but no istio-proxy container"))
    return container


# ---- a sidecar client's outbound routes -------------------------------------------------------------
def sidecar_routes(view, client, svc, port):
    """The routes a sidecar client's Envoy has for a Service port (Istio 1.30.3), or None for the default
    route (the Service's own cluster).

    - Visibility: pilot/pkg/model/push_context.go initVirtualServices indexes mesh VirtualServices (no
      gateways, or "mesh") by exportTo - default "*" (pkg/config/mesh/mesh.go DefaultVirtualServiceExportTo);
      "~" hides it; "." or its own namespace makes it private to that namespace; a namespace name exports it
      there. The default Sidecar scope imports every namespace (*/*).
    - Order: pilot/pkg/model/virtualservice.go SelectVirtualServices takes the private ones, then those exported
      to the client's namespace, then the public ones; in each, with PILOT_UNIFIED_SIDECAR_SCOPE (default true,
      features/experimental.go) Gateway API routes of the client's own namespace first, then the rest, each in
      MergedVirtualServices' creation order (virtualservice_controller.go sortConfigByCreationTime).
    - No merge: pilot/pkg/networking/core/httproute.go BuildSidecarOutboundVirtualHosts builds one virtual
      host per VirtualService; a later one for the same host is a duplicate domain and dropped whole. A
      VirtualService that yields no route (every match trimmed) is skipped (route.go
      buildSidecarVirtualHostsForVirtualService), and the next one, or the default route, applies.
    - Matches: route.go sourceMatchHTTP keeps a match whose sourceLabels are a subset of the client's labels
      (evaluated, not dropped as at a waypoint).
    - A mesh HTTPRoute with a Service parent is a public VirtualService with gateway semantics in the route's
      namespace (pilot/pkg/config/kube/gateway/route_collections.go: Gateways [mesh], no exportTo).
    - The waypoint plays no part: sidecars send to the Service's endpoints as workload traffic, never to a
      service waypoint (pilot/pkg/xds/endpoints/endpoint_builder.go buildEnvoyLbEndpoint, and
      findServiceWaypoint: only ingress and east-west gateways call waypoints).
    """
    ns, client_ns = svc["metadata"]["namespace"], client["metadata"]["namespace"]
    hostname = f"{svc['metadata']['name']}.{ns}.svc.{DOMAIN}"
    dr_namespaces = (client_ns, ns, ROOT_NAMESPACE)
    candidates = []  # (list rank, gateway-exact rank, created, name, namespace, source, build)
    for vs in view.all("networking.istio.io", "virtualservices"):
        vns, spec = vs["metadata"]["namespace"], vs.get("spec") or {}
        gateways = spec.get("gateways")
        if gateways and "mesh" not in gateways:
            continue
        if not any(host_matches(fqdn(h, vns), hostname) for h in spec.get("hosts") or []):
            continue
        if spec.get("delegate") or spec.get("tcp") or spec.get("tls"):
            raise NotSimulated(f"VirtualService {vns}/{vs['metadata']['name']}: delegate/tcp/tls")
        rank = _visibility(spec.get("exportTo") or ["*"], vns, client_ns)
        if rank is None or not spec.get("http"):
            continue
        candidates.append((rank, 1, _created(vs), vs["metadata"]["name"], vns, f"VirtualService {vns}/{vs['metadata']['name']}",
                           lambda spec=spec, vns=vns: [_vs_http(view, h, vns, dr_namespaces) for h in spec["http"]]))
    for created, name, rns, source, https in _httproute_configs(view, svc, hostname):
        candidates.append((2, 0 if rns == client_ns else 1, created, name, rns, source, lambda https=https: https))
    candidates.sort(key=lambda c: c[:5])
    client_labels = labels(client)
    for *_order, source, build in candidates:
        routes = _translate(source, build(), port,
                            lambda m: set((m.get("sourceLabels") or {}).items()) <= set(client_labels.items()))
        if routes:
            return routes
    return None


def _visibility(export_to, vs_ns, client_ns):
    """0 private to the client's namespace, 1 exported to it, 2 public, None not visible (initVirtualServices)."""
    if "*" in export_to:
        return 2
    if "~" in export_to:
        return None
    if vs_ns == client_ns and ("." in export_to or vs_ns in export_to):
        return 0
    if client_ns in export_to and client_ns != vs_ns:
        return 1
    return None


def sidecar_cluster_policy(view, client, svc):
    """A DestinationRule trafficPolicy for the host changes the client's cluster (load balancer, TLS,
    connection pool, outlier detection: cluster_traffic_policy.go); the simulation knows only the default."""
    dr_namespaces = (client["metadata"]["namespace"], svc["metadata"]["namespace"], ROOT_NAMESPACE)
    for dr in _destination_rules(view, svc, dr_namespaces):
        spec = dr.get("spec") or {}
        if spec.get("trafficPolicy") or spec.get("exportTo") or any(s.get("trafficPolicy") for s in spec.get("subsets") or []):
            raise NotSimulated(f"DestinationRule {dr['metadata']['namespace']}/{dr['metadata']['name']} "
                               "trafficPolicy/exportTo at a sidecar client")


def http_port(svc, port):
    """Whether the sidecar's outbound listener for the Service port speaks HTTP: appProtocol, else the port
    name's protocol prefix (pkg/config/kube/conversion.go ConvertProtocol): http/http2 are HTTP, an unnamed
    port is sniffed and curl's request detected as HTTP (listener.go protocol sniffing). Any other protocol
    is not simulated."""
    svc_port = next(p for p in (svc.get("spec") or {}).get("ports") or [] if p.get("port") == port)
    proto = (svc_port.get("appProtocol") or (svc_port.get("name") or "").split("-")[0]).lower()
    if proto not in ("http", "http2", ""):
        raise NotSimulated(f"a sidecar client to Service port {port} named/appProtocol {proto!r}")


def captured_by_ztunnel(view, pod):
    """Ambient capture of a pod (cni/pkg/util/podutil_test.go TestPodRedirectionEnabled: the pod's
    istio.io/dataplane-mode label, else its namespace's; `none` on the pod opts out; a pod with a sidecar
    is never captured), with a running ztunnel to carry it."""
    if is_sidecar(pod):
        return False
    mode = labels(pod).get("istio.io/dataplane-mode")
    if mode is None:
        mode = labels(view.namespace(pod["metadata"]["namespace"])).get("istio.io/dataplane-mode")
    return mode == "ambient" and view.ztunnel_ready()
