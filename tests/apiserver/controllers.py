"""A small simulation of the controllers the collection waits for: workloads become ready.

Deployments and DaemonSets get a status once their generation is observed, after a delay a test
can set per object (None: never ready). Every change goes through the server's own write path.
"""

import asyncio

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
