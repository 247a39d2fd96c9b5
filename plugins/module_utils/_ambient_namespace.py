# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ambient_namespace: enroll many namespaces, migrate sidecar namespaces in order, restart workloads."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ambient.mesh.plugins.module_utils._diff import diff_entry, module_diff
from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError
from ansible_collections.ambient.mesh.plugins.module_utils._istio_names import (
    DATAPLANE_MODE,
    SIDECAR_LABELS,
    USE_WAYPOINT,
    USE_WAYPOINT_NAMESPACE,
    labels_of,
)
from ansible_collections.ambient.mesh.plugins.module_utils._kube import run_concurrently
from ansible_collections.ambient.mesh.plugins.module_utils._labels import (
    apply_labels,
    labels_patch,
    valid_dns_label,
    valid_label_value,
)
from ansible_collections.ambient.mesh.plugins.module_utils._results import shape_results

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
            problems.append("item %d: %r is not a namespace name" % (index, spec["name"]))
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
        plans[spec["name"]] = steps
        results.append({"name": spec["name"], "created": ns is None and spec["state"] == "present",
                        "changed": bool(steps) or (ns is None and spec["state"] == "present"),
                        "labels": {"before": labels if ns else None, "after": after if (ns or spec["state"] == "present")
                                   else None},
                        "capture_changed": captured(labels) != captured(after), "steps": len(steps), "restarted": []})

    newly_captured = [r for r in results if r["capture_changed"] and captured(r["labels"]["after"] or {})]
    if newly_captured and params["check_dataplane"]:
        # imported where needed: a run that captures nothing new (a no-op) does not pay for it
        from ansible_collections.ambient.mesh.plugins.module_utils._dataplane import require_healthy_dataplane

        require_healthy_dataplane(api, params["concurrency"])

    diff = {}
    if to_create:
        from ansible_collections.ambient.mesh.plugins.module_utils._apply import apply_objects

        created = apply_objects(api, to_create, check_mode=check_mode, concurrency=params["concurrency"])
        for result in created:
            if result["changed"]:
                diff[result["name"]] = diff_entry(result["before"], result["after"])

    def migrate(name):
        steps = plans[name]
        if check_mode:
            # dry runs do not build on each other: one dry run of the whole change shows where it ends
            steps = [{"metadata": {"labels": dict((k, v) for step in steps for k, v in step["metadata"]["labels"].items())}}]
        answer = None
        for step in steps:  # in order: each step lands before the next
            answer = api.patch("v1", "Namespace", name, step, dry_run=check_mode)
        return answer

    changing = [n for n, steps in plans.items() if steps]
    failures = []
    for name, answer, error in run_concurrently(migrate, changing, params["concurrency"]):
        if error is not None:
            failures.append(error.msg)
        else:
            diff[name] = diff_entry(live[name], answer)
    if failures:
        raise AmbientMeshError("labelling namespaces failed (run again to finish): %s" % "; ".join(failures))
    entries = [diff[s["name"]] for s in specs if s["name"] in diff]

    restarted = []
    if params["restart_workloads"]:
        targets = [r["name"] for r in results if r["capture_changed"] and not r["created"]]
        if targets:
            from ansible_collections.ambient.mesh.plugins.module_utils._restart import restart, wait_rollouts, workloads_in

            by_ns = workloads_in(api, targets, params["concurrency"])
            for result in results:
                for obj in by_ns.get(result["name"], []):
                    result["restarted"].append("%s/%s" % (obj["kind"], obj["metadata"]["name"]))
            workloads = [o for items in by_ns.values() for o in items]
            restarted, restart_entries = restart(api, workloads, check_mode, params["concurrency"])
            entries += restart_entries
            if params["wait_for_rollout"] and not check_mode:
                wait_rollouts(api, restarted, params["wait_timeout"], params["concurrency"])
    listed, summary = shape_results(results, lambda r: r["name"], params.get("results") or "changed", slim=_slim)
    return dict(summary, changed=any(r["changed"] for r in results) or bool(restarted), namespaces=listed,
                restarted=restarted, diff=module_diff(entries))


def _slim(result):
    """A changed namespace's entry with only the labels this module manages, before and after."""
    def managed(labels):
        return None if labels is None else dict((k, v) for k, v in labels.items() if k in MANAGED_LABELS)
    return dict(result, labels={"before": managed(result["labels"]["before"]), "after": managed(result["labels"]["after"])})
