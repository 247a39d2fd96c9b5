# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Istio's control and data plane as the API shows them (istioctl keeps no install record)."""


from ansible_collections.ambient.mesh.plugins.module_utils._istio.names import REVISION
from ansible_collections.ambient.mesh.plugins.module_utils._objects.refs import labels_of
from ansible_collections.ambient.mesh.plugins.module_utils._kube.concurrency import run_concurrently
from ansible_collections.ambient.mesh.plugins.module_utils._objects.wait import condition_state

# name -> (apiVersion, kind, label selector, required). The labels are those Istio's charts put on
# the workload itself (not on its pod template), so an install by istioctl and one by Helm are both
# found (Istio 1.30.3):
# - istiod: `app: istiod` (manifests/charts/istio-control/istio-discovery/templates/deployment.yaml);
# - ztunnel: `app.kubernetes.io/name: ztunnel` (manifests/charts/ztunnel/templates/daemonset.yaml,
#   since 1.24); `app: ztunnel` is only on the pod template and the selector;
# - istio-cni: `k8s-app: istio-cni-node` (manifests/charts/istio-cni/templates/daemonset.yaml).
ISTIO_READS = {
    "istiod": ("apps/v1", "Deployment", "app=istiod", True),
    "ztunnel": ("apps/v1", "DaemonSet", "app.kubernetes.io/name=ztunnel", True),
    "istio-cni": ("apps/v1", "DaemonSet", "k8s-app=istio-cni-node", True),
}
# istioctl's owner label (operator/pkg/manifest/name.go OperatorVersionLabel); Helm does not set it.
VERSION_LABEL = "operator.istio.io/version"
# Image variants Istio publishes: the tag is "<version>-<variant>" (operator/pkg/apis/values_types.proto
# `variant`, manifests/helm-profiles/ambient.yaml sets global.variant: distroless).
IMAGE_VARIANTS = ("distroless", "debug")


def read_lists(api, reads, concurrency=8):
    """{name: [objects]}, one concurrent LIST per entry; kinds the cluster does not serve read as []."""
    def read(name):
        api_version, kind, selector, required = reads[name]
        return api.list(api_version, kind, label_selector=selector, required=required)

    out = {}
    for name, items, error in run_concurrently(read, sorted(reads), concurrency):
        if error is not None:
            raise error
        out[name] = items
    return out


def container_env(deployment, name):
    for container in ((deployment.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []:
        for env in container.get("env") or []:
            if env.get("name") == name:
                return env.get("value")
    return None


def image_tag(workload):
    """The version in the tag of the workload's first tagged image, without an image variant suffix
    ("1.30.3-distroless" -> "1.30.3") and without a digest."""
    for container in ((workload.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []:
        image = (container.get("image") or "").split("@", 1)[0]
        if ":" in image.rsplit("/", 1)[-1]:
            tag = image.rsplit(":", 1)[1]
            for variant in IMAGE_VARIANTS:
                if tag.endswith("-" + variant):
                    return tag[:-len(variant) - 1]
            return tag
    return None


def version_of(workload):
    """istioctl's version label, else the image tag (an install by Helm has no such label)."""
    return labels_of(workload).get(VERSION_LABEL) or image_tag(workload)


def revision_of(workload):
    """The Istio revision a workload belongs to. istioctl labels everything with istio.io/rev; the
    ztunnel chart puts a revision in an istio.io/rev annotation only (templates/daemonset.yaml)."""
    annotations = (workload.get("metadata") or {}).get("annotations") or {}
    return labels_of(workload).get(REVISION) or annotations.get(REVISION) or "default"


def deployment_health(dep):
    spec, status = dep.get("spec") or {}, dep.get("status") or {}
    desired = spec.get("replicas", 1)
    ready = status.get("readyReplicas", 0) or 0
    available, _cond = condition_state(dep, "Available")
    return {"name": dep["metadata"]["name"], "namespace": dep["metadata"]["namespace"], "kind": "Deployment",
            "desired": desired, "ready_count": ready, "ready": bool(available and ready >= desired)}


def daemonset_health(ds):
    status = ds.get("status") or {}
    desired = status.get("desiredNumberScheduled", 0) or 0
    ready = status.get("numberReady", 0) or 0
    return {"name": ds["metadata"]["name"], "namespace": ds["metadata"]["namespace"], "kind": "DaemonSet",
            "desired": desired, "ready_count": ready, "ready": desired > 0 and ready >= desired}


def istio_summary(raw):
    istiods = raw["istiod"]
    if not istiods:
        return {"installed": False, "version": None, "revisions": [], "profile": None, "components": {}}
    revisions, versions, ambient = [], [], False
    for dep in istiods:
        revisions.append(revision_of(dep))
        version = version_of(dep)
        if version:
            versions.append(version)
        ambient = ambient or str(container_env(dep, "PILOT_ENABLE_AMBIENT")).lower() == "true"
    components = {"istiod": [deployment_health(d) for d in istiods],
                  "ztunnel": [daemonset_health(d) for d in raw["ztunnel"]],
                  "istio-cni": [daemonset_health(d) for d in raw["istio-cni"]]}
    profile = "ambient" if ambient and raw["ztunnel"] else "default"
    return {"installed": True, "version": sorted(set(versions))[-1] if versions else None,
            "versions": sorted(set(versions)), "revisions": sorted(set(revisions)), "profile": profile,
            "ambient_enabled": ambient, "components": components,
            "healthy": all(c["ready"] for group in components.values() for c in group) and bool(raw["ztunnel"])}
