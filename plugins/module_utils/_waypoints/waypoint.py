# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""waypoint: the Gateways `istioctl waypoint apply` makes, their bindings, and the proof they work."""


import math
import time

from ansible_collections.ambient.mesh.plugins.module_utils._objects.apply import apply_objects, diff_entries, summarize
from ansible_collections.ambient.mesh.plugins.module_utils._istio.control_planes import (
    control_planes,
    describe_planes,
    serving_revisions,
)
from ansible_collections.ambient.mesh.plugins.module_utils._objects.diff import diff_entry, module_diff
from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError
from ansible_collections.ambient.mesh.plugins.module_utils._istio.names import (
    DATAPLANE_MODE,
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
)
from ansible_collections.ambient.mesh.plugins.module_utils._istio.waypoint_binding import bound_problem, bound_to
from ansible_collections.ambient.mesh.plugins.module_utils._objects.kinds import GATEWAY
from ansible_collections.ambient.mesh.plugins.module_utils._objects.refs import labels_of, ref_of
from ansible_collections.ambient.mesh.plugins.module_utils._objects.labels import (
    apply_labels,
    labels_patch,
    dns_label_problem,
    patch_all,
    valid_dns_label,
)
from ansible_collections.ambient.mesh.plugins.module_utils._objects.results import shape_results
from ansible_collections.ambient.mesh.plugins.module_utils._objects.wait import condition_state, describe, wait_for


def _name_problem(option, value):
    """What is wrong with a namespace or Service name given in `option`, or None. Kubernetes names namespaces
    and Services with DNS-1123 labels (an uppercase letter is refused by the API server, not a missing value)."""
    if value is None or value == "":
        return "%s is required" % option
    if not valid_dns_label(value):
        return "%s %r is not a valid name: %s" % (option, value, dns_label_problem(value))
    return None


def normalize(items):
    out, problems, seen = [], [], set()
    for index, item in enumerate(items or []):
        spec = dict(item)
        ref = "%s/%s" % (spec.get("namespace"), spec.get("name"))
        where = "waypoint %d (%s)" % (index, ref)
        option = "waypoints[%d]" % index
        if spec["name"] == "none":
            problems.append("%s: the name none is reserved (use-waypoint=none means no waypoint)" % where)
        elif not valid_dns_label(spec["name"]):
            problems.append("%s: %s" % (where, _name_problem(option + ".name", spec["name"])))
        named = [(option + ".namespace", spec.get("namespace"))]
        named += [("%s.enroll_namespaces[%d]" % (option, i), v) for i, v in enumerate(spec.get("enroll_namespaces") or [])]
        named += [("%s.enroll_services[%d]" % (option, i), v) for i, v in enumerate(spec.get("enroll_services") or [])]
        for name_option, value in named:
            problem = _name_problem(name_option, value)
            if problem:
                problems.append("%s: %s" % (where, problem))
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
                        % (spec["namespace"], spec["name"], source, describe_planes(planes)))
    return problems


def ambient_problems(specs, namespaces):
    """Namespaces bound to a waypoint while not in ambient mode: their pods' traffic is not redirected to
    ztunnel, so none of it reaches the waypoint. istioctl only warns (Istio 1.30.3
    istioctl/pkg/waypoint/waypoint.go, `waypoint apply --enroll-namespace`: "namespace is not enrolled in
    ambient"); a binding that silently does nothing is refused here, before any change."""
    problems = []
    for spec in specs:
        if spec["state"] != "present":
            continue
        for kind, name, _namespace in spec["targets"]:
            if kind != "Namespace" or name not in namespaces:
                continue  # a missing namespace is reported by plan_bindings
            mode = labels_of(namespaces[name]).get(DATAPLANE_MODE)
            if mode != "ambient":
                problems.append(
                    "namespace %s is not in ambient mode (%s), so binding it to waypoint %s/%s would do nothing: "
                    "its pods' traffic does not go through ztunnel; enroll it first (ambient.mesh.ambient_namespace), "
                    "or set require_ambient: false when it is enrolled later in this play or its pods are enrolled "
                    "one by one" % (name, "%s=%s" % (DATAPLANE_MODE, mode) if mode else "no %s label" % DATAPLANE_MODE,
                                    spec["namespace"], spec["name"]))
    return problems


def plan_bindings(specs, namespaces, services, overwrite):
    """[(apiVersion, kind, namespace, name, patch)], the problems that stop the run, and the rebinds:
    {(kind, namespace, name): {"from": (ns, name), "to": (ns, name), "restore": patch}} for each target
    that moves from another waypoint (the patch puts its old binding back)."""
    edits, problems, rebinds = [], [], {}
    for spec in specs:
        if spec["state"] != "present":
            continue
        if spec["namespace"] not in namespaces:
            problems.append("namespace %s does not exist: create it first (ambient.mesh.ambient_namespace with create: "
                            "true, in an earlier task), then deploy its waypoint" % spec["namespace"])
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
            current = bound_to(obj, own_ns)
            target = (spec["namespace"], spec["name"])
            if current is not None and current != target and not overwrite:
                problems.append("%s %s already uses waypoint %s/%s: set overwrite: true to rebind it"
                                % (kind, name, current[0], current[1]))
                continue
            live = labels_of(obj)
            wanted = binding_labels(spec, own_ns)
            patch = labels_patch(live, wanted)
            if patch:
                edits.append(("v1", kind, namespace, name, patch))
                if current is not None and current != target:
                    old = dict((key, live.get(key)) for key in wanted)
                    rebinds[(kind, namespace, name)] = {"from": current, "to": target,
                                                        "restore": labels_patch(apply_labels(live, patch), old)}
    return edits, problems, rebinds


def unbind_edits(specs, namespaces, services):
    """Label removals for everything bound to waypoints that are going away."""
    leaving = set((s["namespace"], s["name"]) for s in specs if s["state"] == "absent")
    unbind = {"metadata": {"labels": {USE_WAYPOINT: None, USE_WAYPOINT_NAMESPACE: None}}}
    edits = []
    for name, ns in sorted(namespaces.items()):
        if bound_to(ns, name) in leaving:
            edits.append(("v1", "Namespace", None, name, unbind))
    for (namespace, name), svc in sorted(services.items()):
        if bound_to(svc, namespace) in leaving:
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
                if USE_WAYPOINT in lbl and bound_to(svc, svc_ns) != (spec["namespace"], spec["name"]):
                    continue  # the Service chose another waypoint (or none) for itself
                out.setdefault((svc_ns, svc_name), (spec["namespace"], spec["name"]))
    return out


def _bound_problem(service, waypoint):
    problem = bound_problem(service)
    if problem is None:
        return None
    meta = service["metadata"]
    return "%s (waypoint %s/%s): %s" % (ref_of("Service", meta["namespace"], meta["name"]), waypoint[0], waypoint[1],
                                        problem)


def _gateway_pending(gateways, waypoints):
    pending = []
    for key in waypoints:
        met, cond = condition_state(gateways.get(key) or {}, "Programmed")
        if not met:
            pending.append("%s: %s" % (ref_of(GATEWAY[1], key[0], key[1]), describe(cond)))
    return pending


def _read_gateways(api):
    return dict(((g["metadata"]["namespace"], g["metadata"]["name"]), g) for g in api.list(*GATEWAY))


def wait_programmed(api, waypoints, timeout):
    """Programmed on the given (namespace, name) waypoints: the proof a rebind waits for."""
    def predicate(gateways):
        pending = _gateway_pending(gateways, sorted(waypoints))
        return not pending, "; ".join(pending)

    wait_for(lambda: _read_gateways(api), predicate, timeout,
             "the new waypoints to be Programmed before anything is moved to them", interval=1.0)


def wait_working(api, specs, expected, timeout):
    """Programmed on every Gateway and WaypointBound on every expected Service, read by LIST."""
    present = [(s["namespace"], s["name"]) for s in specs if s["state"] == "present"]

    def read():
        services = dict(((s["metadata"]["namespace"], s["metadata"]["name"]), s)
                        for s in api.list("v1", "Service")) if expected else {}
        return _read_gateways(api), services

    def predicate(state):
        gateways, services = state
        pending = _gateway_pending(gateways, present)
        for key, waypoint in sorted(expected.items()):
            problem = _bound_problem(services.get(key) or {"metadata": {"namespace": key[0], "name": key[1]}},
                                     waypoint)
            if problem:
                pending.append(problem)
        return not pending, "; ".join(pending)

    wait_for(read, predicate, timeout, "the waypoints to be Programmed and their Services bound", interval=1.0)


def restore_bindings(api, rebinds, moved, concurrency):
    """Put the old binding back on each rebound object in `moved` ({(kind, namespace, name)}); returns the
    refs restored and the errors of those that could not be."""
    edits = [("v1", key[0], key[1], key[2], rebinds[key]["restore"]) for key in sorted(moved) if rebinds[key]["restore"]]
    restored, errors = [], []
    for (_api_version, kind, namespace, name, _patch), _answer, error in patch_all(api, edits, False, concurrency):
        if error is None:
            restored.append((kind, namespace, name))
        else:
            errors.append("%s: %s" % (ref_of(kind, namespace, name), error.msg))
    return restored, errors


def _rebound_entries(rebinds, moved):
    return [{"object": ref_of(key[0], key[1], key[2]), "from": "%s/%s" % rebinds[key]["from"],
             "to": "%s/%s" % rebinds[key]["to"]} for key in sorted(moved)]


def _edit_entries(answers, namespaces, services):
    """Diff entries of label edits: each object as read, and as the server returned it after the patch."""
    out = []
    for (_api_version, kind, namespace, name, _patch), answer, error in answers:
        if error is None:
            before = namespaces.get(name) if kind == "Namespace" else services.get((namespace, name))
            out.append(diff_entry(before, answer))
    return out


def run(api, params, check_mode, diff_mode=True):
    """The waypoint module's work. Without diff_mode the objects the server returned are not kept for a diff
    (at 2000 Gateways that is most of the module's memory)."""
    specs = normalize(params["waypoints"])
    namespaces, services = read_targets(api)
    edits, problems, rebinds = plan_bindings(specs, namespaces, services, params["overwrite"])
    if params.get("require_ambient", True):
        problems += ambient_problems(specs, namespaces)
    if params.get("require_istiod", True) and any(s["state"] == "present" for s in specs):
        problems += revision_problems(specs, namespaces, read_control_planes(api, services))
    if problems:
        raise AmbientMeshError("cannot bind waypoints: " + "; ".join(problems), problems=problems)

    deadline = time.monotonic() + params["wait_timeout"]
    present = [gateway_for(s) for s in specs if s["state"] == "present"]
    # the Gateways are generated from normalized input: the first new one is written alone instead of a dry run
    # of each (_apply.apply_objects, preflight="first")
    results = apply_objects(api, present, check_mode=check_mode, force=params["force_conflicts"],
                            concurrency=params["concurrency"], preflight="first",
                            keep_answers=diff_mode) if present else []
    diff = diff_entries(results) if diff_mode else []
    changes = ["%s %s" % (r["ref"], r["action"]) for r in results if r["changed"]]
    proving = params["wait"] and not check_mode

    # A rebind moves traffic off a waypoint that works: the new waypoint proves itself (Programmed) first,
    # and when it does not, nothing is moved.
    if proving and rebinds:
        try:
            wait_programmed(api, set(r["to"] for r in rebinds.values()), _remaining(deadline))
        except AmbientMeshError as exc:
            raise AmbientMeshError(
                "%s; nothing was rebound: %s stay%s on the waypoint%s they use" % (
                    exc.msg, ", ".join(e["object"] for e in _rebound_entries(rebinds, rebinds)),
                    "s" if len(rebinds) == 1 else "", "" if len(rebinds) == 1 else "s"),
                changed=bool(changes), changes=changes, bound=[], rebound=[], restored=[])

    bind_answers = patch_all(api, edits, check_mode, params["concurrency"])
    absent = [s for s in specs if s["state"] == "absent"]
    unbinds = unbind_edits(specs, namespaces, services) if absent else []
    unbind_answers = patch_all(api, unbinds, check_mode, params["concurrency"])
    answers = bind_answers + unbind_answers
    if diff_mode:
        diff += _edit_entries(answers, namespaces, services)
    failures = [e.msg for _edit, _answer, e in answers if e]
    done = [(edit[1], edit[2], edit[3]) for edit, _answer, e in bind_answers if e is None]
    bound = [ref_of(*key) for key in done]
    moved = set(key for key in rebinds if key in done)
    changes += ["%s bound" % ref for ref in bound]
    changes += ["%s unbound" % ref_of(edit[1], edit[2], edit[3]) for edit, _answer, e in unbind_answers if e is None]
    deleted = []
    if not failures:
        live = _read_gateways(api) if absent else {}
        for spec in absent:
            gateway = live.get((spec["namespace"], spec["name"]))
            if gateway is not None:
                api.delete(GATEWAY[0], GATEWAY[1], spec["name"], namespace=spec["namespace"], dry_run=check_mode)
                deleted.append("%s/%s" % (spec["namespace"], spec["name"]))
                changes.append("%s deleted" % ref_of(GATEWAY[1], spec["namespace"], spec["name"]))
                if diff_mode:
                    diff.append(diff_entry(gateway, None))
    if failures:
        raise AmbientMeshError("some binding changes failed (run again to finish): %s" % "; ".join(failures),
                               changed=bool(changes), changes=changes, bound=bound,
                               rebound=_rebound_entries(rebinds, moved), restored=[])

    if proving and present:
        try:
            wait_working(api, specs, services_to_prove(specs, services_after(services, edits)),
                         _remaining(deadline))
        except AmbientMeshError as exc:
            raise _failed_proof(api, exc, params, rebinds, moved, changes, bound)

    return dict(_gateway_results(summarize(results), absent, deleted, params.get("results") or "changed"),
                changed=any(r["changed"] for r in results) or bool(edits) or bool(unbinds) or bool(deleted),
                bound=[ref_of(e[1], e[2], e[3]) for e in edits], unbound=[ref_of(e[1], e[2], e[3]) for e in unbinds],
                rebound=_rebound_entries(rebinds, moved if not check_mode else rebinds),
                deleted=deleted, diff=module_diff(diff))


def _remaining(deadline):
    """Whole seconds left of the wait_timeout the run started with (at least 1): both waits share it."""
    return max(1, int(math.ceil(deadline - time.monotonic())))


def _failed_proof(api, exc, params, rebinds, moved, changes, bound):
    """The error for a wait that failed after the bindings were written: what changed, and the rebound objects
    put back on their old waypoints (unless restore_on_failure is false)."""
    msg = exc.msg
    restored = []
    if moved and params.get("restore_on_failure", True):
        keys, errors = restore_bindings(api, rebinds, moved, params["concurrency"])
        restored = _rebound_entries(rebinds, keys)
        changes = changes + ["%s put back on waypoint %s" % (e["object"], e["from"]) for e in restored]
        if restored:
            msg += "; put back on their old waypoints (restore_on_failure): %s" % ", ".join(
                "%s (%s)" % (e["object"], e["from"]) for e in restored)
        if errors:
            msg += "; could not be put back (run again, or fix the labels by hand): %s" % "; ".join(errors)
    elif moved:
        msg += "; left on the new waypoint as restore_on_failure is false: %s" % ", ".join(
            ref_of(*key) for key in sorted(moved))
    if changes:
        msg += "; changed before the failure: %s" % ", ".join(changes)
    return AmbientMeshError(msg, changed=bool(changes), changes=changes, bound=bound,
                            rebound=_rebound_entries(rebinds, moved), restored=restored)


def _gateway_results(applied, absent, deleted, mode):
    """`waypoints` (the Gateways applied: those changed, or all) and the summary over every Gateway of the
    task, the ones to remove included (changed when deleted, unchanged when already gone)."""
    every = [{"name": "%s/%s" % (g["namespace"], g["name"]), "changed": g["changed"], "entry": g} for g in applied]
    for spec in absent:
        name = "%s/%s" % (spec["namespace"], spec["name"])
        every.append({"name": name, "changed": name in deleted, "entry": None})
    listed, summary = shape_results(every, lambda e: e["name"], mode)
    return dict(summary, waypoints=[e["entry"] for e in listed if e["entry"] is not None])
