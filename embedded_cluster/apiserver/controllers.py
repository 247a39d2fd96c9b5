"""A small simulation of the controllers the collection waits for: workloads become ready.

Deployments and DaemonSets get a status once their generation is observed, after a delay a test
can set per object (None: never ready). Every change goes through the server's own write path.
"""

import asyncio
import copy
import datetime
import hashlib
import json
import pathlib
import re
import textwrap

import yaml

from . import gotemplate

NODES = 3  # how many nodes the simulated cluster has (DaemonSet pods)


def workload_status(obj, ready):
    kind = obj["kind"]
    generation = obj["metadata"].get("generation", 1)
    if kind == "Deployment":
        replicas = obj.get("spec", {}).get("replicas", 1)
        count = replicas if ready else 0
        return {"observedGeneration": generation, "replicas": replicas, "updatedReplicas": replicas,
                "readyReplicas": count, "availableReplicas": count,
                "conditions": [{"type": "Available", "status": "True" if ready else "False",
                                "reason": "MinimumReplicasAvailable" if ready else "MinimumReplicasUnavailable",
                                "message": "Deployment has minimum availability." if ready
                                else "Deployment does not have minimum availability."}]}
    if kind in ("DaemonSet",):
        return {"observedGeneration": generation, "desiredNumberScheduled": NODES,
                "currentNumberScheduled": NODES, "updatedNumberScheduled": NODES,
                "numberReady": NODES if ready else 0, "numberAvailable": NODES if ready else 0}
    if kind == "StatefulSet":
        replicas = obj.get("spec", {}).get("replicas", 1)
        return {"observedGeneration": generation, "replicas": replicas,
                "readyReplicas": replicas if ready else 0, "updatedReplicas": replicas}
    return None


class WorkloadController:
    """Marks workloads ready; `delays[(kind, namespace, name)]` = seconds, or None for never."""

    KINDS = ("Deployment", "DaemonSet", "StatefulSet")

    def __init__(self, server):
        self.server = server
        self.delays = {}
        self.default_delay = 0.0

    def observe(self, res, obj, old):
        if res.kind not in self.KINDS or res.group != "apps":
            return
        if old is not None and old["metadata"].get("generation") == obj["metadata"].get("generation") \
                and "status" in old:
            return
        key = (res.kind, obj["metadata"]["namespace"], obj["metadata"]["name"])
        delay = self.delays.get(key, self.default_delay)
        self._set(res, key, ready=False)
        if delay is not None:
            asyncio.get_running_loop().call_later(delay, self._set, res, key, True)

    def _set(self, res, key, ready):
        kind, namespace, name = key
        stored = self.server.objects.get(self.server._key(res, namespace, name))
        if stored is None:
            return
        status = workload_status(stored, ready)
        if stored.get("status") == status:
            return
        body = dict(stored, status=status)
        self.server._write(res, namespace, name, stored, body, manager="kube-controller-manager",
                           apply=False, sub="status", dry_run=False)


# ---- istiod, for waypoints (Istio 1.30.3) -------------------------------------------------------
# Every object, label, status and message below comes from Istio 1.30.3's source; the file is named
# next to each. The waypoint objects are rendered from the upstream template itself.
TEMPLATE = pathlib.Path(__file__).resolve().parents[1] / "data" / "istio-1.30.3" / "templates" / "waypoint.yaml"

WAYPOINT_CLASS = "istio-waypoint"  # pkg/config/constants/constants.go WaypointGatewayClassName
# pkg/config/constants/constants.go ManagedGatewayMeshController(Label), ManagedGatewayEastWestControllerLabel
MESH_CONTROLLER = "istio.io/mesh-controller"
MANAGED = "gateway.istio.io/managed"
MESH_CONTROLLER_LABEL = MESH_CONTROLLER.replace("/", "-")  # deploymentcontroller.go apply(): "/" -> "-"
EASTWEST_CONTROLLER_LABEL = "istio.io-eastwest-controller"
GATEWAY_NAME = "gateway.networking.k8s.io/gateway-name"
# pilot/pkg/features/pilot.go ManagedGatewayController: the deployment controller's server-side apply manager
DEPLOYMENT_CONTROLLER = "istio.io/gateway-controller"
# pilot/pkg/config/kube/gatewaycommon/deploymentcontroller.go ControllerVersionAnnotation / ControllerVersion
CONTROLLER_VERSION_ANNOTATION = "gateway.istio.io/controller-version"
CONTROLLER_VERSION = 5
# pilot/pkg/serviceregistry/ambient/ambientindex.go: statusqueue.Register(statusQueue, "istio-ambient-service", ...)
AMBIENT_SERVICE_MANAGER = "istio-ambient-service"
# istiod's Gateway status writer updates status without a field manager of its own (client-go then names
# the binary): pilot/pkg/status/manager.go
GATEWAY_STATUS_MANAGER = "pilot-discovery"
BOUND = "istio.io/WaypointBound"  # pilot/pkg/model/service.go WaypointBound
REV, TAG = "istio.io/rev", "istio.io/tag"
# pkg/revisions/tag_watcher.go defaultRevisionValidatingWebhookName / defaultTagMutatingWebhookName
DEFAULT_VALIDATOR, DEFAULT_TAG_WEBHOOK = "istiod-default-validator", "istio-revision-tag-default"
# its own writes do not wake it up again (the workload controller's readiness writes do)
OWN_MANAGERS = (DEPLOYMENT_CONTROLLER, AMBIENT_SERVICE_MANAGER, GATEWAY_STATUS_MANAGER)


def _labels(obj):
    return (obj.get("metadata") or {}).get("labels") or {}


def go_quote(text):
    """Go's %q for the ASCII names used here."""
    return json.dumps(text)


# pilot/pkg/serviceregistry/ambient/status.go, and the True message of pilot/pkg/model/service.go GetConditions
def waypoint_not_ready(ref):
    return "WaypointIsNotReady", "waypoint %s is not ready" % go_quote(ref)


def attachment_denied(ref):
    return "AttachmentDenied", "we are not permitted to attach to waypoint %s (missing allowedRoutes?)" % go_quote(ref)


def unsupported_traffic_type(ref, traffic):
    return ("UnsupportedTrafficType", "attempting to bind to traffic type %s which the waypoint %s does not support"
            % (go_quote(traffic), go_quote(ref)))


def attached(ref, ingress_label_present=False, ingress_use_waypoint=False):
    message = "Successfully attached to waypoint " + ref
    if ingress_use_waypoint:
        message += ". Ingress traffic will traverse the waypoint"
    elif ingress_label_present:
        message += ". Ingress traffic is not using the waypoint, set the istio.io/ingress-use-waypoint label to true if desired."
    return "WaypointAccepted", message


def not_programmed(hostname):
    """Programmed=False while the waypoint's Service has no ready endpoint: conversion.go setProgrammedCondition
    with the warning of gatewaycommon/context.go ResolveGatewayInstances; allUsable, so AddressNotAssigned."""
    return "AddressNotAssigned", "Failed to assign to any requested addresses: no instances found for hostname %s" % (
        go_quote(hostname))


def programmed(hostname, port=15008):
    return "Programmed", "Resource programmed, assigned to service(s) %s:%d" % (hostname, port)  # conversion.go


ROUTE_KINDS = {"HTTP": ["HTTPRoute", "GRPCRoute"], "HTTPS": ["HTTPRoute", "GRPCRoute"], "TCP": ["TCPRoute"],
               "TLS": ["TLSRoute"]}  # conditions.go generateSupportedKinds (HBONE: none)


def listener_statuses(gateway, generation, old_listeners):
    """status.listeners of a waypoint Gateway, one per listener in spec order (conversion.go buildListener ->
    conditions.go reportListenerCondition/setConditions, Istio 1.30.3; testdata/waypoint.status.yaml.golden):
    Accepted, Conflicted (False, NoConflicts), Programmed and ResolvedRefs, each "No errors found", in sorted order;
    a listener other than port 15008 with protocol HBONE is not Accepted (unexpectedWaypointListener); the kinds
    of the protocol (none for HBONE), narrowed by allowedRoutes.kinds, where a kind left out makes ResolvedRefs
    False/InvalidRouteKinds. attachedRoutes stays 0: the mesh controller's Gateways get no route parents
    (gateway_collection.go skips them; route_collections.go counts only Gateway and ListenerSet parents)."""
    out = []
    for index, listener in enumerate((gateway.get("spec") or {}).get("listeners") or []):
        old = {c["type"]: c for c in (old_listeners[index] if index < len(old_listeners) else {}).get("conditions") or []}
        supported = [{"group": "gateway.networking.k8s.io", "kind": k} for k in ROUTE_KINDS.get(listener.get("protocol"), [])]
        wanted = ((listener.get("allowedRoutes") or {}).get("kinds")) or []
        valid = True
        if wanted:
            supported = [s for s in supported
                         if any(w.get("kind") == s["kind"] and w.get("group", "gateway.networking.k8s.io") == s["group"]
                                for w in wanted)]
            valid = len(supported) == len(wanted)
        accepted = (True, "Accepted", "No errors found")
        if listener.get("port") != 15008 or listener.get("protocol") != "HBONE":
            accepted = (False, "UnsupportedProtocol", 'Expected a single listener on port 15008 with protocol "HBONE"')
        resolved = (True, "ResolvedRefs", "No errors found") if valid else (False, "InvalidRouteKinds", "Invalid route kinds")
        out.append({"name": listener.get("name"), "attachedRoutes": 0, "supportedKinds": supported, "conditions": [
            _condition("Accepted", *accepted, generation, old),
            _condition("Conflicted", False, "NoConflicts", "No errors found", generation, old),
            _condition("Programmed", True, "Programmed", "No errors found", generation, old),
            _condition("ResolvedRefs", *resolved, generation, old)]})
    return out


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_RENDERED = {}


def render_waypoint(gateway, revision, kube_version=133, template=TEMPLATE):
    """render_template's objects, fresh copies; rendered once per input (istiod re-renders on every event,
    but the result only depends on these inputs, and rendering 200 waypoints on every write is quadratic)."""
    meta = gateway["metadata"]
    key = json.dumps([meta.get("name"), meta.get("namespace"), meta.get("uid"), meta.get("labels"),
                      meta.get("annotations"), gateway.get("spec"), revision, kube_version, str(template)],
                     sort_keys=True, default=str)
    if key not in _RENDERED:
        _RENDERED[key] = render_template(gateway, revision, kube_version, template)
    return copy.deepcopy(_RENDERED[key])


def render_template(gateway, revision, kube_version=133, template=TEMPLATE):
    """ServiceAccount, Deployment and Service as istiod renders them from the waypoint template
    (pilot/pkg/config/kube/gatewaycommon/deploymentcontroller.go configureIstioGateway + apply()).
    The HorizontalPodAutoscaler and PodDisruptionBudget of the template are rendered only with a class
    overlay (requiredOverlays), so not here. The Deployment's pod spec is not rendered (it needs mesh
    config and values); its container name and ports are read from the template."""
    text = pathlib.Path(template).read_text(encoding="utf-8")
    meta, spec = gateway["metadata"], gateway.get("spec") or {}
    labels = {k: v for k, v in _labels(gateway).items()}  # EnableGatewayAPICopyLabelsAnnotations: copied
    annotations = dict(meta.get("annotations") or {})
    ports = [{"Name": "status-port", "Port": 15021, "AppProtocol": "tcp"}]  # extractServicePorts
    seen = set()
    for index, listener in enumerate(spec.get("listeners") or []):
        if listener["port"] in seen:
            continue
        seen.add(listener["port"])
        ports.append({"Name": listener.get("name") or "%s-%d" % (listener["protocol"].lower(), index),
                      "Port": listener["port"], "AppProtocol": listener["protocol"].lower()})
    data = {"Name": meta["name"], "Namespace": meta["namespace"], "UID": meta.get("uid", ""),
            "Spec": {"Addresses": spec.get("addresses")}, "GatewayClass": spec.get("gatewayClassName"),
            # GetDefaultName with DisableNameSuffix for the waypoint class (classinfo.go), unless overridden
            "DeploymentName": annotations.get("gateway.istio.io/name-override", meta["name"]),
            "ServiceAccount": annotations.get("gateway.istio.io/service-account", meta["name"]),
            "Ports": ports, "KubeVersion": kube_version, "Revision": revision,
            "ServiceType": annotations.get("networking.istio.io/service-type", "ClusterIP"),  # classinfo.go
            "InfrastructureLabels": labels, "InfrastructureAnnotations": annotations,
            "GatewayNameLabel": GATEWAY_NAME, "ControllerLabel": MESH_CONTROLLER_LABEL}
    out = []
    for doc in text.split("\n---\n"):
        kind = re.search(r"^kind: (\S+)", doc, re.M).group(1)
        if kind not in ("ServiceAccount", "Deployment", "Service"):
            continue
        pod_spec = None
        if kind == "Deployment":
            cut = re.search(r"^    spec:$", doc, re.M).start()
            containers = re.search(r"^      containers:\n      - name: (\S+)\n        ports:\n((?:        [- ].*\n)+)",
                                   doc[cut:], re.M)
            pod_spec = {"serviceAccountName": data["ServiceAccount"], "containers": [{
                "name": containers.group(1), "image": "docker.io/istio/proxyv2:1.30.3-distroless",
                "ports": yaml.load(textwrap.dedent(containers.group(2)), Loader=_LOADER)}]}
            doc = doc[:cut]
        obj = yaml.load(gotemplate.render(doc, data), Loader=_LOADER)
        obj["metadata"].setdefault("labels", {})[MANAGED] = MESH_CONTROLLER_LABEL  # apply(): managed-by label
        if pod_spec is not None:
            obj["spec"]["template"]["spec"] = pod_spec
        out.append(obj)
    return out


def control_planes(server, objects):
    """[(revision, namespace, tags)] of the istiods that run (ready), and the default facts, as
    pkg/revisions/tag_watcher.go GetMyTags reads them. `objects(group, plural, namespace=None)` reads the store."""
    planes = []
    for dep in objects("apps", "deployments"):
        if not is_istiod(dep) or ((dep.get("status") or {}).get("readyReplicas") or 0) < 1:
            continue
        rev = _labels(dep).get(REV, "default")
        tags = {rev}
        for hook in objects("admissionregistration.k8s.io", "mutatingwebhookconfigurations"):
            if TAG in _labels(hook) and _labels(hook).get(REV) == rev:
                tags.add(_labels(hook)[TAG])
        for svc in objects("", "services", dep["metadata"]["namespace"]):  # tag Services, in the istiod's own namespace only
            if TAG in _labels(svc) and _labels(svc).get(REV) == rev:
                tags.add(_labels(svc)[TAG])
        planes.append((rev, tags))
    validators = [v for v in objects("admissionregistration.k8s.io", "validatingwebhookconfigurations")
                  if v["metadata"]["name"] == DEFAULT_VALIDATOR]
    default_rev = _labels(validators[0]).get(REV) if validators else None
    default_tag = any(h["metadata"]["name"] == DEFAULT_TAG_WEBHOOK
                      for h in objects("admissionregistration.k8s.io", "mutatingwebhookconfigurations"))
    return planes, default_rev, default_tag


def is_istiod(deployment):
    return _labels(deployment).get("app") == "istiod"


def changes_control_planes(res, new, old):
    """Whether a write can change what control_planes() reads: an istiod Deployment, a webhook configuration,
    a tag Service, or a namespace that goes (and everything in it)."""
    objs = [o for o in (new, old) if o is not None]
    if res.kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        return True
    if res.kind == "Deployment":
        return any(is_istiod(o) for o in objs)
    if res.kind == "Service":
        return any(TAG in _labels(o) for o in objs)
    return res.kind == "Namespace" and new is None


class PlanesCache:
    """control_planes(), read again only after a write that can change it (changes_control_planes)."""

    def __init__(self, server):
        self.server = server
        self._planes = None

    def invalidate(self):
        self._planes = None

    def get(self):
        if self._planes is None:
            self._planes = control_planes(self.server, self.server.objects.objects)
        return self._planes


def is_mine(rev, tags, default_rev, default_tag, obj, namespace):
    """pkg/revisions/tag_watcher.go IsMine: the object's istio.io/rev, else its namespace's."""
    selected = _labels(obj).get(REV)
    if selected is None:
        selected = _labels(namespace).get(REV, "")
    return selected in tags or (selected == "" and ("default" in tags or (default_rev == rev and not default_tag)))


def selector_matches(selector, labels):
    """metav1.LabelSelectorAsSelector(...).Matches (apimachinery): matchLabels and matchExpressions."""
    if selector is None:
        return False  # labels.Nothing()
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if (op == "In" and labels.get(key) not in values) or (op == "NotIn" and key in labels and labels[key] in values) \
                or (op == "Exists" and key not in labels) or (op == "DoesNotExist" and key in labels):
            return False
    return True


def allowed_routes(gateway):
    """waypoints.go makeAllowedRoutes / makeWaypointSelector: the HBONE listener on 15008 decides; Same when
    it has no allowedRoutes or there is no such listener."""
    for listener in (gateway.get("spec") or {}).get("listeners") or []:
        if listener.get("protocol") == "HBONE" and listener.get("port") == 15008:
            namespaces = (listener.get("allowedRoutes") or {}).get("namespaces")
            if namespaces is None:
                return "Same", None
            return namespaces.get("from", "Same"), namespaces.get("selector")
    return "Same", None


def allows_attachment(gateway, namespace_obj, namespace):
    """waypoints.go AllowsAttachmentFromNamespace(OrLookup)."""
    allowed, selector = allowed_routes(gateway)
    if allowed == "All":
        return True
    if allowed == "Selector":
        return selector_matches(selector, _labels(namespace_obj))
    return gateway["metadata"]["namespace"] == namespace


def _gateway_owned(obj):
    return any(r.get("kind") == "Gateway" for r in obj["metadata"].get("ownerReferences") or [])


def use_waypoint(obj, namespace):
    """(namespace, name) of the waypoint an object's own istio.io/use-waypoint labels name, or None (no label,
    or "none")."""
    lbl = _labels(obj)
    if lbl.get("istio.io/use-waypoint") in (None, "none"):
        return None
    return lbl.get("istio.io/use-waypoint-namespace", namespace), lbl["istio.io/use-waypoint"]


class WaypointReferences:
    """Which Services and Namespaces name which waypoint in their labels (istiod's ambient index keeps the same
    lookup: pilot/pkg/serviceregistry/ambient/waypoints.go), so that a Gateway's change rebinds just those.
    Kept from every Service and Namespace write; an entry whose object has gone since is harmless (its
    Service is not in the store any more)."""

    def __init__(self):
        self._by_holder = {}  # ("service", key) | ("namespace", name) -> (namespace, name) of the waypoint
        self._by_waypoint = {}  # (namespace, name) -> {holder}

    def track(self, res, new, old):
        obj = new if new is not None else old
        meta = obj["metadata"]
        if res.plural == "namespaces":
            holder, ns = ("namespace", meta["name"]), meta["name"]
        else:
            ns = meta.get("namespace") or ""
            holder = ("service", (res.group, res.plural, ns, meta["name"]))
        previous = self._by_holder.pop(holder, None)
        if previous is not None:
            self._by_waypoint[previous].discard(holder)
        ref = use_waypoint(new, ns) if new is not None else None
        if ref is not None:
            self._by_holder[holder] = ref
            self._by_waypoint.setdefault(ref, set()).add(holder)

    def holders(self, waypoint):
        """[("service", key) | ("namespace", name)] naming this waypoint."""
        return sorted(self._by_waypoint.get(waypoint, ()))


class Waypoints:
    """waypoints.go gatewayToWaypointTransform: a Gateway is a waypoint once it has status addresses;
    get((namespace, name)) reads it from the store when asked."""

    def __init__(self, store):
        self._store = store

    def get(self, key):
        gw = self._store.get(("gateway.networking.k8s.io", "gateways") + tuple(key))
        return gw if gw is not None and (gw.get("status") or {}).get("addresses") else None


class WaypointController:
    """What istiod 1.30.3 does for waypoints, enough for the tests to mean something.

    The deployment controller (pilot/pkg/config/kube/gatewaycommon/deploymentcontroller.go): a Gateway of
    class istio-waypoint that a running istiod claims (its revision or tag: tag_watcher.go IsMine) gets the
    gateway.istio.io/controller-version annotation and the ServiceAccount, Deployment and Service rendered
    from templates/waypoint.yaml, owned by the Gateway. Its status (pilot/pkg/config/kube/gateway/conversion.go
    reportGatewayStatus): Accepted; Programmed False/AddressNotAssigned until the Deployment has a ready pod,
    then True with addresses (the Service's cluster IP, then its hostname); status.listeners as
    listener_statuses says. WorkloadController's delays
    delay or block readiness.

    The ambient index (pilot/pkg/serviceregistry/ambient/services.go, waypoints.go): every Service except
    ExternalName ones and the Services of waypoints and east-west gateways gets istio.io/WaypointBound from
    its use-waypoint binding, against the Gateways that have addresses. `enabled = False` stops it all
    (an istiod that does not answer).
    """

    WATCHED = ("Gateway", "Service", "Namespace", "Deployment", "MutatingWebhookConfiguration",
               "ValidatingWebhookConfiguration")

    def __init__(self, server):
        self.server = server
        self.enabled = True
        self._scheduled = False
        self._planes = PlanesCache(server)
        self._refs = WaypointReferences()
        # what the writes since the last reconcile can affect (istiod's informers queue keys, not the world)
        self._everything = True
        self._gateways = set()  # Gateway keys to program
        self._gateway_namespaces = set()  # namespaces whose Gateways to program
        self._services = set()  # Service keys to bind
        self._service_namespaces = set()  # namespaces whose Services to bind
        self._waypoints = set()  # (namespace, name) of Gateways whose bound Services to bind again
        self._orphans = set()  # keys of objects a Gateway owns that may have lost it
        self._all_orphans = False

    def notify(self, res, manager, new=None, old=None):
        """After each stored write (new, old) or removal (None, gone): note what it can affect, and reconcile
        that at the end of this event-loop tick, once for all the writes of the tick."""
        obj = new if new is not None else old
        if res.group == "" and res.plural in ("services", "namespaces") and obj is not None:
            self._refs.track(res, new, old)
        if changes_control_planes(res, new, old):
            self._planes.invalidate()
        if res.plural == "customresourcedefinitions" and new is None:
            self._everything = True  # a CRD's objects went with it, unannounced (as before: seen at the next reconcile)
        if obj is not None and res.kind in ("Deployment", "Service", "ServiceAccount") and _gateway_owned(obj):
            self._orphans.add(self.server._key(res, obj["metadata"].get("namespace"), obj["metadata"]["name"]))
        if manager in OWN_MANAGERS or res.kind not in self.WATCHED:
            return
        if not self.enabled:
            self._everything = True  # an istiod that comes back lists everything again
            return
        if obj is None:
            self._everything = True  # a write we cannot place: look at everything
        elif changes_control_planes(res, new, old):
            self._everything = True
        else:
            meta = obj["metadata"]
            ns, name = meta.get("namespace") or "", meta["name"]
            if res.kind == "Namespace":
                self._gateway_namespaces.add(name)
                self._service_namespaces.add(name)
            elif res.kind == "Service":
                self._services.add(self.server._key(res, ns, name))
                self._gateway_namespaces.add(ns)  # a waypoint's Service: its Gateway's addresses
            elif res.kind == "Deployment":
                self._gateway_namespaces.add(ns)  # a waypoint's Deployment: its Gateway's readiness
            elif res.kind == "Gateway":
                self._gateways.add(self.server._key(res, ns, name))
                self._waypoints.add((ns, name))
                if new is None:
                    self._all_orphans = True
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self.reconcile)

    # -- helpers -------------------------------------------------------------------------
    def _objects(self, group, plural, namespace=None):
        return self.server.objects.objects(group, plural, namespace)

    def _res(self, api_version, kind):
        return self.server.catalog.by_kind(api_version, kind)

    def _stored(self, res, namespace, name):
        return self.server.objects.get(self.server._key(res, namespace, name))

    def _status(self, res, obj, status, manager):
        if obj.get("status") == status:
            return
        meta = obj["metadata"]
        self.server._write(res, meta.get("namespace"), meta["name"], obj, dict(obj, status=status),
                           manager=manager, apply=False, sub="status", dry_run=False)

    def _kube_version(self):
        version = getattr(self.server, "kubernetes_version", "v1.33.1").lstrip("v").split(".")
        return int(version[0]) * 100 + int(version[1])

    def _take(self):
        """The work queued since the last reconcile, emptied."""
        work = (self._everything, self._gateways, self._gateway_namespaces, self._services, self._service_namespaces,
                self._waypoints, self._orphans, self._all_orphans)
        self._everything, self._all_orphans = False, False
        self._gateways, self._gateway_namespaces, self._services = set(), set(), set()
        self._service_namespaces, self._waypoints, self._orphans = set(), set(), set()
        return work

    # -- the reconcile loop ------------------------------------------------------------------
    def reconcile(self):
        """What istiod does after the writes of one tick: program the waypoint Gateways they can affect, collect
        what lost its Gateway, bind the Services they can affect. A write of an istiod, a webhook configuration
        or a tag (control_planes) affects everything."""
        self._scheduled = False
        if not self.enabled:
            self._everything = True
            return
        everything, gateways, gateway_namespaces, services, service_namespaces, waypoints, orphans, all_orphans = \
            self._take()
        gw_res = self._res("gateway.networking.k8s.io/v1", "Gateway")
        svc_res = self._res("v1", "Service")
        planes, default_rev, default_tag = self._planes.get()
        stored = self.server.objects.of_kind("gateway.networking.k8s.io", "gateways") if gw_res is not None else {}
        if everything:
            picked = list(stored.values())
        else:  # through the store's indexes, in store order, instead of a scan of every Gateway per tick
            keys = set(k for k in gateways if k in stored)
            for namespace in gateway_namespaces:
                keys.update(self.server.objects.of_kind("gateway.networking.k8s.io", "gateways", namespace))
            picked = [stored[k] for k in sorted(keys, key=self.server.objects.position)]
        for gw in picked:
            if (gw.get("spec") or {}).get("gatewayClassName") != WAYPOINT_CLASS:
                continue
            namespace = self.server.objects.get(("", "namespaces", "", gw["metadata"]["namespace"])) or {}
            owner = next((rev for rev, tags in planes if is_mine(rev, tags, default_rev, default_tag, gw, namespace)),
                         None)
            if owner is not None:
                services |= self._program(gw_res, gw, owner)
            waypoints.add((gw["metadata"]["namespace"], gw["metadata"]["name"]))
        self._collect_orphans(None if everything or all_orphans else orphans)
        if not planes:
            return  # nothing to bind; an istiod that starts is a write that affects everything
        for ref in waypoints:
            for kind, holder in self._refs.holders(ref):
                if kind == "service":
                    services.add(holder)
                else:
                    service_namespaces.add(holder)
        bound = Waypoints(self.server.objects)
        for key, svc in list(self.server.objects.of_kind("", "services").items()):
            if everything or key in services or key[2] in service_namespaces:
                self._bind(svc_res, svc, bound)

    def _collect_orphans(self, keys=None):
        """The garbage collector: what a Gateway owns goes with it (its ownerReferences). `keys`: only these
        objects (None: every object of the kinds a waypoint owns). An owner reference names a Gateway of the
        object's own namespace, and holds while that Gateway has the referenced uid (kube-controller-manager
        pkg/controller/garbagecollector/garbagecollector.go: an owner absent by name, or with another uid, is
        dangling)."""
        if keys is not None and not keys:
            return
        gateways = self.server.objects.of_kind("gateway.networking.k8s.io", "gateways")
        for api_version, kind in (("apps/v1", "Deployment"), ("v1", "Service"), ("v1", "ServiceAccount")):
            res = self._res(api_version, kind)
            if res is None:
                continue
            if keys is None:
                found = self._objects(res.group, res.plural)
            else:
                found = [self.server.objects[k] for k in keys if k[:2] == (res.group, res.plural) and k in self.server.objects]
            for obj in found:
                ns = obj["metadata"]["namespace"]
                refs = [r for r in obj["metadata"].get("ownerReferences") or [] if r.get("kind") == "Gateway"]
                if refs and not any((gateways.get(("gateway.networking.k8s.io", "gateways", ns, r.get("name"))) or {})
                                    .get("metadata", {}).get("uid") == r.get("uid") for r in refs):
                    self.server._remove(res, self.server._key(res, obj["metadata"]["namespace"], obj["metadata"]["name"]))

    def _program(self, gw_res, gw, revision):
        """Renders and applies a waypoint's objects and writes its status; the keys of the Services it wrote."""
        written = set()
        ns, name = gw["metadata"]["namespace"], gw["metadata"]["name"]
        annotations = gw["metadata"].get("annotations") or {}
        current = annotations.get(CONTROLLER_VERSION_ANNOTATION)
        if current is not None and (not current.isdigit() or int(current) > CONTROLLER_VERSION):
            return written  # deploymentcontroller.go ManagedGatewayControllerVersion: a newer controller owns it
        if current != str(CONTROLLER_VERSION):
            # written through the status subresource upstream (setGatewayControllerVersion); the test
            # server keeps metadata only on main-resource writes, so it is written there
            body = copy.deepcopy(gw)
            body["metadata"].setdefault("annotations", {})[CONTROLLER_VERSION_ANNOTATION] = str(CONTROLLER_VERSION)
            gw = self.server._write(gw_res, ns, name, gw, body, manager=DEPLOYMENT_CONTROLLER, apply=False, sub=None,
                                    dry_run=False)
        rendered = render_waypoint(gw, revision, self._kube_version())
        for obj in rendered:
            res = self._res(obj["apiVersion"], obj["kind"])
            stored = self._stored(res, ns, obj["metadata"]["name"])
            if stored is not None and MANAGED not in _labels(stored):
                continue  # deploymentcontroller.go canManage: never take over an object it did not make
            body = copy.deepcopy(obj)
            if stored is not None:
                body = dict(copy.deepcopy(stored), metadata=dict(stored["metadata"], labels=obj["metadata"]["labels"],
                                                                 annotations=obj["metadata"].get("annotations") or {},
                                                                 ownerReferences=obj["metadata"]["ownerReferences"]))
                if "spec" in obj:  # a ServiceAccount has none
                    body["spec"] = dict(stored.get("spec") or {}, **obj["spec"])
                if body == stored:
                    continue
            self.server._write(res, ns, obj["metadata"]["name"], stored, body, manager=DEPLOYMENT_CONTROLLER,
                               apply=False, sub=None, dry_run=False)
            if (res.group, res.plural) == ("", "services"):
                written.add(self.server._key(res, ns, obj["metadata"]["name"]))
        deploy_name = rendered[1]["metadata"]["name"]
        deployment = self._stored(self._res("apps/v1", "Deployment"), ns, deploy_name) or {}
        service = self._stored(self._res("v1", "Service"), ns, deploy_name) or {}
        ready = ((deployment.get("status") or {}).get("readyReplicas") or 0) >= 1
        hostname = "%s.%s.svc.cluster.local" % (deploy_name, ns)  # extractGatewayServices, domain cluster.local
        generation = gw["metadata"].get("generation", 1)
        stored = self._stored(gw_res, ns, name)
        old = {c["type"]: c for c in (stored.get("status") or {}).get("conditions") or []}
        reason, message = programmed(hostname) if ready else not_programmed(hostname)
        conditions = [_condition("Accepted", True, "Accepted", "Resource accepted", generation, old),
                      _condition("Programmed", ready, reason, message, generation, old)]
        status = dict(stored.get("status") or {}, conditions=conditions)
        status["listeners"] = listener_statuses(gw, generation, (stored.get("status") or {}).get("listeners") or [])
        if ready:
            # conversion.go reportGatewayStatus: the waypoint class wants both address types (classinfo.go
            # AddressType ""), internal IPs first, then the hostname; never removed once reported
            ip = (service.get("spec") or {}).get("clusterIP") or _cluster_ip(ns, deploy_name)
            status["addresses"] = [{"type": "IPAddress", "value": ip}, {"type": "Hostname", "value": hostname}]
        self._status(gw_res, stored, status, GATEWAY_STATUS_MANAGER)
        return written

    def _bind(self, svc_res, svc, waypoints):
        """services.go serviceServiceBuilder + waypoints.go fetchWaypointForService/fetchWaypointForTarget."""
        ns = svc["metadata"]["namespace"]
        namespace = self.server.objects.get(("", "namespaces", "", ns)) or {}
        cond = None
        if (svc.get("spec") or {}).get("type") == "ExternalName":
            return  # services.go: ExternalName Services are not implemented by ambient; no status at all
        if _labels(svc).get(MANAGED) not in (MESH_CONTROLLER_LABEL, EASTWEST_CONTROLLER_LABEL):
            cond = self._waypoint_condition(svc, namespace, waypoints)
        conditions = [c for c in (svc.get("status") or {}).get("conditions") or [] if c.get("type") != BOUND]
        if cond is not None:
            old = {c["type"]: c for c in (svc.get("status") or {}).get("conditions") or []}
            conditions.append(_condition(BOUND, cond[0], cond[1], cond[2], None, old))
        status = dict(svc.get("status") or {"loadBalancer": {}})
        if conditions:
            status["conditions"] = conditions
        else:
            status.pop("conditions", None)
        self._status(svc_res, svc, status, AMBIENT_SERVICE_MANAGER)

    @staticmethod
    def _waypoint_condition(svc, namespace, waypoints):
        ns = svc["metadata"]["namespace"]
        for holder in (svc, namespace):
            lbl = _labels(holder)
            if "istio.io/use-waypoint" not in lbl:
                continue
            if lbl["istio.io/use-waypoint"] == "none":
                return None  # getUseWaypoint: "none" opts out (on a namespace: no waypoint either)
            key = (lbl.get("istio.io/use-waypoint-namespace", ns), lbl["istio.io/use-waypoint"])
            ref = "%s/%s" % key
            gw = waypoints.get(key)
            if gw is None:
                return (False,) + waypoint_not_ready(ref)
            if not allows_attachment(gw, namespace, ns):
                return (False,) + attachment_denied(ref)
            traffic = _labels(gw).get("istio.io/waypoint-for", "service")  # GatewayClass label not simulated
            if traffic not in ("service", "all"):
                return (False,) + unsupported_traffic_type(ref, "service")
            # services.go ingressUseWaypointFromLabels: the Service's label, else the namespace's
            ingress = _labels(svc).get("istio.io/ingress-use-waypoint", _labels(namespace).get("istio.io/ingress-use-waypoint"))
            return (True,) + attached(ref, ingress is not None, str(ingress).lower() in ("1", "t", "true"))
        return None


def _cluster_ip(namespace, name):
    """A stable address in 10.96.0.0/12 when the test server did not allocate one."""
    digest = hashlib.sha256(f"{namespace}/{name}".encode()).digest()
    return f"10.96.{digest[0]}.{max(digest[1], 1)}"


def _condition(cond_type, ok, reason, message, generation, old):
    status = "True" if ok else "False"
    previous = old.get(cond_type) or {}
    stamp = previous.get("lastTransitionTime") if previous.get("status") == status else None
    cond = {"type": cond_type, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": stamp or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    if generation is not None:
        cond["observedGeneration"] = generation
    return cond
