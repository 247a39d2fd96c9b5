"""Bad references and unfinished work (issue 11 items 2 and 10): which snapshots give which finding, and which give none."""

import pytest

from ansible_collections.ambient.mesh.plugins.module_utils._istio.control_planes import control_planes
from ansible_collections.ambient.mesh.plugins.module_utils._mesh_info.findings import Snapshot, find_misconfigurations
from builders import ambient_namespace, istiod, namespace, tag_webhook, waypoint


def with_rev(obj, rev):
    obj["metadata"]["labels"]["istio.io/rev"] = rev
    return obj


def pod(ns, name, annotations=None, containers=("app",), labels=None, phase="Running"):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": dict(labels or {}), "annotations": dict(annotations or {})},
            "spec": {"containers": [{"name": c} for c in containers]}, "status": {"phase": phase}}


def pending(ns):
    ns["metadata"]["annotations"] = {"ambient.mesh/restart-pending": "2026-11-23T10:00:00Z"}
    return ns


SIDECAR = {"sidecar.istio.io/status": "{}"}
REDIRECTED = {"ambient.istio.io/redirection": "enabled"}
DEFAULT = [istiod()]


@pytest.mark.parametrize("namespaces, gateways, pods, istiods, webhooks, expected", [
    # use-waypoint-namespace naming a namespace that does not exist
    ([ambient_namespace("hello", waypoint="shared", **{"istio.io/use-waypoint-namespace": "infra"})], [], [], DEFAULT, [],
     [("WAYPOINT_NAMESPACE_NOT_FOUND", "Namespace hello")]),
    # ... that exists but has no such waypoint: the finding of a missing Gateway
    ([ambient_namespace("hello", waypoint="shared", **{"istio.io/use-waypoint-namespace": "infra"}),
      ambient_namespace("infra")], [], [], DEFAULT, [], [("WAYPOINT_NOT_FOUND", "Namespace hello")]),
    # a waypoint of a revision no istiod serves; served through a tag; no istiod at all (the install report says so)
    ([ambient_namespace("hello")], [with_rev(waypoint("hello"), "canary")], [], DEFAULT, [],
     [("WAYPOINT_REVISION_NOT_SERVED", "Gateway hello/waypoint")]),
    ([ambient_namespace("hello")], [with_rev(waypoint("hello"), "prod")], [], DEFAULT, [tag_webhook("prod", "default")], []),
    ([ambient_namespace("hello")], [with_rev(waypoint("hello"), "canary")], [], [], [], []),
    # the namespace's revision decides for a waypoint without one (istio.io/rev on an ambient namespace also means
    # sidecar injection: SIDECAR_AND_AMBIENT)
    ([ambient_namespace("hello", **{"istio.io/rev": "old"})], [waypoint("hello")], [], DEFAULT, [],
     [("SIDECAR_AND_AMBIENT", "Namespace hello"), ("WAYPOINT_REVISION_NOT_SERVED", "Gateway hello/waypoint")]),
    ([ambient_namespace("hello", **{"istio.io/rev": "old"})], [waypoint("hello")], [], DEFAULT + [istiod("old")], [],
     [("SIDECAR_AND_AMBIENT", "Namespace hello")]),
    # a waypoint bound from a namespace not in ambient mode; use-waypoint=none is no binding
    ([namespace("legacy", **{"istio.io/use-waypoint": "waypoint"})], [waypoint("legacy")], [], DEFAULT, [],
     [("WAYPOINT_BOUND_NOT_AMBIENT", "Namespace legacy")]),
    ([namespace("legacy", **{"istio.io/use-waypoint": "none"})], [], [], DEFAULT, [], []),
    # a pending restart
    ([pending(ambient_namespace("hello"))], [], [], DEFAULT, [], [("RESTART_PENDING", "Namespace hello")]),
    # capture: a sidecar left in an ambient namespace (by annotation or by container), one finding a namespace
    ([ambient_namespace("hello")], [], [pod("hello", "a", SIDECAR), pod("hello", "b", containers=("app", "istio-proxy"))],
     DEFAULT, [], [("CAPTURE_MISMATCH", "Namespace hello")]),
    # ... not when the pod chose (dataplane-mode none) or is finished, or the namespace is a sidecar one
    ([ambient_namespace("hello")], [], [pod("hello", "a", SIDECAR, labels={"istio.io/dataplane-mode": "none"}),
                                        pod("hello", "b", SIDECAR, phase="Succeeded")], DEFAULT, [], []),
    ([namespace("side", **{"istio-injection": "enabled"})], [], [pod("side", "a", SIDECAR)], DEFAULT, [], []),
    # still redirected after the namespace left ambient mode; an ambient pod in it chose so
    ([namespace("old")], [], [pod("old", "a", REDIRECTED)], DEFAULT, [], [("CAPTURE_MISMATCH", "Namespace old")]),
    ([namespace("old")], [], [pod("old", "a", REDIRECTED, labels={"istio.io/dataplane-mode": "ambient"})], DEFAULT, [], []),
    ([ambient_namespace("hello")], [], [pod("hello", "a", REDIRECTED)], DEFAULT, [], []),
])
def test_references_and_capture(namespaces, gateways, pods, istiods, webhooks, expected):
    snapshot = Snapshot(namespaces=namespaces, gateways=gateways, pods=pods,
                        planes=control_planes(istiods, webhooks, [], []))
    assert [(f["code"], f["object"]) for f in find_misconfigurations(snapshot)] == expected


def test_nothing_read_nothing_judged():
    """Without pods or control planes read (an older caller), those findings are not looked for."""
    snapshot = Snapshot(namespaces=[ambient_namespace("hello")], gateways=[with_rev(waypoint("hello"), "canary")])
    assert find_misconfigurations(snapshot) == []
