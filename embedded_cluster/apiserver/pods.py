"""Pods, ReplicaSets and EndpointSlices as kube-controller-manager, kube-scheduler and the kubelet make them.

Each rule cites the Kubernetes source it follows (kubernetes/kubernetes, v1.33 unless said):
- pkg/controller/deployment (sync.go getNewReplicaSet, util/deployment_util.go): a Deployment owns one
  ReplicaSet per pod template, `<deployment>-<pod-template-hash>`, selector and labels plus
  `pod-template-hash`; an older template's ReplicaSet is scaled to 0 and kept (revisionHistoryLimit);
- pkg/controller/replicaset + pkg/controller/controller_utils.go (CreatePods, getPodsPrefix): pods
  `<replicaset>-<5 chars>` (generateName), the template's labels, annotations and spec, owned by the
  ReplicaSet; pkg/controller/statefulset/stateful_set_utils.go (newStatefulSetPod): `<set>-<ordinal>`;
- the kubelet's status (pkg/kubelet/status/generate.go): phase Running, Ready and ContainersReady
  follow readiness; here readiness is the workload's own status as WorkloadController writes it
  (its delays and "never ready" hold), so a Deployment's readyReplicas is its number of Ready pods;
- pkg/controller/endpointslice + staging/src/k8s.io/endpointslice (reconciler.go, utils.go): one
  EndpointSlice per Service with a selector, `<service>-<5 chars>`, its endpoints and ports.

The simulated cluster is a kind cluster with three worker nodes (kind's defaults: nodes `kind-worker`,
`kind-worker2`, `kind-worker3`, podSubnet 10.244.0.0/16 cut into one /24 per node, the control plane's
10.244.0.0/24 taking no workload pods). Not simulated: DaemonSet pods, ControllerRevisions, the
deployment.kubernetes.io/revision annotation on the Deployment itself (a controller's write to the
user's object, which the modules' diffs would see), rolling-update surge (old pods go at once),
OrderedReady (StatefulSet pods are created together, as with podManagementPolicy Parallel).
"""

import asyncio
import copy
import datetime
import ipaddress
import json
import math
import random
import secrets

MANAGER = "kube-controller-manager"  # the field manager of every controller in kube-controller-manager
KUBELET = "kubelet"
NODES = ("kind-worker", "kind-worker2", "kind-worker3")
# kind's podSubnet, one /24 per node in node order (kube-controller-manager --node-cidr-mask-size=24)
POD_CIDRS = {node: ipaddress.ip_network(f"10.244.{i + 1}.0/24") for i, node in enumerate(NODES)}
NODE_IPS = {node: f"172.18.0.{i + 3}" for i, node in enumerate(NODES)}  # kind's docker network, .2 = control plane
# the addresses host-local IPAM hands out on each node, in order: the /24's hosts after the gateway (.1)
_POD_IPS = {node: [str(host) for host in cidr.hosts()][1:] for node, cidr in POD_CIDRS.items()}

# k8s.io/api/apps/v1 DefaultDeploymentUniqueLabelKey; StatefulSet labels (apps/v1 types.go)
POD_TEMPLATE_HASH = "pod-template-hash"
CONTROLLER_REVISION_HASH = "controller-revision-hash"  # apps/v1 ControllerRevisionHashLabelKey
STATEFULSET_POD_NAME = "statefulset.kubernetes.io/pod-name"  # apps/v1 StatefulSetPodNameLabel
POD_INDEX = "apps.kubernetes.io/pod-index"  # apps/v1 PodIndexLabel (feature PodIndexLabel, on since 1.28)
# pkg/controller/deployment/util/deployment_util.go
REVISION = "deployment.kubernetes.io/revision"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
_SKIPPED_ANNOTATIONS = ("kubectl.kubernetes.io/last-applied-configuration", REVISION, DESIRED_REPLICAS, MAX_REPLICAS,
                        "deployment.kubernetes.io/revision-history")  # annotationsToSkip
# k8s.io/api/discovery/v1 well_known_labels.go; the controller's name (endpointslice_controller.go ControllerName)
SERVICE_NAME = "kubernetes.io/service-name"
MANAGED_BY = "endpointslice.kubernetes.io/managed-by"
CONTROLLER_NAME = "endpointslice-controller.k8s.io"
HEADLESS = "service.kubernetes.io/headless"  # k8s.io/api/core/v1 IsHeadlessService
MAX_ENDPOINTS_PER_SLICE = 100  # kube-controller-manager --max-endpoints-per-slice default

# apimachinery pkg/util/rand/rand.go: the alphabet of rand.String and SafeEncodeString ("no vowels, no
# 0/1/3 to avoid confusion and bad words")
ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"
# apiserver pkg/storage/names/generate.go: generateName + 5 random characters, the base cut to 63 - 5
_RANDOM_LENGTH, _MAX_GENERATED_BASE = 5, 58


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def safe_encode_string(text):
    """apimachinery rand.SafeEncodeString: each byte picks alphanums[b % 27]."""
    return "".join(ALPHANUMS[b % len(ALPHANUMS)] for b in text.encode())


def _fnv32a(data, value=2166136261):
    for byte in data:
        value = ((value ^ byte) * 16777619) & 0xFFFFFFFF
    return value


def compute_hash(template, collision_count=None):
    """pkg/controller/controller_utils.go ComputeHash: FNV-32a of the template, then collisionCount as 4
    little-endian bytes, printed as a decimal number and SafeEncodeString'ed. Upstream hashes Go's deep
    printer (hashutil.DeepHashObject, spew) of the typed struct, which Python cannot reproduce; this hashes
    the template's canonical JSON instead, so the value differs from a real cluster's while the form (up
    to 10 characters of alphanums, a new value for every template change) is the same."""
    value = _fnv32a(json.dumps(template, sort_keys=True, separators=(",", ":")).encode())
    if collision_count is not None:
        value = _fnv32a(int(collision_count).to_bytes(4, "little"), value)
    return safe_encode_string(str(value))


def generate_name(base, rng):
    return base[:_MAX_GENERATED_BASE] + "".join(rng.choice(ALPHANUMS) for _ in range(_RANDOM_LENGTH))


def _meta(obj):
    return obj.get("metadata") or {}


def _controller_ref(owner, kind, api_version):
    """metav1.NewControllerRef."""
    return {"apiVersion": api_version, "kind": kind, "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"], "controller": True, "blockOwnerDeletion": True}


def _controller_uid(obj):
    for ref in _meta(obj).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref.get("uid")
    return None


def _revision(rs):
    try:
        return int((_meta(rs).get("annotations") or {}).get(REVISION) or 0)
    except ValueError:
        return 0


def _surge(deployment, replicas):
    """deployment_util.go MaxSurge: 0 for Recreate; rollingUpdate.maxSurge (default 25%) rounded up."""
    strategy = (deployment.get("spec") or {}).get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return 0
    value = (strategy.get("rollingUpdate") or {}).get("maxSurge", "25%")
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(replicas * int(value[:-1]) / 100)
    return int(value)


def _pod_spec(template_spec, node):
    """The pod spec the apiserver stores: the template's, scheduled, with the defaults a client sees
    most (pkg/apis/core/v1/defaults.go SetDefaults_PodSpec, SetDefaults_Container, SetDefaults_ContainerPort;
    serviceAccountName from the ServiceAccount admission plugin)."""
    spec = copy.deepcopy(template_spec)
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    spec.setdefault("serviceAccountName", spec.get("serviceAccount") or "default")
    spec["serviceAccount"] = spec["serviceAccountName"]  # DeprecatedServiceAccount mirrors it
    for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
        image = container.get("image") or ""
        tag = image.rsplit("/", 1)[-1]
        latest = "@" not in tag and (":" not in tag or tag.endswith(":latest"))
        container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        for port in container.get("ports") or []:
            port.setdefault("protocol", "TCP")
    spec["nodeName"] = node  # kube-scheduler's binding
    return spec


def _qos(spec):
    """pkg/apis/core/helper/qos GetPodQOS, for cpu and memory."""
    requests, limits, guaranteed = False, False, True
    for container in spec.get("containers") or []:
        res = container.get("resources") or {}
        req, lim = res.get("requests") or {}, res.get("limits") or {}
        requests, limits = requests or bool(req), limits or bool(lim)
        for name in ("cpu", "memory"):
            if name not in lim or req.get(name, lim[name]) != lim[name]:
                guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"


def pod_status(pod, ip, container_ids, ready, started_at):
    """What the kubelet reports for a running pod (pkg/kubelet/status/generate.go, kubelet_pods.go
    generateAPIPodStatus): phase Running, the conditions, one running status per container."""
    spec = pod["spec"]
    names = [c["name"] for c in spec.get("containers") or []]
    flag = "True" if ready else "False"

    def condition(cond_type, status, **extra):
        return dict({"type": cond_type, "status": status, "lastProbeTime": None, "lastTransitionTime": started_at},
                    **extra)
    unready = {} if ready else {"reason": "ContainersNotReady",
                                "message": "containers with unready status: [%s]" % " ".join(names)}
    node = spec["nodeName"]
    return {
        "phase": "Running",
        "conditions": [condition("PodReadyToStartContainers", "True"), condition("Initialized", "True"),
                       condition("Ready", flag, **unready), condition("ContainersReady", flag, **unready),
                       condition("PodScheduled", "True")],
        "hostIP": NODE_IPS[node], "hostIPs": [{"ip": NODE_IPS[node]}],
        "podIP": ip, "podIPs": [{"ip": ip}],
        "startTime": started_at, "qosClass": _qos(spec),
        "containerStatuses": [{
            "name": c["name"], "image": c.get("image", ""), "imageID": "",
            # the runtime's id of the container (containerd: 64 hex digits)
            "containerID": "containerd://" + container_ids[i],
            "ready": ready, "started": True, "restartCount": 0,
            "state": {"running": {"startedAt": started_at}}} for i, c in enumerate(spec.get("containers") or [])],
    }


def is_ready(pod):
    """podutil.IsPodReady."""
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def find_port(pod, service_port):
    """staging/src/k8s.io/endpointslice/utils.go FindPort: a named targetPort is looked up in the pod's
    containers (and restartable init containers) by name and protocol; a number is used as it is."""
    target = service_port.get("targetPort", service_port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    spec = pod.get("spec") or {}
    containers = list(spec.get("containers") or []) + [c for c in spec.get("initContainers") or []
                                                       if c.get("restartPolicy") == "Always"]
    for container in containers:
        for port in container.get("ports") or []:
            if port.get("name") == target and port.get("protocol", "TCP") == service_port.get("protocol", "TCP"):
                return port["containerPort"]
    return None


def endpoint_ports(service, pod):
    """utils.go getEndpointPorts: one port per Service port the pod resolves (the others are skipped)."""
    spec = service.get("spec") or {}
    out = []
    for port in spec.get("ports") or []:
        number = find_port(pod, port)
        if number is None:
            continue
        entry = {"name": port.get("name", ""), "port": number, "protocol": port.get("protocol", "TCP")}
        if port.get("appProtocol"):
            entry["appProtocol"] = port["appProtocol"]
        out.append(entry)
    return out


def pod_to_endpoint(pod, service):
    """utils.go podToEndpoint."""
    spec = service.get("spec") or {}
    publish = bool(spec.get("publishNotReadyAddresses"))
    serving = publish or is_ready(pod)
    terminating = bool(_meta(pod).get("deletionTimestamp"))
    ready = publish or (serving and not terminating)
    status = pod.get("status") or {}
    ips = [p["ip"] for p in status.get("podIPs") or []] or ([status["podIP"]] if status.get("podIP") else [])
    endpoint = {"addresses": [ip for ip in ips if ipaddress.ip_address(ip).version == 4],
                "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
                "targetRef": {"kind": "Pod", "namespace": _meta(pod).get("namespace"), "name": _meta(pod)["name"],
                              "uid": _meta(pod).get("uid")}}
    pod_spec = pod.get("spec") or {}
    if pod_spec.get("nodeName"):
        endpoint["nodeName"] = pod_spec["nodeName"]
    # endpointutil.ShouldSetHostname
    if pod_spec.get("hostname") and pod_spec.get("subdomain") == _meta(service)["name"]:
        endpoint["hostname"] = pod_spec["hostname"]
    return endpoint


def in_endpoints(pod):
    """endpointsliceutil.ShouldPodBeInEndpoints(pod, includeTerminating=true): an IP, not terminal."""
    status = pod.get("status") or {}
    return bool(status.get("podIP")) and status.get("phase") not in ("Succeeded", "Failed")


def selects(selector, labels):
    """labels.SelectorFromSet(service.Spec.Selector).Matches."""
    return all(labels.get(k) == v for k, v in selector.items())


class PodController:
    """The Deployment, ReplicaSet, StatefulSet and EndpointSlice controllers, kube-scheduler and the kubelet
    for the test server. Everything is written through the server's own write path."""

    def __init__(self, server, seed=0):
        self.server = server
        self.random = random.Random(seed)  # generated names; seeded so that a test run is repeatable
        self._ips = {}  # node -> set of pod IPs in use
        self._dirty = set()  # namespaces whose EndpointSlices need a reconcile
        self._scheduled = False
        self._busy = False  # while the controller itself removes objects
        self._children = {}  # controller uid -> keys of the ReplicaSets, Pods and EndpointSlices it controls
        self._synced = {}  # (kind, namespace, name) -> the workload's resourceVersion last synced

    # -- the server's objects ------------------------------------------------------------------
    def _res(self, api_version, kind):
        return self.server.catalog.by_kind(api_version, kind)

    def _in_namespace(self, group, plural, namespace):
        return self.server.objects.objects(group, plural, namespace)

    def _owned(self, group, plural, namespace, uid):
        """What `uid` controls (an index kept from every write, as the controllers' informers keep theirs)."""
        keys = self._children.get(uid, set())
        found = []
        for key in list(keys):
            obj = self.server.objects.get(key)
            if obj is None or _controller_uid(obj) != uid:
                keys.discard(key)  # gone without passing here (a deleted namespace), or adopted elsewhere
            elif key[:3] == (group, plural, namespace):
                found.append(obj)
        return sorted(found, key=lambda o: (o["metadata"].get("creationTimestamp", ""), o["metadata"]["name"]))

    def _write(self, res, obj, manager=MANAGER):
        meta = obj["metadata"]
        key = self.server._key(res, meta.get("namespace"), meta["name"])
        old = self.server.objects.get(key)
        if old is not None and all(old.get(k) == obj.get(k) for k in obj if k not in ("metadata", "status")) \
                and all(old["metadata"].get(k) == v for k, v in meta.items()):
            new = old
        else:
            new = self.server._write(res, meta.get("namespace"), meta["name"], old, obj, manager=manager, apply=False,
                                     sub=None, dry_run=False)
        return new

    def _write_status(self, res, stored, status, manager=MANAGER):
        if stored.get("status") == status:
            return stored
        meta = stored["metadata"]
        return self.server._write(res, meta.get("namespace"), meta["name"], stored, dict(stored, status=status),
                                  manager=manager, apply=False, sub="status", dry_run=False)

    def _delete(self, res, obj):
        meta = obj["metadata"]
        busy, self._busy = self._busy, True
        try:
            self.server._remove(res, self.server._key(res, meta.get("namespace"), meta["name"]))
        finally:
            self._busy = busy

    # -- hooks from the server -----------------------------------------------------------------
    def written(self, res, obj):
        """After every stored write."""
        meta = obj["metadata"]
        if res.group == "apps" and res.kind in ("Deployment", "StatefulSet"):
            stored = self.server.objects.get(self.server._key(res, meta["namespace"], meta["name"]))
            key = (res.kind, meta["namespace"], meta["name"])
            # a write nested in another (the workload controller's status) has already been synced
            if stored is not None and not meta.get("deletionTimestamp") and \
                    self._synced.get(key) != stored["metadata"]["resourceVersion"]:
                self._synced[key] = stored["metadata"]["resourceVersion"]
                self.sync(res, stored)
            return
        if (res.group, res.plural) in (("apps", "replicasets"), ("", "pods"), ("discovery.k8s.io", "endpointslices")):
            uid = _controller_uid(obj)
            if uid is not None:
                self._children.setdefault(uid, set()).add(self.server._key(res, meta.get("namespace"), meta["name"]))
        if (res.group, res.plural) in (("", "pods"), ("", "services")):
            self._mark(meta.get("namespace"))

    def removed(self, res, key, gone):
        """After an object left the store (deleted, or collected)."""
        if gone is None:
            return
        namespace = key[2]
        if res.group == "apps" and res.kind in ("Deployment", "StatefulSet", "ReplicaSet"):
            # the garbage collector: what the workload (or ReplicaSet) controls goes with it
            uid = gone["metadata"].get("uid")
            for plural in ("replicasets", "pods"):
                child_res = self._res("apps/v1" if plural == "replicasets" else "v1",
                                      "ReplicaSet" if plural == "replicasets" else "Pod")
                for child in self._owned(child_res.group, plural, namespace, uid):
                    self._delete(child_res, child)
            if res.kind == "ReplicaSet" and not self._busy:
                self._resync_owner(gone)
        elif (res.group, res.plural) == ("", "pods"):
            self._release(gone)
            self._mark(namespace)
            if not self._busy:
                self._resync_owner(gone)  # the ReplicaSet/StatefulSet controller replaces a deleted pod
        elif (res.group, res.plural) == ("", "services"):
            self._mark(namespace)
            for eps in self._owned("discovery.k8s.io", "endpointslices", namespace, gone["metadata"].get("uid")):
                self._delete(self._res("discovery.k8s.io/v1", "EndpointSlice"), eps)
        elif (res.group, res.plural) == ("discovery.k8s.io", "endpointslices") and not self._busy:
            self._mark(namespace)  # the controller recreates a slice someone deleted

    def terminating(self, res, obj):
        """A workload deleted in the foreground: its pods terminate (deletionTimestamp) until it goes."""
        if res.kind not in ("Deployment", "StatefulSet"):
            return
        namespace, uid = obj["metadata"]["namespace"], obj["metadata"]["uid"]
        owners = {uid} | {rs["metadata"]["uid"] for rs in self._owned("apps", "replicasets", namespace, uid)}
        for pod in self._in_namespace("", "pods", namespace):
            if _controller_uid(pod) in owners and not pod["metadata"].get("deletionTimestamp"):
                pod["metadata"].update(deletionTimestamp=_now(), deletionGracePeriodSeconds=30,
                                       resourceVersion=self.server._next_rv())
        self._mark(namespace)

    def _resync_owner(self, obj):
        uid = _controller_uid(obj)
        if uid is None:
            return
        namespace = obj["metadata"]["namespace"]

        def resync():
            for plural, kind in (("replicasets", "ReplicaSet"), ("deployments", "Deployment"), ("statefulsets", "StatefulSet")):
                for owner in self._in_namespace("apps", plural, namespace):
                    if owner["metadata"].get("uid") != uid:
                        continue
                    if kind == "ReplicaSet":
                        self._resync_owner(owner)
                    elif not owner["metadata"].get("deletionTimestamp"):
                        self.sync(self._res("apps/v1", kind), owner)
        asyncio.get_running_loop().call_soon(resync)

    # -- workloads -----------------------------------------------------------------------------
    def sync(self, res, workload):
        if res.kind == "Deployment":
            self._sync_deployment(workload)
        else:
            self._sync_statefulset(workload)

    @staticmethod
    def _ready_count(workload, replicas):
        return min(replicas, int((workload.get("status") or {}).get("readyReplicas") or 0))

    def _sync_deployment(self, dep):
        """pkg/controller/deployment/sync.go getNewReplicaSet + scale, then the ReplicaSet controller."""
        rs_res = self._res("apps/v1", "ReplicaSet")
        meta, spec = dep["metadata"], dep.get("spec") or {}
        namespace = meta["namespace"]
        replicas = spec.get("replicas", 1)
        template = copy.deepcopy(spec.get("template") or {})
        pod_hash = compute_hash(template, (dep.get("status") or {}).get("collisionCount"))
        rs_name = "%s-%s" % (meta["name"], pod_hash)  # sync.go: Name: d.Name + "-" + podTemplateSpecHash
        owned = self._owned("apps", "replicasets", namespace, meta["uid"])
        current = next((rs for rs in owned if rs["metadata"]["name"] == rs_name), None)
        # deployment_util.go MaxRevision / SetNewReplicaSetAnnotations: the new ReplicaSet's revision is one
        # more than the old ones' highest, unless it already has a higher one
        old_max = max([_revision(rs) for rs in owned if rs is not current] or [0])
        revision = str(_revision(current) if current is not None and _revision(current) > old_max else old_max + 1)

        # deployment_util.go GetNewReplicaSetTemplate / CloneSelectorAndAddLabel / SetNewReplicaSetAnnotations
        template.setdefault("metadata", {})
        template["metadata"]["labels"] = dict(template["metadata"].get("labels") or {}, **{POD_TEMPLATE_HASH: pod_hash})
        selector = copy.deepcopy(spec.get("selector") or {})
        selector["matchLabels"] = dict(selector.get("matchLabels") or {}, **{POD_TEMPLATE_HASH: pod_hash})
        annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k not in _SKIPPED_ANNOTATIONS}
        annotations.update({DESIRED_REPLICAS: str(replicas), MAX_REPLICAS: str(replicas + _surge(dep, replicas)),
                            REVISION: revision})
        rs_spec = {"replicas": replicas, "selector": selector, "template": template}
        if spec.get("minReadySeconds"):
            rs_spec["minReadySeconds"] = spec["minReadySeconds"]
        body = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": rs_name, "namespace": namespace, "labels": dict(template["metadata"]["labels"]),
                             "annotations": annotations,
                             "ownerReferences": [_controller_ref(dep, "Deployment", "apps/v1")]},
                "spec": rs_spec}
        if current is not None:
            body["metadata"] = dict(copy.deepcopy(current["metadata"]), **body["metadata"])
        new_rs = self._write(rs_res, body)

        # the old templates' ReplicaSets are scaled to 0 (their pods go) and kept as history
        # (sync.go cleanupDeployment: the oldest beyond revisionHistoryLimit, default 10, are deleted)
        old = [rs for rs in owned if rs["metadata"]["name"] != rs_name]
        for rs in old:
            if (rs.get("spec") or {}).get("replicas") != 0:
                rs = self._write(rs_res, dict(rs, spec=dict(rs["spec"], replicas=0)))
            self._sync_replicaset(rs, 0)
        limit = spec.get("revisionHistoryLimit", 10)
        old.sort(key=_revision)
        for rs in old[:max(0, len(old) - limit)]:
            self._delete(rs_res, rs)
        self._sync_replicaset(new_rs, self._ready_count(dep, replicas))

    def _sync_replicaset(self, rs, ready):
        """pkg/controller/replicaset/replica_set.go manageReplicas (pods by controller_utils.go CreatePods,
        GenerateName `<rs>-`; the newest go first when scaling down) and calculateStatus."""
        pod_res = self._res("v1", "Pod")
        meta = rs["metadata"]
        replicas = (rs.get("spec") or {}).get("replicas", 1)
        pods = [p for p in self._owned("", "pods", meta["namespace"], meta["uid"])
                if not p["metadata"].get("deletionTimestamp")]
        for pod in pods[replicas:][::-1]:
            self._delete(pod_res, pod)
        pods = pods[:replicas]
        template = rs["spec"].get("template") or {}
        while len(pods) < replicas:
            name = generate_name(meta["name"] + "-", self.random)
            if self.server._key(pod_res, meta["namespace"], name) in self.server.objects:
                continue
            pods.append(self._create_pod(pod_res, rs, "ReplicaSet", template, name))
        pods = [self._set_ready(pod_res, p, i < ready) for i, p in enumerate(pods)]
        ready_count = sum(1 for p in pods if is_ready(p))
        status = {"replicas": len(pods), "fullyLabeledReplicas": len(pods), "readyReplicas": ready_count,
                  "availableReplicas": ready_count, "observedGeneration": meta.get("generation", 1)}
        status = {k: v for k, v in status.items() if v or k == "replicas"}  # omitempty but replicas
        self._write_status(self._res("apps/v1", "ReplicaSet"), self.server.objects[
            self.server._key(self._res("apps/v1", "ReplicaSet"), meta["namespace"], meta["name"])], status)

    def _sync_statefulset(self, sts):
        """pkg/controller/statefulset: pods `<set>-<ordinal>` (stateful_set_utils.go getPodName), labeled
        with the revision (`<set>-<hash>`, ControllerRevisionName), the pod name and index, hostname and
        subdomain set (initIdentity); a changed template replaces the pods (RollingUpdate, same names)."""
        pod_res = self._res("v1", "Pod")
        meta, spec = sts["metadata"], sts.get("spec") or {}
        replicas = spec.get("replicas", 1)
        revision = "%s-%s" % (meta["name"], compute_hash(spec.get("template") or {},
                                                         (sts.get("status") or {}).get("collisionCount")))
        pods = {p["metadata"]["name"]: p for p in self._owned("", "pods", meta["namespace"], meta["uid"])}
        wanted = ["%s-%d" % (meta["name"], i) for i in range(replicas)]
        for name, pod in pods.items():
            if name not in wanted or _meta(pod).get("labels", {}).get(CONTROLLER_REVISION_HASH) != revision:
                self._delete(pod_res, pod)
        ready = self._ready_count(sts, replicas)
        for ordinal, name in enumerate(wanted):
            pod = self.server.objects.get(self.server._key(pod_res, meta["namespace"], name))
            if pod is None:
                template = copy.deepcopy(spec.get("template") or {})
                template.setdefault("metadata", {})
                template["metadata"]["labels"] = dict(template["metadata"].get("labels") or {}, **{
                    CONTROLLER_REVISION_HASH: revision, STATEFULSET_POD_NAME: name, POD_INDEX: str(ordinal)})
                template.setdefault("spec", {})["hostname"] = name
                if spec.get("serviceName"):
                    template["spec"]["subdomain"] = spec["serviceName"]
                pod = self._create_pod(pod_res, sts, "StatefulSet", template, name)
            self._set_ready(pod_res, pod, ordinal < ready)

    def _create_pod(self, pod_res, owner, kind, template, name):
        tmeta = template.get("metadata") or {}
        node = self._schedule(owner["metadata"]["uid"])
        ip = self._allocate(node)
        body = {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": owner["metadata"]["namespace"],
                             "labels": dict(tmeta.get("labels") or {}),
                             "ownerReferences": [_controller_ref(owner, kind, "apps/v1")]},
                "spec": _pod_spec(template.get("spec") or {}, node)}
        if kind == "ReplicaSet":
            body["metadata"]["generateName"] = owner["metadata"]["name"] + "-"  # controller_utils.go getPodsPrefix
        if tmeta.get("annotations"):
            body["metadata"]["annotations"] = dict(tmeta["annotations"])
        pod = self.server._write(pod_res, body["metadata"]["namespace"], name, None, body, manager=MANAGER,
                                 apply=False, sub=None, dry_run=False)
        ids = [secrets.token_hex(32) for _ in pod["spec"].get("containers") or []]
        status = pod_status(pod, ip, ids, False, pod["metadata"]["creationTimestamp"])
        return self._write_status(pod_res, pod, status, KUBELET)

    def _set_ready(self, pod_res, pod, ready):
        if is_ready(pod) == ready or (pod.get("status") or {}).get("phase") != "Running":
            return pod
        status = copy.deepcopy(pod["status"])
        stamp = _now()
        names = [c["name"] for c in pod["spec"].get("containers") or []]
        for cond in status["conditions"]:
            if cond["type"] in ("Ready", "ContainersReady"):
                cond.update(status="True" if ready else "False", lastTransitionTime=stamp)
                cond.pop("reason", None)
                cond.pop("message", None)
                if not ready:
                    cond.update(reason="ContainersNotReady",
                                message="containers with unready status: [%s]" % " ".join(names))
        for container in status.get("containerStatuses") or []:
            container["ready"] = ready
        return self._write_status(pod_res, pod, status, KUBELET)

    # -- kube-scheduler and the pod network --------------------------------------------------------
    def _schedule(self, owner_uid):
        """The node with the fewest pods of the same owner, then the fewest pods: kube-scheduler's default
        PodTopologySpread constraints (pkg/scheduler/apis/config/v1/default_plugins.go, systemDefaultConstraints:
        spread by hostname over the pods of the same Service/ReplicaSet/StatefulSet) and
        NodeResourcesBalancedAllocation come to that for equal pods."""
        siblings = [(self.server.objects.get(k, {}).get("spec") or {}).get("nodeName")
                    for k in self._children.get(owner_uid, ())]
        return min(NODES, key=lambda n: (siblings.count(n), len(self._ips.get(n, ())), NODES.index(n)))

    def _allocate(self, node):
        """host-local IPAM (kindnet): the next free address of the node's /24 after the gateway (.1)."""
        used = self._ips.setdefault(node, set())
        for _attempt in (0, 1):
            for host in _POD_IPS[node]:
                if host not in used:
                    used.add(host)
                    return host
            # pods that left without passing here (a deleted namespace): count the stored pods again
            used.clear()
            used.update((p.get("status") or {}).get("podIP") for p in self.server.objects.objects("", "pods")
                        if (p.get("spec") or {}).get("nodeName") == node)
        raise RuntimeError(f"node {node} has no free pod IP in {POD_CIDRS[node]}: the simulated cluster runs at most "
                           f"{POD_CIDRS[node].num_addresses - 3} pods per node")

    def _release(self, pod):
        node = (pod.get("spec") or {}).get("nodeName")
        self._ips.get(node, set()).discard((pod.get("status") or {}).get("podIP"))

    # -- the EndpointSlice controller --------------------------------------------------------------
    def _mark(self, namespace):
        if namespace is None:
            return
        self._dirty.add(namespace)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.reconcile_endpoints)

    def reconcile_endpoints(self):
        self._scheduled = False
        dirty, self._dirty = self._dirty, set()
        for namespace in sorted(dirty):
            if ("", "namespaces", "", namespace) not in self.server.objects:
                continue
            pods = [p for p in self._in_namespace("", "pods", namespace) if in_endpoints(p)]
            pods.sort(key=lambda p: p["metadata"]["name"])
            for svc in self._in_namespace("", "services", namespace):
                self._reconcile_service(svc, pods)

    def _reconcile_service(self, svc, pods):
        """reconciler.go reconcile: slices grouped by the pods' resolved ports, at most 100 endpoints each;
        existing slices are updated in place (names kept), new ones get `<service>-<5 chars>`; a Service with
        no endpoints keeps one empty placeholder slice. Services without a selector are not managed."""
        eps_res = self._res("discovery.k8s.io/v1", "EndpointSlice")
        meta, spec = svc["metadata"], svc.get("spec") or {}
        existing = [s for s in self._owned("discovery.k8s.io", "endpointslices", meta["namespace"], meta["uid"])
                    if _meta(s).get("labels", {}).get(MANAGED_BY) == CONTROLLER_NAME]
        selector = spec.get("selector")
        if not selector or spec.get("type") == "ExternalName":
            for eps in existing:
                self._delete(eps_res, eps)
            return
        groups = {}
        for pod in pods:
            if not selects(selector, _meta(pod).get("labels") or {}):
                continue
            ports = endpoint_ports(svc, pod)
            groups.setdefault(json.dumps(ports, sort_keys=True), (ports, []))[1].append(pod_to_endpoint(pod, svc))
        wanted = []
        for ports, endpoints in groups.values():
            for start in range(0, len(endpoints), MAX_ENDPOINTS_PER_SLICE):
                wanted.append((ports, endpoints[start:start + MAX_ENDPOINTS_PER_SLICE]))
        if not wanted:
            wanted = [([], [])]  # the placeholder (stored empty lists read back as null, as from etcd)
        # setEndpointSliceLabels: the Service's labels but the reserved ones, then the reserved ones
        labels = {k: v for k, v in (meta.get("labels") or {}).items() if k not in (SERVICE_NAME, MANAGED_BY, HEADLESS)}
        if spec.get("clusterIP") in (None, "", "None"):
            labels[HEADLESS] = ""
        labels.update({SERVICE_NAME: meta["name"], MANAGED_BY: CONTROLLER_NAME})
        remaining = list(existing)
        for ports, endpoints in wanted:
            body = {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                    "metadata": {"namespace": meta["namespace"], "labels": labels,
                                 "ownerReferences": [_controller_ref(svc, "Service", "v1")]},
                    "addressType": "IPv4", "endpoints": endpoints or None, "ports": ports or None}
            same = next((s for s in remaining if (s.get("ports") or []) == ports), None) or \
                (remaining[0] if remaining else None)
            if same is not None:
                remaining.remove(same)
                body["metadata"] = dict(copy.deepcopy(same["metadata"]), labels=labels,
                                        ownerReferences=body["metadata"]["ownerReferences"])
            else:
                # utils.go newEndpointSlice: GenerateName getEndpointSlicePrefix(service.Name) = "<service>-"
                while True:
                    name = generate_name(meta["name"] + "-", self.random)
                    if self.server._key(eps_res, meta["namespace"], name) not in self.server.objects:
                        break
                body["metadata"].update(name=name, generateName=meta["name"] + "-")
            self._write(eps_res, body)
        for eps in remaining:
            self._delete(eps_res, eps)
