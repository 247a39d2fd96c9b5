# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ambient_namespace: enroll many namespaces, migrate sidecar namespaces in order, restart workloads.

A run is: read (one LIST), plan, refuse what cannot be right (bad references, sidecars without
migrate_sidecars, an unhealthy data plane) before any write, write the labels, restart. A failure
after the first write says what was written (changed, namespaces, restarted, restart_pending), and
the pending-restart marker (_restart.RESTART_PENDING) carries the restarts still owed to the next run.
"""


import copy

from ansible.module_utils.common.warnings import warn

from ansible_collections.ambient.mesh.plugins.module_utils._objects.diff import diff_entry, module_diff
from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError, batch_error, cap
from ansible_collections.ambient.mesh.plugins.module_utils._istio.names import (
    DATAPLANE_MODE,
    SIDECAR_LABELS,
    USE_WAYPOINT,
    USE_WAYPOINT_NAMESPACE,
)
from ansible_collections.ambient.mesh.plugins.module_utils._objects.refs import labels_of
from ansible_collections.ambient.mesh.plugins.module_utils._kube.concurrency import run_concurrently
from ansible_collections.ambient.mesh.plugins.module_utils._objects.labels import (
    apply_labels,
    dns_label_problem,
    labels_patch,
    valid_dns_label,
    valid_label_value,
)
from ansible_collections.ambient.mesh.plugins.module_utils._enrollment.restart_pending import RESTART_PENDING, marker_patch, now_stamp, pending_since
from ansible_collections.ambient.mesh.plugins.module_utils._objects.results import shape_results

# The labels this module may write; with results=changed an entry shows only these, before and after.
MANAGED_LABELS = (DATAPLANE_MODE, USE_WAYPOINT, USE_WAYPOINT_NAMESPACE) + SIDECAR_LABELS


def normalize(items):
    """The namespaces option as dicts; AmbientMeshError listing every problem."""
    out, problems, seen = [], [], set()
    for index, item in enumerate(items or []):
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, dict):
            problems.append("item %d is neither a name nor a mapping" % index)
            continue
        spec = {"name": item.get("name"), "dataplane_mode": item.get("dataplane_mode") or "ambient",
                "use_waypoint": item.get("use_waypoint"), "use_waypoint_namespace": item.get("use_waypoint_namespace"),
                "state": item.get("state") or "present", "create": bool(item.get("create", False))}
        unknown = set(item) - set(spec)
        if unknown:
            problems.append("item %d has unknown keys %s" % (index, ", ".join(sorted(unknown))))
        if not valid_dns_label(spec["name"]):
            problems.append("item %d: %r is not a namespace name: %s" % (index, spec["name"], dns_label_problem(spec["name"])))
        elif spec["name"] in seen:
            problems.append("namespace %s is listed twice" % spec["name"])
        seen.add(spec["name"])
        if spec["dataplane_mode"] not in ("ambient", "none"):
            problems.append("namespace %s: dataplane_mode must be ambient or none" % spec["name"])
        if spec["state"] not in ("present", "absent"):
            problems.append("namespace %s: state must be present or absent" % spec["name"])
        for key in ("use_waypoint", "use_waypoint_namespace"):
            if spec[key] is not None and not valid_label_value(spec[key]):
                problems.append("namespace %s: %s %r is not a valid label value" % (spec["name"], key, spec[key]))
        if spec["dataplane_mode"] == "none" and spec["state"] == "present" and spec["use_waypoint"] not in (None, "none"):
            # the same refusal as the waypoint module's (_waypoint.ambient_problems): a binding that does nothing
            problems.append("namespace %s: use_waypoint %s with dataplane_mode none would do nothing: its pods' traffic "
                            "does not go through ztunnel, so none of it reaches a waypoint; use dataplane_mode ambient, "
                            "or use_waypoint none" % (spec["name"], spec["use_waypoint"]))
        if spec["use_waypoint_namespace"] and not spec["use_waypoint"]:
            problems.append("namespace %s: use_waypoint_namespace needs use_waypoint" % spec["name"])
        out.append(spec)
    if problems:
        raise AmbientMeshError("invalid namespaces: " + "; ".join(problems), problems=problems)
    return out


def wanted_labels(spec):
    """{label: value or None} this namespace should end with (only the keys this module manages)."""
    if spec["state"] == "absent":
        return {DATAPLANE_MODE: None, USE_WAYPOINT: None, USE_WAYPOINT_NAMESPACE: None}
    wanted = {DATAPLANE_MODE: spec["dataplane_mode"]}
    if spec["use_waypoint"]:
        wanted[USE_WAYPOINT] = spec["use_waypoint"]
        wanted[USE_WAYPOINT_NAMESPACE] = spec["use_waypoint_namespace"]  # None removes a stale redirect
    return wanted


def plan_steps(labels, spec, migrate):
    """The ordered label patches for one namespace (sidecar migration: use-waypoint, dataplane-mode, then
    the injection labels removed)."""
    wanted = wanted_labels(spec)
    sidecar = [k for k in SIDECAR_LABELS if k in labels]
    if spec["state"] == "present" and spec["dataplane_mode"] == "ambient" and sidecar and migrate:
        steps = []
        current = dict(labels)
        waypoint_part = dict((k, v) for k, v in wanted.items() if k != DATAPLANE_MODE)
        for part in (waypoint_part, {DATAPLANE_MODE: wanted[DATAPLANE_MODE]}, dict((k, None) for k in sidecar)):
            patch = labels_patch(current, part) if part else None
            if patch:
                steps.append(patch)
                current = apply_labels(current, patch)
        return steps
    patch = labels_patch(labels, wanted)
    return [patch] if patch else []


def captured(labels):
    return labels.get(DATAPLANE_MODE) == "ambient" and not any(k in labels for k in SIDECAR_LABELS)


def needs_restart(labels, after, restart_workloads):
    """Whether this label change leaves running pods to restart: the capture changes and either the
    task restarts workloads, or sidecar injection is removed (the pods keep their sidecars until
    restarted; a plain enrollment needs no restart: istio-cni captures running pods of a namespace
    labelled ambient, Istio 1.30 cni/pkg/nodeagent/informers.go, reconcileNamespace)."""
    if captured(labels) == captured(after):
        return False
    return restart_workloads or any(k in labels and k not in after for k in SIDECAR_LABELS)


def mark_pending(steps, labels, stamp):
    """steps with the pending-restart marker added to the write that changes the capture."""
    current, out, marked = labels, [], False
    for step in steps:
        after = apply_labels(current, step)
        if not marked and captured(after) != captured(labels):
            step = {"metadata": dict(step["metadata"], **marker_patch(stamp)["metadata"])}
            marked = True
        out.append(step)
        current = after
    return out


def marks(steps):
    """Whether these label steps set the pending-restart marker."""
    return any(RESTART_PENDING in (step["metadata"].get("annotations") or {}) for step in steps)


def waypoint_references(specs, live):
    """[(namespace, waypoint namespace, waypoint name)] of the use-waypoint labels this run writes."""
    out = []
    for spec in specs:
        if spec["state"] != "present" or spec["use_waypoint"] in (None, "none"):
            continue
        labels = labels_of(live[spec["name"]]) if spec["name"] in live else {}
        if labels.get(USE_WAYPOINT) == spec["use_waypoint"] and labels.get(USE_WAYPOINT_NAMESPACE) == spec["use_waypoint_namespace"]:
            continue  # already written: mesh_info reports a waypoint that went away since
        out.append((spec["name"], spec["use_waypoint_namespace"] or spec["name"], spec["use_waypoint"]))
    return out


def missing_waypoints(references, namespaces, gateways, created=()):
    """Problems, one per missing target, from the references and the names that exist:
    namespaces (set of names), gateways (set of (namespace, name)) or None without Gateway API;
    created: the namespaces this call creates (they exist after it, but hold no waypoint yet)."""
    by_target = {}
    for name, wns, wname in references:
        by_target.setdefault((wns, wname), []).append(name)
    problems = []
    for (wns, wname), users in sorted(by_target.items()):
        named = ", ".join(users[:5]) + (" and %d more" % (len(users) - 5) if len(users) > 5 else "")
        if wns in created:
            problems.append("use_waypoint %s of %s: namespace %s is created by this task, so it holds no waypoint yet: "
                            "deploy the waypoint (ambient.mesh.waypoint) in a later task and set "
                            "allow_missing_waypoint: true here, or create %s and its waypoint before this task"
                            % (wname, named, wns, wns))
        elif wns not in namespaces:
            problems.append("use_waypoint_namespace %s of %s: namespace %s does not exist" % (wns, named, wns))
        elif gateways is None:
            problems.append("use_waypoint %s of %s: no waypoint can exist, the Gateway API CRDs are not installed"
                            % (wname, named))
        elif (wns, wname) not in gateways:
            problems.append("use_waypoint %s of %s: there is no waypoint (Gateway) %s/%s" % (wname, named, wns, wname))
    return problems


def check_waypoints(api, specs, live):
    """Refuse use-waypoint labels naming a waypoint or namespace that does not exist (one LIST of Gateways,
    only when this run writes such labels)."""
    references = waypoint_references(specs, live)
    if not references:
        return
    gateways = None
    if api.resource("gateway.networking.k8s.io/v1", "Gateway", required=False) is not None:
        gateways = set((g["metadata"]["namespace"], g["metadata"]["name"])
                       for g in api.list("gateway.networking.k8s.io/v1", "Gateway"))
    created = set(s["name"] for s in specs if s["name"] not in live and s["state"] == "present" and s["create"])
    problems = missing_waypoints(references, set(live), gateways, created)
    if problems:
        raise AmbientMeshError(cap(
            "refusing to bind namespaces to waypoints that do not exist (their traffic would skip L7 policy "
            "silently): %s. Deploy the waypoint first (ambient.mesh.waypoint), fix the name, or set "
            "allow_missing_waypoint: true when a later task of this play deploys it" % "; ".join(problems)),
            missing_waypoints=problems)


class Progress(object):
    """What this run has written so far, for the result of a run that fails part way."""

    def __init__(self, results, pending):
        self.results = dict((r["name"], r) for r in results)
        self.written = {}  # namespace -> its labels as the server last returned them
        self.restarted = []
        self.pending = set(pending)  # the task's namespaces whose marker is on the server

    def wrote(self, name, answer):
        self.written[name] = labels_of(answer)
        if pending_since(answer):
            self.pending.add(name)
        else:
            self.pending.discard(name)

    def failed(self, exc, params):
        """exc with changed and what changed: the namespaces written (their managed labels before and after),
        the workloads restarted, the namespaces whose restart is still owed."""
        self.restarted.extend(r for r in exc.details.pop("restarted", []) if r not in self.restarted)
        for entry in exc.details.pop("results", None) or []:  # namespaces created before apply_objects failed
            if entry.get("kind") == "Namespace" and entry.get("changed"):
                self.written.setdefault(entry["name"], self.results[entry["name"]]["labels"]["after"] or {})
        entries = []
        for name, labels in self.written.items():
            entry = dict(self.results[name], labels={"before": self.results[name]["labels"]["before"], "after": labels})
            entries.append(entry if params.get("results") == "all" else _slim(entry))
        exc.details.update(changed=bool(self.written or self.restarted or exc.details.get("changed")),
                           namespaces=entries, restarted=list(self.restarted), restart_pending=sorted(self.pending))
        return exc


def run(api, params, check_mode):
    specs = normalize(params["namespaces"])
    live = dict((ns["metadata"]["name"], ns) for ns in api.list("v1", "Namespace"))
    missing = [s["name"] for s in specs if s["name"] not in live and s["state"] == "present" and not s["create"]]
    if missing:
        raise AmbientMeshError("namespaces %s do not exist: create them first or set create: true for them"
                               % ", ".join(missing), missing=missing)
    sidecars = [s["name"] for s in specs if s["name"] in live and s["state"] == "present"
                and s["dataplane_mode"] == "ambient" and any(k in labels_of(live[s["name"]]) for k in SIDECAR_LABELS)]
    if sidecars and not params["migrate_sidecars"]:
        raise AmbientMeshError(
            "namespaces %s use sidecar injection (istio-injection or istio.io/rev): enrolling them in ambient needs "
            "their injection labels removed and their workloads restarted; set migrate_sidecars: true to do that in "
            "the documented order (use-waypoint, dataplane-mode, remove injection labels, restart)"
            % ", ".join(sidecars), sidecar_namespaces=sidecars)
    if not params.get("allow_missing_waypoint"):
        check_waypoints(api, specs, live)

    stamp = now_stamp()
    results, to_create, plans = [], [], {}
    for spec in specs:
        ns = live.get(spec["name"])
        labels = labels_of(ns) if ns else {}
        if ns is None and spec["state"] == "absent":
            steps = []
        elif ns is None:
            to_create.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {
                "name": spec["name"], "labels": dict((k, v) for k, v in wanted_labels(spec).items() if v)}})
            steps = []
        else:
            steps = plan_steps(labels, spec, params["migrate_sidecars"])
        after = labels
        for step in steps:
            after = apply_labels(after, step)
        if ns is None and spec["state"] == "present":
            after = to_create[-1]["metadata"]["labels"]
        if ns is not None and needs_restart(labels, after, params["restart_workloads"]):
            steps = mark_pending(steps, labels, stamp)
        plans[spec["name"]] = steps
        results.append({"name": spec["name"], "created": ns is None and spec["state"] == "present",
                        "changed": bool(steps) or (ns is None and spec["state"] == "present"),
                        "labels": {"before": labels if ns else None, "after": after if (ns or spec["state"] == "present")
                                   else None},
                        "capture_changed": captured(labels) != captured(after), "steps": len(steps), "restarted": []})

    newly_captured = [r for r in results if r["capture_changed"] and captured(r["labels"]["after"] or {})]
    if newly_captured and params["check_dataplane"]:
        # imported where needed: a run that captures nothing new (a no-op) does not pay for it
        from ansible_collections.ambient.mesh.plugins.module_utils._istio.dataplane import require_healthy_dataplane

        require_healthy_dataplane(api, params["concurrency"])

    progress = Progress(results, [name for name in plans if pending_since(live.get(name))])
    try:
        entries, restarted = _write(api, params, check_mode, live, to_create, plans, results, progress, stamp)
    except AmbientMeshError as exc:
        progress.failed(exc, params)
        raise
    if check_mode:  # what would be left owed: nothing once restarted, else the markers there and to come
        progress.pending.update(name for name, steps in plans.items() if marks(steps))
        if params["restart_workloads"]:
            progress.pending.clear()
    pending = sorted(progress.pending)
    if pending and not params["restart_workloads"]:
        warn("the workloads of namespaces %s still run as before their capture changed (pods keep their sidecars "
             "until restarted): set restart_workloads: true to restart them, once; mesh_info reports them as "
             "RESTART_PENDING until then" % ", ".join(pending[:20]) + (" and %d more" % (len(pending) - 20) if len(pending) > 20 else ""))
    listed, summary = shape_results(results, lambda r: r["name"], params.get("results") or "changed", slim=_slim)
    return dict(summary, changed=any(r["changed"] for r in results) or bool(restarted), namespaces=listed,
                restarted=restarted, restart_pending=pending, diff=module_diff(entries))


def _write(api, params, check_mode, live, to_create, plans, results, progress, stamp):
    """The writes of a run: namespaces created, labelled (with the marker where a restart is owed), the
    workloads restarted, the markers removed. Returns (diff entries, restarted refs)."""
    diff = {}
    if to_create:
        from ansible_collections.ambient.mesh.plugins.module_utils._objects.apply import apply_objects

        created = apply_objects(api, to_create, check_mode=check_mode, concurrency=params["concurrency"])
        for result in created:
            if result["changed"]:
                diff[result["name"]] = diff_entry(result["before"], result["after"])
                if not check_mode:
                    progress.wrote(result["name"], result["after"])

    def migrate(name):
        steps = plans[name]
        if check_mode:
            # dry runs do not build on each other: one dry run of the whole change shows where it ends
            merged = {}
            for step in steps:
                for part, values in step["metadata"].items():
                    merged.setdefault(part, {}).update(values)
            steps = [{"metadata": merged}]
        answer = None
        for step in steps:  # in order: each step lands before the next
            answer = api.patch("v1", "Namespace", name, step, dry_run=check_mode)
            if not check_mode:
                progress.wrote(name, answer)  # a migration cut after its first step is still a change
        return answer

    changing = [n for n, steps in plans.items() if steps]
    failures = []
    for name, answer, error in run_concurrently(migrate, changing, params["concurrency"]):
        if error is not None:
            failures.append((name, error))
        else:
            diff[name] = diff_entry(live[name], answer)
    if failures:
        created = [r["name"] for r in results if r["created"] and r["name"] in progress.written]
        raise batch_error("labelling %d of %d namespaces failed%s" % (
            len(failures), len(changing), ", after creating %d" % len(created) if created else ""), failures,
            done=sorted(progress.written))
    restarted = []
    entries = []
    # namespaces whose capture this run changed (restart everything), or whose restart an earlier run owes
    fresh = set(r["name"] for r in results if r["capture_changed"] and not r["created"])
    owed = dict((name, pending_since(ns)) for name, ns in live.items() if pending_since(ns) and name not in fresh)
    owed = dict((name, since) for name, since in owed.items() if name in plans)  # only the task's namespaces
    if params["restart_workloads"] and (fresh or owed):
        from ansible_collections.ambient.mesh.plugins.module_utils._enrollment.restart import restart, wait_rollouts, workloads_in
        from ansible_collections.ambient.mesh.plugins.module_utils._enrollment.restart_pending import restarted_since

        by_ns = workloads_in(api, sorted(fresh | set(owed)), params["concurrency"])
        for name, since in owed.items():
            # restarted by the failed run before it stopped: not again
            by_ns[name] = [o for o in by_ns[name] if not restarted_since(o, since)]
        by_name = dict((r["name"], r) for r in results)
        for name, items in by_ns.items():
            by_name[name]["restarted"] = ["%s/%s" % (o["kind"], o["metadata"]["name"]) for o in items]
            if name in owed:
                by_name[name]["changed"] = True  # its restart and the marker's removal are this run's change
        workloads = [o for name in sorted(by_ns) for o in by_ns[name]]
        restarted, restart_entries = restart(api, workloads, check_mode, params["concurrency"], now=stamp)
        progress.restarted.extend(restarted)
        clear = [name for name in sorted(by_ns) if name in owed or name in progress.pending or (check_mode and marks(plans[name]))]
        if check_mode:  # the namespace as it would end: its marker removed again
            cleared = dict((name, _without_marker(diff[name]["after"] if name in diff else live[name])) for name in clear)
        else:
            cleared = _clear_markers(api, clear, params["concurrency"], progress)
        for name, answer in cleared.items():
            diff[name] = diff_entry(live[name], answer)
        entries = restart_entries
        if params["wait_for_rollout"] and not check_mode:
            wait_rollouts(api, restarted, params["wait_timeout"], params["concurrency"])
    # the namespaces first, in the task's order, then the workloads
    return [diff[r["name"]] for r in results if r["name"] in diff] + entries, restarted


def _without_marker(namespace):
    out = copy.deepcopy(namespace)
    annotations = out["metadata"].get("annotations") or {}
    annotations.pop(RESTART_PENDING, None)
    if not annotations:
        out["metadata"].pop("annotations", None)
    return out


def _clear_markers(api, names, concurrency, progress):
    """Remove the marker of each namespace; {name: the namespace as the server returned it}."""
    failures, answers = [], {}
    for name, answer, error in run_concurrently(
            lambda n: api.patch("v1", "Namespace", n, marker_patch(None)), names, concurrency):
        if error is not None:
            failures.append((name, error))
        else:
            progress.wrote(name, answer)
            answers[name] = answer
    if failures:
        raise batch_error("the workloads were restarted, but removing the restart-pending marker of %d namespaces "
                          "failed" % len(failures), failures, done=sorted(progress.written))
    return answers


def _slim(result):
    """A changed namespace's entry with only the labels this module manages, before and after."""
    def managed(labels):
        return None if labels is None else dict((k, v) for k, v in labels.items() if k in MANAGED_LABELS)
    return dict(result, labels={"before": managed(result["labels"]["before"]), "after": managed(result["labels"]["after"])})
