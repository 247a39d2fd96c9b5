"""Real traffic, judged by Istio's metrics in a real Prometheus: the embedded cluster's background traffic goes
through the simulated waypoint, which counts it as Istio's stats filter does (embedded_cluster/apiserver/dataplane/
telemetry.py); Debian's prometheus scrapes it; ambient.mesh.prometheus_query and the canary role query it.

Prometheus here is the real server (scripts/bootstrap.sh installs Debian's package): a test that finds none fails.
"""

import json
import time
import urllib.parse
import urllib.request

import pytest

from conftest import SEED, run_role
from embedded_cluster import TestCluster
from embedded_cluster.apiserver import prometheus
from test_canary_role import HELLO, deploy_lab, last_report, weights

pytestmark = pytest.mark.integration
TRAFFIC = "dataplane.test/traffic"


@pytest.fixture
def cluster(tmp_path):
    """The embedded cluster with its proxies' metrics served and a real Prometheus scraping them."""
    assert prometheus.binary() is not None, (
        "prometheus is not installed: scripts/bootstrap.sh installs Debian's package (apt-get install prometheus)")
    with TestCluster(seed=SEED, metrics_dir=str(tmp_path / "metrics")) as c:
        yield c


def send_traffic(cluster, rps, url=HELLO, namespace="test", deployment="curl"):
    """Declare (rps > 0) or stop (None) the client Deployment's background traffic."""
    dep = cluster.get("apps/v1", "Deployment", deployment, namespace)
    annotations = dep["metadata"].setdefault("annotations", {})
    if rps is None:
        annotations.pop(TRAFFIC, None)
    else:
        annotations[TRAFFIC] = json.dumps({"url": url, "rps": rps})
    cluster.put(dep)


def promql(cluster, query):
    url = cluster.prometheus_url + "/api/v1/query?" + urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(url, timeout=10) as resp:
        answer = json.load(resp)
    assert answer["status"] == "success", answer
    return [(r["metric"], float(r["value"][1])) for r in answer["data"]["result"]]


def wait_for(what, predicate, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def split(playbook, v1, v2):
    playbook.run("ambient.mesh.traffic_split", {"splits": [{
        "service": "helloworld", "namespace": "hello",
        "versions": [{"name": "v1", "weight": v1}, {"name": "v2", "weight": v2}]}], "wait_timeout": 30})


def sent(cluster):
    (entry,) = cluster.traffic()["sent"]
    return entry


def test_background_traffic_is_what_prometheus_counts_with_istios_labels(cluster, playbook):
    deploy_lab(cluster, playbook, v2_error_rate="0.2")
    split(playbook, 50, 50)
    send_traffic(cluster, 20)
    time.sleep(12)
    # the rate Prometheus reports while it runs: 20 requests a second, within 20%
    (rate,) = [v for _labels, v in promql(cluster, 'sum(rate(istio_requests_total{reporter="waypoint"}[8s]))')]
    assert 16 <= rate <= 24, rate
    send_traffic(cluster, None)
    time.sleep(3)  # two scrapes after the last request

    # every request the data plane sent is counted once, by the workload that answered and the status
    counted = {(m["destination_workload"], m["response_code"]): v for m, v in promql(
        cluster, 'sum by (destination_workload, response_code) (istio_requests_total{source_workload="curl"})')}
    by_backend = {(b["workload"], b["outcome"]): b["count"] for b in sent(cluster)["backends"]}
    assert counted == by_backend, (counted, by_backend)
    assert sum(by_backend.values()) == sum(sent(cluster)["outcomes"].values()) >= 200
    assert by_backend.get(("helloworld-v2", "500"), 0) > 0 and ("helloworld-v1", "500") not in by_backend

    # the labels a waypoint's stats filter gives them (istio_stats.cc, reporter ServerGateway)
    series = promql(cluster, 'istio_requests_total{destination_workload="helloworld-v2", response_code="200"}')
    assert len(series) == 1, series
    labels = series[0][0]
    assert {k: labels[k] for k in labels if k not in ("__name__", "instance", "job")} == {
        "namespace": "hello", "pod": labels["pod"], "container_port": "15020",
        # the waypoint pod's own labels, as Istio's sample Prometheus keeps them (labelmap)
        **{k: v for k, v in labels.items() if k.startswith(("gateway_", "istio_io_", "service_istio_io_",
                                                             "sidecar_istio_io_", "pod_template_hash"))},
        "reporter": "waypoint",
        "source_workload": "curl", "source_canonical_service": "curl", "source_canonical_revision": "latest",
        "source_workload_namespace": "test", "source_principal": "spiffe://cluster.local/ns/test/sa/curl",
        "source_app": "curl", "source_version": "latest", "source_cluster": "Kubernetes",
        "destination_workload": "helloworld-v2", "destination_workload_namespace": "hello",
        "destination_principal": "spiffe://cluster.local/ns/hello/sa/default", "destination_app": "helloworld",
        "destination_version": "v2", "destination_service": "helloworld-v2.hello.svc.cluster.local",
        "destination_canonical_service": "helloworld", "destination_canonical_revision": "v2",
        "destination_service_name": "helloworld-v2", "destination_service_namespace": "hello",
        "destination_cluster": "Kubernetes", "request_protocol": "http", "response_code": "200",
        "response_flags": "-", "connection_security_policy": "mutual_tls",
    }
    # the filter writes grpc_response_status="" for HTTP; Prometheus stores an empty label as no label
    assert "grpc_response_status" not in labels
    assert labels["pod"].startswith("waypoint-")


def query(playbook, checks, fails=None, **options):
    args = {"url": playbook.prometheus_url, "namespace": "hello", "checks": checks}
    args.update(options)
    return playbook.run("ambient.mesh.prometheus_query", args, fails=fails)


@pytest.fixture
def metrics_playbook(cluster, playbook):
    playbook.prometheus_url = cluster.prometheus_url
    return playbook


def test_prometheus_query_judges_success_rate_and_duration_and_says_when_traffic_is_short(cluster, metrics_playbook):
    pb = metrics_playbook
    deploy_lab(cluster, pb, v2_error_rate="0.2")
    split(pb, 50, 50)
    # before any traffic: not enough traffic, a verdict of its own, never a pass
    idle = query(pb, [{"metric": "request-success-rate", "min": 99}], workload="helloworld-v1",
                 fails="request-success-rate: not enough traffic - 0 requests in the last 1m, fewer than min_requests 1")
    assert idle["checks"][0]["verdict"] == "not enough traffic" and idle["checks"][0]["requests"] is None or \
        idle["checks"][0]["requests"] == 0
    send_traffic(cluster, 20)
    healthy = query(pb, [{"metric": "request-success-rate", "min": 99, "min_requests": 100},
                         {"metric": "request-duration", "max": 500, "min_requests": 100}],
                    workload="helloworld-v1", interval="30s", wait_for_traffic=60)
    assert healthy["passed"] and [c["verdict"] for c in healthy["checks"]] == ["pass", "pass"]
    assert healthy["measured"]["request-success-rate"] == 100.0
    assert 0 < healthy["measured"]["request-duration"] <= 5  # a few simulated milliseconds, in the 5 ms bucket
    assert healthy["requests"]["request-success-rate"] >= 100 and healthy["waited_for_traffic"] > 0

    failing = query(pb, [{"metric": "request-success-rate", "min": 99, "min_requests": 100}],
                    workload="helloworld-v2", interval="30s", wait_for_traffic=60,
                    fails="request-success-rate: ")
    (check,) = failing["checks"]
    assert check["verdict"] == "fail" and 60 <= check["value"] <= 95, check  # 20% errors, within sampling
    assert failing["gates"] == [{"name": "metric request-success-rate", "passed": False, "expected": ">= 99%",
                                 "measured": check["value"], "message": check["message"]}]
    short = query(pb, [{"metric": "request-success-rate", "min": 0, "min_requests": 100000}],
                  service="helloworld-v1", fail_on_verdicts=False)
    assert not short["passed"] and short["checks"][0]["verdict"] == "not enough traffic"
    # free PromQL with placeholders, unchanged by Jinja2
    free = query(pb, [{"name": "answered by v1 per second",
                       "query": 'sum(rate(istio_requests_total{reporter="$reporter", destination_service_name="$service"}'
                                '[$interval]))', "min": 5, "max": 15, "unit": "/s"}],
                 service="helloworld-v1", interval="20s")
    assert 5 <= free["measured"]["answered by v1 per second"] <= 15
    send_traffic(cluster, None)


def canary_variables(playbook, **extra):
    base = {"canary_service": "helloworld", "canary_namespace": "hello", "canary_probe": {"url": HELLO},
            "canary_report_dir": str(playbook.workdir / "reports"), "canary_wait_timeout": 30,
            "canary_kubernetes_auth": {"kubeconfig": playbook.kubeconfig},
            "canary_steps": [25, 50, 100], "canary_prometheus": {"url": playbook.prometheus_url},
            "canary_metrics": [{"metric": "request-success-rate", "min": 99, "min_requests": 200},
                               {"metric": "request-duration", "max": 500, "min_requests": 200}],
            "canary_metrics_wait": 90}
    return dict(base, **extra)


def test_a_canary_whose_v2_fails_5_percent_of_real_traffic_is_rolled_back_by_its_success_rate(cluster, metrics_playbook):
    pb = metrics_playbook
    deploy_lab(cluster, pb, v2_error_rate="0.05")
    send_traffic(cluster, 50)
    result = run_role(pb.kubeconfig, pb.workdir, "ambient.mesh.canary", canary_variables(pb),
                      fails=["failed at step 1 of 3 (25% to v2)", "gate metric request-success-rate"])
    assert weights(cluster) == {"helloworld-v1": 100, "helloworld-v2": 0}
    record = last_report(pb)
    first = record["steps"][0]
    assert record["outcome"] == "rolled_back" and first["label"] == "25%" and not first["passed"]
    gates = {g["name"]: g for g in first["gates"]}
    assert not gates["metric request-success-rate"]["passed"]
    measured = gates["metric request-success-rate"]["measured"]
    assert 85 <= measured < 99, measured
    # the probe is the second witness: its own error gate judged its 200 requests; the report shows which way
    probe_gate = gates["error_rate"]
    assert probe_gate["passed"] == (first["error_rate"] <= 0.01)
    (metric,) = [m for m in first["metrics"] if m["name"] == "request-success-rate"]
    assert metric["value"] == measured and metric["requests"] >= 200 and metric["unit"] == "%"
    assert "request-success-rate %.4g%%" % measured in result.stdout
    send_traffic(cluster, None)


def test_a_healthy_canary_is_promoted_with_every_steps_metrics_inside_their_thresholds(cluster, metrics_playbook):
    pb = metrics_playbook
    deploy_lab(cluster, pb)
    send_traffic(cluster, 50)
    run_role(pb.kubeconfig, pb.workdir, "ambient.mesh.canary", canary_variables(pb))
    assert weights(cluster) == {"helloworld-v1": 0, "helloworld-v2": 100}
    record = last_report(pb)
    assert record["outcome"] == "promoted"
    assert [s["label"] for s in record["steps"]] == ["25%", "50%", "100%"]
    for step in record["steps"]:
        metrics = {m["name"]: m for m in step["metrics"]}
        assert metrics["request-success-rate"]["value"] == 100.0 and metrics["request-success-rate"]["passed"]
        assert 0 < metrics["request-duration"]["value"] <= 500 and metrics["request-duration"]["requests"] >= 200
    # what the data plane sent is what the gates saw: v2's share of the background traffic grew step by step
    v2 = sum(b["count"] for b in sent(cluster)["backends"] if b["workload"] == "helloworld-v2")
    assert v2 >= 200
    send_traffic(cluster, None)


def test_the_fault_checks_delay_and_abort_show_in_the_metrics_and_go_with_the_fault(cluster, metrics_playbook):
    from test_fault_check_role import ABORT, DELAY, HTTPBIN
    from test_fault_check_role import deploy_lab as deploy_httpbin

    pb = metrics_playbook
    deploy_httpbin(cluster, pb)
    send_traffic(cluster, 20, url=f"{HTTPBIN}/status/200")
    half_abort = dict(ABORT, abort={"http_status": 500, "percentage": 50}, probe=dict(ABORT["probe"], requests=200))
    run_role(pb.kubeconfig, pb.workdir, "ambient.mesh.fault_check", {
        "fault_check_checks": [DELAY, half_abort], "fault_check_prometheus": {"url": pb.prometheus_url},
        "fault_check_metrics_window": 8, "fault_check_report_dir": str(pb.workdir / "reports")})
    send_traffic(cluster, None)
    (report,) = (pb.workdir / "reports").glob("fault_check-*.json")
    delay, abort = json.loads(report.read_text(encoding="utf-8"))["steps"]
    metrics = {m["name"]: m for m in delay["metrics"] + abort["metrics"]}
    assert all(m["passed"] for m in metrics.values()), metrics
    # every delayed request took 3 s: the (2500, 5000] ms bucket, whose middle histogram_quantile gives for p50
    assert 2500 < metrics["p50 during the delay"]["value"] <= 5000
    assert metrics["p50 after the removal"]["value"] < 25  # a few simulated milliseconds again
    assert 25 <= metrics["5xx ratio during the abort"]["value"] <= 75
    assert metrics["5xx ratio after the removal"]["value"] == 0
    assert all(m["requests"] >= 20 for m in metrics.values())
    names = [g["name"] for g in delay["gates"] + abort["gates"]]
    assert "metric p50 during the delay" in names and "metric 5xx ratio after the removal" in names


def test_a_bad_metric_gate_or_an_unreachable_prometheus_is_refused_before_any_traffic_moves(cluster, metrics_playbook):
    pb = metrics_playbook
    deploy_lab(cluster, pb)
    mark = cluster.mark()
    run_role(pb.kubeconfig, pb.workdir, "ambient.mesh.canary",
             canary_variables(pb, canary_metrics=[{"metric": "request-success-rate", "min": 99, "max": 90}]),
             fails="checks[0] (request-success-rate): min 99 is above max 90")
    run_role(pb.kubeconfig, pb.workdir, "ambient.mesh.canary",
             canary_variables(pb, canary_prometheus={"url": "http://127.0.0.1:9"}),
             fails="cannot reach Prometheus at http://127.0.0.1:9")
    run_role(pb.kubeconfig, pb.workdir, "ambient.mesh.canary", canary_variables(pb, canary_prometheus={}),
             fails="canary_prometheus.url: the Prometheus URL the metric gates query")
    assert cluster.writes(mark) == []  # no route, no per-version Service: traffic never moved
