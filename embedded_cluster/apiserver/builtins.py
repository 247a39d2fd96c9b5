"""What kube-apiserver fills in on built-in kinds: defaults, allocations and generation.

Each rule cites the Kubernetes source it follows (kubernetes/kubernetes at v1.33):
- pkg/apis/core/v1/defaults.go (SetDefaults_Namespace, SetDefaults_Service): run on every decode,
  so on every write;
- pkg/registry/core/namespace/strategy.go (PrepareForCreate / PrepareForUpdate);
- pkg/registry/core/service/storage/alloc.go (initIPFamilyFields, allocClusterIPs, node ports)
  and storage.go (patchAllocatedValues, dropTypeDependentFields on update).
A single-stack IPv4 cluster with --service-cluster-ip-range=10.96.0.0/12 (kubeadm's default) and
--service-node-port-range=30000-32767.
"""

import copy
import ipaddress
import random

METADATA_NAME_LABEL = "kubernetes.io/metadata.name"  # k8s.io/api/core/v1 LabelMetadataName
SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")
NODE_PORTS = range(30000, 32768)
_SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")

# Namespaces and Services have no metadata.generation: their strategies' PrepareForCreate never sets
# it (pkg/registry/core/namespace/strategy.go, pkg/registry/core/service/strategy.go), unlike the
# workloads' and custom resources' (Generation = 1, bumped on spec changes). Other built-ins here keep
# a generation until their strategies are checked too.
NO_GENERATION = {("", "namespaces"), ("", "services")}


class Invalid(ValueError):
    """[(field, message)] in kube-apiserver's words."""

    def __init__(self, causes):
        super().__init__(causes)
        self.causes = causes


def has_generation(res):
    return (res.group, res.plural) not in NO_GENERATION


class Allocator:
    """ClusterIPs and node ports in use, as the apiserver's bitmap allocators keep them."""

    def __init__(self, seed=None):
        self._random = random.Random(seed)
        self.cluster_ips = set()
        self.node_ports = set()

    def dry_run(self):
        """A copy to allocate from without keeping anything (the allocators' DryRun())."""
        twin = Allocator()
        twin._random, twin.cluster_ips, twin.node_ports = self._random, set(self.cluster_ips), set(self.node_ports)
        return twin

    def forget(self, svc):
        spec = (svc or {}).get("spec") or {}
        for ip in spec.get("clusterIPs") or [spec.get("clusterIP")]:
            self.cluster_ips.discard(ip)
        for port in _node_ports(spec):
            self.node_ports.discard(port)

    def next_ip(self):
        # ipallocator picks a random free address (random scan with offset); the network address and
        # the first host (10.96.0.1, the kubernetes Service) are never handed out
        size = SERVICE_CIDR.num_addresses
        while True:
            ip = str(SERVICE_CIDR[self._random.randrange(2, size - 1)])
            if ip not in self.cluster_ips:
                return ip

    def next_port(self):
        while True:
            port = self._random.choice(NODE_PORTS)
            if port not in self.node_ports:
                return port


def _node_ports(spec):
    ports = [p.get("nodePort") for p in spec.get("ports") or [] if isinstance(p, dict)]
    return [p for p in ports + [spec.get("healthCheckNodePort")] if p]


def prepare(res, new, old, allocator, sub=None):
    """Fill in what the server sets on `new` (a write replacing `old`, None on create).

    Raises Invalid for the few Service errors the allocation itself finds."""
    if res.group != "":
        return
    if res.plural == "namespaces":
        _namespace(new, old, sub)
    elif res.plural == "services" and sub is None:
        _service(new, old, allocator)


def _namespace(new, old, sub):
    meta = new.setdefault("metadata", {})
    if meta.get("name"):  # SetDefaults_Namespace: always the name, whatever the client sent
        labels = meta.get("labels") or {}
        meta["labels"] = dict(labels, **{METADATA_NAME_LABEL: meta["name"]})
    if sub == "status":
        return
    if old is None:  # namespaceStrategy.PrepareForCreate
        finalizers = list((new.get("spec") or {}).get("finalizers") or [])
        if "kubernetes" not in finalizers:
            finalizers.append("kubernetes")
        new["spec"] = dict(new.get("spec") or {}, finalizers=finalizers)
        new["status"] = {"phase": "Active"}
    else:  # namespaceStrategy.PrepareForUpdate: finalizers only through /finalize
        spec = dict(new.get("spec") or {})
        old_finalizers = (old.get("spec") or {}).get("finalizers")
        if old_finalizers is None:
            spec.pop("finalizers", None)
        else:
            spec["finalizers"] = copy.deepcopy(old_finalizers)
        if spec:
            new["spec"] = spec
        else:
            new.pop("spec", None)


def _service(new, old, allocator):
    spec = new.setdefault("spec", {})
    old_spec = (old or {}).get("spec") or {}
    # SetDefaults_Service
    spec.setdefault("sessionAffinity", "None")
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        timeout = (((spec.get("sessionAffinityConfig") or {}).get("clientIP") or {}).get("timeoutSeconds"))
        if timeout is None:
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": 10800}}
    spec.setdefault("type", "ClusterIP")
    kind = spec["type"]
    if kind not in _SERVICE_TYPES:
        raise Invalid([("spec.type", f'Unsupported value: "{kind}": supported values: '
                        + ", ".join(f'"{t}"' for t in _SERVICE_TYPES))])
    for port in spec.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
            if port.get("targetPort") in (None, 0, ""):
                port["targetPort"] = port.get("port")
    externally = kind in ("NodePort", "LoadBalancer") or (kind == "ClusterIP" and spec.get("externalIPs"))
    if externally:
        spec.setdefault("externalTrafficPolicy", "Cluster")
    if kind in ("NodePort", "LoadBalancer", "ClusterIP"):
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if kind == "LoadBalancer":
        spec.setdefault("allocateLoadBalancerNodePorts", True)

    if kind == "ExternalName":
        if not spec.get("externalName"):
            raise Invalid([("spec.externalName", "Required value")])
        # dropTypeDependentFields (storage.go): what the old type allocated goes, unless the client
        # changed it (then validation below says no)
        for field in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy", "internalTrafficPolicy"):
            if field in spec and spec.get(field) == old_spec.get(field):
                del spec[field]
        if spec.get("clusterIP") or spec.get("clusterIPs"):
            raise Invalid([("spec.clusterIP", "Forbidden: may not be set for ExternalName services")])
        if old is not None:
            allocator.forget(old)
        return

    if old is not None and old_spec.get("type") != "ExternalName":
        # patchAllocatedValues (storage.go): an update that leaves them out keeps what was allocated
        if not spec.get("clusterIP") and old_spec.get("clusterIP"):
            spec["clusterIP"] = old_spec["clusterIP"]
            if old_spec.get("clusterIPs"):
                spec["clusterIPs"] = list(old_spec["clusterIPs"])
        if old_spec.get("clusterIP") and spec.get("clusterIP") != old_spec.get("clusterIP"):
            raise Invalid([("spec.clusterIPs[0]", f'Invalid value: "{spec.get("clusterIP")}": may not change once set')])
    if spec.get("clusterIP") and not spec.get("clusterIPs"):
        spec["clusterIPs"] = [spec["clusterIP"]]

    # initIPFamilyFields
    if "ipFamilyPolicy" not in spec:
        if old_spec.get("ipFamilyPolicy"):
            spec["ipFamilyPolicy"] = old_spec["ipFamilyPolicy"]
        elif spec.get("clusterIP") == "None" and not spec.get("selector"):
            spec["ipFamilyPolicy"] = "RequireDualStack"  # "headless + selectorless defaults to dual"
        else:
            spec["ipFamilyPolicy"] = "SingleStack"
    if spec.get("clusterIP") == "None" and not spec.get("selector"):
        families = list(spec.get("ipFamilies") or ["IPv4"])
        if len(families) < 2 and spec["ipFamilyPolicy"] != "SingleStack":
            families.append("IPv6" if families[0] == "IPv4" else "IPv4")
        spec["ipFamilies"] = families
    else:
        if spec["ipFamilyPolicy"] == "RequireDualStack":
            raise Invalid([("spec.ipFamilyPolicy", 'Invalid value: "RequireDualStack": this cluster is not '
                            "configured for dual-stack services")])
        for i, family in enumerate(spec.get("ipFamilies") or []):
            if family != "IPv4":
                raise Invalid([(f"spec.ipFamilies[{i}]", f'Invalid value: "{family}": not configured on this cluster')])
        spec.setdefault("ipFamilies", ["IPv4"])

    # allocClusterIPs: headless Services get none
    if spec.get("clusterIP") != "None":
        wanted = spec.get("clusterIP")
        if not wanted:
            ip = allocator.next_ip()
            allocator.cluster_ips.add(ip)
            spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
        elif wanted != old_spec.get("clusterIP"):
            try:
                inside = ipaddress.ip_address(wanted) in SERVICE_CIDR
            except ValueError:
                inside = False
            if not inside:
                raise Invalid([("spec.clusterIPs", f'Invalid value: ["{wanted}"]: failed to allocate IP {wanted}: '
                                "the provided IP is not in the valid range. The range of valid IPs is "
                                f"{SERVICE_CIDR}")])
            if wanted in allocator.cluster_ips:
                raise Invalid([("spec.clusterIPs", f'Invalid value: ["{wanted}"]: failed to allocate IP {wanted}: '
                                "provided IP is already allocated")])
            allocator.cluster_ips.add(wanted)
    else:
        spec["clusterIPs"] = ["None"]

    # node ports for NodePort and LoadBalancer (unless allocateLoadBalancerNodePorts is false)
    wants_ports = kind == "NodePort" or (kind == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts", True))
    old_ports = {(p.get("port"), p.get("protocol")): p.get("nodePort") for p in old_spec.get("ports") or []
                 if isinstance(p, dict)}
    for port in spec.get("ports") or []:
        if not isinstance(port, dict):
            continue
        if wants_ports and not port.get("nodePort"):
            kept = old_ports.get((port.get("port"), port.get("protocol")))
            port["nodePort"] = kept or allocator.next_port()
            allocator.node_ports.add(port["nodePort"])
        elif not wants_ports and kind == "ClusterIP" and port.get("nodePort") and \
                port.get("nodePort") == old_ports.get((port.get("port"), port.get("protocol"))):
            del port["nodePort"]  # dropTypeDependentFields: a NodePort Service turned ClusterIP
