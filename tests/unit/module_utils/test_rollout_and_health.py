"""When a rollout counts as done, and when an Istio DaemonSet counts as ready (pure functions)."""

import pytest

from ansible_collections.ambient.mesh.plugins.module_utils._istio.state import daemonset_health
from ansible_collections.ambient.mesh.plugins.module_utils._enrollment.restart import rollout_done


def workload(kind, generation=2, replicas=None, status=None):
    obj = {"kind": kind, "metadata": {"name": "w", "namespace": "apps", "generation": generation}, "spec": {}}
    if replicas is not None:
        obj["spec"]["replicas"] = replicas
    if status is not None:
        obj["status"] = status
    return obj


DEPLOY_READY = {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2}
DS_READY = {"observedGeneration": 2, "desiredNumberScheduled": 3, "updatedNumberScheduled": 3, "numberReady": 3}


@pytest.mark.parametrize("obj, done, why", [
    (workload("Deployment", replicas=2, status=DEPLOY_READY), True, "2/2 updated and ready"),
    # the controller has not seen generation 2 yet: the counts still describe the old pods
    (workload("Deployment", replicas=2, status=dict(DEPLOY_READY, observedGeneration=1)), False,
     "generation not observed yet"),
    (workload("StatefulSet", replicas=2, status=dict(DEPLOY_READY, observedGeneration=1)), False,
     "generation not observed yet"),
    (workload("Deployment", replicas=2, status=dict(DEPLOY_READY, updatedReplicas=1)), False,
     "1/2 updated and ready"),
    (workload("Deployment", replicas=2, status=dict(DEPLOY_READY, readyReplicas=1)), False,
     "1/2 updated and ready"),
    (workload("Deployment", replicas=1), False, "no status reported yet"),
    (workload("Deployment", generation=None, replicas=1), False, "no status reported yet"),
    (workload("DaemonSet", status=DS_READY), True, "3/3 updated and ready"),
    (workload("DaemonSet", status=dict(DS_READY, observedGeneration=1)), False, "generation not observed yet"),
    (workload("DaemonSet", status=dict(DS_READY, numberReady=2)), False, "2/3 updated and ready"),
    (workload("DaemonSet", status=dict(DS_READY, updatedNumberScheduled=0)), False, "0/3 updated and ready"),
    (workload("DaemonSet"), False, "no status reported yet"),
    (workload("DaemonSet", generation=None), False, "no status reported yet"),
    (workload("DaemonSet", status={}), False, "no status reported yet"),
    # observed, but the nodes not counted yet
    (workload("DaemonSet", status={"observedGeneration": 2}), False, "no status reported yet"),
    # counted: no node matches its selector, as `kubectl rollout status` sees it, there is nothing to wait for
    (workload("DaemonSet", status={"observedGeneration": 2, "desiredNumberScheduled": 0,
                                   "updatedNumberScheduled": 0, "numberReady": 0}), True, "0/0 updated and ready"),
])
def test_rollout_done(obj, done, why):
    assert rollout_done(obj) == (done, why)


def daemonset(status):
    obj = {"kind": "DaemonSet", "metadata": {"name": "ztunnel", "namespace": "istio-system", "generation": 1}}
    if status is not None:
        obj["status"] = status
    return obj


@pytest.mark.parametrize("status, ready, desired, ready_count", [
    ({"observedGeneration": 1, "desiredNumberScheduled": 3, "numberReady": 3}, True, 3, 3),
    ({"observedGeneration": 1, "desiredNumberScheduled": 3, "numberReady": 2}, False, 3, 2),
    # no pod scheduled (status not computed, or no node for it): ztunnel serves nothing
    ({"observedGeneration": 1, "desiredNumberScheduled": 0, "numberReady": 0}, False, 0, 0),
    ({}, False, 0, 0),
    (None, False, 0, 0),
])
def test_daemonset_health(status, ready, desired, ready_count):
    health = daemonset_health(daemonset(status))
    assert health == {"name": "ztunnel", "namespace": "istio-system", "kind": "DaemonSet", "desired": desired,
                      "ready_count": ready_count, "ready": ready}
