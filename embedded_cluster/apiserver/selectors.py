"""Label and field selectors, with kube-apiserver's syntax."""

import re

_SET_RE = re.compile(r"^\s*(!?)([\w./-]+)\s*(?:(in|notin)\s*\(([^)]*)\))?\s*$")


class SelectorError(ValueError):
    pass


def _split(selector):
    parts, depth, cur = [], 0, ""
    for ch in selector:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def parse_labels(selector):
    """A list of predicates over a labels dict."""
    preds = []
    for term in _split(selector or ""):
        for op in ("!=", "==", "="):
            if op in term and " in " not in term and "notin" not in term:
                key, val = (s.strip() for s in term.split(op, 1))
                if op == "!=":
                    preds.append(lambda lbl, k=key, v=val: lbl.get(k) != v)
                else:
                    preds.append(lambda lbl, k=key, v=val: lbl.get(k) == v)
                break
        else:
            m = _SET_RE.match(term)
            if not m:
                raise SelectorError(f"unable to parse requirement: {term!r}")
            neg, key, op, values = m.groups()
            vals = {v.strip() for v in (values or "").split(",") if v.strip()}
            if op == "in":
                preds.append(lambda lbl, k=key, vs=vals: lbl.get(k) in vs)
            elif op == "notin":
                preds.append(lambda lbl, k=key, vs=vals: lbl.get(k) not in vs)
            elif neg:
                preds.append(lambda lbl, k=key: k not in lbl)
            else:
                preds.append(lambda lbl, k=key: k in lbl)
    return preds


_FIELDS = {
    "metadata.name": lambda o: o["metadata"].get("name"),
    "metadata.namespace": lambda o: o["metadata"].get("namespace", ""),
}


def parse_fields(selector):
    preds = []
    for term in _split(selector or ""):
        op = "!=" if "!=" in term else ("==" if "==" in term else "=")
        key, val = (s.strip() for s in term.split(op, 1))
        if key not in _FIELDS:
            raise SelectorError(f'field label not supported: {key}')
        get = _FIELDS[key]
        if op == "!=":
            preds.append(lambda o, g=get, v=val: g(o) != v)
        else:
            preds.append(lambda o, g=get, v=val: g(o) == v)
    return preds


def matches(obj, label_preds, field_preds):
    labels = obj.get("metadata", {}).get("labels") or {}
    return all(p(labels) for p in label_preds) and all(p(obj) for p in field_preds)
