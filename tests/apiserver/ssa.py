"""Server-side apply and field ownership (metadata.managedFields), as kube-apiserver keeps them.

Maps are granular (each key has an owner); lists are atomic (owned as a whole), which is what
Kubernetes does for lists without x-kubernetes-list-type: map/set.

The collection reads managedFields with its own code (plugins/module_utils/_diff.py); this server
keeps an independent implementation on purpose, so a mistake in one is caught by the other.
"""

import copy
import datetime

# Fields nobody owns: identity and server-managed metadata.
_UNOWNED = {
    ("apiVersion",), ("kind",), ("metadata", "name"), ("metadata", "namespace"),
    ("metadata", "uid"), ("metadata", "resourceVersion"), ("metadata", "generation"),
    ("metadata", "creationTimestamp"), ("metadata", "managedFields"),
    ("metadata", "deletionTimestamp"), ("metadata", "selfLink"),
}


class ApplyConflict(Exception):
    def __init__(self, conflicts):
        super().__init__(conflicts)
        self.conflicts = conflicts  # [(manager, field path)]


def leaves(obj, prefix=()):
    """{path: value} of every owned leaf: scalars, lists and empty maps."""
    out = {}
    if isinstance(obj, dict) and (obj or not prefix):
        for key, val in obj.items():
            path = prefix + (key,)
            if path in _UNOWNED:
                continue
            if isinstance(val, dict) and val:
                out.update(leaves(val, path))
            else:
                out[path] = val
    else:
        out[prefix] = obj
    return out


def to_fields_v1(paths):
    tree = {}
    for path in sorted(paths):
        node = tree
        for part in path:
            node = node.setdefault(f"f:{part}", {})
    return tree


def from_fields_v1(tree, prefix=()):
    paths = set()
    for key, sub in (tree or {}).items():
        if not key.startswith("f:"):
            continue
        path = prefix + (key[2:],)
        if sub and any(k.startswith("f:") for k in sub):
            paths |= from_fields_v1(sub, path)
        else:
            paths.add(path)
    return paths


def owners(obj):
    """[(manager, operation, subresource, set of paths)] from metadata.managedFields."""
    out = []
    for entry in obj.get("metadata", {}).get("managedFields") or []:
        out.append((entry.get("manager"), entry.get("operation"), entry.get("subresource", ""),
                    from_fields_v1(entry.get("fieldsV1"))))
    return out


def _entries(owner_list, api_version):
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    out = []
    for manager, operation, subresource, paths in owner_list:
        if not paths:
            continue
        entry = {"manager": manager, "operation": operation, "apiVersion": api_version,
                 "time": now, "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(paths)}
        if subresource:
            entry["subresource"] = subresource
        out.append(entry)
    # in a stable order, so that a re-apply that changes nothing is a no-op (apimachinery
    # pkg/util/managedfields/internal/managedfields.go, sortEncodedManagedFields: operation, time,
    # manager, apiVersion, subresource; the time is left out here, the entries are rewritten each time)
    out.sort(key=lambda e: (e["operation"], e["manager"], e["apiVersion"], e.get("subresource", "")))
    return out


def _related(a, b):
    return a[:len(b)] == b or b[:len(a)] == a


def _get(obj, path):
    for part in path:
        if not isinstance(obj, dict) or part not in obj:
            return _MISSING
        obj = obj[part]
    return obj


def _set(obj, path, value):
    for part in path[:-1]:
        if not isinstance(obj.get(part), dict):
            obj[part] = {}
        obj = obj[part]
    obj[path[-1]] = copy.deepcopy(value)


def _delete(obj, path):
    parents = []
    for part in path[:-1]:
        if not isinstance(obj, dict) or part not in obj:
            return
        parents.append((obj, part))
        obj = obj[part]
    if isinstance(obj, dict):
        obj.pop(path[-1], None)
    for parent, key in reversed(parents):  # drop maps the removal left empty
        if parent[key] == {}:
            del parent[key]
        else:
            break


_MISSING = object()


def apply(live, applied, manager, force, api_version, subresource="", normalize=None):
    """The object after `manager` applies `applied` to `live` (None when absent).

    `normalize` (the schema's defaulting) is applied to a copy of the configuration before it is
    compared with the live object, so a default the server filled in is no conflict.
    """
    live = copy.deepcopy(live) if live else {}
    applied_leaves = leaves(applied)
    compared = copy.deepcopy(applied)
    if normalize:
        normalize(compared)
    current = owners(live)
    conflicts = []
    for path, value in leaves(compared).items():
        live_value = _get(live, path)
        if live_value is _MISSING or live_value == value:
            continue
        for other, _op, _sub, paths in current:
            if other != manager and any(_related(path, p) for p in paths):
                conflicts.append((other, path))
    if conflicts and not force:
        raise ApplyConflict(conflicts)

    previous = set()
    others = set()
    # managedFields entries are keyed by manager, operation and subresource (an apply to /status is
    # another entry than an apply to the object)
    for other, op, sub, paths in current:
        if other == manager and op == "Apply" and sub == subresource:
            previous |= paths
        else:
            others |= paths
    result = live
    for path in previous - set(applied_leaves) - others:
        _delete(result, path)
    for path, value in applied_leaves.items():
        _set(result, path, value)

    new_owners = []
    for other, op, sub, paths in current:
        if other == manager and op == "Apply" and sub == subresource:
            continue
        if force:
            paths = {p for p in paths if not any(_related(p, c) for _m, c in conflicts)}
        new_owners.append((other, op, sub, paths))
    new_owners.append((manager, "Apply", subresource, set(applied_leaves)))
    result.setdefault("metadata", {})["managedFields"] = _entries(new_owners, api_version)
    return result


def record_update(old, new, manager, api_version, subresource=""):
    """managedFields after a non-apply write: `manager` takes the fields it changed."""
    old_leaves = leaves({k: v for k, v in (old or {}).items()})
    new_leaves = leaves(new)
    changed = {p for p, v in new_leaves.items() if old_leaves.get(p, _MISSING) != v}
    removed = set(old_leaves) - set(new_leaves)
    updated = []
    mine = set()
    for other, op, sub, paths in owners(old or {}):
        paths = {p for p in paths if p not in removed and not any(_related(p, r) for r in removed)}
        if other == manager and op == "Update" and sub == subresource:
            mine |= paths
            continue
        paths = {p for p in paths if not any(_related(p, c) for c in changed)}
        updated.append((other, op, sub, paths))
    mine = {p for p in mine if p in new_leaves} | changed
    updated.append((manager, "Update", subresource, mine))
    new.setdefault("metadata", {})["managedFields"] = _entries(updated, api_version)
    return new
