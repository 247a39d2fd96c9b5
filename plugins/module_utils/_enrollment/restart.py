# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rollout restarts, as `kubectl rollout restart` does them, and waiting for the rollouts.

The restarts a failed run still owes are marked on their namespaces (_restart_pending).
"""


from ansible_collections.ambient.mesh.plugins.module_utils._objects.diff import diff_entry
from ansible_collections.ambient.mesh.plugins.module_utils._errors import batch_error
from ansible_collections.ambient.mesh.plugins.module_utils._istio.names import GATEWAY_MANAGED, NOT_BINDABLE_MANAGERS
from ansible_collections.ambient.mesh.plugins.module_utils._objects.refs import labels_of, object_ref
from ansible_collections.ambient.mesh.plugins.module_utils._kube.concurrency import run_concurrently
from ansible_collections.ambient.mesh.plugins.module_utils._enrollment.restart_pending import RESTARTED_AT, now_stamp
from ansible_collections.ambient.mesh.plugins.module_utils._objects.wait import wait_for

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")


def follows_namespace_capture(workload):
    """False for the Deployments istiod renders for waypoints and east-west gateways: their pods carry
    istio.io/dataplane-mode=none whatever the namespace says (Istio 1.30.3
    manifests/charts/istio-control/istio-discovery/files/waypoint.yaml), so restarting them changes nothing
    but drops the L7 proxy's connections."""
    return labels_of(workload).get(GATEWAY_MANAGED) not in NOT_BINDABLE_MANAGERS


def workloads_in(api, namespaces, concurrency):
    """{namespace: [workload objects]}: one cluster-wide LIST per kind; not the waypoints' own Deployments."""
    wanted = set(namespaces)
    out = dict((ns, []) for ns in wanted)
    for _kind, items, error in run_concurrently(lambda kind: api.list("apps/v1", kind), WORKLOAD_KINDS, concurrency):
        if error is not None:
            raise error
        for item in items:
            if item["metadata"]["namespace"] in wanted and follows_namespace_capture(item):
                out[item["metadata"]["namespace"]].append(item)
    return out


def restart(api, workloads, check_mode, concurrency, now=None):
    """Restart each workload once (pod-template annotation); returns their refs and diff entries
    (each workload as read, and as the server returned it after the patch)."""
    stamp = now or now_stamp()
    patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}

    def send(obj):
        return api.patch("apps/v1", obj["kind"], obj["metadata"]["name"], patch,
                         namespace=obj["metadata"]["namespace"], dry_run=check_mode)

    answers = run_concurrently(send, workloads, concurrency)
    failures = [(object_ref(o), error) for o, _a, error in answers if error is not None]
    done = [object_ref(o) for o, _a, error in answers if error is None]
    if failures:
        # the restarts that went through are done (their restartedAt tells the next run)
        raise batch_error("restarting %d of %d workloads failed" % (len(failures), len(workloads)), failures,
                          done=done, restarted=done)
    return done, [diff_entry(o, answer) for o, answer, _e in answers]


def rollout_done(obj):
    """(done, why not) for a Deployment, StatefulSet or DaemonSet."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    observed = status.get("observedGeneration")
    if observed is None:
        return False, "no status reported yet"
    if observed < (obj["metadata"].get("generation") or 0):
        return False, "generation not observed yet"
    if obj["kind"] == "DaemonSet":
        if "desiredNumberScheduled" not in status:  # always set once the controller has counted nodes
            return False, "no status reported yet"
        desired = status["desiredNumberScheduled"]
        ready = min(status.get("updatedNumberScheduled", 0), status.get("numberReady", 0))
    else:
        desired = spec.get("replicas", 1)
        ready = min(status.get("updatedReplicas", 0), status.get("readyReplicas", 0))
    return ready >= desired, "%d/%d updated and ready" % (ready, desired)


def wait_rollouts(api, refs, timeout, concurrency):
    """Wait until every restarted workload has rolled out; reads by LIST per kind."""
    if not refs:
        return

    def read():
        namespaces = set(ref.split(" ", 1)[1].split("/", 1)[0] for ref in refs)
        current = workloads_in(api, namespaces, concurrency)
        return dict((object_ref(o), o) for items in current.values() for o in items)

    def predicate(objects):
        pending = []
        for ref in refs:
            obj = objects.get(ref)
            done, why = rollout_done(obj) if obj else (True, "")
            if not done:
                pending.append("%s (%s)" % (ref, why))
        return not pending, ", ".join(pending)

    wait_for(read, predicate, timeout, "the restarted workloads to roll out", interval=1.0)
