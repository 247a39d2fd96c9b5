"""CRD validation rules (x-kubernetes-validations), evaluated with cel-python as kube-apiserver
evaluates them with cel-go.

Follows staging/src/k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel/validation.go
(Validator.validate / validateExpressions):
- a rule sees the value of its schema node as `self`; at the resource root, `self` has apiVersion,
  kind and metadata.name/generateName only (model.WithTypeAndObjectMeta);
- a transition rule (one that uses `oldSelf`) runs only on an update, where the node has an old
  value it correlates with: through object properties, map keys, and entries of
  x-kubernetes-list-type: map lists matched by key (never through atomic or set lists);
- a rule that evaluates to false gives `field.Invalid(path, <schema type>, message)`, message being
  the rule's `message` (trimmed), its `messageExpression` when that evaluates to a string, or
  "failed rule: <rule>"; a runtime error gives "<error> evaluating rule: <message or rule>";
- ratcheting (CRDValidationRatcheting, on by default since 1.30, GA in 1.33): on an update, errors
  of rules without oldSelf are dropped where the node (or, below an uncorrelatable list item, its
  nearest correlatable parent) equals its old value.
Property names are escaped as in k8s.io/apiserver/pkg/cel/escaping.go (`namespace` is `__namespace__`).

The Kubernetes CEL libraries the bundled CRDs use are provided here (k8s.io/apiserver/pkg/cel/library:
url.go isURL/url/getScheme..., ip.go isIP; cel-go ext/strings.go split, substring, ...). A rule that
calls anything else is refused when it is compiled, and a write that reaches it fails with a 500
naming the rule: never skipped silently.
"""

import ipaddress
import json
import re
import urllib.parse

import celpy
from celpy import celtypes

_RESERVED = {"true", "false", "null", "in", "as", "break", "const", "continue", "else", "for", "function", "if",
             "import", "let", "loop", "package", "namespace", "return", "var", "void", "while"}
_IDENT = re.compile(r"^[a-zA-Z_.\-/][a-zA-Z0-9_.\-/]*$")


def escape(name):
    """A property name as CEL sees it (escaping.go Escape); None when it cannot be accessed."""
    if name in _RESERVED:
        return f"__{name}__"
    if not _IDENT.match(name):
        return None
    if re.match(r"^[a-zA-Z_][a-zA-Z0-9_]*$", name) and "__" not in name:
        return name
    out = name.replace("__", "__underscores__").replace(".", "__dot__").replace("-", "__dash__")
    return out.replace("/", "__slash__")


# ---- the Kubernetes CEL libraries (what the bundled CRDs call) ----------------------------------
def _s(value):
    return celtypes.StringType(value)


def _split(text, sep, limit=None):
    parts = str(text).split(str(sep)) if limit is None or int(limit) < 0 else str(text).split(str(sep), int(limit) - 1)
    if limit is not None and int(limit) == 0:
        parts = []
    return celtypes.ListType([_s(p) for p in parts])


def _substring(text, start, end=None):
    text = str(text)
    start = int(start)
    end = len(text) if end is None else int(end)
    if start < 0 or end > len(text) or start > end:
        raise ValueError(f"index out of range: {start if start < 0 or start > len(text) else end}")
    return _s(text[start:end])


def _parse_request_uri(text):
    """Go's url.ParseRequestURI: an absolute URI or an absolute path, no spaces or control characters."""
    text = str(text)
    if not text or any(c in text for c in " \t\r\n\x00\x7f"):
        return None
    if not (text.startswith("/") or re.match(r"^[a-zA-Z][a-zA-Z0-9+.\-]*:", text)):
        return None
    try:
        return urllib.parse.urlsplit(text)
    except ValueError:
        return None


def _is_url(text):
    return celtypes.BoolType(_parse_request_uri(text) is not None)


def _url(text):
    parsed = _parse_request_uri(text)
    if parsed is None:
        raise ValueError(f"URL parse error during conversion from string: {text}")
    return celtypes.MapType({_s("__url__"): _s(str(text))})


def _url_part(part):
    def get(url):
        parsed = urllib.parse.urlsplit(str(url[_s("__url__")]))
        return _s({"scheme": parsed.scheme, "host": parsed.netloc, "hostname": parsed.hostname or "",
                   "port": str(parsed.port or ""), "path": parsed.path, "query": parsed.query}[part])
    return get


def _is_ip(text):
    text = str(text)
    if "%" in text:  # zones are refused (ip.go)
        return celtypes.BoolType(False)
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return celtypes.BoolType(False)
    return celtypes.BoolType(not (addr.version == 6 and addr.ipv4_mapped is not None))


FUNCTIONS = {
    "split": _split, "substring": _substring,
    "lowerAscii": lambda s: _s(str(s).lower()), "upperAscii": lambda s: _s(str(s).upper()),
    "trim": lambda s: _s(str(s).strip()), "join": lambda lst, sep="": _s(str(sep).join(str(x) for x in lst)),
    "replace": lambda s, old, new: _s(str(s).replace(str(old), str(new))),
    "indexOf": lambda s, sub: celtypes.IntType(str(s).find(str(sub))),
    "isURL": _is_url, "url": _url, "getScheme": _url_part("scheme"), "getHost": _url_part("host"),
    "getHostname": _url_part("hostname"), "getPort": _url_part("port"), "getEscapedPath": _url_part("path"),
    "getQuery": _url_part("query"), "isIP": _is_ip,
}
# cel-python's own: the standard definitions and macros
_STANDARD = {"has", "all", "exists", "exists_one", "map", "filter", "size", "matches", "contains", "startsWith",
             "endsWith", "int", "uint", "double", "string", "bytes", "bool", "duration", "timestamp", "type", "dyn",
             "getSeconds", "getMilliseconds", "getHours", "getMinutes"}
_STRINGS = re.compile(r'[rR]?("""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\')')
_CALL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(")



def _activation(value, old, schema):
    """The CEL variables of a rule: self, and oldSelf when there is a stored value."""
    activation = {"self": _to_cel(value, schema)}
    if old is not None:
        activation["oldSelf"] = _to_cel(old, schema)
    return activation

class RuleError(Exception):
    """A rule this evaluator cannot run: the write fails with a 500 naming it."""


class _Rule:
    __slots__ = ("text", "message", "message_expression", "program", "message_program", "uses_old", "error")

    def __init__(self, spec):
        self.text = spec.get("rule", "")
        self.message = (spec.get("message") or "").strip()
        self.message_expression = spec.get("messageExpression")
        self.uses_old = re.search(r"\boldSelf\b", _STRINGS.sub('""', self.text)) is not None
        self.program = self.message_program = self.error = None
        try:
            self.program = _compile(self.text)
            if self.message_expression:
                self.message_program = _compile(self.message_expression)
        except RuleError as exc:
            self.error = str(exc)

    def describe(self):  # ruleErrorString
        return self.message or self.text.strip()


_ENV = celpy.Environment()
_PROGRAMS: dict = {}
_RESULTS: dict = {}  # (rule, self, oldSelf) as JSON -> result


def _compile(text):
    """One program per distinct expression, for the life of the process."""
    program = _PROGRAMS.get(text)
    if program is None:
        unknown = sorted(set(_CALL.findall(_STRINGS.sub('""', text))) - _STANDARD - set(FUNCTIONS))
        if unknown:
            raise RuleError(f"uses {', '.join(unknown)}, which this test API server's CEL evaluator does not provide")
        try:
            program = _ENV.program(_ENV.compile(text), functions=FUNCTIONS)
        except Exception as exc:  # cel-python's parse errors have no common base
            raise RuleError(f"does not compile with cel-python: {exc}") from exc
        _PROGRAMS[text] = program
    return program


class _Node:
    __slots__ = ("rules", "type", "props", "items", "extra", "map_keys", "transition")

    def __init__(self):
        self.rules, self.type, self.props, self.items, self.extra, self.map_keys = [], "", {}, None, None, None
        self.transition = False  # a rule with oldSelf here or below


def _build(schema):
    """The schema's nodes that hold rules or lead to some; None for a subtree without any."""
    if not isinstance(schema, dict):
        return None
    node = _Node()
    node.type = schema.get("type", "")
    node.rules = [_Rule(r) for r in schema.get("x-kubernetes-validations") or []]
    for name, sub in (schema.get("properties") or {}).items():
        child = _build(sub)
        if child is not None:
            node.props[name] = child
    if isinstance(schema.get("items"), dict):
        node.items = _build(schema["items"])
        if schema.get("x-kubernetes-list-type") == "map":
            node.map_keys = list(schema.get("x-kubernetes-list-map-keys") or [])
    if isinstance(schema.get("additionalProperties"), dict):
        node.extra = _build(schema["additionalProperties"])
    if node.rules or node.props or node.items or node.extra:
        node.transition = any(r.uses_old for r in node.rules) or any(
            c.transition for c in list(node.props.values()) + [node.items, node.extra] if c is not None)
        return node
    return None


def _to_cel(value, schema):
    """A JSON value as CEL sees it, property names escaped (maps of additionalProperties are not)."""
    if isinstance(value, dict):
        props = schema.get("properties") if isinstance(schema, dict) else None
        out = {}
        if props is not None:
            for key, val in value.items():
                name = escape(key) if key in props else key
                if name is not None:
                    out[celtypes.StringType(name)] = _to_cel(val, props.get(key))
        else:
            extra = schema.get("additionalProperties") if isinstance(schema, dict) else None
            for key, val in value.items():
                out[celtypes.StringType(key)] = _to_cel(val, extra)
        return celtypes.MapType(out)
    if isinstance(value, list):
        items = schema.get("items") if isinstance(schema, dict) else None
        return celtypes.ListType([_to_cel(v, items) for v in value])
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    if isinstance(value, int):
        return celtypes.IntType(value)
    if isinstance(value, float):
        return celtypes.DoubleType(value)
    if isinstance(value, str):
        return celtypes.StringType(value)
    return None


class Validator:
    """The compiled rules of one CRD version's schema."""

    def __init__(self, schema):
        self.schema = schema
        self.root = _build(schema)
        self._schemas = {}

    def rules(self):
        """Every compiled rule, for the test that checks they all compile."""
        out, todo = [], [self.root]
        while todo:
            node = todo.pop()
            if node is None:
                continue
            out.extend(node.rules)
            todo.extend(node.props.values())
            todo.extend([node.items, node.extra])
        return out

    def validate(self, obj, old=None):
        """[(field, message)] of the rules that fail; RuleError for a rule that cannot run."""
        if self.root is None:
            return []
        errors = []
        root_self = {k: v for k, v in obj.items() if k not in ("metadata", "status")} | {
            "metadata": {k: v for k, v in (obj.get("metadata") or {}).items() if k in ("name", "generateName")}}
        if "status" in obj:
            root_self["status"] = obj["status"]
        self._walk(self.root, self.schema, obj, old, "", root_self, old is not None and obj == old, errors)
        return errors

    def _walk(self, node, schema, value, old, path, root_self, ratchet, errors):
        if value is None:
            return
        if ratchet and not node.transition:
            # unchanged since it was stored: whatever these rules say would be ratcheted away
            return
        if node.rules:
            self._run(node, schema, root_self if root_self is not None else value, old, path, ratchet, errors)
        props = (schema or {}).get("properties") or {}
        if isinstance(value, dict):
            for name, child in node.props.items():
                if name in value:
                    old_val = old.get(name) if isinstance(old, dict) else None
                    self._walk(child, props.get(name), value[name], old_val, f"{path}.{name}" if path else name,
                               None, old_val is not None and value[name] == old_val, errors)
            if node.extra is not None:
                extra = schema.get("additionalProperties")
                for key, val in value.items():
                    if key in props:
                        continue
                    old_val = old.get(key) if isinstance(old, dict) else None
                    self._walk(node.extra, extra, val, old_val, f"{path}[{key}]", None,
                               old_val is not None and val == old_val, errors)
        elif isinstance(value, list) and node.items is not None:
            items = schema.get("items")
            old_by_key = {}
            if node.map_keys and isinstance(old, list):
                old_by_key = {tuple(repr(o.get(k)) for k in node.map_keys): o for o in old if isinstance(o, dict)}
            for i, item in enumerate(value):
                if node.map_keys and isinstance(item, dict):
                    old_item = old_by_key.get(tuple(repr(item.get(k)) for k in node.map_keys))
                    item_ratchet = old_item is not None and item == old_item
                else:  # not correlatable: the nearest correlatable parent decides
                    old_item, item_ratchet = None, ratchet
                self._walk(node.items, items, item, old_item, f"{path}[{i}]", None, item_ratchet, errors)

    def _run(self, node, schema, value, old, path, ratchet, errors):
        """Each rule of a node on its value (self) and, on update, its stored value (oldSelf)."""
        where = path or "<root>"
        activation = None
        memo_self = json.dumps(value, sort_keys=True, separators=(",", ":"))
        memo_old = json.dumps(old, sort_keys=True, separators=(",", ":")) if old is not None else None
        for rule in node.rules:
            if rule.error:
                raise RuleError(f"rule at {where} ({rule.text!r}) {rule.error}")
            if rule.uses_old and old is None:
                continue
            # the same rule on the same value gives the same answer: the test suite writes many equal objects
            memo = (rule.text, memo_self, memo_old if rule.uses_old else None)
            result = _RESULTS.get(memo)
            if result is None:
                activation = activation or _activation(value, old, schema)
                try:
                    result = rule.program.evaluate(activation)
                except celpy.CELEvalError as exc:
                    result = exc
                if len(_RESULTS) > 100000:
                    _RESULTS.clear()
                _RESULTS[memo] = result
            if isinstance(result, celpy.CELEvalError):
                detail = _runtime_error(result, rule, where)
                errors.append((path, f'Invalid value: "{node.type}": {detail} evaluating rule: {rule.describe()}'))
                continue
            if result is True or result == celtypes.BoolType(True):
                continue
            if not rule.uses_old and ratchet:
                continue  # unchanged since it was stored: a warning in kube-apiserver, not an error
            detail = None
            if rule.message_program is not None:
                activation = activation or _activation(value, old, schema)
                try:
                    text = rule.message_program.evaluate(activation)
                    if isinstance(text, str) and text.strip():
                        detail = str(text)
                except celpy.CELEvalError:
                    detail = None
            if detail is None:
                detail = rule.message or f"failed rule: {rule.text.strip()}"
            errors.append((path, f'Invalid value: "{node.type}": {detail}'))


def _runtime_error(exc, rule, where):
    """cel-go's wording for the errors a rule may legitimately hit; anything else is our limitation."""
    text = str(exc.args[0]) if exc.args else str(exc)
    missing = re.match(r"no such member in mapping: '(.*)'", text)
    if missing:
        return f"no such key: {missing.group(1)}"
    if "undeclared reference" in text:
        raise RuleError(f"rule at {where} ({rule.text!r}) calls something cel-python does not provide: {text[:200]}")
    if "divide by zero" in text:
        return "division by zero"
    if isinstance(exc.args[1] if len(exc.args) > 1 else None, type) and issubclass(exc.args[1], IndexError):
        return "index out of bounds"
    if text.startswith("index out of range") or "overflow" in text:
        return text
    if "no such overload" in text or "no matching overload" in text:
        return "no such overload"
    raise RuleError(f"rule at {where} ({rule.text!r}) failed in cel-python: {text[:200]}")


_VALIDATORS: dict = {}


def validator(schema):
    """One compiled Validator per schema object (kept alive with it, so ids are not reused)."""
    cached = _VALIDATORS.get(id(schema))
    if cached is None or cached[0] is not schema:
        cached = (schema, Validator(schema))
        _VALIDATORS[id(schema)] = cached
    return cached[1]
