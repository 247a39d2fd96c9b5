"""The patch types kube-apiserver accepts, other than server-side apply (see ssa.py)."""

import copy

import jsonpatch

# Strategic merge: list fields merged by key, as in the built-in types' patchMergeKey tags.
_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
    "conditions": "type",
}


class PatchError(ValueError):
    pass


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, val in patch.items():
        if val is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), val)
    return out


def _merge_key(field, items):
    if field == "ports":
        return "containerPort" if any("containerPort" in i for i in items if isinstance(i, dict)) else "port"
    return _MERGE_KEYS.get(field)


def strategic_merge_patch(target, patch):
    """Strategic merge patch for built-in kinds: keyed list merge, null deletes, $patch directives."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if not k.startswith("$")}
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, val in patch.items():
        if key.startswith("$"):
            continue
        if val is None:
            out.pop(key, None)
        elif isinstance(val, dict):
            out[key] = strategic_merge_patch(out.get(key), val)
        elif isinstance(val, list) and isinstance(out.get(key), list):
            merge_key = _merge_key(key, val + out[key])
            out[key] = _merge_list(out[key], val, merge_key) if merge_key else copy.deepcopy(val)
        else:
            out[key] = copy.deepcopy(val)
    return out


def _merge_list(current, patch, merge_key):
    out = copy.deepcopy(current)
    index = {item.get(merge_key): i for i, item in enumerate(out) if isinstance(item, dict)}
    for item in patch:
        if not isinstance(item, dict) or merge_key not in item:
            raise PatchError(f"map: {item!r} does not contain declared merge key: {merge_key}")
        key = item[merge_key]
        if item.get("$patch") == "delete":
            out = [i for i in out if not (isinstance(i, dict) and i.get(merge_key) == key)]
            index = {i.get(merge_key): n for n, i in enumerate(out)}
        elif key in index:
            out[index[key]] = strategic_merge_patch(out[index[key]], item)
        else:
            index[key] = len(out)
            out.append({k: v for k, v in item.items() if not k.startswith("$")})
    return out


def json_patch(target, operations):
    try:
        return jsonpatch.apply_patch(target, operations)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError) as exc:
        raise PatchError(str(exc)) from exc
