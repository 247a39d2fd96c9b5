"""Server-side apply and field ownership (metadata.managedFields), as kube-apiserver keeps them.

Maps are granular (each key has an owner). Lists marked `x-kubernetes-list-type: map` in the schema
(built-ins: `+listType=map` in k8s.io/api, see catalog.BUILTIN_SHAPES) are granular per entry: each
entry is owned by its keys, `k:{"name":"mesh"}` in fieldsV1, with `.` for the entry itself, and a
conflict names the entry, `.spec.listeners[name="mesh"].port` (structured-merge-diff v4: fieldpath
PathElement, typed/tofieldset.go, merge/update.go). Other lists are atomic, owned as a whole.
`shape` is the schema that says which lists are maps (a CRD's openAPIV3Schema, or a built-in's).

The collection reads managedFields with its own code (plugins/module_utils/_objects/diff.py); this server
keeps an independent implementation on purpose, so a mistake in one is caught by the other.
"""

import copy
import datetime
import json

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


class Key:
    """An entry of an associative list, by its key fields (a fieldpath PathElement with a Key)."""

    __slots__ = ("values", "_id")

    def __init__(self, values):
        self.values = dict(values)
        self._id = tuple(sorted((k, json.dumps(v, sort_keys=True, separators=(",", ":"))) for k, v in self.values.items()))

    def __eq__(self, other):
        return isinstance(other, Key) and other._id == self._id

    def __hash__(self):
        return hash(self._id)

    def __repr__(self):
        return f"Key({self.values!r})"

    def fields_v1(self):
        return "k:{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in self._id) + "}"

    def __str__(self):  # as smd prints a path: [containerPort=80,protocol="TCP"]
        return "[" + ",".join(f"{k}={v}" for k, v in self._id) + "]"

    def matches(self, item):
        return isinstance(item, dict) and all(k in item and item[k] == v for k, v in self.values.items())

    @classmethod
    def parse(cls, text):
        return cls(json.loads(text))


ITEM = object()  # the value of an entry's own path (its "." in fieldsV1)
_MISSING = object()
_META_SHAPE = {"properties": {"ownerReferences": {  # k8s.io/apimachinery ObjectMeta: +listType=map +listMapKey=uid
    "type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["uid"]}}}


def _child(shape, key, path):
    if path == ("metadata",):
        return _META_SHAPE
    if not isinstance(shape, dict):
        return None
    props = shape.get("properties") or {}
    if key in props:
        return props[key]
    extra = shape.get("additionalProperties")
    return extra if isinstance(extra, dict) else None


def _map_list(shape):
    """The item schema and keys of an associative list, or None for an atomic one."""
    if isinstance(shape, dict) and shape.get("x-kubernetes-list-type") == "map" and shape.get("x-kubernetes-list-map-keys"):
        return shape.get("items") or {}, shape["x-kubernetes-list-map-keys"]
    return None


def _key(item, items_shape, keys):
    """An entry's key; a key field left out takes its schema default, as smd does for defaulted keys."""
    props = (items_shape or {}).get("properties") or {}
    values = {}
    for name in keys:
        if name in item:
            values[name] = item[name]
        elif "default" in (props.get(name) or {}):
            values[name] = props[name]["default"]
    return Key(values)


def leaves(obj, shape=None, prefix=()):
    """{path: value} of every owned field: scalars, atomic lists, empty maps, and each entry of an
    associative list (value ITEM) with its own fields."""
    out = {}
    if isinstance(obj, dict) and (obj or not prefix):
        for key, val in obj.items():
            path = prefix + (key,)
            if path in _UNOWNED:
                continue
            sub = _child(shape, key, path)
            assoc = _map_list(sub) if isinstance(val, list) else None
            if isinstance(val, dict) and val:
                out.update(leaves(val, sub, path))
            elif assoc is not None and all(isinstance(i, dict) for i in val):
                # an empty associative list claims nothing (typed/tofieldset.go visits no item)
                for item in val:
                    entry = path + (_key(item, *assoc),)
                    out[entry] = ITEM
                    if item:
                        out.update(leaves(item, assoc[0], entry))
            else:
                out[path] = val
    else:
        out[prefix] = obj
    return out


def format_path(path):
    """A field path as kube-apiserver prints it in a conflict: .spec.listeners[name="mesh"].port"""
    return "".join(str(p) if isinstance(p, Key) else f".{p}" for p in path)


def _sort_key(path):
    return [(1, p.fields_v1()) if isinstance(p, Key) else (0, p) for p in path]


def to_fields_v1(paths):
    tree = {}
    for path in sorted(paths, key=_sort_key):
        node = tree
        for part in path:
            node = node.setdefault(part.fields_v1() if isinstance(part, Key) else f"f:{part}", {})
        if isinstance(path[-1], Key):
            node["."] = {}
    return tree


def from_fields_v1(tree, prefix=()):
    paths = set()
    for key, sub in (tree or {}).items():
        if key.startswith("f:"):
            part = key[2:]
        elif key.startswith("k:"):
            part = Key.parse(key[2:])
        else:
            continue  # ".", handled with its parent; v: and i: are not written by this server
        path = prefix + (part,)
        sub = sub or {}
        children = [k for k in sub if k != "."]
        if isinstance(part, Key):
            if "." in sub or not children:
                paths.add(path)
            paths |= from_fields_v1(sub, path)
        elif children:
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


def _overlaps(a, b):
    """Whether owning one of the paths decides the value at the other: the same field, or one inside
    the other, except that owning a list entry (its ".") is not owning the entry's fields."""
    short, long_ = (a, b) if len(a) <= len(b) else (b, a)
    if long_[:len(short)] != short:
        return False
    return len(short) == len(long_) or not isinstance(short[-1], Key)


def _index(items, key):
    for i, item in enumerate(items):
        if key.matches(item):
            return i
    return None


def _get(obj, path):
    for part in path:
        if isinstance(part, Key):
            i = _index(obj, part) if isinstance(obj, list) else None
            if i is None:
                return _MISSING
            obj = obj[i]
        else:
            if not isinstance(obj, dict) or part not in obj:
                return _MISSING
            obj = obj[part]
    return obj


def _set(obj, path, value):
    node = obj
    for n, part in enumerate(path):
        last = n == len(path) - 1
        if isinstance(part, Key):
            i = _index(node, part)
            if i is None:
                node.append(copy.deepcopy(part.values))
                i = len(node) - 1
            node = node[i]
        elif last:
            node[part] = copy.deepcopy(value)
        else:
            want = list if isinstance(path[n + 1], Key) else dict
            if not isinstance(node.get(part), want):
                node[part] = want()
            node = node[part]


def _delete(obj, path):
    parents = []
    for part in path[:-1]:
        if isinstance(part, Key):
            i = _index(obj, part) if isinstance(obj, list) else None
            if i is None:
                return
            parents.append((obj, i))
            obj = obj[i]
        else:
            if not isinstance(obj, dict) or part not in obj:
                return
            parents.append((obj, part))
            obj = obj[part]
    last = path[-1]
    if isinstance(last, Key):
        i = _index(obj, last) if isinstance(obj, list) else None
        if i is not None:
            del obj[i]
    elif isinstance(obj, dict):
        obj.pop(last, None)
    for parent, key in reversed(parents):  # drop maps, entries and lists the removal left empty
        if parent[key] in ({}, []):
            del parent[key]
        else:
            break


def apply(live, applied, manager, force, api_version, subresource="", normalize=None, shape=None):
    """The object after `manager` applies `applied` to `live` (None when absent).

    `normalize` (the schema's defaulting) is applied to a copy of the configuration before it is
    compared with the live object, so a default the server filled in is no conflict.
    """
    live = copy.deepcopy(live) if live else {}
    applied_leaves = leaves(applied, shape)
    compared = copy.deepcopy(applied)
    if normalize:
        normalize(compared)
    current = owners(live)
    conflicts = []
    for path, value in leaves(compared, shape).items():
        if value is ITEM:  # an entry is there or not; its fields are compared one by one
            continue
        live_value = _get(live, path)
        if live_value is _MISSING or live_value == value:
            continue
        for other, _op, _sub, paths in current:
            if other != manager and any(_overlaps(path, p) for p in paths):
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
    # what this manager applied before and no longer does, unless someone else holds it (or, for a
    # list entry, something inside it): merge/update.go prune
    # (entries first, so that their fields go with them; an entry's key fields go only with it)
    for path in sorted(previous - set(applied_leaves), key=len):
        if any(q[:len(path)] == path for q in others):
            continue
        if len(path) > 1 and isinstance(path[-2], Key) and path[-1] in path[-2].values:
            continue
        _delete(result, path)
    for path, value in applied_leaves.items():
        _set(result, path, value)

    new_owners = []
    for other, op, sub, paths in current:
        if other == manager and op == "Apply" and sub == subresource:
            continue
        if force:
            paths = {p for p in paths if not any(_overlaps(p, c) for _m, c in conflicts)}
        new_owners.append((other, op, sub, paths))
    new_owners.append((manager, "Apply", subresource, set(applied_leaves)))
    result.setdefault("metadata", {})["managedFields"] = _entries(new_owners, api_version)
    return result


def record_update(old, new, manager, api_version, subresource="", shape=None):
    """managedFields after a non-apply write: `manager` takes the fields it changed."""
    old_leaves = leaves(old or {}, shape)
    new_leaves = leaves(new, shape)
    changed = {p for p, v in new_leaves.items() if old_leaves.get(p, _MISSING) is not v
               and old_leaves.get(p, _MISSING) != v}
    removed = set(old_leaves) - set(new_leaves)
    updated = []
    mine = set()
    for other, op, sub, paths in owners(old or {}):
        paths = {p for p in paths if not any(_overlaps(p, r) for r in removed)}
        if other == manager and op == "Update" and sub == subresource:
            mine |= paths
            continue
        paths = {p for p in paths if not any(_overlaps(p, c) for c in changed)}
        updated.append((other, op, sub, paths))
    mine = {p for p in mine if p in new_leaves} | changed
    updated.append((manager, "Update", subresource, mine))
    new.setdefault("metadata", {})["managedFields"] = _entries(updated, api_version)
    return new
