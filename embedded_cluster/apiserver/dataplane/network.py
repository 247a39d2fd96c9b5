"""Which path a connection and its requests take, and what answers them (Istio ambient 1.30.3).

- A client pod captured by ztunnel (routing.captured_by_ztunnel) connects to its node's ztunnel, which
  accepts at once. For a Service without a waypoint ztunnel picks one ready endpoint per connection at
  random, weighted by capacity (1 per pod) (ztunnel src/state.rs load_balance: choose_weighted), and pins
  the connection to it; VirtualServices and DestinationRules play no part. For a Service a waypoint serves
  (cluster.View.waypoint_for_service) ztunnel sends the connection to the waypoint, which routes every
  request (routing.py). When ztunnel finds no upstream (no ready endpoint, a waypoint without ready pods)
  or cannot reach it, it drops the accepted connection (ztunnel src/proxy/outbound.rs proxy_to: the error
  ends the task and the client socket is closed, with curl's request unread: the kernel answers with a
  reset) - curl reports a Recv failure, never an HTTP status.
- A client outside the mesh goes through kube-proxy: one ready endpoint per connection at random (the
  iptables/nftables proxier's random probabilities), straight to the pod: no waypoint, no L7 policy; a
  Service without endpoints is rejected (kube-proxy pkg/proxy/iptables/proxier.go REJECT rule: connection
  refused), and so is a pod where nothing listens.
- A sidecar client (routing.is_sidecar) sends every connection to its own Envoy, which routes each request
  with the VirtualServices and HTTPRoutes it sees (routing.sidecar_routes) and sends it straight to an
  endpoint of the picked cluster: waypoints play no part (endpoint_builder.go). Connections to a pod IP
  (passthrough) and upstream pods with sidecars of their own are not simulated.
"""

from . import apps, resilience, routing
from .cluster import labels
from .messages import ConnectionFailed, ConnectionReset, NotSimulated, Response

REFUSED = "Connection refused"


class Network:
    def __init__(self, dataplane):
        self.dp = dataplane

    @property
    def view(self):
        return self.dp.view

    def connect(self, client, ip, port):
        view, rng = self.view, self.dp.rng
        sidecar = routing.is_sidecar(client)
        ambient = not sidecar and routing.captured_by_ztunnel(view, client)
        svc, pod = view.service_by_ip(ip), view.pod_by_ip(ip)
        source = (client.get("status") or {}).get("podIP", "")
        if svc is not None:
            if not any(p.get("port") == port for p in (svc.get("spec") or {}).get("ports") or []):
                raise NotSimulated(f"a connection to {ip}:{port}, a port Service {_name(svc)} does not have")
            if sidecar:
                routing.http_port(svc, port)
                return SidecarConnection(self.dp, client, svc, port, source)
            if ambient:
                waypoint = view.waypoint_for_service(svc)
                if waypoint is not None:
                    wsvc = view.waypoint_service(waypoint)
                    proxies = view.endpoints(wsvc, 15008) if wsvc is not None else None
                    if not proxies:
                        return Dropped(f"waypoint {_name(waypoint)} has no ready pod")
                    # ztunnel picks one of the waypoint's pods per connection (src/state.rs load_balance); a
                    # draw only when there is a choice, so the seeded sequences of one-pod waypoints stay as they were
                    proxy = proxies[0][0] if len(proxies) == 1 else rng.choice(proxies)[0]
                    return WaypointConnection(self.dp, svc, port, waypoint, source, client, proxy)
                endpoints = view.endpoints(svc, port)
                if not endpoints:
                    return Dropped(f"Service {_name(svc)} has no ready endpoint")
                return self._direct(*rng.choice(endpoints), source, mesh=True)
            endpoints = view.endpoints(svc, port)
            if not endpoints:
                raise ConnectionFailed(REFUSED)
            return self._direct(*rng.choice(endpoints), source, mesh=False)
        if pod is not None:
            if sidecar:
                raise NotSimulated(f"a sidecar client to pod {_name(pod)} by its IP (the passthrough cluster)")
            if ambient and "istio.io/use-waypoint" in labels(pod):
                raise NotSimulated(f"traffic to pod {_name(pod)} through a workload waypoint")
            return self._direct(pod, port, source, mesh=ambient)
        raise NotSimulated(f"a connection to {ip}, the address of no Service or pod")

    def _direct(self, pod, port, source, mesh):
        app = apps.app_for(pod, port)
        if app is None:
            if mesh:
                return Dropped(f"nothing listens on {_name(pod)}:{port}")
            raise ConnectionFailed(REFUSED)
        return DirectConnection(self.dp, pod, app, source)


class Dropped:
    """Accepted by the local ztunnel, then closed: the request gets a reset."""

    def __init__(self, why):
        self.why = why

    def send(self, req):
        raise ConnectionReset(self.why)


class DirectConnection:
    """A TCP connection pinned to one pod (through ztunnel L4 or kube-proxy)."""

    def __init__(self, dp, pod, app, source):
        self.dp, self.pod, self.app = dp, pod, app
        self.client_addr = f"{source}:{dp.rng.randint(32768, 60999)}"  # Linux ip_local_port_range default

    def send(self, req):
        resp = self.app.handle(req, self.pod, self.dp.now(), self.dp.rng, client_ip=self.client_addr)
        resp.elapsed += self.dp.latency()
        resp.upstream = self.pod
        return resp


class EnvoyConnection:
    """A connection whose every request an Envoy routes (a waypoint, or a sidecar client's own proxy): route
    match, fault filter, weighted clusters, then an endpoint of the picked cluster."""

    server = "istio-envoy"

    def __init__(self, dp, svc, port, source):
        self.dp, self.svc, self.port = dp, svc, port
        self.client_addr = f"{source}:{dp.rng.randint(32768, 60999)}"  # Linux ip_local_port_range default

    def routes(self):
        raise NotImplementedError

    def check_cluster(self, target):
        """Raises NotSimulated for a cluster whose settings the simulation does not know."""

    def send(self, req):
        rng = self.dp.rng
        routes = self.routes()
        if routes is None:
            route = routing.Route("default route", {}, [(self.svc, self.port, None, 1)], {})
        else:
            route = next((r for r in routes if r.matches(req, self.port)), None)
            if route is None:
                return self._local_reply(req, 404, b"", 0.0, ["NR"])  # router.cc: no route -> 404 (NR)
        delay = 0.0
        flags = []
        fault = route.fault
        if "delay" in fault and routing.fault_hits(rng, fault["delay"][1]):
            delay = fault["delay"][0]
            flags.append("DI")  # fault_filter.cc: setResponseFlag(DelayInjected)
        if "abort" in fault and routing.fault_hits(rng, fault["abort"][1]):
            # fault_filter.cc abortWithStatus: sendLocalReply(status, "fault filter abort"), flag FaultInjected.
            # The route's cluster is resolved before any filter runs (the HCM picks the weighted cluster when it
            # resolves the route), so the stream knows it; drawn here only for the stats
            reply = self._local_reply(req, fault["abort"][0], b"fault filter abort", delay, flags + ["FI"])
            if not isinstance(route.destinations, routing.Direct):
                reply.cluster = (route.destinations[0] if len(route.destinations) == 1
                                 else routing.pick_weighted(rng, route.destinations))[0]
            return reply
        if isinstance(route.destinations, routing.Direct):
            return self._local_reply(req, route.destinations.status, b"", delay, flags)
        target, port, subset, _weight = routing.pick_weighted(rng, route.destinations)
        if target is None:
            # a converted HTTPRoute's backend that is no Service: the proxy has no such cluster. Gateway-semantics
            # routes set cluster_not_found_response_code 500 (route/route.go applyHTTPRouteDestination); Envoy's
            # router answers it with no body (router.cc: no cluster -> sendLocalReply(clusterNotFoundResponseCode,
            # ""), response flag NC)
            return self._local_reply(req, 500, b"", delay, flags + ["NC"])
        self.check_cluster(target)
        resp = self._upstream(req, route.policy, target, port, subset, delay, flags)
        resp.cluster = target
        return resp

    def _upstream(self, req, policy, target, port, subset, delay, flags):
        """The router's attempts at the picked cluster under the route's timeout and retry policy (resilience.py):
        `spent` counts from the moment the router has the request, after the fault filter's delay."""
        dp, rng = self.dp, self.dp.rng
        retry = policy.retry
        spent, tried, attempt = 0.0, set(), 0
        while True:
            endpoints = dp.view.endpoints(target, port, subset)
            if not endpoints:
                # router.cc sendNoHealthyUpstreamResponse: 503 "no healthy upstream" (UH)
                return self._local_reply(req, 503, b"no healthy upstream", delay + spent, flags + ["UH"])
            # the cluster's default LEAST_REQUEST (cluster_traffic_policy.go defaultLBAlgorithm): with one request
            # in flight every host ties, and Envoy picks among the tied hosts at random; a retry avoids the hosts
            # tried before when another is left (retry_host_predicate previous_hosts)
            fresh = [e for e in endpoints if e[0]["metadata"]["name"] not in tried] if retry is not None else []
            pod, target_port = rng.choice(fresh or endpoints)
            tried.add(pod["metadata"]["name"])
            if routing.is_sidecar(pod):
                raise NotSimulated(f"an upstream pod with a sidecar ({_name(pod)}: its inbound Envoy)")
            app = apps.app_for(pod, target_port)
            if app is None:
                raise NotSimulated(f"the proxy's reply when {_name(pod)}:{target_port} refuses connections")
            upstream = app.handle(req, pod, dp.now() + delay + spent, rng, client_ip=self.client_addr, through_proxy=True)
            took = upstream.elapsed + dp.latency()
            left = policy.timeout - spent if policy.timeout else None
            per_try = retry.per_try if retry is not None else None
            if per_try is not None and policy.timeout and per_try >= policy.timeout:
                per_try = None  # router.cc finalTimeout: per_try_timeout_ = 0
            if per_try is not None and took > per_try and (left is None or per_try < left):
                spent += per_try  # the per-try timeout ends this attempt
                if retry.retries_timeout() and attempt < retry.attempts:
                    attempt += 1
                    spent += retry.backoff_wait(rng, attempt)
                    if left is not None and spent >= policy.timeout:
                        return self._timeout_reply(req, delay + policy.timeout, flags, pod)
                    continue
                return self._timeout_reply(req, delay + spent, flags, pod)
            if left is not None and took > left:
                return self._timeout_reply(req, delay + policy.timeout, flags, pod)  # router.cc onResponseTimeout
            spent += took
            if retry is not None and retry.retries_status(upstream.status) and attempt < retry.attempts:
                attempt += 1
                spent += retry.backoff_wait(rng, attempt)
                if policy.timeout and spent >= policy.timeout:
                    return self._timeout_reply(req, delay + policy.timeout, flags, pod)
                continue
            if retry is not None and retry.retries_status(upstream.status):
                # router.cc onUpstreamHeaders: a retriable answer with no retry left sets UpstreamRetryLimitExceeded
                flags = flags + ["URX"]
            # Envoy's HTTP/1 codec writes header names in lower case; Connection is hop by hop (the proxy answers
            # for its own downstream connection); server is overwritten (util/proxy_headers.go:
            # ServerHeaderTransformation OVERWRITE); x-envoy-upstream-service-time is the router's
            # (Envoy router filter docs, "x-envoy-upstream-service-time")
            headers = [(k.lower(), v) for k, v in upstream.headers if k.lower() not in ("connection", "server")]
            headers.append(("x-envoy-upstream-service-time", str(int(spent * 1000))))
            headers.append(("server", self.server))
            if req.wants_close:
                headers.append(("connection", "close"))
            upstream.headers = headers
            upstream.elapsed = delay + spent + dp.latency(proxy=True)
            upstream.flags, upstream.upstream = flags, pod
            return upstream

    def _timeout_reply(self, req, elapsed, flags, pod):
        """router.cc onResponseTimeout: the local reply 504 "upstream request timeout" (UT)."""
        reply = self._local_reply(req, 504, resilience.TIMEOUT_BODY, elapsed, flags + ["UT"])
        reply.upstream = pod  # the attempt's host stays the stream's upstream host
        return reply

    def _local_reply(self, req, status, body, delay, flags):
        """Envoy's local reply (http/utility.cc sendLocalReply): text/plain when there is a body."""
        headers = [("content-length", str(len(body)))]
        if body:
            headers.append(("content-type", "text/plain"))
        headers += [("date", apps.http_date(self.dp.now() + delay)), ("server", self.server)]
        if req.wants_close:
            headers.append(("connection", "close"))
        return Response(status, headers, b"" if req.method == "HEAD" else body,
                        elapsed=delay + self.dp.latency(proxy=True), backend="", flags=flags)


class WaypointConnection(EnvoyConnection):
    """A connection to a Service a waypoint serves: the waypoint's Envoy routes every request. Its server name
    is istio-envoy (util/proxy_headers.go, the sidecar-inbound class a waypoint's listener uses)."""

    def __init__(self, dp, svc, port, waypoint, source, client, proxy):
        super().__init__(dp, svc, port, source)
        self.waypoint, self.client, self.proxy = waypoint, client, proxy

    def routes(self):
        return routing.waypoint_routes(self.dp.view, self.svc, self.port, self.waypoint)

    def send(self, req):
        resp = super().send(req)
        self.dp.telemetry.waypoint_request(self.proxy, self.client, resp)  # the stats filter logs the stream
        return resp


class SidecarConnection(EnvoyConnection):
    """A sidecar client's connection: iptables sends it to the pod's own Envoy, which accepts it, routes
    every request itself (routing.sidecar_routes: the waypoint is bypassed) and sends it to an endpoint of the
    picked cluster over its own upstream connections - so a kept-alive client connection is still balanced
    per request. The outbound listener's server name is Envoy's default, "envoy" (util/proxy_headers.go:
    ServerName "" for ListenerClassSidecarOutbound, "outbound uses envoy"; Envoy HCM server_name default)."""

    server = "envoy"

    def __init__(self, dp, client, svc, port, source):
        super().__init__(dp, svc, port, source)
        self.client = client

    def routes(self):
        return routing.sidecar_routes(self.dp.view, self.client, self.svc, self.port)

    def check_cluster(self, target):
        routing.sidecar_cluster_policy(self.dp.view, self.client, target)


def _name(obj):
    return f"{obj['metadata'].get('namespace')}/{obj['metadata']['name']}"
