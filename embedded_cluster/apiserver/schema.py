"""CRD structural schemas: defaulting, pruning and validation as kube-apiserver does them.

CEL rules (x-kubernetes-validations) are not evaluated; everything else that the
OpenAPI v3 schema says (types, required, enums, bounds, lengths, maxItems, patterns,
list-map keys) is.
"""

import copy
import json

import jsonschema

_ROOT_META_KEYS = ("apiVersion", "kind", "metadata")


def apply_defaults(obj, schema):
    """Fill in `default` values where a field is absent, recursively."""
    if not isinstance(schema, dict):
        return
    if isinstance(obj, dict):
        for key, sub in (schema.get("properties") or {}).items():
            if key not in obj and "default" in sub:
                obj[key] = copy.deepcopy(sub["default"])
            if key in obj:
                apply_defaults(obj[key], sub)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            for key, val in obj.items():
                if key not in (schema.get("properties") or {}):
                    apply_defaults(val, extra)
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        for item in obj:
            apply_defaults(item, schema["items"])


def prune(obj, schema, root=True):
    """Drop fields the schema does not know (unless it preserves unknown fields)."""
    if not isinstance(schema, dict):
        return
    if isinstance(obj, dict):
        props = schema.get("properties")
        keep_unknown = schema.get("x-kubernetes-preserve-unknown-fields") or "additionalProperties" in schema
        if props is not None and not keep_unknown:
            for key in list(obj):
                if key not in props and not (root and key in _ROOT_META_KEYS):
                    del obj[key]
        for key, val in obj.items():
            if props and key in props:
                prune(val, props[key], root=False)
            elif isinstance(schema.get("additionalProperties"), dict):
                prune(val, schema["additionalProperties"], root=False)
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        for item in obj:
            prune(item, schema["items"], root=False)


def unknown_fields(obj, schema, path="", root=True):
    """The fields prune() would drop, as kube-apiserver names them to a fieldValidation=Strict client."""
    out = []
    if not isinstance(schema, dict):
        return out
    if isinstance(obj, dict):
        props = schema.get("properties")
        keep_unknown = schema.get("x-kubernetes-preserve-unknown-fields") or "additionalProperties" in schema
        for key, val in obj.items():
            where = f"{path}.{key}" if path else key
            if props and key in props:
                out += unknown_fields(val, props[key], where, root=False)
            elif isinstance(schema.get("additionalProperties"), dict):
                out += unknown_fields(val, schema["additionalProperties"], where, root=False)
            elif props is not None and not keep_unknown and not (root and key in _ROOT_META_KEYS):
                out.append(where)
    elif isinstance(obj, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(obj):
            out += unknown_fields(item, schema["items"], f"{path}[{i}]", root=False)
    return out


def _to_json_schema(schema):
    """OpenAPI v3 (Kubernetes flavour) to JSON Schema: nullable and int-or-string."""
    if isinstance(schema, list):
        return [_to_json_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, val in schema.items():
        if key in ("properties", "patternProperties", "definitions"):
            out[key] = {k: _to_json_schema(v) for k, v in val.items()}
        elif key in ("items", "additionalProperties", "not", "allOf", "anyOf", "oneOf"):
            out[key] = _to_json_schema(val)
        elif key == "format":
            continue  # kube-apiserver checks only a few formats; not enforced here
        else:
            out[key] = val
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if schema.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


_VALIDATORS: dict = {}


def _validator(crd_schema):
    """One compiled validator per schema object (kept alive with it, so ids are not reused)."""
    cached = _VALIDATORS.get(id(crd_schema))
    if cached is None or cached[0] is not crd_schema:
        converted = _to_json_schema(crd_schema)
        # metadata is validated by the server itself, as kube-apiserver does
        converted.get("properties", {}).pop("metadata", None)
        cached = (crd_schema, jsonschema.Draft7Validator(converted))
        _VALIDATORS[id(crd_schema)] = cached
    return cached[1]


def _field_path(path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _list_map_duplicates(obj, schema, path=()):
    """x-kubernetes-list-type: map (and set) keep their keys unique."""
    if not isinstance(schema, dict):
        return
    if isinstance(obj, list):
        list_type = schema.get("x-kubernetes-list-type")
        seen = set()
        for i, item in enumerate(obj):
            if list_type == "map":
                keys = schema.get("x-kubernetes-list-map-keys", [])
                key = tuple(json.dumps(item.get(k), sort_keys=True) for k in keys) if isinstance(item, dict) else None
            elif list_type == "set":
                key = json.dumps(item, sort_keys=True)
            else:
                key = None
            if key is not None:
                if key in seen:
                    yield _field_path(path + (i,)), f"Duplicate value: {json.dumps(item)}"
                seen.add(key)
            yield from _list_map_duplicates(item, schema.get("items"), path + (i,))
    elif isinstance(obj, dict):
        for key, val in obj.items():
            sub = (schema.get("properties") or {}).get(key)
            if sub is None and isinstance(schema.get("additionalProperties"), dict):
                sub = schema["additionalProperties"]
            yield from _list_map_duplicates(val, sub, path + (key,))


def validate(obj, schema) -> list:
    """[(field, message), ...] in kube-apiserver's wording; empty when valid."""
    validator = _validator(schema)
    body = {k: v for k, v in obj.items() if k != "metadata"}
    causes = []
    for err in sorted(validator.iter_errors(body), key=lambda e: list(map(str, e.absolute_path))):
        field = _field_path(err.absolute_path)
        if err.validator == "required":
            missing = err.message.split("'")[1]
            causes.append((f"{field}.{missing}" if field else missing, "Required value"))
            continue
        causes.append((field, _message(field, err)))
    causes.extend(_list_map_duplicates(body, schema))
    return causes


def _message(field, err) -> str:
    value = json.dumps(err.instance)
    where = field or "<root>"
    kind = err.validator
    if kind == "enum":
        allowed = ", ".join(json.dumps(v) for v in err.validator_value)
        return f"Unsupported value: {value}: supported values: {allowed}"
    if kind == "minimum":
        return f"Invalid value: {value}: {where} in body should be greater than or equal to {err.validator_value}"
    if kind == "maximum":
        return f"Invalid value: {value}: {where} in body should be less than or equal to {err.validator_value}"
    if kind == "maxItems":
        return f"Too many: {len(err.instance)}: must have at most {err.validator_value} items"
    if kind == "minItems":
        return f"Invalid value: {len(err.instance)}: {where} in body should have at least {err.validator_value} items"
    if kind == "maxLength":
        return f"Too long: may not be more than {err.validator_value} bytes"
    if kind == "minLength":
        return f"Invalid value: {value}: {where} in body should be at least {err.validator_value} chars long"
    if kind == "pattern":
        return f"Invalid value: {value}: {where} in body should match '{err.validator_value}'"
    if kind == "type":
        return f"Invalid value: {value}: {where} in body must be of type {err.validator_value}"
    return f"Invalid value: {value}: {err.message}"
