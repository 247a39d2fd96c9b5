"""Istio's request metrics as the simulated waypoint reports them (telemetry.py), held against istio/proxy's own
stats filter (embedded_cluster/data/istio-proxy-1.30.3/istio_stats.cc, unmodified), and the background traffic
that feeds them (traffic.py) and the endpoints that serve them (exposition.py)."""

import collections
import json
import re
import urllib.request

import pytest
from dataplane_lab import Lab

import builders
from conftest import DATA
from embedded_cluster.apiserver.dataplane import telemetry, traffic
from embedded_cluster.apiserver.dataplane.exposition import Exposition

ISTIO_STATS = (DATA / "istio-proxy-1.30.3" / "istio_stats.cc").read_text(encoding="utf-8")
HELLO = "http://helloworld.hello:5000/hello"


def _function(name):
    """The body of a C++ member function of istio_stats.cc: from its signature to the closing brace at its indent."""
    start = ISTIO_STATS.index(f"  void {name}(")
    end = ISTIO_STATS.index("\n  }\n", start)
    return ISTIO_STATS[start:end]


def test_the_labels_are_the_tags_the_stats_filter_pushes_for_a_waypoint_in_its_order():
    """reporter (the constructor, ServerGateway), then populatePeerInfo's source tags and its ServerGateway branch's
    destination tags, then log()'s request_protocol, response_code, grpc_response_status and
    populateFlagsAndConnectionSecurity's two. A renamed or reordered tag upstream fails here."""
    assert "case Reporter::ServerGateway:\n      tags_.push_back({context_.reporter_, context_.waypoint_});" in ISTIO_STATS
    assert 'waypoint_(pool_.add("waypoint"))' in ISTIO_STATS
    peer = _function("populatePeerInfo")
    source_part = peer[peer.index("case Reporter::ServerGateway: {"):peer.index("switch (config_->reporter()) {\n      case")]
    gateway_part = peer[peer.index("case Reporter::ServerGateway: {\n        std::optional"):peer.index("default:")]
    pushed = re.findall(r"tags_\.push_back\(\s*\{context_\.(\w+)_,", source_part + gateway_part)
    log_start = ISTIO_STATS.index("  void log(const Formatter::Context&")
    log = ISTIO_STATS[log_start:ISTIO_STATS.index("stream_.addCounter(context_.requests_total_")]
    # grpc_response_status is pushed in both arms of `if (is_grpc_)`: once a request
    after = list(dict.fromkeys(t for t in re.findall(r"\{context_\.(\w+)_,", log) if t != "request_protocol"))
    flags = re.findall(r"\{context_\.(\w+)_,", _function("populateFlagsAndConnectionSecurity"))
    expected = ["reporter"] + pushed + ["request_protocol"] + after + flags
    assert list(telemetry.WAYPOINT_LABELS) == expected
    # and every tag the filter knows (Context::all_tags_) is reported: 25
    known = re.findall(r'\{"(\w+)", (\w+)_\},', ISTIO_STATS[ISTIO_STATS.index("all_tags_ = {"):])
    assert sorted(telemetry.WAYPOINT_LABELS) == sorted(name for name, _field in known) and len(known) == 25


def test_the_metric_names_are_the_filters():
    for name in ("istio_requests_total", "istio_request_duration_milliseconds"):
        assert f'pool_.add("{name}")' in ISTIO_STATS
    metrics = telemetry.WaypointMetrics("hello", "waypoint-0")
    assert {m.name for m in metrics.registry.collect()} == {"istio_requests", "istio_request_duration_milliseconds"}
    assert "Stats::Histogram::Unit::Milliseconds" in ISTIO_STATS  # the duration is recorded in milliseconds


@pytest.mark.parametrize("meta, lbl, workload", [
    ({"name": "helloworld-v1-5f7c9d-abcde", "generateName": "helloworld-v1-5f7c9d-",
      "ownerReferences": [{"kind": "ReplicaSet", "name": "helloworld-v1-5f7c9d", "controller": True}]},
     {"pod-template-hash": "5f7c9d"}, "helloworld-v1"),
    ({"name": "ztunnel-x1", "generateName": "ztunnel-", "ownerReferences": [{"kind": "DaemonSet", "name": "ztunnel",
                                                                             "controller": True}]}, {}, "ztunnel"),
    ({"name": "lonely"}, {}, "lonely"),  # no generateName: the pod's own name (GetDeployMetaFromPod)
    ({"name": "p-1", "generateName": "p-", "ownerReferences": [{"kind": "ReplicaSet", "name": "p", "controller": True}]},
     {"service.istio.io/workload-name": "named"}, "named"),
])
def test_workload_names_follow_istiods_rule(meta, lbl, workload):
    assert telemetry.workload_name({"metadata": dict(meta, labels=lbl)}) == workload


@pytest.mark.parametrize("lbl, expected", [
    ({"app": "helloworld", "version": "v2"}, ("helloworld", "v2")),
    ({"app.kubernetes.io/name": "a", "app": "b", "app.kubernetes.io/version": "1.2", "version": "v9"}, ("a", "1.2")),
    ({"service.istio.io/canonical-name": "c", "app": "b", "service.istio.io/canonical-revision": "r"}, ("c", "r")),
    ({}, ("lonely", "latest")),
    ({"app": ""}, ("", "latest")),  # the first label present wins, even empty (labels.go lookupLabelValue)
])
def test_canonical_service_and_revision(lbl, expected):
    assert telemetry.canonical({"metadata": {"name": "lonely", "labels": lbl}}) == expected


def samples(dataplane, metric="istio_requests_total"):
    """{labels as a tuple of items: value} of one sample name over every proxy's registry."""
    out = collections.Counter()
    for proxy in dataplane.telemetry.proxies.values():
        for family in proxy.registry.collect():
            for s in family.samples:
                if s.name == metric:
                    out[tuple(sorted(s.labels.items()))] += s.value
    return out


def by(counts, *keys):
    out = collections.Counter()
    for labels, value in counts.items():
        d = dict(labels)
        out[tuple(d[k] for k in keys)] += value
    return out


def test_every_routed_request_is_counted_once_with_its_flags_and_an_abort_has_no_workload(cluster):
    lab = Lab(cluster)
    cluster.put(builders.fault_virtualservice("hello", "helloworld", delay=None, abort=503, abort_pct=30))
    lab.add_waypoint()
    result = lab.curl("-sS", "-o", "/dev/null", "-w", "%{http_code}\n", f"{HELLO}?[1-400]")
    codes = collections.Counter(result.stdout.decode().split())
    counted = by(samples(lab.dataplane), "destination_workload", "destination_service_name", "response_code",
                 "response_flags")
    assert sum(counted.values()) == 400
    # an abort reached no pod: no workload, but the route's cluster is the Service's (the HCM resolved it)
    assert counted[("unknown", "helloworld", "503", "FI")] == codes["503"] > 60
    served = {k: v for k, v in counted.items() if k[2] == "200"}
    # the lab puts its pods by name, without generateName: istiod names their workload after the pod itself
    workloads = {p["metadata"]["name"] for p in lab.pods["v1"] + lab.pods["v2"]}
    assert {k[0] for k in served} == workloads and {k[1:] for k in served} == {("helloworld", "200", "-")}
    assert sum(served.values()) == codes["200"]
    (source,) = {(dict(k)["source_workload"], dict(k)["source_principal"]) for k in samples(lab.dataplane)}
    assert source == (lab.client["metadata"]["name"], "spiffe://cluster.local/ns/test/sa/curl")


def test_a_delay_lands_in_its_bucket_of_envoys_default_histogram(cluster):
    lab = Lab(cluster)
    cluster.put(builders.fault_virtualservice("hello", "helloworld", delay="3s", delay_pct=100, abort=None))
    lab.add_waypoint()
    lab.curl("-sS", "-o", "/dev/null", f"{HELLO}?[1-20]")
    buckets = by(samples(lab.dataplane, "istio_request_duration_milliseconds_bucket"), "le")
    assert buckets[("2500.0",)] == 0 and buckets[("5000.0",)] == 20 and buckets[("+Inf",)] == 20
    total = sum(by(samples(lab.dataplane, "istio_request_duration_milliseconds_sum"), "response_flags").values())
    assert 60000 <= total < 60200  # 20 requests of 3 s and a few simulated milliseconds
    assert set(by(samples(lab.dataplane), "response_flags")) == {("DI",)}
    assert telemetry.DEFAULT_BUCKETS[-1] == 3600000 and len(telemetry.DEFAULT_BUCKETS) == 19


def test_no_route_is_nr_and_a_route_timeout_is_ut(cluster):
    lab = Lab(cluster)
    cluster.put({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                 "metadata": {"name": "httpbin", "namespace": "hello"},
                 "spec": {"parentRefs": [{"group": "", "kind": "Service", "name": "httpbin", "port": 8000}],
                          "rules": [{"matches": [{"path": {"type": "PathPrefix", "value": "/drip"}}],
                                     "timeouts": {"request": "1s"},
                                     "backendRefs": [{"name": "httpbin", "port": 8000}]}]}})
    lab.add_waypoint(services=("httpbin",))
    lab.curl("-sS", "-o", "/dev/null", "http://httpbin.hello:8000/status/200")
    lab.curl("-sS", "-o", "/dev/null", "http://httpbin.hello:8000/drip?delay=3&duration=0")
    counted = by(samples(lab.dataplane), "response_code", "response_flags", "destination_workload",
                 "destination_service_name")
    # the timed-out attempt had its upstream host: its workload is known (the lab's pod, named without generateName)
    httpbin = lab.pods["httpbin"][0]["metadata"]["name"]
    assert counted == {("404", "NR", "unknown", "unknown"): 1, ("504", "UT", httpbin, "httpbin"): 1}


@pytest.mark.parametrize("raw, problem", [
    ("not json", "is not JSON"),
    ('{"url": "https://x", "rps": 1}', "url must be an http:// URL"),
    ('{"url": "http://x", "rps": 0}', "rps must be a number above 0 and at most 50"),
    ('{"url": "http://x", "rps": 51}', "at most 50"),
    ('{"url": "http://x", "rps": true}', "rps must be a number"),
    ('{"url": "http://x", "rps": 1, "headers": {"a": 1}}', "headers must map names to strings"),
    ('{"url": "http://x", "rps": 1, "method": "POST"}', "each entry is an object with url, rps and optional headers"),
])
def test_a_bad_traffic_annotation_is_refused_naming_what_is_wrong(raw, problem):
    with pytest.raises(traffic.TrafficError, match=re.escape(problem)):
        traffic.parse(raw)


def declare(cluster, lab, value):
    dep = cluster.get("apps/v1", "Deployment", lab.client["metadata"]["labels"]["app"], "test")
    if dep is None:  # the lab puts the client's pod from the sample's Deployment; the Deployment itself here
        dep = in_test(lab)
    dep["metadata"].setdefault("annotations", {})[traffic.ANNOTATION] = value
    cluster.put(dep)


def in_test(lab):
    from dataplane_lab import in_ns, sample
    return in_ns(sample("curl.yaml", "Deployment")[0], "test")


def test_background_traffic_sends_its_rate_through_the_waypoint_and_leaves_the_probes_sequence_alone(cluster):
    lab = Lab(cluster, seed=3)
    lab.add_waypoint()
    first = lab.curl("-sS", "-w", "%{http_code} ", f"{HELLO}?[1-30]").stdout
    lab.dataplane.reseed(3)
    declare(cluster, lab, json.dumps({"url": HELLO, "rps": 10}))
    bg = lab.dataplane.traffic
    cluster._call(bg.tick, 2.5)  # 25 requests owed
    summary = cluster._call(bg.summary)
    (entry,) = summary["sent"]
    assert entry["outcomes"] == {"200": 25} and summary["errors"] == []
    assert sum(b["count"] for b in entry["backends"]) == 25
    assert {b["workload"] for b in entry["backends"]} <= {p["metadata"]["name"] for p in lab.pods["v1"] + lab.pods["v2"]}
    assert sum(by(samples(lab.dataplane), "source_workload").values()) == 30 + 25
    # the probe's seeded picks are the same with background traffic in between (its own random.Random)
    assert lab.curl("-sS", "-w", "%{http_code} ", f"{HELLO}?[1-30]").stdout == first


def test_background_traffic_the_simulation_cannot_play_stops_loudly(cluster):
    lab = Lab(cluster)
    lab.add_waypoint(services=("httpbin",))
    declare(cluster, lab, json.dumps({"url": "http://httpbin.hello:8000/get", "rps": 4}))
    cluster._call(lab.dataplane.traffic.tick, 1.0)
    summary = cluster._call(lab.dataplane.traffic.summary)
    assert summary["sent"] == [] or sum(summary["sent"][0]["outcomes"].values()) == 0
    (error,) = summary["errors"]
    assert error["deployment"] == "curl" and "not simulated: the request headers a waypoint's Envoy adds" in error["message"]
    declare(cluster, lab, "[]")  # a bad or changed annotation is judged anew
    cluster._call(lab.dataplane.traffic.tick, 1.0)
    assert cluster._call(lab.dataplane.traffic.summary)["errors"] == []


def test_each_waypoint_pod_is_served_for_prometheus_with_the_labels_of_kubernetes_discovery(cluster, tmp_path):
    lab = Lab(cluster)
    lab.add_waypoint()
    lab.curl("-sS", "-o", "/dev/null", f"{HELLO}?[1-5]")
    exposition = Exposition(lab.dataplane, str(tmp_path / "sd" / "targets.json"))
    try:
        cluster._call(exposition.sync)
        (target,) = json.loads((tmp_path / "sd" / "targets.json").read_text(encoding="utf-8"))
        (waypoint,) = lab.waypoint_pods("hello")
        assert target["labels"]["namespace"] == "hello" and target["labels"]["pod"] == waypoint["metadata"]["name"]
        assert target["labels"]["__metrics_path__"] == "/stats/prometheus"  # templates/waypoint.yaml's annotation
        assert target["labels"]["gateway_networking_k8s_io_gateway_name"] == "waypoint"
        with urllib.request.urlopen(f"http://{target['targets'][0]}/stats/prometheus", timeout=5) as resp:
            text = resp.read().decode()
        lines = [line for line in text.splitlines() if line.startswith("istio_requests_total{")]
        assert sum(float(line.rsplit(" ", 1)[1]) for line in lines) == 5
        assert all('reporter="waypoint"' in line and 'response_code="200"' in line for line in lines), text
        assert "_created" not in text  # Envoy writes no *_created series
        # the pod goes: its endpoint and its metrics go with it (a restarted proxy starts from zero)
        cluster.delete("v1", "Pod", waypoint["metadata"]["name"], "hello")
        cluster._call(exposition.sync)
        pods = [t["labels"]["pod"] for t in json.loads((tmp_path / "sd" / "targets.json").read_text(encoding="utf-8"))]
        assert waypoint["metadata"]["name"] not in pods  # a replacement the Deployment makes gets a target of its own
        assert ("hello", waypoint["metadata"]["name"]) not in lab.dataplane.telemetry.proxies
    finally:
        cluster._call(exposition.close)


def test_a_bad_annotation_sends_nothing_and_says_why_until_it_is_fixed(cluster, capsys):
    lab = Lab(cluster)
    declare(cluster, lab, '{"url": "http://helloworld.hello:5000/hello", "rps": 500}')
    cluster._call(lab.dataplane.traffic.tick, 1.0)
    summary = cluster._call(lab.dataplane.traffic.summary)
    assert summary["sent"] == []
    (error,) = summary["errors"]
    assert "rps must be a number above 0 and at most 50, not 500" in error["message"]
    assert "background traffic of test/curl refused: dataplane.test/traffic: rps must be" in capsys.readouterr().out
    declare(cluster, lab, '{"url": "http://helloworld.hello:5000/hello", "rps": 5}')
    cluster._call(lab.dataplane.traffic.tick, 1.0)
    summary = cluster._call(lab.dataplane.traffic.summary)
    assert summary["errors"] == [] and sum(summary["sent"][0]["outcomes"].values()) == 5
