# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Apply many objects in one call: LIST the live state, dry-run what changes, then write it.

Reads are one LIST per kind and namespace; an object already as desired costs no request of its
own; every write is a server-side apply as field manager ambient.mesh, so fields that others own
survive. A dry run of every changing object comes first, so a configuration the server rejects
fails the whole batch before anything is written. A write that fails part way (an outage) raises
with what was written before it: changed, done (refs), results (those objects), failed and the
grouped errors (see _errors.batch_error).
"""


from ansible_collections.ambient.mesh.plugins.module_utils._objects.diff import (
    apply_is_noop,
    changed,
    diff_entry,
    with_config_hash,
)
from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError, batch_error
from ansible_collections.ambient.mesh.plugins.module_utils._objects.refs import object_ref
from ansible_collections.ambient.mesh.plugins.module_utils._kube.concurrency import run_concurrently


def check_objects(api, objects):
    """Fail, before any change, on objects that cannot be applied; returns their ResourceTypes."""
    problems = []
    types = []
    for index, obj in enumerate(objects):
        if not isinstance(obj, dict):
            problems.append("item %d is not a mapping" % index)
            types.append(None)
            continue
        missing = [f for f in ("apiVersion", "kind") if not obj.get(f)]
        if not (obj.get("metadata") or {}).get("name"):
            missing.append("metadata.name")
        if missing:
            problems.append("item %d (%s) has no %s" % (index, obj.get("kind") or "?", ", ".join(missing)))
            types.append(None)
            continue
        res = api.resource(obj["apiVersion"], obj["kind"])
        if res.namespaced and not obj["metadata"].get("namespace"):
            problems.append("%s is namespaced: set metadata.namespace" % object_ref(obj))
        types.append(res)
    if problems:
        raise AmbientMeshError("cannot apply these objects: " + "; ".join(problems), problems=problems)
    return types


# Above this many namespaces for one kind, one cluster-wide LIST replaces a LIST per namespace.
NAMESPACES_PER_LIST = 3


def list_groups(objects, types):
    """(apiVersion, kind, namespace or None) to LIST: per namespace, or cluster-wide when many."""
    by_kind = {}
    for obj, res in zip(objects, types):
        namespace = obj["metadata"].get("namespace") if res.namespaced else None
        by_kind.setdefault((obj["apiVersion"], obj["kind"]), set()).add(namespace)
    groups = []
    for (api_version, kind), namespaces in sorted(by_kind.items()):
        if len(namespaces) > NAMESPACES_PER_LIST:
            namespaces = {None}
        groups += [(api_version, kind, ns) for ns in sorted(namespaces, key=str)]
    return groups


def live_index(api, objects, types, concurrency):
    """{(apiVersion, kind, namespace, name): live object}, reading by LIST only."""
    wanted = set(_key(obj, res) for obj, res in zip(objects, types))
    index = {}
    for group, items, error in run_concurrently(
            lambda g: api.list(g[0], g[1], namespace=g[2]), list_groups(objects, types), concurrency):
        if error is not None:
            raise error
        for item in items:
            key = (group[0], group[1], item["metadata"].get("namespace"), item["metadata"]["name"])
            if key in wanted:
                index[key] = item
    return index


def _key(obj, res):
    return (obj["apiVersion"], obj["kind"], obj["metadata"].get("namespace") if res.namespaced else None,
            obj["metadata"]["name"])


def apply_objects(api, objects, check_mode=False, force=False, concurrency=8, preflight="each", keep_answers=True):
    """Apply every object; returns one result dict per object, in order.

    Each result: ref, kind, namespace, name, action (created, updated or unchanged),
    changed, before, after (the object as the server returned it, or would).

    Before any write, server-side dry runs (`dryRun=All`) of the objects to write, so that a batch the server
    rejects changes nothing. `preflight="each"`: a dry run of every object that is not already as asked.
    `preflight="first"` is for objects the caller generated from validated input (the waypoint Gateways):
    every object that exists is still dry-run (a field conflict or the server's merge is that object's own),
    but of the objects to create, the first of each kind is written on its own before the others, and the
    others follow only once it was accepted: what refuses one of them (the schema, an admission webhook, RBAC,
    a missing CRD) refuses them all, so that first write stands for their dry runs and a refusal still changes
    nothing. A creation refused on its own (a quota) fails after the rest were written, which the error lists
    (done). Check mode dry-runs every object either way (the dry run is its answer).

    `keep_answers=False`: a written object's `after` is not kept (None) once it was written: for a caller that
    shows no diff, so that a large batch does not hold every answer of the server at once.
    """
    # status is written by controllers through its subresource, never applied with the object
    objects = [with_config_hash(dict((k, v) for k, v in o.items() if k != "status")) for o in objects]
    types = check_objects(api, objects)
    index = live_index(api, objects, types, concurrency)

    results = []
    pending = []
    for obj, res in zip(objects, types):
        live = index.get(_key(obj, res))
        result = {"ref": object_ref(obj), "kind": obj["kind"], "name": obj["metadata"]["name"],
                  "namespace": obj["metadata"].get("namespace") if res.namespaced else None,
                  "before": live, "after": live, "action": "unchanged", "changed": False}
        results.append(result)
        if not apply_is_noop(obj, live, api.field_manager):
            pending.append((obj, result))

    trial, firsts = _preflight_split(pending, "each" if check_mode else preflight)
    failures = _apply_all(api, trial, concurrency, dry_run=True, force=force)
    if failures:
        raise batch_error("the API server rejected %d of %d objects, so none was changed"
                          % (len(failures), len(objects)), failures)
    written, failures = _write(api, firsts, concurrency, force, keep_answers)
    if failures:
        raise batch_error("the API server refused %d of %d first objects of their kind, so none of the other "
                          "new objects was written" % (len(failures), len(firsts)), failures,
                          done=[r["ref"] for r in written], results=summarize(written))

    first_ids = set(id(result) for _obj, result in firsts)
    to_write = [(obj, result) for obj, result in pending if id(result) not in first_ids
                and (result["before"] is None or changed(result["before"], result["after"]))]
    later, failures = _write(api, to_write, concurrency, force, keep_answers, check_mode=check_mode)
    written += later
    if failures:
        # what was written stays written: the result says so (changed, done), and lists it
        raise batch_error("%d of %d writes failed" % (len(failures), len(to_write) + len(firsts)), failures,
                          done=[r["ref"] for r in written], results=summarize(written))
    return results


def _preflight_split(pending, preflight):
    """(the (object, result) pairs to dry-run, the pairs to write first and alone)."""
    if preflight == "each":
        return pending, []
    if preflight != "first":
        raise ValueError("preflight is each or first, not %r" % (preflight,))
    trial, firsts, kinds = [], [], set()
    for obj, result in pending:
        if result["before"] is not None:
            trial.append((obj, result))
        elif (obj["apiVersion"], obj["kind"]) not in kinds:
            kinds.add((obj["apiVersion"], obj["kind"]))
            firsts.append((obj, result))
    return trial, firsts


def _write(api, pairs, concurrency, force, keep, check_mode=False):
    """Write the (object, result) pairs (in check mode: none, the dry run was the answer); returns (the results
    written, marked changed; [(ref, AmbientMeshError)] of the writes that failed)."""
    if check_mode or not pairs:
        failures = []
    else:
        failures = _apply_all(api, pairs, concurrency, dry_run=False, force=force, keep=keep)
    failed_refs = set(ref for ref, _error in failures)
    written = [result for _obj, result in pairs if result["ref"] not in failed_refs]
    _mark_changed(written)
    return written, failures


def _mark_changed(results):
    for result in results:
        result["changed"] = True
        result["action"] = "created" if result["before"] is None else "updated"


def _apply_all(api, pending, concurrency, dry_run, force, keep=True):
    """Apply each (object, result) pair, recording the server's answer in result["after"] (None when not
    `keep`); returns [(ref, AmbientMeshError)] of the requests that failed."""
    failures = []
    for item, answer, error in run_concurrently(
            lambda item: api.apply(item[0], dry_run=dry_run, force=force), pending, concurrency):
        if error is not None:
            failures.append((item[1]["ref"], error))
        else:
            item[1]["after"] = answer if keep else None
    return failures


def summarize(results):
    """The module-facing part of apply results (the objects themselves go to the diff)."""
    return [dict((k, result[k]) for k in ("ref", "kind", "namespace", "name", "action", "changed"))
            for result in results]


def diff_entries(results):
    """The diff entries of the objects that apply (or delete) results say changed."""
    return [diff_entry(r["before"], r["after"], header=r["ref"]) for r in results if r["changed"]]
