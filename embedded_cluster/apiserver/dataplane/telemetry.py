"""Istio's standard metrics as the simulated proxies of ambient mode report them (Istio 1.30.3).

- **A waypoint** reports the L7 metrics of every request it routes, with the stats filter of istio/proxy
  (source/extensions/filters/http/istio_stats/istio_stats.cc at tag 1.30.3, kept unmodified in
  embedded_cluster/data/istio-proxy-1.30.3/; istiod configures it with reporter SERVER_GATEWAY and
  disable_host_header_fallback for waypoints, pilot/pkg/model/telemetry.go): `istio_requests_total` and
  `istio_request_duration_milliseconds`, with the 25 tags the filter pushes, in its order (reporter, the peer
  tags of populatePeerInfo, request_protocol, response_code, grpc_response_status, response_flags,
  connection_security_policy). For reporter ServerGateway:
  - reporter is "waypoint";
  - source_* come from the downstream peer (workload discovery: the client's workload, its canonical name and
    revision, which are also its app and version, istio/proxy source/extensions/common/workload_discovery/api.cc
    convert), source_principal is the client's SPIFFE identity from the HBONE connection, and
    connection_security_policy "mutual_tls" (both SANs known);
  - destination_workload, _namespace, _principal, _app, _version, _canonical_* and _cluster come from the
    upstream host's peer (workload discovery again), "unknown" when the request reached no upstream host (a
    fault abort, no route, no healthy upstream);
  - destination_service is the host of the upstream cluster's Service (its cluster metadata istio.services[0]),
    destination_service_name and _namespace its name and namespace, "unknown" when the stream has no cluster;
  - request_protocol "http", grpc_response_status "" (no gRPC here), response_flags Envoy's short string
    ("-" for none, else the flags comma-joined in the order they were set: Envoy
    source/common/stream_info/utility.cc toShortString; messages.Response.flags).
  The duration is the stream's requestComplete in milliseconds, observed into Envoy's default histogram buckets.
- **ztunnel's L4 metrics** (istio_tcp_connections_opened_total and the rest, ztunnel src/proxy/metrics.rs) are
  not served: the embedded cluster runs no DaemonSet pods (pods.py), so no ztunnel pod exists to report them
  from, and a scrape target without a pod would be invented.

Not simulated (absent from the exposition, never faked): istio_request_bytes, istio_response_bytes, the gRPC
message counters, ztunnel's L4 metrics (above), a sidecar's own metrics
(reporter source / destination), and Envoy's own (envoy_*) stats.

Each proxy pod has its own prometheus_client registry; exposition.py serves it for Prometheus to scrape.
"""

import threading

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics

from .cluster import DOMAIN, labels

# istio_stats.cc Context::all_tags_, in the order IstioStatsFilter::log pushes them for reporter ServerGateway
WAYPOINT_LABELS = (
    "reporter", "source_workload", "source_canonical_service", "source_canonical_revision",
    "source_workload_namespace", "source_principal", "source_app", "source_version", "source_cluster",
    "destination_workload", "destination_workload_namespace", "destination_principal", "destination_app",
    "destination_version", "destination_service", "destination_canonical_service",
    "destination_canonical_revision", "destination_service_name", "destination_service_namespace",
    "destination_cluster", "request_protocol", "response_code", "grpc_response_status", "response_flags",
    "connection_security_policy",
)
# Envoy's default histogram buckets (source/common/stats/histogram_impl.cc HistogramSettingsImpl::defaultBuckets);
# Istio's bootstrap sets no histogram_bucket_settings for the istio_* stats unless the pod asks
# (sidecar.istio.io/statsHistogramBuckets), and a waypoint's does not
# (Envoy prints a bound with %.32g, le="1"; prometheus_client prints le="1.0": PromQL reads both as the number 1)
DEFAULT_BUCKETS = (0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000,
                   1800000, 3600000)
CLUSTER_ID = "Kubernetes"  # pkg/config/constants/constants.go DefaultClusterName (the CLUSTER_ID default)
TRUST_DOMAIN = DOMAIN  # pkg/config/mesh/mesh.go: TrustDomain constants.DefaultClusterLocalDomain, cluster.local
UNKNOWN = "unknown"

# Envoy's exposition has no *_created series (prometheus_client adds them by default)
disable_created_metrics()


def workload_name(pod):
    """The workload a pod belongs to, as istiod names it for ambient workloads (pilot/pkg/serviceregistry/ambient/
    workloads.go workloadName -> pkg/kube/util.go GetWorkloadMetaFromPod): the service.istio.io/workload-name
    label; else, for a pod with a generateName, its controller owner - a ReplicaSet with pod-template-hash
    is its Deployment, the name without "-<hash>"; else the pod's own name."""
    meta = pod.get("metadata") or {}
    if "service.istio.io/workload-name" in labels(pod):
        return labels(pod)["service.istio.io/workload-name"]
    owner = next((r for r in meta.get("ownerReferences") or [] if r.get("controller")), None)
    if not meta.get("generateName") or owner is None:
        return meta.get("name", "")
    name = owner.get("name", "")
    pod_hash = labels(pod).get("pod-template-hash")
    if owner.get("kind") == "ReplicaSet" and pod_hash:
        return name.removesuffix("-" + pod_hash)
    return name


def canonical(pod):
    """(canonical service, canonical revision) of a pod (pkg/kube/labels/labels.go CanonicalService: the first
    of service.istio.io/canonical-name, app.kubernetes.io/name, app that is present, even empty, else the workload
    name; the first of service.istio.io/canonical-revision, app.kubernetes.io/version, version, else "latest")."""
    lbl = labels(pod)
    name = next((lbl[k] for k in ("service.istio.io/canonical-name", "app.kubernetes.io/name", "app") if k in lbl),
                None)
    revision = next((lbl[k] for k in ("service.istio.io/canonical-revision", "app.kubernetes.io/version", "version")
                     if k in lbl), "latest")
    return (workload_name(pod) if name is None else name), revision


def principal(pod):
    """The SPIFFE identity of a pod's service account (workload_discovery/api.cc convert)."""
    meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
    return f"spiffe://{TRUST_DOMAIN}/ns/{meta.get('namespace')}/sa/{spec.get('serviceAccountName') or 'default'}"


def peer(pod):
    """The tags a workload-discovery peer gives (WorkloadMetadataObject: workload, namespace, identity, canonical
    name and revision, app = canonical name, version = canonical revision, cluster)."""
    if pod is None:
        return {"workload": UNKNOWN, "namespace": UNKNOWN, "principal": UNKNOWN, "app": UNKNOWN,
                "version": UNKNOWN, "canonical_service": UNKNOWN, "canonical_revision": UNKNOWN, "cluster": UNKNOWN}
    name, revision = canonical(pod)
    return {"workload": workload_name(pod), "namespace": pod["metadata"].get("namespace", ""),
            "principal": principal(pod), "app": name, "version": revision, "canonical_service": name,
            "canonical_revision": revision, "cluster": CLUSTER_ID}


class ProxyMetrics:
    """One proxy pod's registry."""

    def __init__(self, namespace, pod, kind):
        self.namespace, self.pod, self.kind = namespace, pod, kind
        self.registry = CollectorRegistry(auto_describe=True)


class WaypointMetrics(ProxyMetrics):
    def __init__(self, namespace, pod):
        super().__init__(namespace, pod, "waypoint")
        self.requests = Counter("istio_requests_total", "", WAYPOINT_LABELS, registry=self.registry)
        self.duration = Histogram("istio_request_duration_milliseconds", "", WAYPOINT_LABELS,
                                  buckets=DEFAULT_BUCKETS, registry=self.registry)


def request_labels(client, cluster, resp):
    """The tag values istio_stats.cc pushes for one request a waypoint routed (reporter ServerGateway)."""
    src, dst = peer(client), peer(resp.upstream)
    if cluster is not None:
        svc_ns, svc_name = cluster["metadata"]["namespace"], cluster["metadata"]["name"]
        host = f"{svc_name}.{svc_ns}.svc.{DOMAIN}"
    else:
        svc_ns = svc_name = host = UNKNOWN
    values = {
        "reporter": "waypoint",
        "source_workload": src["workload"], "source_canonical_service": src["canonical_service"],
        # a missing revision is "latest" on the source side (istio_stats.cc context_.latest_)
        "source_canonical_revision": src["canonical_revision"] if client is not None else "latest",
        "source_workload_namespace": src["namespace"], "source_principal": src["principal"],
        "source_app": src["app"], "source_version": src["version"], "source_cluster": src["cluster"],
        "destination_workload": dst["workload"], "destination_workload_namespace": dst["namespace"],
        "destination_principal": dst["principal"], "destination_app": dst["app"],
        "destination_version": dst["version"], "destination_service": host,
        "destination_canonical_service": dst["canonical_service"],
        "destination_canonical_revision": dst["canonical_revision"],
        "destination_service_name": svc_name, "destination_service_namespace": svc_ns,
        "destination_cluster": dst["cluster"],
        "request_protocol": "http", "response_code": str(resp.status), "grpc_response_status": "",
        "response_flags": ",".join(resp.flags) if resp.flags else "-",
        "connection_security_policy": "mutual_tls",
    }
    return [values[name] for name in WAYPOINT_LABELS]


class Telemetry:
    """The metrics of every simulated proxy pod, by (namespace, pod name)."""

    def __init__(self):
        self.proxies = {}
        self.lock = threading.Lock()
        self.listeners = []  # called with a new ProxyMetrics (exposition.py serves it)

    def proxy(self, pod, factory):
        key = (pod["metadata"]["namespace"], pod["metadata"]["name"])
        with self.lock:
            metrics = self.proxies.get(key)
            if metrics is None:
                metrics = self.proxies[key] = factory(*key)
        return metrics

    def waypoint_request(self, waypoint_pod, client, resp):
        """One request a waypoint pod routed, counted and timed when its stream ends."""
        metrics = self.proxy(waypoint_pod, WaypointMetrics)
        values = request_labels(client, resp.cluster, resp)
        metrics.requests.labels(*values).inc()
        metrics.duration.labels(*values).observe(resp.elapsed * 1000.0)

    def forget(self, namespace, pod):
        with self.lock:
            self.proxies.pop((namespace, pod), None)

