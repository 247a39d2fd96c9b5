"""A small simulation of the controllers the collection waits for: workloads become ready.

Deployments and DaemonSets get a status once their generation is observed, after a delay a test
can set per object (None: never ready). Every change goes through the server's own write path.
"""

import asyncio
import datetime

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


WAYPOINT_CLASS = "istio-waypoint"
ISTIOD = "istiod-sim"  # the field manager of what the simulated istiod writes
BOUND = "istio.io/WaypointBound"


class WaypointController:
    """What istiod does for waypoints, enough for the tests to mean something.

    A Gateway of class istio-waypoint gets a Deployment and a Service named like it once an istiod
    exists; it is Programmed when that Deployment is ready (so WorkloadController's delays delay or
    block it). Every Service gets istio.io/WaypointBound from its use-waypoint binding, with the
    reasons istiod gives: WaypointAccepted, WaypointIsNotReady, AttachmentDenied,
    UnsupportedTrafficType. `enabled = False` stops it (an istiod that does not answer).
    """

    def __init__(self, server):
        self.server = server
        self.enabled = True
        self._scheduled = False

    def notify(self, res, manager):
        if manager == ISTIOD or not self.enabled or self._scheduled:
            return
        if res.kind not in ("Gateway", "Service", "Namespace", "Deployment"):
            return
        self._scheduled = True
        asyncio.get_running_loop().call_soon(self.reconcile)

    # -- helpers -------------------------------------------------------------------------
    def _objects(self, group, plural):
        return [o for (g, p, _ns, _n), o in list(self.server.objects.items()) if (g, p) == (group, plural)]

    def _res(self, api_version, kind):
        return self.server.catalog.by_kind(api_version, kind)

    def _status(self, res, obj, status):
        if obj.get("status") == status:
            return
        meta = obj["metadata"]
        self.server._write(res, meta.get("namespace"), meta["name"], obj, dict(obj, status=status),
                           manager=ISTIOD, apply=False, sub="status", dry_run=False)

    def _ensure(self, res, obj):
        meta = obj["metadata"]
        if self.server.objects.get(self.server._key(res, meta["namespace"], meta["name"])) is None:
            self.server._write(res, meta["namespace"], meta["name"], None, obj, manager=ISTIOD, apply=False,
                               sub=None, dry_run=False)

    # -- the reconcile loop ------------------------------------------------------------------
    def reconcile(self):
        self._scheduled = False
        if not self.enabled:
            return
        gw_res = self._res("gateway.networking.k8s.io/v1", "Gateway")
        deploy_res = self._res("apps/v1", "Deployment")
        svc_res = self._res("v1", "Service")
        istiod = any((d["metadata"].get("labels") or {}).get("app") == "istiod"
                     for d in self._objects("apps", "deployments"))
        waypoints = {}
        if gw_res is not None:
            for gw in self._objects("gateway.networking.k8s.io", "gateways"):
                if (gw.get("spec") or {}).get("gatewayClassName") != WAYPOINT_CLASS:
                    continue
                if istiod:
                    self._program(gw_res, deploy_res, svc_res, gw)
            for gw in self._objects("gateway.networking.k8s.io", "gateways"):  # as programmed just now
                if (gw.get("spec") or {}).get("gatewayClassName") == WAYPOINT_CLASS:
                    waypoints[(gw["metadata"]["namespace"], gw["metadata"]["name"])] = gw
        self._collect_orphans(deploy_res, svc_res, waypoints)
        for svc in self._objects("", "services"):
            labels = svc["metadata"].get("labels") or {}
            if "gateway.networking.k8s.io/gateway-name" in labels:
                continue
            self._bind(svc_res, svc, waypoints)

    def _collect_orphans(self, deploy_res, svc_res, waypoints):
        """The garbage collector: a waypoint's Deployment and Service go with its Gateway."""
        for res, group, plural in ((deploy_res, "apps", "deployments"), (svc_res, "", "services")):
            for obj in self._objects(group, plural):
                labels = obj["metadata"].get("labels") or {}
                if labels.get("gateway.istio.io/managed") != "istio.io-mesh-controller":
                    continue
                if (obj["metadata"]["namespace"], labels.get("gateway.networking.k8s.io/gateway-name")) not in waypoints:
                    self.server.objects.pop(self.server._key(res, obj["metadata"]["namespace"], obj["metadata"]["name"]))

    def _program(self, gw_res, deploy_res, svc_res, gw):
        ns, name = gw["metadata"]["namespace"], gw["metadata"]["name"]
        labels = {"gateway.networking.k8s.io/gateway-name": name, "gateway.istio.io/managed": "istio.io-mesh-controller"}
        self._ensure(deploy_res, {"apiVersion": "apps/v1", "kind": "Deployment",
                                  "metadata": {"name": name, "namespace": ns, "labels": labels},
                                  "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                                           "template": {"metadata": {"labels": labels},
                                                        "spec": {"containers": [{"name": "istio-proxy"}]}}}})
        self._ensure(svc_res, {"apiVersion": "v1", "kind": "Service",
                               "metadata": {"name": name, "namespace": ns, "labels": labels},
                               "spec": {"selector": labels, "ports": [{"name": "mesh", "port": 15008}]}})
        deployment = self.server.objects.get(self.server._key(deploy_res, ns, name)) or {}
        ready = ((deployment.get("status") or {}).get("readyReplicas") or 0) >= 1
        generation = gw["metadata"].get("generation", 1)
        stored = self.server.objects.get(self.server._key(gw_res, ns, name))
        old = {c["type"]: c for c in (stored.get("status") or {}).get("conditions") or []}
        conditions = [
            _condition("Accepted", True, "Accepted", "Resource accepted", generation, old),
            _condition("Programmed", ready, "Programmed" if ready else "NoResourcesAvailable",
                       "Resource programmed, assigned to service(s) %s.%s.svc.cluster.local:15008" % (name, ns)
                       if ready else "Deployment %s/%s is not ready" % (ns, name), generation, old),
        ]
        status = dict(stored.get("status") or {}, conditions=conditions)
        if ready:
            status["addresses"] = [{"type": "Hostname", "value": "%s.%s.svc.cluster.local" % (name, ns)}]
        self._status(gw_res, stored, status)

    def _bind(self, svc_res, svc, waypoints):
        ns = svc["metadata"]["namespace"]
        namespace = self.server.objects.get(("", "namespaces", "", ns)) or {}
        binding = None
        for holder in (svc, namespace):
            lbl = (holder.get("metadata") or {}).get("labels") or {}
            if "istio.io/use-waypoint" in lbl:
                if lbl["istio.io/use-waypoint"] != "none":
                    binding = (lbl.get("istio.io/use-waypoint-namespace", ns), lbl["istio.io/use-waypoint"])
                break
        conditions = [c for c in (svc.get("status") or {}).get("conditions") or [] if c.get("type") != BOUND]
        if binding is not None:
            gw = waypoints.get(binding)
            ref = "%s/%s" % binding
            programmed = gw is not None and any(c.get("type") == "Programmed" and c.get("status") == "True"
                                                for c in (gw.get("status") or {}).get("conditions") or [])
            if not programmed:
                cond = (False, "WaypointIsNotReady", "waypoint %r is not ready" % ref)
            elif binding[0] != ns and not _allows_namespace(gw, ns):
                cond = (False, "AttachmentDenied",
                        "we are not permitted to attach to waypoint %r (missing allowedRoutes?)" % ref)
            elif ((gw["metadata"].get("labels") or {}).get("istio.io/waypoint-for", "service")) not in ("service", "all"):
                cond = (False, "UnsupportedTrafficType",
                        "attempting to bind to traffic type \"service\" which the waypoint %r does not support" % ref)
            else:
                cond = (True, "WaypointAccepted", "bound to %s" % ref)
            old = {c["type"]: c for c in (svc.get("status") or {}).get("conditions") or []}
            conditions.append(_condition(BOUND, cond[0], cond[1], cond[2], None, old))
        status = dict(svc.get("status") or {"loadBalancer": {}})
        if conditions:
            status["conditions"] = conditions
        else:
            status.pop("conditions", None)
        self._status(svc_res, svc, status)


def _allows_namespace(gw, namespace):
    for listener in (gw.get("spec") or {}).get("listeners") or []:
        allowed = ((listener.get("allowedRoutes") or {}).get("namespaces") or {}).get("from", "Same")
        if allowed == "All":
            return True
    return False


def _condition(cond_type, ok, reason, message, generation, old):
    status = "True" if ok else "False"
    previous = old.get(cond_type) or {}
    stamp = previous.get("lastTransitionTime") if previous.get("status") == status else None
    cond = {"type": cond_type, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": stamp or datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    if generation is not None:
        cond["observedGeneration"] = generation
    return cond
