# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Gateway API's concepts, once: its API groups, the identity of an installed bundle, a route's Service
parents (GAMMA: parentRefs of kind Service in the core group)."""


from ansible_collections.ambient.mesh.plugins.module_utils._versions import is_version, parse_version


GATEWAY_GROUPS = ("gateway.networking.k8s.io", "gateway.networking.x-k8s.io")


def bundle_identity(crds):
    """(version, channel) that a set of Gateway API CRDs carries; (None, None) when none."""
    versions, channels = set(), set()
    for crd in crds:
        annotations = (crd.get("metadata") or {}).get("annotations") or {}
        if annotations.get(VERSION_ANNOTATION):
            versions.add(annotations[VERSION_ANNOTATION])
        if annotations.get(CHANNEL_ANNOTATION):
            channels.add(annotations[CHANNEL_ANNOTATION])
    version = None
    valid = sorted((v for v in versions if is_version(v)), key=parse_version)
    if valid:
        version = valid[0]  # the oldest CRD decides what the cluster can serve
    channel = "experimental" if "experimental" in channels else (channels.pop() if channels else None)
    return version, channel


VERSION_ANNOTATION = "gateway.networking.k8s.io/bundle-version"


CHANNEL_ANNOTATION = "gateway.networking.k8s.io/channel"


def service_parents(route):
    """(namespace, name) of each Service a route names as a parent; a parentRef without namespace is in the
    route's namespace."""
    ns = route["metadata"]["namespace"]
    out = []
    for parent in (route.get("spec") or {}).get("parentRefs") or []:
        if parent.get("kind") == "Service" and parent.get("group", "") in ("", "core"):
            out.append((parent.get("namespace", ns), parent.get("name")))
    return out
