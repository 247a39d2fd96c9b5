# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which istiod programs a waypoint: the revisions, tags and default revision of a cluster (pure functions),
for the waypoint module's refusal and mesh_info's finding alike."""


from ansible_collections.ambient.mesh.plugins.module_utils._istio.names import (
    DEFAULT_TAG_WEBHOOK,
    ISTIOD_SELECTOR,
    REVISION,
    TAG,
)
from ansible_collections.ambient.mesh.plugins.module_utils._objects.refs import labels_of


def control_planes(istiods, webhooks, tag_services, validators):
    """{revision: {"namespaces", "tags"}}, the default revision and whether a `default` tag exists, as
    istiod's tag watcher sees them (Istio 1.30.3 pkg/revisions/tag_watcher.go, GetMyTags): an istiod
    answers to its revision (its Deployment's istio.io/rev, `default` without one), to every tag whose
    MutatingWebhookConfiguration carries istio.io/tag and istio.io/rev=<revision>, and to every tag
    Service (istio.io/tag, istio.io/rev) in its own namespace."""
    revisions = {}
    for dep in istiods:
        rev = labels_of(dep).get(REVISION, "default")
        entry = revisions.setdefault(rev, {"namespaces": set(), "tags": set([rev])})
        entry["namespaces"].add(dep["metadata"]["namespace"])
    for obj in list(webhooks) + list(tag_services):
        lbl = labels_of(obj)
        entry = revisions.get(lbl.get(REVISION))
        if entry is None or TAG not in lbl:
            continue
        if obj["kind"] == "Service" and obj["metadata"]["namespace"] not in entry["namespaces"]:
            continue
        entry["tags"].add(lbl[TAG])
    default_revision = None
    for validator in validators:
        default_revision = labels_of(validator).get(REVISION)
    default_tag = any(w["metadata"]["name"] == DEFAULT_TAG_WEBHOOK for w in webhooks)
    return {"revisions": revisions, "default_revision": default_revision, "default_tag": default_tag}


def serving_revisions(planes, selected):
    """The revisions whose istiod programs a Gateway that selects `selected` ("" when neither the Gateway
    nor its namespace carries istio.io/rev), as tagWatcher.IsMine decides (pkg/revisions/tag_watcher.go)."""
    out = []
    for rev, entry in sorted(planes["revisions"].items()):
        tags = entry["tags"]
        if selected in tags or (not selected and ("default" in tags or (
                planes["default_revision"] == rev and not planes["default_tag"]))):
            out.append(rev)
    return out


def describe_planes(planes):
    if not planes["revisions"]:
        return "no istiod runs in the cluster (no Deployment labelled %s)" % ISTIOD_SELECTOR
    parts = []
    for rev, entry in sorted(planes["revisions"].items()):
        tags = sorted(entry["tags"] - set([rev]))
        parts.append(rev + (" (tags: %s)" % ", ".join(tags) if tags else ""))
    return "istiod revisions: %s" % ", ".join(parts)
