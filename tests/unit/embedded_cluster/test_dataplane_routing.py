"""The lab's traffic through the simulated ambient data plane: splits, keep-alive, waypoints, faults.

Tolerances are four binomial standard deviations at N=400 and hold for every seed tried (several seeds a test)."""

import collections
import copy
import json
import re

import builders
import pytest
from embedded_cluster.apiserver.dataplane import NotSimulated
from dataplane_lab import Lab, pod, sample

N = 400
SEEDS = (0, 1, 2)
URL = "http://helloworld.hello.svc.cluster.local:5000/hello"


def versions(lab, n=N, close=True, url=URL):
    args = ["-sS", "-w", "|%{http_code}|%{num_connects}|%header{server}\n"]
    if close:
        args += ["-H", "Connection: close"]
    result = lab.curl(*args, url + "?[1-%d]" % n)
    # a body ending in a newline (helloworld) puts the write-out on a line of its own; one without
    # (Envoy's local replies) shares the line with it
    text = result.stdout.decode().replace("\n|", "|")
    seen, meta = collections.Counter(), []
    for line in text.splitlines():
        body, _, rest = line.partition("|")
        m = re.search(r"version: (v\d+)", body)
        seen[m.group(1) if m else body] += 1
        meta.append(rest.split("|"))
    assert sum(seen.values()) == n, text[-500:]
    return seen, meta, result


def vs_dr_split(cluster):
    cluster.put(builders.split_virtualservice("hello", weights=(95, 5)))
    cluster.put({"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
                 "metadata": {"name": "helloworld", "namespace": "hello"},
                 "spec": {"host": "helloworld", "subsets": [{"name": "v1", "labels": {"version": "v1"}},
                                                            {"name": "v2", "labels": {"version": "v2"}}]}})


@pytest.mark.parametrize("seed", SEEDS)
def test_virtualservice_split_without_waypoint_comes_out_even(cluster, seed):
    lab = Lab(cluster, seed=seed)
    vs_dr_split(cluster)
    seen, meta, _ = versions(lab)
    assert abs(seen["v1"] / N - 0.5) < 0.1, seen
    assert all(m[1] == "1" for m in meta)  # a new connection per request
    assert {m[2] for m in meta} == {"gunicorn"}  # straight from the app: no waypoint answered


@pytest.mark.parametrize("seed", SEEDS)
def test_three_v1_pods_and_one_v2_give_three_quarters(cluster, seed):
    lab = Lab(cluster, seed=seed, v1=3, v2=1)
    vs_dr_split(cluster)
    seen, _, _ = versions(lab)
    assert abs(seen["v1"] / N - 0.75) < 0.09, seen


@pytest.mark.parametrize("seed", SEEDS)
def test_one_keep_alive_connection_stays_on_one_pod(cluster, seed):
    lab = Lab(cluster, seed=seed, v1=2, v2=2)
    result = lab.curl("-sS", "-w", "|%{num_connects}\n", URL + "?[1-50]")
    bodies = [line for line in result.stdout.decode().splitlines() if line.startswith("Hello")]
    assert len(bodies) == 50 and len(set(bodies)) == 1
    assert result.stdout.decode().count("|1\n") == 1 and result.stdout.decode().count("|0\n") == 49


@pytest.mark.parametrize("seed", SEEDS)
def test_waypoint_and_httproute_split_per_request(cluster, seed):
    lab = Lab(cluster, seed=seed)
    cluster.put(builders.split_route(weights=(95, 5)))
    lab.add_waypoint()
    seen, meta, _ = versions(lab, close=False)  # one keep-alive connection: still split per request
    assert abs(seen["v1"] / N - 0.95) < 0.045, seen
    assert {m[2] for m in meta} == {"istio-envoy"}
    assert sum(int(m[1]) for m in meta) == 1


def test_waypoint_never_programmed_leaves_traffic_direct(cluster):
    lab = Lab(cluster)
    cluster.set_readiness("Deployment", "hello", "waypoint", None)
    cluster.put(builders.waypoint("hello", programmed=None))
    cluster.put(builders.ambient_namespace("hello", waypoint="waypoint"))
    cluster.put(builders.split_route(weights=(95, 5)))
    seen, meta, _ = versions(lab)
    svc = cluster.get("v1", "Service", "helloworld", "hello")
    assert [c["status"] for c in svc["status"]["conditions"] if c["type"] == "istio.io/WaypointBound"] == ["False"]
    assert abs(seen["v1"] / N - 0.5) < 0.1, seen
    assert {m[2] for m in meta} == {"gunicorn"}


def test_client_outside_the_mesh_skips_the_waypoint(cluster):
    lab = Lab(cluster, test_labels={})
    cluster.put(builders.split_route(weights=(95, 5)))
    lab.add_waypoint()
    seen, meta, _ = versions(lab)
    assert abs(seen["v1"] / N - 0.5) < 0.1, seen
    assert {m[2] for m in meta} == {"gunicorn"}


def test_waypoint_without_pods_resets_connections(cluster):
    lab = Lab(cluster)
    lab.add_waypoint()
    assert lab.curl("-sS", URL).exit_code == 0
    lab.scale_waypoint_to_zero()
    result = lab.curl("-sS", "-w", "%{http_code}", URL)
    assert (result.exit_code, result.stdout, result.stderr) == (
        56, b"000", b"curl: (56) Recv failure: Connection reset by peer\n")


def fault_vs(ns="hello", host="httpbin", name="httpbin-fault", **kwargs):
    vs = builders.fault_virtualservice(ns, host, **kwargs)
    vs["metadata"]["name"] = name
    return vs


@pytest.mark.parametrize("seed", SEEDS)
def test_fault_abort_at_the_waypoint_answers_as_envoy(cluster, seed):
    lab = Lab(cluster, seed=seed)
    cluster.put(fault_vs(delay=None, abort=500, abort_pct=50))
    lab.add_waypoint(services=("httpbin",))
    result = lab.curl("-sS", "-w", "|%{http_code}|%header{server}|%header{content-type}\n",
                      "http://httpbin.hello:8000/status/200?[1-%d]" % N)
    lines = result.stdout.decode().splitlines()
    aborted = [line for line in lines if "|500|" in line]
    assert abs(len(aborted) / N - 0.5) < 0.1
    assert all(line == "fault filter abort|500|istio-envoy|text/plain" for line in aborted)
    assert all(line == "|200|istio-envoy|text/plain; charset=utf-8" for line in lines if "|200|" in line)


def test_fault_delay_shows_in_curls_timing_and_max_time_cuts_it(cluster):
    lab = Lab(cluster)
    cluster.put(fault_vs(delay="3s", delay_pct=100, abort=None))
    lab.add_waypoint(services=("httpbin",))
    result = lab.curl("-sS", "-w", "%{http_code} %{time_total}\n", "http://httpbin.hello:8000/status/200")
    code, total = result.stdout.decode().split()
    assert code == "200" and 3.0 <= float(total) < 3.1
    result = lab.curl("-sS", "-m", "1", "-w", "%{http_code} %{time_total}\n", "http://httpbin.hello:8000/status/200")
    code, total = result.stdout.decode().split()
    assert (result.exit_code, code) == (28, "000") and 1.0 <= float(total) < 1.01
    assert result.stderr == b"curl: (28) Operation timed out after 1000 milliseconds with 0 bytes received\n"


def test_delay_before_abort(cluster):
    lab = Lab(cluster)
    cluster.put(fault_vs(delay="2s", delay_pct=100, abort=503, abort_pct=100))
    lab.add_waypoint(services=("httpbin",))
    code, total = lab.curl("-sS", "-o", "/dev/null", "-w", "%{http_code} %{time_total}",
                           "http://httpbin.hello:8000/status/200").stdout.decode().split()
    assert code == "503" and float(total) >= 2.0


def abort_all(ns="hello", name="helloworld-fault", host="helloworld", match=None):
    http = {"fault": {"abort": {"httpStatus": 500, "percentage": {"value": 100}}},
            "route": [{"destination": {"host": host}}]}
    if match:
        http["match"] = match
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": name, "namespace": ns}, "spec": {"hosts": [host], "http": [http]}}


@pytest.mark.parametrize("route_first", [True, False])
def test_httproute_of_the_waypoints_namespace_comes_before_a_public_virtualservice(cluster, route_first):
    """pilot/pkg/model/push_context.go VirtualServicesForGateway: among the public VirtualServices the
    gateway-semantics ones (the HTTPRoutes') of the waypoint's namespace come first ("consumer override"),
    whatever their age; so the HTTPRoute's catch-all shadows the fault, older or newer."""
    lab = Lab(cluster)
    cluster.put(builders.split_route(weights=(50, 50)))
    cluster.put(abort_all())
    old, new = "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z"
    lab.created("gateway.networking.k8s.io/v1", "HTTPRoute", "hello", "helloworld", old if route_first else new)
    lab.created("networking.istio.io/v1", "VirtualService", "hello", "helloworld-fault", new if route_first else old)
    lab.add_waypoint()
    seen, _, _ = versions(lab, n=50)
    assert seen["fault filter abort"] == 0 and seen["v1"] + seen["v2"] == 50


@pytest.mark.parametrize("route_first", [True, False])
def test_waypoint_in_another_namespace_merges_in_creation_order(cluster, route_first):
    """With the waypoint in another namespace (istio.io/use-waypoint-namespace) the Service's HTTPRoute is not
    of the proxy's namespace: it and the public VirtualService are "the other public ones" of
    VirtualServicesForGateway, in MergedVirtualServices' creation order (model/config.go
    sortConfigByCreationTime), and the older catch-all shadows the newer."""
    lab = Lab(cluster)
    cluster.put(builders.split_route(weights=(50, 50)))
    cluster.put(abort_all())
    old, new = "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z"
    lab.created("gateway.networking.k8s.io/v1", "HTTPRoute", "hello", "helloworld", old if route_first else new)
    lab.created("networking.istio.io/v1", "VirtualService", "hello", "helloworld-fault", new if route_first else old)
    lab.add_waypoint(ns="wp", for_ns="hello")
    seen, meta, _ = versions(lab, n=50)
    assert {m[2] for m in meta} == {"istio-envoy"}
    if route_first:
        assert seen["fault filter abort"] == 0 and seen["v1"] + seen["v2"] == 50
    else:
        assert seen["fault filter abort"] == 50


def test_same_second_ties_break_by_name(cluster):
    """model/config.go sortConfigByCreationTime: same second -> by name; the HTTPRoute's generated
    VirtualService is named hello~5000~helloworld.hello.svc.cluster.local, after "helloworld-fault". Only
    where both are "other public" VirtualServices of the waypoint (a waypoint in another namespace)."""
    lab = Lab(cluster)
    cluster.put(builders.split_route(weights=(50, 50)))
    cluster.put(abort_all())
    for api, kind, name in (("gateway.networking.k8s.io/v1", "HTTPRoute", "helloworld"),
                            ("networking.istio.io/v1", "VirtualService", "helloworld-fault")):
        lab.created(api, kind, "hello", name, "2026-01-01T00:00:00Z")
    lab.add_waypoint(ns="wp", for_ns="hello")
    seen, _, _ = versions(lab, n=20)
    assert seen["fault filter abort"] == 20


def test_private_virtualservice_comes_before_the_httproute(cluster):
    """push_context.go initVirtualServices: exportTo "." makes a VirtualService private to its namespace;
    VirtualServicesForGateway lists the private ones first, before any public one - the HTTPRoute's too."""
    lab = Lab(cluster)
    cluster.put(builders.split_route(weights=(50, 50)))
    fault = abort_all()
    fault["spec"]["exportTo"] = ["."]
    cluster.put(fault)
    lab.created("gateway.networking.k8s.io/v1", "HTTPRoute", "hello", "helloworld", "2026-01-01T00:00:00Z")
    lab.created("networking.istio.io/v1", "VirtualService", "hello", "helloworld-fault", "2026-01-01T00:00:01Z")
    lab.add_waypoint()
    seen, _, _ = versions(lab, n=20)
    assert seen["fault filter abort"] == 20


def test_exportto_decides_what_a_waypoint_in_another_namespace_sees(cluster):
    """initVirtualServices: a VirtualService private to the Service's namespace is in no list of the
    waypoint's namespace (the HTTPRoute applies); one exported to the waypoint's namespace comes before the
    public ones (VirtualServicesForGateway), the older HTTPRoute's too."""
    lab = Lab(cluster)
    cluster.put(builders.split_route(weights=(50, 50)))
    fault = abort_all()
    fault["spec"]["exportTo"] = ["."]
    cluster.put(fault)
    lab.created("gateway.networking.k8s.io/v1", "HTTPRoute", "hello", "helloworld", "2026-01-01T00:00:00Z")
    lab.created("networking.istio.io/v1", "VirtualService", "hello", "helloworld-fault", "2026-01-01T00:00:01Z")
    lab.add_waypoint(ns="wp", for_ns="hello")
    seen, _, _ = versions(lab, n=20)
    assert seen["fault filter abort"] == 0 and seen["v1"] + seen["v2"] == 20
    fault["spec"]["exportTo"] = ["wp"]
    cluster.put(fault)
    seen, _, _ = versions(lab, n=20)
    assert seen["fault filter abort"] == 20


def multi_port_service(cluster):
    cluster.put({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "multi", "namespace": "hello"},
                 "spec": {"selector": {"app": "helloworld"},
                          "ports": [{"name": "http-a", "port": 8080, "targetPort": 5000},
                                    {"name": "http-b", "port": 9090, "targetPort": 5000}]}})


@pytest.mark.parametrize("seed", SEEDS)
def test_a_split_of_one_port_leaves_the_other_port_on_the_default_route(cluster, seed):
    """route_collections.go: parentRef.port puts the port into every match (conversion.go augmentPortMatch);
    route.go TranslateRoute makes no route of a match for another port; listener_waypoint.go
    buildWaypointInboundHTTPRouteConfig falls back to the default inbound route (the Service) when no
    VirtualService yields a route. So port 9090 keeps the Service's own balancing."""
    lab = Lab(cluster, seed=seed)
    multi_port_service(cluster)
    cluster.put(builders.split_route(service_name="multi", port=8080, weights=(100,)))
    route = cluster.get("gateway.networking.k8s.io/v1", "HTTPRoute", "multi", "hello")
    route["spec"]["rules"][0]["backendRefs"] = [{"name": "helloworld-v2", "port": 5000, "weight": 1}]
    cluster.put(route)
    lab.add_waypoint(services=("helloworld", "multi"))
    seen, meta, _ = versions(lab, n=100, url="http://multi.hello.svc.cluster.local:8080/hello")
    assert seen == {"v2": 100} and {m[2] for m in meta} == {"istio-envoy"}
    seen, meta, _ = versions(lab, url="http://multi.hello.svc.cluster.local:9090/hello")
    assert abs(seen["v1"] / N - 0.5) < 0.1 and seen["v1"] + seen["v2"] == N, seen
    assert {m[0] for m in meta} == {"200"} and {m[2] for m in meta} == {"istio-envoy"}


def test_a_catch_all_for_another_port_does_not_end_the_virtualservice(cluster):
    """listener_waypoint.go waypointInboundRoute asks IsCatchAllRoute only of a route TranslateRoute made; a
    match for another port makes none (route.go), so the rules after it still apply on this port."""
    lab = Lab(cluster)
    vs = abort_all(match=[{"port": 6000}])
    vs["spec"]["http"].append({"match": [{"uri": {"prefix": "/hello"}}],
                               "route": [{"destination": {"host": "helloworld-v2"}}]})
    cluster.put(vs)
    lab.add_waypoint()
    seen, _, _ = versions(lab, n=20)
    assert seen == {"v2": 20}


def test_virtualservice_in_a_third_namespace_is_ignored(cluster):
    lab = Lab(cluster)
    cluster.put(builders.namespace("other"))
    cluster.put(abort_all(ns="other", host="helloworld.hello.svc.cluster.local"))
    lab.add_waypoint()
    seen, _, _ = versions(lab, n=50)
    assert seen["fault filter abort"] == 0 and seen["v1"] + seen["v2"] == 50
    cluster.put(abort_all(ns="hello"))  # the same in the Service's namespace applies
    seen, _, _ = versions(lab, n=20)
    assert seen["fault filter abort"] == 20


def test_source_labels_matches_are_dropped(cluster):
    lab = Lab(cluster)
    cluster.put(abort_all(match=[{"sourceLabels": {"app": "curl"}}]))
    lab.add_waypoint()
    seen, _, _ = versions(lab, n=50)
    assert seen["fault filter abort"] == 0 and seen["v1"] + seen["v2"] == 50


def test_a_request_no_route_matches_gets_404(cluster):
    lab = Lab(cluster)
    cluster.put(abort_all(match=[{"uri": {"prefix": "/other"}}]))
    lab.add_waypoint()
    result = lab.curl("-sS", "-D", "-", "-w", "%{http_code}", URL)
    assert result.stdout.startswith(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n")
    assert result.stdout.endswith(b"\r\n\r\n404")
    result = lab.curl("-sS", "-w", "|%{http_code}", "http://helloworld.hello.svc.cluster.local:5000/other")
    assert result.stdout == b"fault filter abort|500"


# ---- what an HTTPRoute asks that no backend can serve (issue 22, item 3) --------------------------------------
@pytest.mark.parametrize("seed", SEEDS)
def test_a_backend_that_is_no_service_answers_500_for_its_share(cluster, seed):
    """conversion.go buildDestination keeps a missing Service's host in the route (ResolvedRefs False,
    BackendNotFound); the waypoint has no cluster for it, and a gateway-semantics route answers that with
    cluster_not_found_response_code 500 (route/route.go applyHTTPRouteDestination), no body (Envoy router.cc)."""
    lab = Lab(cluster, seed=seed)
    route = builders.split_route(weights=(50, 50))
    route["spec"]["rules"][0]["backendRefs"][1]["name"] = "helloworld-v3"  # no such Service
    cluster.put(route)
    lab.add_waypoint()
    [parent] = cluster.get("gateway.networking.k8s.io/v1", "HTTPRoute", "helloworld", "hello")["status"]["parents"]
    assert {c["type"]: c["reason"] for c in parent["conditions"]}["ResolvedRefs"] == "BackendNotFound"
    # each reply's body, then its status and server on a line of their own (a 500's body is empty)
    text = lab.curl("-sS", "-w", "\n@%{http_code} %header{server}\n", URL + "?[1-%d]" % N).stdout.decode()
    replies = collections.Counter((status, "v1" if "version: v1" in body else body.strip())
                                  for body, status in re.findall(r"(.*?)\n?@(\d+ [\w-]+)\n", text, re.S))
    assert set(replies) == {("200 istio-envoy", "v1"), ("500 istio-envoy", "")}, replies
    assert sum(replies.values()) == N and abs(replies["500 istio-envoy", ""] / N - 0.5) < 0.1, replies


def test_weights_that_are_all_0_answer_500_and_a_rule_without_backends_404(cluster):
    """conversion.go convertHTTPRoute: weightSum == 0 -> a direct response, 404 when the rule lists no
    backendRefs, 500 when every backend weighs 0 ("per the Gateway API spec"); the other rules still route."""
    lab = Lab(cluster)
    route = builders.split_route(weights=(0, 0))
    route["spec"]["rules"][0]["matches"] = [{"path": {"type": "PathPrefix", "value": "/zero"}}]
    route["spec"]["rules"] += [{"matches": [{"path": {"type": "PathPrefix", "value": "/none"}}]},
                               {"backendRefs": [{"name": "helloworld-v2", "port": 5000}]}]
    cluster.put(route)
    lab.add_waypoint()
    base = "http://helloworld.hello.svc.cluster.local:5000"
    for path, answer in (("/zero", b"|500|istio-envoy"), ("/none", b"|404|istio-envoy")):
        result = lab.curl("-sS", "-w", "|%{http_code}|%header{server}", base + path)
        assert result.stdout == answer, result.stdout
    assert versions(lab, n=20, url=base + "/hello")[0] == {"v2": 20}


@pytest.mark.parametrize("waypoint_ns", ["hello", "wp"])
def test_a_consumer_route_is_accepted_but_only_the_waypoints_own_namespace_counts(cluster, waypoint_ns):
    """An HTTPRoute in a third namespace whose parent is the Service: Accepted (route_status), but
    listener_waypoint.go getVirtualServiceForWaypoint takes only the configs of the Service's namespace and the
    waypoint's own, so the waypoint routes as if it were not there - unless the route lives in the waypoint's
    namespace (istio.io/use-waypoint-namespace)."""
    lab = Lab(cluster)
    cluster.put(builders.namespace("consumer"))
    if waypoint_ns != "hello":
        lab.add_waypoint(ns=waypoint_ns, for_ns="hello")
    else:
        lab.add_waypoint()
    for ns in ("consumer", waypoint_ns):
        route = builders.split_route(ns=ns, weights=(100,), name="only-v2")
        route["spec"]["parentRefs"][0]["namespace"] = "hello"
        route["spec"]["rules"][0]["backendRefs"] = [{"name": "helloworld-v2", "namespace": "hello", "port": 5000}]
        cluster.put(route)
        [parent] = cluster.get("gateway.networking.k8s.io/v1", "HTTPRoute", "only-v2", ns)["status"]["parents"]
        assert {c["type"]: c["status"] for c in parent["conditions"]}["Accepted"] == "True"
        seen, meta, _ = versions(lab, n=N if ns == "consumer" else 20)
        assert {m[2] for m in meta} == {"istio-envoy"}
        if ns == "consumer":
            assert abs(seen["v1"] / N - 0.5) < 0.1 and seen["v1"] + seen["v2"] == N, seen
        else:
            assert seen == {"v2": 20}


# ---- sidecar clients ------------------------------------------------------------------------------------
def sidecar_client(lab, cluster, ns="legacy", app="curl"):
    """The lab's curl client as the injector leaves it (the test cluster runs no injection webhook): the
    sidecar.istio.io/status annotation (pkg/kube/inject/inject.go SidecarInjectionStatus) and the
    istio-proxy container, in a namespace with istio-injection=enabled."""
    cluster.put(builders.namespace(ns, **{"istio-injection": "enabled"}))
    template = copy.deepcopy(sample("curl.yaml", "Deployment")[0]["spec"]["template"])
    template["metadata"]["labels"]["app"] = app
    template["metadata"].setdefault("annotations", {})["sidecar.istio.io/status"] = json.dumps(
        {"initContainers": ["istio-init"], "containers": ["istio-proxy"], "volumes": ["istio-envoy"],
         "imagePullSecrets": None, "revision": "default"})
    template["spec"]["containers"].append({"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.30.3"})
    return cluster.put(pod(ns, f"{app}-6b8d7c9f4-s{len(ns):04d}", template))


@pytest.mark.parametrize("seed", SEEDS)
def test_sidecar_client_applies_the_virtualservice_split_per_request(cluster, seed):
    """The trap's VirtualService + DestinationRule 95/5 does work from a sidecar client, without a waypoint,
    even on one kept-alive connection (its Envoy balances every request)."""
    lab = Lab(cluster, seed=seed)
    vs_dr_split(cluster)
    client = sidecar_client(lab, cluster)
    result = lab.curl("-sS", "-w", "|%{http_code}|%{num_connects}|%header{server}\n", URL + "?[1-%d]" % N, pod=client)
    lines = result.stdout.decode().replace("\n|", "|").splitlines()
    seen = collections.Counter(re.search(r"version: (v\d+)", line).group(1) for line in lines)
    assert abs(seen["v1"] / N - 0.95) < 0.045, seen
    assert {line.split("|", 2)[2] for line in lines} == {"1|envoy", "0|envoy"}
    assert sum(line.split("|")[2] == "1" for line in lines) == 1


@pytest.mark.parametrize("seed", SEEDS)
def test_sidecar_client_applies_the_httproute_and_bypasses_the_waypoint(cluster, seed):
    lab = Lab(cluster, seed=seed)
    cluster.put(builders.split_route(weights=(95, 5)))
    lab.add_waypoint()
    client = sidecar_client(lab, cluster)
    seen, meta = collections.Counter(), []
    result = lab.curl("-sS", "-H", "Connection: close", "-w", "|%{http_code}|%header{server}\n", URL + "?[1-%d]" % N,
                      pod=client)
    for line in result.stdout.decode().replace("\n|", "|").splitlines():
        seen[re.search(r"version: (v\d+)", line).group(1)] += 1
        meta.append(line.split("|", 1)[1])
    assert abs(seen["v1"] / N - 0.95) < 0.045, seen
    assert set(meta) == {"200|envoy"}  # the client's Envoy answered, never the waypoint (istio-envoy)
    lab.scale_waypoint_to_zero()
    assert lab.curl("-sS", URL).exit_code == 56  # an ambient client is reset
    result = lab.curl("-sS", "-w", "|%{http_code}", URL, pod=client)
    assert result.exit_code == 0 and result.stdout.endswith(b"|200")


def test_sidecar_client_evaluates_source_labels(cluster):
    """At a sidecar sourceLabels select the client (route.go sourceMatchHTTP); a waypoint drops them."""
    lab = Lab(cluster)
    cluster.put(abort_all(match=[{"sourceLabels": {"app": "curl"}}]))
    ours, other = sidecar_client(lab, cluster), sidecar_client(lab, cluster, ns="other", app="sleep")
    assert lab.curl("-sS", "-w", "|%{http_code}|%header{server}", URL, pod=ours).stdout == b"fault filter abort|500|envoy"
    # no match left for this client: the VirtualService yields no route and the Service's default route applies
    result = lab.curl("-sS", "-w", "|%{http_code}", URL, pod=other)
    assert result.stdout.startswith(b"Hello version: v") and result.stdout.endswith(b"|200")


def test_sidecar_client_sees_virtualservices_by_export_to(cluster):
    """exportTo decides, not the waypoint's namespace rule: one in the client's own namespace applies, one
    exported only to its own namespace (".") does not reach another namespace."""
    lab = Lab(cluster)
    client = sidecar_client(lab, cluster)
    private = abort_all(ns="hello")
    private["spec"]["exportTo"] = ["."]
    cluster.put(private)
    assert lab.curl("-sS", "-w", "|%{http_code}", URL, pod=client).stdout.endswith(b"|200")
    cluster.put(abort_all(ns="legacy", name="from-the-client", host="helloworld.hello.svc.cluster.local"))
    assert lab.curl("-sS", "-w", "|%{http_code}", URL, pod=client).stdout == b"fault filter abort|500"


@pytest.mark.parametrize("vs_first", [True, False])
def test_sidecar_client_takes_the_first_virtualservice_whole(cluster, vs_first):
    """No merge at a sidecar (httproute.go: a later virtual host for the same domain is dropped): an older
    VirtualService routing only /other leaves /hello without a route (404), where a waypoint would have
    merged the HTTPRoute's catch-all after it; a newer one is ignored altogether."""
    lab = Lab(cluster)
    cluster.put(builders.split_route(weights=(50, 50)))
    cluster.put(abort_all(match=[{"uri": {"prefix": "/other"}}]))
    old, new = "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z"
    lab.created("gateway.networking.k8s.io/v1", "HTTPRoute", "hello", "helloworld", new if vs_first else old)
    lab.created("networking.istio.io/v1", "VirtualService", "hello", "helloworld-fault", old if vs_first else new)
    client = sidecar_client(lab, cluster)
    hello = lab.curl("-sS", "-w", "|%{http_code}", URL, pod=client).stdout
    other = lab.curl("-sS", "-w", "|%{http_code}", "http://helloworld.hello.svc.cluster.local:5000/other", pod=client).stdout
    if vs_first:
        assert (hello, other) == (b"|404", b"fault filter abort|500")
    else:
        assert hello.startswith(b"Hello version: v") and hello.endswith(b"|200")
        assert other.endswith(b"|404") and b"fault" not in other  # helloworld's own 404


def test_sidecar_client_fault_delay_and_abort(cluster):
    lab = Lab(cluster)
    cluster.put(fault_vs(delay="2s", delay_pct=100, abort=503, abort_pct=100))
    client = sidecar_client(lab, cluster)
    out = lab.curl("-sS", "-D", "-", "-o", "/dev/null", "-w", "%{http_code} %{time_total}",
                   "http://httpbin.hello:8000/status/200", pod=client).stdout.decode()
    code, total = out.rsplit("\r\n\r\n", 1)[1].split()
    assert code == "503" and 2.0 <= float(total) < 2.1
    assert "server: envoy\r\n" in out and "content-type: text/plain\r\n" in out


def test_sidecar_clients_unknowns_fail_loudly(cluster):
    lab = Lab(cluster)
    client = sidecar_client(lab, cluster)
    half = copy.deepcopy(client)
    half["metadata"]["name"] = "half-injected"
    del half["metadata"]["annotations"]["sidecar.istio.io/status"]
    half = cluster.put(half)
    with pytest.raises(NotSimulated, match="istio-proxy container but no sidecar.istio.io/status"):
        lab.curl("-sS", URL, pod=half)
    cluster.put({"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
                 "metadata": {"name": "helloworld", "namespace": "hello"},
                 "spec": {"host": "helloworld", "trafficPolicy": {"loadBalancer": {"simple": "ROUND_ROBIN"}}}})
    with pytest.raises(NotSimulated, match="trafficPolicy/exportTo at a sidecar client"):
        lab.curl("-sS", URL, pod=client)
    with pytest.raises(NotSimulated, match="by its IP"):
        lab.curl("-sS", "http://%s:5000/hello" % lab.pods["v1"][0]["status"]["podIP"], pod=client)
