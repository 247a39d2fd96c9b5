"""The resources the test server serves: built-in kinds and CustomResourceDefinitions."""

import re
from dataclasses import dataclass, field
from typing import Any

from . import scale


@dataclass
class Resource:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool
    singular: str = ""
    short_names: list = field(default_factory=list)
    status_subresource: bool = False
    schema: dict | None = None  # openAPIV3Schema of a CRD version; None for built-ins
    crd_name: str | None = None  # set for resources that come from a CRD
    categories: list = field(default_factory=list)  # `kubectl get all` lists the "all" category

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_resource(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def verbs(self) -> list:
        return ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


# kube-apiserver's categories (pkg/registry/*/storage: Categories() returns []string{"all"})
_ALL = {"pods", "services", "deployments", "daemonsets", "statefulsets", "replicasets"}


def _builtin(group, version, plural, kind, namespaced, status=False, short=()):
    return Resource(group, version, plural, kind, namespaced, singular=kind.lower(),
                    short_names=list(short), status_subresource=status,
                    categories=["all"] if plural in _ALL else [])


BUILTINS = [
    _builtin("", "v1", "namespaces", "Namespace", False, status=True, short=["ns"]),
    _builtin("", "v1", "services", "Service", True, status=True, short=["svc"]),
    _builtin("", "v1", "pods", "Pod", True, status=True, short=["po"]),
    _builtin("", "v1", "serviceaccounts", "ServiceAccount", True, short=["sa"]),
    _builtin("", "v1", "configmaps", "ConfigMap", True, short=["cm"]),
    _builtin("", "v1", "secrets", "Secret", True),
    _builtin("apps", "v1", "deployments", "Deployment", True, status=True, short=["deploy"]),
    _builtin("apps", "v1", "daemonsets", "DaemonSet", True, status=True, short=["ds"]),
    _builtin("apps", "v1", "statefulsets", "StatefulSet", True, status=True, short=["sts"]),
    _builtin("apps", "v1", "replicasets", "ReplicaSet", True, status=True, short=["rs"]),
    _builtin("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True),
    _builtin("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition",
             False, status=True, short=["crd", "crds"]),
    _builtin("admissionregistration.k8s.io", "v1", "validatingadmissionpolicies",
             "ValidatingAdmissionPolicy", False, status=True),
    _builtin("admissionregistration.k8s.io", "v1", "validatingadmissionpolicybindings",
             "ValidatingAdmissionPolicyBinding", False),
    _builtin("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations",
             "MutatingWebhookConfiguration", False),
    _builtin("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations",
             "ValidatingWebhookConfiguration", False),
]

def _map_list(*keys, items=None):
    return {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": list(keys),
            "items": items or {}}


# Which lists of the built-in kinds are associative, for server-side apply: the `+listType=map`
# `+listMapKey=...` markers of k8s.io/api (core/v1/types.go: PodSpec.Containers, InitContainers and
# Volumes by name, Container.Ports by containerPort+protocol, Container.Env by name,
# ServiceSpec.Ports by port+protocol, conditions by type; admissionregistration/v1/types.go: webhooks
# by name). protocol is a defaulted key (TCP), as the built-in OpenAPI schema says. Lists not named
# here are atomic, as this server always treated them.
_CONDITIONS = _map_list("type")
_PROTOCOL = {"properties": {"protocol": {"type": "string", "default": "TCP"}}}
_CONTAINERS = _map_list("name", items={"properties": {"ports": _map_list("containerPort", "protocol", items=_PROTOCOL),
                                                        "env": _map_list("name")}})
_POD_SPEC = {"properties": {"containers": _CONTAINERS, "initContainers": _CONTAINERS, "volumes": _map_list("name")}}
_WORKLOAD = {"properties": {"spec": {"properties": {"template": {"properties": {"spec": _POD_SPEC}}}},
                            "status": {"properties": {"conditions": _CONDITIONS}}}}
_WEBHOOKS = {"properties": {"webhooks": _map_list("name")}}
BUILTIN_SHAPES = {
    ("", "namespaces"): {"properties": {"status": {"properties": {"conditions": _CONDITIONS}}}},
    ("", "services"): {"properties": {"spec": {"properties": {"ports": _map_list("port", "protocol", items=_PROTOCOL)}},
                                      "status": {"properties": {"conditions": _CONDITIONS}}}},
    ("", "pods"): {"properties": {"spec": _POD_SPEC, "status": {"properties": {"conditions": _CONDITIONS}}}},
    ("apps", "deployments"): _WORKLOAD,
    ("apps", "daemonsets"): _WORKLOAD,
    ("apps", "statefulsets"): _WORKLOAD,
    ("apps", "replicasets"): _WORKLOAD,
    ("admissionregistration.k8s.io", "mutatingwebhookconfigurations"): _WEBHOOKS,
    ("admissionregistration.k8s.io", "validatingwebhookconfigurations"): _WEBHOOKS,
}

_VERSION_RE = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple:
    """kube-apiserver's version order: GA > beta > alpha, higher numbers first; others last."""
    m = _VERSION_RE.match(version)
    if not m:
        return (0, 0, 0, version)
    major, stage, minor = int(m.group(1)), m.group(2), int(m.group(3) or 0)
    rank = {None: 3, "beta": 2, "alpha": 1}[stage]
    return (rank, major, minor, "")


def resources_from_crd(crd: dict) -> list:
    """One Resource per served version of a CRD."""
    spec = crd.get("spec", {})
    names = spec.get("names", {})
    subresources_default = spec.get("subresources") or {}
    out = []
    for ver in spec.get("versions", []):
        if not ver.get("served", True):
            continue
        subresources = ver.get("subresources", subresources_default) or {}
        out.append(Resource(
            group=spec["group"],
            version=ver["name"],
            plural=names["plural"],
            kind=names["kind"],
            namespaced=spec.get("scope") == "Namespaced",
            singular=names.get("singular", names["kind"].lower()),
            short_names=list(names.get("shortNames", [])),
            status_subresource="status" in subresources,
            schema=(ver.get("schema") or {}).get("openAPIV3Schema"),
            crd_name=crd["metadata"]["name"],
            categories=list(names.get("categories", [])),
        ))
    return out


class Catalog:
    """Every served group/version/resource; CRDs come and go at run time."""

    def __init__(self) -> None:
        self._by_gvr: dict[tuple, Resource] = {}
        for res in BUILTINS:
            self.add(res)

    def add(self, res: Resource) -> None:
        self._by_gvr[(res.group, res.version, res.plural)] = res

    def set_crd(self, crd: dict) -> None:
        self.drop_crd(crd["metadata"]["name"])
        for res in resources_from_crd(crd):
            self.add(res)

    def drop_crd(self, crd_name: str) -> None:
        for key in [k for k, r in self._by_gvr.items() if r.crd_name == crd_name]:
            del self._by_gvr[key]

    def get(self, group: str, version: str, plural: str) -> Resource | None:
        return self._by_gvr.get((group, version, plural))

    def by_kind(self, api_version: str, kind: str) -> Resource | None:
        for res in self._by_gvr.values():
            if res.api_version == api_version and res.kind == kind:
                return res
        return None

    def groups(self) -> dict[str, list[str]]:
        """group -> versions, preferred first."""
        out: dict[str, set] = {}
        for res in self._by_gvr.values():
            out.setdefault(res.group, set()).add(res.version)
        return {g: sorted(v, key=version_priority, reverse=True) for g, v in out.items()}

    def in_group_version(self, group: str, version: str) -> list[Resource]:
        return [r for r in self._by_gvr.values() if r.group == group and r.version == version]

    def shape(self, res: Resource) -> dict | None:
        """The schema that says which lists are associative: the CRD's, or the built-in's."""
        if res.crd_name:
            return self.storage_schema(res.group, res.plural)
        return BUILTIN_SHAPES.get((res.group, res.plural))

    def storage_schema(self, group: str, plural: str) -> dict | None:
        for res in self._by_gvr.values():
            if res.group == group and res.plural == plural and res.schema is not None:
                return res.schema
        return None


# Subresources served besides status, as kube-apiserver's discovery lists them (pkg/registry/core/pod/storage:
# the exec REST's New() is a Pod but its kind in discovery is the connect options' kind, PodExecOptions,
# with the verbs of a connecter whose methods are GET and POST)
CONNECT_SUBRESOURCES = {("", "pods"): [{"name": "pods/exec", "kind": "PodExecOptions", "verbs": ["create", "get"]}]}


def discovery_entry(res: Resource) -> list[dict[str, Any]]:
    entry = {
        "name": res.plural,
        "singularName": res.singular,
        "namespaced": res.namespaced,
        "kind": res.kind,
        "verbs": res.verbs,
    }
    if res.short_names:
        entry["shortNames"] = res.short_names
    if res.categories:
        entry["categories"] = res.categories
    out = [entry]
    for sub in [] if res.crd_name else CONNECT_SUBRESOURCES.get((res.group, res.plural), []):
        out.append({"name": sub["name"], "singularName": "", "namespaced": res.namespaced, "kind": sub["kind"],
                    "verbs": sub["verbs"]})
    if scale.served(res):
        out.append(scale.discovery_entry(res))
    if res.status_subresource:
        out.append({"name": f"{res.plural}/status", "singularName": "", "namespaced": res.namespaced,
                    "kind": res.kind, "verbs": ["get", "patch", "update"]})
    return sorted(out, key=lambda e: e["name"])
