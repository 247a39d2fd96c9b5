# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""waypoint: the Gateways `istioctl waypoint apply` makes, their bindings, and the proof they work."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ambient.mesh.plugins.module_utils._apply import apply_objects, diff_entries, summarize
from ansible_collections.ambient.mesh.plugins.module_utils._diff import diff_entry, module_diff
from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError
from ansible_collections.ambient.mesh.plugins.module_utils._istio_names import (
    DEFAULT_TAG_WEBHOOK,
    DEFAULT_VALIDATOR,
    ISTIOD_SELECTOR,
    REVISION,
    SERVES,
    TAG,
    USE_WAYPOINT,
    USE_WAYPOINT_NAMESPACE,
    WAYPOINT_CLASS,
    WAYPOINT_FOR,
    istiod_skips_service,
    labels_of,
    ref_of,
)
from ansible_collections.ambient.mesh.plugins.module_utils._labels import (
    apply_labels,
    labels_patch,
    patch_all,
    valid_dns_label,
)
from ansible_collections.ambient.mesh.plugins.module_utils._results import shape_results
from ansible_collections.ambient.mesh.plugins.module_utils._wait import condition_state, describe, wait_for

GATEWAY = ("gateway.networking.k8s.io/v1", "Gateway")
BOUND = "istio.io/WaypointBound"
FIXES = {
    "WaypointIsNotReady": "the waypoint is missing or not Programmed yet: check its Deployment and that istiod runs",
    "AttachmentDenied": "the waypoint does not accept bindings from this namespace: set allowed_namespaces: all "
                        "on the waypoint",
    "UnsupportedTrafficType": "the waypoint's istio.io/waypoint-for does not include service traffic: use for: "
                              "service or all",
}


def normalize(items):
    out, problems, seen = [], [], set()
    for index, item in enumerate(items or []):
        spec = dict(item)
        ref = "%s/%s" % (spec.get("namespace"), spec.get("name"))
        where = "waypoint %d (%s)" % (index, ref)
        if spec["name"] == "none":
            problems.append("%s: the name none is reserved (use-waypoint=none means no waypoint)" % where)
        elif not valid_dns_label(spec["name"]):
            problems.append("%s: %r is not a valid name" % (where, spec["name"]))
        if not valid_dns_label(spec.get("namespace")):
            problems.append("%s: namespace is required" % where)
        if ref in seen:
            problems.append("%s is listed twice" % ref)
        seen.add(ref)
        targets = []
        if spec.get("enroll_namespace"):
            targets.append(("Namespace", spec["namespace"], None))
        for svc in spec.get("enroll_services") or []:
            targets.append(("Service", svc, spec["namespace"]))
        for other in spec.get("enroll_namespaces") or []:
            targets.append(("Namespace", other, None))
        for target in targets:
            if spec["waypoint_for"] not in SERVES[target[0]]:
                problems.append("%s is for %s traffic and cannot serve %s %s: use for: %s"
                                % (where, spec["waypoint_for"], target[0], target[1], " or ".join(SERVES[target[0]])))
        spec["targets"] = targets
        out.append(spec)
    if problems:
        raise AmbientMeshError("invalid waypoints: " + "; ".join(problems), problems=problems)
    return out


def gateway_for(spec):
    """The Gateway `istioctl waypoint apply --for <type>` makes for this waypoint.

    istio.io/waypoint-for is always written, `service` included (istioctl writes it whenever --for is
    given): a value someone else set, such as a stale `workload`, then is a server-side apply conflict
    that names its owner, instead of an UnsupportedTrafficType found only after the wait."""
    labels = {WAYPOINT_FOR: spec["waypoint_for"]}
    if spec.get("revision"):
        labels[REVISION] = spec["revision"]
    listener = {"name": "mesh", "port": 15008, "protocol": "HBONE"}
    allowed = spec.get("allowed_namespaces") or "auto"
    if allowed == "all" or (allowed == "auto" and any(t[0] == "Namespace" and t[1] != spec["namespace"]
                                                      for t in spec["targets"])):
        listener["allowedRoutes"] = {"namespaces": {"from": "All"}}
    gateway = {"apiVersion": GATEWAY[0], "kind": GATEWAY[1],
               "metadata": {"name": spec["name"], "namespace": spec["namespace"]},
               "spec": {"gatewayClassName": WAYPOINT_CLASS, "listeners": [listener]}}
    gateway["metadata"]["labels"] = labels
    return gateway


def binding_labels(spec, target_namespace):
    wanted = {USE_WAYPOINT: spec["name"], USE_WAYPOINT_NAMESPACE: None}
    if target_namespace != spec["namespace"]:
        wanted[USE_WAYPOINT_NAMESPACE] = spec["namespace"]
    return wanted


def _bound_to(obj, own_namespace):
    lbl = labels_of(obj)
    if USE_WAYPOINT not in lbl:
        return None
    return (lbl.get(USE_WAYPOINT_NAMESPACE, own_namespace), lbl[USE_WAYPOINT])


def read_targets(api):
    """Live namespaces and Services (one LIST each) by key."""
    namespaces = dict((n["metadata"]["name"], n) for n in api.list("v1", "Namespace"))
    services = dict(((s["metadata"]["namespace"], s["metadata"]["name"]), s) for s in api.list("v1", "Service"))
    return namespaces, services


def read_control_planes(api, services):
    """The istiods and the names they answer to: istiod Deployments, tag webhooks and tag Services
    (the Services come from the LIST read_targets made), and the default-revision validator."""
    istiods = api.list("apps/v1", "Deployment", label_selector=ISTIOD_SELECTOR)
    webhooks = api.list("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", label_selector=TAG,
                        required=False)
    validators = [v for v in api.list("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration",
                                      required=False) if v["metadata"]["name"] == DEFAULT_VALIDATOR]
    tag_services = [s for s in services.values() if TAG in labels_of(s)]
    return control_planes(istiods, webhooks, tag_services, validators)


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


def _describe_planes(planes):
    if not planes["revisions"]:
        return "no istiod runs in the cluster (no Deployment labelled %s)" % ISTIOD_SELECTOR
    parts = []
    for rev, entry in sorted(planes["revisions"].items()):
        tags = sorted(entry["tags"] - set([rev]))
        parts.append(rev + (" (tags: %s)" % ", ".join(tags) if tags else ""))
    return "istiod revisions: %s" % ", ".join(parts)


def revision_problems(specs, namespaces, planes):
    """A waypoint no istiod will program never becomes Programmed: istiod's deployment controller skips
    Gateways of other revisions (pilot/pkg/config/kube/gatewaycommon/deploymentcontroller.go, Reconcile:
    "gateway is not for this revision, skipping"). Checked before any change."""
    problems = []
    for spec in specs:
        if spec["state"] != "present" or spec["namespace"] not in namespaces:
            continue  # a missing namespace is reported by plan_bindings
        ns_rev = labels_of(namespaces.get(spec["namespace"]) or {}).get(REVISION)
        if spec.get("revision"):
            selected, source = spec["revision"], "revision %s" % spec["revision"]
        elif ns_rev:
            selected, source = ns_rev, "revision %s (from namespace %s's label %s, as the waypoint sets none)" % (
                ns_rev, spec["namespace"], REVISION)
        else:
            selected, source = "", "the default revision"
        if serving_revisions(planes, selected):
            continue
        problems.append("waypoint %s/%s is for %s, which no istiod serves, so it would never be Programmed (%s); "
                        "set revision: to one of them or to a tag pointing at one"
                        % (spec["namespace"], spec["name"], source, _describe_planes(planes)))
    return problems


def plan_bindings(specs, namespaces, services, overwrite):
    """[(apiVersion, kind, namespace, name, patch)] and the problems that stop the run."""
    edits, problems = [], []
    for spec in specs:
        if spec["state"] != "present":
            continue
        if spec["namespace"] not in namespaces:
            problems.append("namespace %s does not exist" % spec["namespace"])
            continue
        for kind, name, namespace in spec["targets"]:
            obj = namespaces.get(name) if kind == "Namespace" else services.get((namespace, name))
            if obj is None:
                problems.append("%s does not exist" % ref_of(kind, namespace, name))
                continue
            if kind == "Service" and (obj.get("spec") or {}).get("type") == "ExternalName":
                problems.append("%s is an ExternalName Service: istiod binds no waypoint to it (its traffic goes by "
                                "DNS to %s); remove it from enroll_services"
                                % (ref_of(kind, namespace, name), (obj.get("spec") or {}).get("externalName")))
                continue
            own_ns = name if kind == "Namespace" else namespace
            current = _bound_to(obj, own_ns)
            if current is not None and current != (spec["namespace"], spec["name"]) and not overwrite:
                problems.append("%s %s already uses waypoint %s/%s: set overwrite: true to rebind it"
                                % (kind, name, current[0], current[1]))
                continue
            patch = labels_patch(labels_of(obj), binding_labels(spec, own_ns))
            if patch:
                edits.append(("v1", kind, namespace, name, patch))
    return edits, problems


def unbind_edits(specs, namespaces, services):
    """Label removals for everything bound to waypoints that are going away."""
    leaving = set((s["namespace"], s["name"]) for s in specs if s["state"] == "absent")
    unbind = {"metadata": {"labels": {USE_WAYPOINT: None, USE_WAYPOINT_NAMESPACE: None}}}
    edits = []
    for name, ns in sorted(namespaces.items()):
        if _bound_to(ns, name) in leaving:
            edits.append(("v1", "Namespace", None, name, unbind))
    for (namespace, name), svc in sorted(services.items()):
        if _bound_to(svc, namespace) in leaving:
            edits.append(("v1", "Service", namespace, name, unbind))
    return edits


def services_after(services, edits):
    """The Services as the binding edits leave them (no need to read them again)."""
    out = dict(services)
    for _api_version, kind, namespace, name, patch in edits:
        if kind == "Service":
            svc = dict(out[(namespace, name)])
            svc["metadata"] = dict(svc["metadata"], labels=apply_labels(labels_of(svc), patch))
            out[(namespace, name)] = svc
    return out


def services_to_prove(specs, services):
    """(namespace, name) of every Service that should end up bound, with its waypoint."""
    out = {}
    for spec in specs:
        if spec["state"] != "present" or spec["waypoint_for"] not in SERVES["Service"]:
            continue  # a workload-only waypoint binds no Service
        for kind, name, namespace in spec["targets"]:
            if kind == "Service":
                out[(namespace, name)] = (spec["namespace"], spec["name"])
                continue
            for (svc_ns, svc_name), svc in services.items():
                lbl = labels_of(svc)
                if svc_ns != name or istiod_skips_service(svc):
                    continue  # istiod never reports WaypointBound on it: nothing to wait for
                if USE_WAYPOINT in lbl and _bound_to(svc, svc_ns) != (spec["namespace"], spec["name"]):
                    continue  # the Service chose another waypoint (or none) for itself
                out.setdefault((svc_ns, svc_name), (spec["namespace"], spec["name"]))
    return out


def _bound_problem(service, waypoint):
    met, cond = condition_state(service or {}, BOUND)
    if met:
        return None
    meta = service["metadata"]
    text = "%s (waypoint %s/%s): %s" % (ref_of("Service", meta["namespace"], meta["name"]), waypoint[0], waypoint[1],
                                        describe(cond))
    if cond is not None and cond.get("reason") in FIXES:
        text += " - fix: " + FIXES[cond["reason"]]
    elif cond is None:
        text += " - istiod has not reported it; is istiod running?"
    return text


def wait_working(api, specs, expected, timeout):
    """Programmed on every Gateway and WaypointBound on every expected Service, read by LIST."""
    present = [s for s in specs if s["state"] == "present"]

    def read():
        gateways = dict(((g["metadata"]["namespace"], g["metadata"]["name"]), g) for g in api.list(*GATEWAY))
        services = dict(((s["metadata"]["namespace"], s["metadata"]["name"]), s)
                        for s in api.list("v1", "Service")) if expected else {}
        return gateways, services

    def predicate(state):
        gateways, services = state
        pending = []
        for spec in present:
            met, cond = condition_state(gateways.get((spec["namespace"], spec["name"])) or {}, "Programmed")
            if not met:
                pending.append("%s: %s" % (ref_of(GATEWAY[1], spec["namespace"], spec["name"]), describe(cond)))
        for key, waypoint in sorted(expected.items()):
            problem = _bound_problem(services.get(key) or {"metadata": {"namespace": key[0], "name": key[1]}},
                                     waypoint)
            if problem:
                pending.append(problem)
        return not pending, "; ".join(pending)

    wait_for(read, predicate, timeout, "the waypoints to be Programmed and their Services bound", interval=1.0)


def _edit_entries(answers, namespaces, services):
    """Diff entries of label edits: each object as read, and as the server returned it after the patch."""
    out = []
    for (_api_version, kind, namespace, name, _patch), answer, error in answers:
        if error is None:
            before = namespaces.get(name) if kind == "Namespace" else services.get((namespace, name))
            out.append(diff_entry(before, answer))
    return out


def run(api, params, check_mode):
    specs = normalize(params["waypoints"])
    namespaces, services = read_targets(api)
    edits, problems = plan_bindings(specs, namespaces, services, params["overwrite"])
    if any(s["state"] == "present" for s in specs):
        problems += revision_problems(specs, namespaces, read_control_planes(api, services))
    if problems:
        raise AmbientMeshError("cannot bind waypoints: " + "; ".join(problems), problems=problems)

    present = [gateway_for(s) for s in specs if s["state"] == "present"]
    results = apply_objects(api, present, check_mode=check_mode, force=params["force_conflicts"],
                            concurrency=params["concurrency"]) if present else []
    diff = diff_entries(results)
    answers = patch_all(api, edits, check_mode, params["concurrency"])

    absent = [s for s in specs if s["state"] == "absent"]
    unbinds = unbind_edits(specs, namespaces, services) if absent else []
    answers += patch_all(api, unbinds, check_mode, params["concurrency"])
    diff += _edit_entries(answers, namespaces, services)
    failures = [e.msg for _edit, _answer, e in answers if e]
    deleted = []
    if not failures:
        live = dict(((g["metadata"]["namespace"], g["metadata"]["name"]), g)
                    for g in (api.list(*GATEWAY) if absent else []))
        for spec in absent:
            gateway = live.get((spec["namespace"], spec["name"]))
            if gateway is not None:
                api.delete(GATEWAY[0], GATEWAY[1], spec["name"], namespace=spec["namespace"], dry_run=check_mode)
                deleted.append("%s/%s" % (spec["namespace"], spec["name"]))
                diff.append(diff_entry(gateway, None))
    if failures:
        raise AmbientMeshError("some binding changes failed (run again to finish): %s" % "; ".join(failures))

    if params["wait"] and not check_mode and present:
        wait_working(api, specs, services_to_prove(specs, services_after(services, edits)), params["wait_timeout"])

    return dict(_gateway_results(summarize(results), absent, deleted, params.get("results") or "changed"),
                changed=any(r["changed"] for r in results) or bool(edits) or bool(unbinds) or bool(deleted),
                bound=[ref_of(e[1], e[2], e[3]) for e in edits], unbound=[ref_of(e[1], e[2], e[3]) for e in unbinds],
                deleted=deleted, diff=module_diff(diff))


def _gateway_results(applied, absent, deleted, mode):
    """`waypoints` (the Gateways applied: those changed, or all) and the summary over every Gateway of the
    task, the ones to remove included (changed when deleted, unchanged when already gone)."""
    every = [{"name": "%s/%s" % (g["namespace"], g["name"]), "changed": g["changed"], "entry": g} for g in applied]
    for spec in absent:
        name = "%s/%s" % (spec["namespace"], spec["name"])
        every.append({"name": name, "changed": name in deleted, "entry": None})
    listed, summary = shape_results(every, lambda e: e["name"], mode)
    return dict(summary, waypoints=[e["entry"] for e in listed if e["entry"] is not None])
