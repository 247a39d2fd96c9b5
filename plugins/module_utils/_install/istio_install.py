# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""istio_install: detect the live install from the API, plan, run istioctl only when needed, wait."""


import hashlib
import json

from ansible_collections.ambient.mesh.plugins.module_utils._objects.diff import diff_entry, module_diff
from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError
from ansible_collections.ambient.mesh.plugins.module_utils._istio.names import DATAPLANE_MODE, INJECTION, REVISION, is_waypoint
from ansible_collections.ambient.mesh.plugins.module_utils._objects.refs import labels_of
from ansible_collections.ambient.mesh.plugins.module_utils._istio.state import (
    ISTIO_READS,
    container_env,
    daemonset_health,
    deployment_health,
    read_lists,
    revision_of,
    version_of,
)
from ansible_collections.ambient.mesh.plugins.module_utils._istio.istioctl import install_arguments, normalize_version
from ansible_collections.ambient.mesh.plugins.module_utils._objects.wait import wait_for

CONFIG_ANNOTATION = "ambient.mesh/install-config"
PROFILE = "ambient"
TAG = "istio.io/tag"
READS = dict(ISTIO_READS, tags=("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", TAG, True))
# What `istioctl uninstall --revision R` deletes (Istio 1.30.3 operator/cmd/mesh/uninstall.go runUninstall ->
# operator/pkg/uninstall/prune.go GetPrunedResources): every object labelled istio.io/rev=R and
# install.operator.istio.io/owning-resource-namespace=<the IstioOperator's namespace: istio-system from
# manifests/profiles/default.yaml, as no file is passed> whose operator.istio.io/component is one of these.
# istioctl install labels ztunnel and istio-cni with the revision of the *last* install
# (operator/pkg/install/install.go getOwnerLabels).
COMPONENT_LABEL = "operator.istio.io/component"
OWNER_NAMESPACE_LABEL = "install.operator.istio.io/owning-resource-namespace"
PRUNED_COMPONENTS = ("Pilot", "IngressGateways", "EgressGateways", "Cni", "Ztunnel")
ISTIO_NAMESPACE = "istio-system"


def pruned_by_revision_uninstall(obj, revision):
    """Whether `istioctl uninstall --revision <revision>` deletes this object (see PRUNED_COMPONENTS)."""
    lbl = labels_of(obj)
    return (lbl.get(REVISION) == revision and lbl.get(OWNER_NAMESPACE_LABEL) == ISTIO_NAMESPACE
            and lbl.get(COMPONENT_LABEL) in PRUNED_COMPONENTS)


def read_install(api, concurrency=8):
    """What is installed, per revision, plus the shared data plane and the revision tags."""
    raw = read_lists(api, READS, concurrency)
    revisions = {}
    for dep in raw["istiod"]:
        revisions[revision_of(dep)] = {
            "name": dep["metadata"]["name"], "namespace": dep["metadata"]["namespace"],
            "version": version_of(dep),
            "ambient": str(container_env(dep, "PILOT_ENABLE_AMBIENT")).lower() == "true",
            "config": ((dep["metadata"].get("annotations") or {}).get(CONFIG_ANNOTATION)),
            "health": deployment_health(dep),
        }
    tags = dict((labels_of(h)[TAG], labels_of(h).get(REVISION)) for h in raw["tags"])
    # the shared data plane, with the labels that decide what a revision's uninstall deletes
    dataplane = [{"component": name, "ref": "%s %s/%s" % (name, d["metadata"]["namespace"], d["metadata"]["name"]),
                  "revision": revision_of(d), "metadata": {"labels": labels_of(d)}}
                 for name in ("ztunnel", "istio-cni") for d in raw[name]]
    return {"revisions": revisions, "ztunnel": [daemonset_health(d) for d in raw["ztunnel"]],
            "istio-cni": [daemonset_health(d) for d in raw["istio-cni"]], "tags": tags, "dataplane": dataplane}


def config_digest(revision, set_values, values_files):
    """A digest of what selects the install's configuration (the version is compared on its own)."""
    files = []
    for path in values_files or []:
        try:
            with open(path, "rb") as handle:
                files.append(hashlib.sha256(handle.read()).hexdigest())
        except (IOError, OSError) as exc:
            raise AmbientMeshError("cannot read values file %s: %s" % (path, exc))
    body = {"profile": PROFILE, "revision": revision, "set": set_values or {}, "files": files}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode("utf-8")).hexdigest()[:32]


def tags_of(live, revision):
    return sorted(t for t, rev in live["tags"].items() if rev == revision)


def view(live, revision):
    """What diff mode shows of an install."""
    current = live["revisions"].get(revision)
    if current is None:
        return {}
    return {"version": current["version"], "revision": revision,
            "profile": PROFILE if current["ambient"] and live["ztunnel"] else "default",
            "components": {"istiod": current["name"], "ztunnel": bool(live["ztunnel"]),
                           "istio-cni": bool(live["istio-cni"])},
            "settings": current["config"], "tags": tags_of(live, revision)}


def install_diff(revision, before, after):
    """The module's diff: one entry for the install, since istioctl does not apply objects one by one."""
    return module_diff([diff_entry(before, after, header="Istio install (revision %s)" % revision)])


def plan_install(live, revision, version, digest):
    """(action, reason): install, upgrade, reconfigure or None."""
    current = live["revisions"].get(revision)
    if current is None:
        return "install", "no istiod of revision %s is installed" % revision
    if current["version"] != version:
        return "upgrade", "upgrade revision %s from %s to %s" % (revision, current["version"], version)
    if not current["ambient"] or not live["ztunnel"] or not live["istio-cni"]:
        return "reconfigure", "revision %s is not the ambient profile (ztunnel, istio-cni, ambient istiod)" % revision
    if current["config"] != digest:
        return "reconfigure", "the settings (set, values files) differ from the last install"
    return None, "revision %s %s is installed as asked" % (revision, version)


def not_ready(live, revision):
    """Components not ready, as 'name ready/desired' strings."""
    out = []
    current = live["revisions"].get(revision)
    if current is None:
        out.append("istiod (revision %s) missing" % revision)
    elif not current["health"]["ready"]:
        h = current["health"]
        out.append("istiod %s/%s %d/%d ready" % (h["namespace"], h["name"], h["ready_count"], h["desired"]))
    for name in ("ztunnel", "istio-cni"):
        if not live[name]:
            out.append("%s missing" % name)
        for h in live[name]:
            if not h["ready"]:
                out.append("%s %s/%s %d/%d ready" % (name, h["namespace"], h["name"], h["ready_count"], h["desired"]))
    return out


def wait_ready(api, revision, timeout, concurrency):
    def predicate(live):
        pending = not_ready(live, revision)
        return not pending, ", ".join(pending)

    return wait_for(lambda: read_install(api, concurrency), predicate, timeout,
                    "istiod, ztunnel and istio-cni of revision %s to be ready" % revision, interval=1.0)


def enrolled(api):
    """Namespaces still in the mesh and waypoints still deployed (what an uninstall would strand)."""
    names = []
    for ns in api.list("v1", "Namespace"):
        lbl = labels_of(ns)
        if lbl.get(DATAPLANE_MODE) == "ambient" or lbl.get(INJECTION) == "enabled" or REVISION in lbl:
            names.append("namespace %s" % ns["metadata"]["name"])
    for gw in api.list("gateway.networking.k8s.io/v1", "Gateway", required=False):
        if is_waypoint(gw):
            names.append("waypoint %s/%s" % (gw["metadata"]["namespace"], gw["metadata"]["name"]))
    return names


def ensure_present(api, istioctl, params, check_mode):
    client_version = istioctl.client_version()
    version = normalize_version(params.get("version") or client_version)
    if version != client_version:
        raise AmbientMeshError("istioctl at %s is version %s, but version %s was asked for: use the istioctl of %s "
                               "(istioctl_path) or change version" % (istioctl.path, client_version, version, version),
                               istioctl_version=client_version, version=version)
    revision = params.get("revision") or "default"
    digest = config_digest(revision, params.get("set"), params.get("values_files"))
    install_args = install_arguments(PROFILE, revision, params.get("set"), params.get("values_files"))

    if params.get("precheck"):
        problems = [m for m in istioctl.precheck() if str(m.get("level", "")).lower() in ("warning", "error")]
        if problems:
            raise AmbientMeshError("istioctl x precheck found %d issue(s): %s" % (len(problems), "; ".join(
                "%s %s %s%s" % (m.get("level"), m.get("code"), m.get("message"),
                                " (%s)" % m["origin"] if m.get("origin") else "") for m in problems)),
                precheck=problems)

    before = read_install(api, params["concurrency"])
    action, reason = plan_install(before, revision, version, digest)
    tag = params.get("tag")
    tag_change = bool(tag) and before["tags"].get(tag) != revision
    result = {"action": action, "reason": reason, "version": {"before": (before["revisions"].get(revision) or {}).get(
        "version"), "after": version}, "revision": revision, "tag": tag,
        "tag_moved": {"from": before["tags"].get(tag), "to": revision} if tag_change else None}
    after_view = dict(view(before, revision)) if not action else {
        "version": version, "revision": revision, "profile": PROFILE,
        "components": {"istiod": "istiod" if revision == "default" else "istiod-%s" % revision,
                       "ztunnel": True, "istio-cni": True}, "settings": digest,
        "tags": tags_of(before, revision)}
    if tag_change:
        after_view["tags"] = sorted(set(after_view["tags"]) | set([tag]))
    result["diff"] = install_diff(revision, view(before, revision), after_view)
    result["changed"] = bool(action) or tag_change

    if check_mode:
        if action:
            istioctl.manifest_generate(install_args)  # validates the settings, changes nothing
        return result
    changes = []
    try:
        apply_and_wait(api, istioctl, params, result, changes, install_args, digest)
    except AmbientMeshError as exc:
        if changes:  # what ran before the failure changed (or may have changed) the cluster: say so
            exc.details.update(changed=True, changes=changes, action=action, revision=revision)
            exc.msg = "%s (before this failure: %s)" % (exc.msg, "; ".join(changes))
        raise
    return result


def apply_and_wait(api, istioctl, params, result, changes, install_args, digest):
    """The changing part of ensure_present; each step that may have changed the cluster is added to changes
    before it runs, so a failure part way still reports it."""
    action, revision, tag = result["action"], result["revision"], result["tag"]
    if action:
        changes.append("istioctl install was started (%s: %s)" % (action, result["reason"]))
        istioctl.install(install_args)
    if result["tag_moved"]:
        changes.append("istioctl tag set %s --revision %s was started" % (tag, revision))
        istioctl.tag_set(tag, revision)
        check_tag(api, tag, revision)
    if action or params["wait"]:
        live = wait_ready(api, revision, params["wait_timeout"], params["concurrency"]) if params["wait"] \
            else read_install(api, params["concurrency"])
        current = live["revisions"].get(revision)
        if current is None:
            raise AmbientMeshError("istioctl install finished but no istiod of revision %s exists" % revision)
        if current["config"] != digest:
            changes.append("the settings digest recorded on istiod %s/%s" % (current["namespace"], current["name"]))
            api.patch("apps/v1", "Deployment", current["name"], {"metadata": {"annotations": {CONFIG_ANNOTATION: digest}}},
                      namespace=current["namespace"])
        result["components"] = components_summary(live, revision)


def check_tag(api, tag, revision):
    """Read the tag's webhooks back: istioctl tag set can end without moving the tag (Istio 1.30.3
    istioctl/pkg/tag/tag.go setTag: a webhook conflict it is not told to skip returns without applying)."""
    hooks = api.list("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", label_selector="%s=%s" % (TAG, tag))
    wrong = ["%s (istio.io/rev=%s)" % (h["metadata"]["name"], labels_of(h).get(REVISION)) for h in hooks
             if labels_of(h).get(REVISION) != revision]
    if not hooks or wrong:
        raise AmbientMeshError(
            "istioctl tag set %s --revision %s finished, but the tag does not point at revision %s: %s; look at "
            "istioctl's output (stdout, stderr) and the MutatingWebhookConfigurations labelled %s=%s, then run again"
            % (tag, revision, revision, ", ".join(wrong) if wrong else "no MutatingWebhookConfiguration is labelled "
               "%s=%s" % (TAG, tag), TAG, tag), tag=tag, revision=revision, webhooks=wrong)


def components_summary(live, revision):
    current = live["revisions"].get(revision)
    out = []
    if current:
        out.append(dict(current["health"], component="istiod", version=current["version"]))
    for name in ("ztunnel", "istio-cni"):
        out += [dict(h, component=name) for h in live[name]]
    return out


def ensure_absent(api, istioctl, params, check_mode):
    revision = params.get("revision") or "default"
    purge = params.get("purge")
    before = read_install(api, params["concurrency"])
    present = bool(before["revisions"]) if purge else revision in before["revisions"]
    if purge and (before["ztunnel"] or before["istio-cni"] or before["tags"]):
        present = True
    result = {"action": "uninstall" if present else None, "revision": revision, "purge": purge,
              "version": {"before": (before["revisions"].get(revision) or {}).get("version"), "after": None},
              "diff": install_diff(revision, view(before, revision), {}), "changed": present}
    if not present:
        result["reason"] = "nothing of revision %s is installed" % revision if not purge else "Istio is not installed"
        return result
    stranded = enrolled(api)
    if stranded and not params.get("force"):
        raise AmbientMeshError(
            "refusing to uninstall Istio while it still serves: %s; unenroll them first (remove "
            "istio.io/use-waypoint, delete the waypoints, remove istio.io/dataplane-mode) or set force: true"
            % ", ".join(stranded), enrolled=stranded)
    pruned = [d["ref"] for d in before["dataplane"] if purge or pruned_by_revision_uninstall(d, revision)]
    if not purge:
        refuse_dataplane_loss(before, revision, pruned)
    result["reason"] = "uninstall %s" % ("everything (purge)" if purge else "revision %s" % revision)
    if check_mode:
        return result
    try:
        istioctl.uninstall(revision=revision, purge=purge)
        if params["wait"]:
            # istioctl deletes ztunnel and istio-cni when they carry the revision; their pods take a while
            wait_removed(api, None if purge else revision, bool(pruned), params["wait_timeout"], params["concurrency"])
    except AmbientMeshError as exc:
        change = "istioctl uninstall was started (%s)" % result["reason"]
        exc.details.update(changed=True, changes=[change], action="uninstall", revision=revision)
        exc.msg = "%s (before this failure: %s)" % (exc.msg, change)
        raise
    return result


def refuse_dataplane_loss(live, revision, pruned):
    """Refuse a revision's uninstall that would delete ztunnel or istio-cni while another istiod stays."""
    survivors = sorted(set(live["revisions"]) - set([revision]))
    if not pruned or not survivors:
        return
    keep = survivors[-1]
    command = " ".join(["istioctl", "install", "-y"] + install_arguments(PROFILE, keep, None, None))
    raise AmbientMeshError(
        "refusing to uninstall revision %s: `istioctl uninstall --revision %s` would also delete %s, which carry "
        "istio.io/rev=%s from the last install, while istiod of revision %s stays: every ambient pod would lose its "
        "data plane. First move ztunnel and istio-cni to a revision that stays: run `%s` with the istioctl of its "
        "version (%s) and the settings it was installed with, then uninstall revision %s again; or remove Istio "
        "entirely with purge: true" % (revision, revision, " and ".join(pruned), revision, ", ".join(survivors),
                                       command, live["revisions"][keep]["version"], revision),
        dataplane=pruned, surviving_revisions=survivors)


def still_there(live, revision, data_plane):
    """What an uninstall removes that the API still shows: 'istiod istio-system/istiod', ..."""
    out = ["istiod %s/%s" % (r["namespace"], r["name"]) for rev, r in sorted(live["revisions"].items())
           if revision is None or rev == revision]
    if data_plane:
        out += ["%s %s/%s" % (name, h["namespace"], h["name"]) for name in ("ztunnel", "istio-cni") for h in live[name]]
    return out


def wait_removed(api, revision, data_plane, timeout, concurrency):
    """Until istiod of the revision (every revision: None), and with data_plane ztunnel and istio-cni, are gone."""
    def predicate(live):
        left = still_there(live, revision, data_plane)
        return not left, "still there: %s" % ", ".join(left)

    what = "Istio to be removed" if revision is None else "Istio revision %s to be removed" % revision
    wait_for(lambda: read_install(api, concurrency), predicate, timeout, what, interval=1.0)


def run(api, istioctl, params, check_mode):
    if params["state"] == "absent":
        return ensure_absent(api, istioctl, params, check_mode)
    return ensure_present(api, istioctl, params, check_mode)
