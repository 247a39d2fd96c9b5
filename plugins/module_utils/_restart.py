# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rollout restarts, as `kubectl rollout restart` does them, the pending-restart marker, and waiting for the rollouts.

The marker (issue 11 item 2): a namespace whose capture changes in a way its running pods only follow
when restarted carries the annotation RESTART_PENDING, set in the same write as the label change and
removed in the write after its workloads were restarted. A run that fails in between (an API outage
mid-batch) leaves it there, so the next run finishes the restarts; a workload restarted at or after
the marker's time (its restartedAt) is not restarted again, so each is restarted exactly once.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import re

from ansible_collections.ambient.mesh.plugins.module_utils._diff import diff_entry
from ansible_collections.ambient.mesh.plugins.module_utils._errors import batch_error
from ansible_collections.ambient.mesh.plugins.module_utils._istio_names import GATEWAY_MANAGED, NOT_BINDABLE_MANAGERS, labels_of, object_ref
from ansible_collections.ambient.mesh.plugins.module_utils._kube import run_concurrently
from ansible_collections.ambient.mesh.plugins.module_utils._wait import wait_for

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet")
# the same key mesh_info reports as RESTART_PENDING (_findings.RESTART_PENDING_ANNOTATION)
RESTART_PENDING = "ambient.mesh/restart-pending"
# RFC 3339 in UTC, to the second, as kubectl writes restartedAt (kubectl rollout restart: time.Now().Format(time.RFC3339))
STAMP = "%Y-%m-%dT%H:%M:%SZ"


def now_stamp():
    return datetime.datetime.now(datetime.timezone.utc).strftime(STAMP)


def parse_stamp(value):
    """An RFC 3339 time (Z or an offset, fractional seconds ignored) as an aware datetime; None if it is not one."""
    if not isinstance(value, str):
        return None
    text = re.sub(r"\.\d+", "", value.strip()).replace("z", "Z")
    text = text[:-1] + "+0000" if text.endswith("Z") else re.sub(r"([+-]\d\d):(\d\d)$", r"\1\2", text)
    try:
        return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None


def pending_since(namespace):
    """The time of the namespace's pending-restart marker (its text), or None."""
    return ((namespace or {}).get("metadata", {}).get("annotations") or {}).get(RESTART_PENDING)


def marker_patch(stamp):
    """The annotation part of a namespace patch: the marker set (stamp) or removed (None)."""
    return {"metadata": {"annotations": {RESTART_PENDING: stamp}}}


def restarted_since(workload, since):
    """Whether the workload was restarted at or after `since` (the marker's text): its restart is done.

    A marker that cannot be read counts as "not restarted": restarting once more is the safe side."""
    since = parse_stamp(since)
    at = parse_stamp(((workload["spec"].get("template") or {}).get("metadata") or {}).get("annotations", {}).get(RESTARTED_AT))
    return since is not None and at is not None and at >= since


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
