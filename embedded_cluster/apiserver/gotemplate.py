"""Just enough of Go's text/template (and the functions Istio's injection templates use) to render the
metadata and Service parts of Istio's waypoint template, embedded_cluster/data/istio-1.30.3/templates/waypoint.yaml.

Istio renders that file with text/template plus sprig and its own functions
(pkg/kube/inject/template.go: toJsonMap, strdict, omit, ...). What is supported here: text, `{{ }}` and
`{{- -}}` trim markers, comments, if / else / end, range $k, $v := <list>, with, pipelines, fields of
the input (Go names: .Name, .Spec.Addresses, $val.Port), and the functions below. Anything else is an
error: a template change this does not understand fails the tests instead of rendering something else.
"""

import json
import re

_ACTION = re.compile(r"{{(-\s)?(.*?)(\s-)?}}", re.S)
_TOKEN = re.compile(r'\s*(\(|\)|\||:=|,|"(?:[^"\\]|\\.)*"|`[^`]*`|\$[A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*'
                    r'|\.[A-Za-z0-9_.]*|-?\d+|[A-Za-z_][A-Za-z0-9_]*)')


class TemplateError(Exception):
    pass


def _truthy(value):
    return bool(value) if value is not None else False


def _merge(*maps):
    out = {}
    for m in maps:
        out.update(m or {})
    return out


FUNCS = {
    # pkg/kube/inject/template.go
    "toJsonMap": lambda *maps: json.dumps(_merge(*maps), sort_keys=True, separators=(",", ":")),
    "omit": lambda d, *keys: {k: v for k, v in (d or {}).items() if k not in keys},
    "strdict": lambda *kv: {kv[i]: "" if kv[i + 1] is None else str(kv[i + 1]) for i in range(0, len(kv), 2)},
    # sprig
    "quote": lambda *v: " ".join(json.dumps("" if x is None else str(x)) for x in v),
    "default": lambda d, given=None: given if _truthy(given) else d,
    "nindent": lambda n, s: "\n" + "\n".join(" " * n + line for line in str(s).split("\n")),
    "contains": lambda sub, s: str(sub) in str(s),
    # text/template built-ins
    "ge": lambda a, b: a >= b,
    "eq": lambda a, *b: any(a == x for x in b),
    "not": lambda a: not _truthy(a),
    "and": lambda *a: next((x for x in a if not _truthy(x)), a[-1]),
    "or": lambda *a: next((x for x in a if _truthy(x)), a[-1]),
    "index": lambda m, *keys: _index(m, keys),
}


def _index(m, keys):
    for k in keys:
        m = m[k]
    return m


def _parse(text):
    """A tree of ("text", s) / ("action", expr) / ("if"|"with", expr, body, else) / ("range", vars, expr, body)."""
    pieces, pos, trim_next = [], 0, False
    for m in _ACTION.finditer(text):
        chunk = text[pos:m.start()]
        if trim_next:
            chunk = chunk.lstrip()
        if m.group(1):
            chunk = chunk.rstrip()
        pieces.append(("text", chunk))
        pieces.append(("action", m.group(2).strip()))
        trim_next = bool(m.group(3))
        pos = m.end()
    tail = text[pos:]
    pieces.append(("text", tail.lstrip() if trim_next else tail))

    def block(i, stop):
        body = []
        while i < len(pieces):
            kind, val = pieces[i]
            if kind == "text":
                body.append(("text", val))
                i += 1
                continue
            word = val.split(None, 1)[0] if val else ""
            if val.startswith("/*"):
                i += 1
            elif word in ("end", "else"):
                if word not in stop:
                    raise TemplateError("unexpected {{%s}}" % val)
                return body, i, word
            elif word in ("if", "with"):
                inner, i, ended = block(i + 1, ("end", "else"))
                other = []
                if ended == "else":
                    other, i, _ended = block(i + 1, ("end",))
                body.append((word, val[len(word):].strip(), inner, other))
                i += 1
            elif word == "range":
                m = re.match(r"range\s+(?:(\$\w+)\s*,\s*(\$\w+)\s*:=\s*)?(.*)$", val, re.S)
                inner, i, _ended = block(i + 1, ("end",))
                body.append(("range", (m.group(1), m.group(2)), m.group(3), inner))
                i += 1
            else:
                body.append(("action", val))
                i += 1
        if stop:
            raise TemplateError("missing {{end}}")
        return body, i, None

    return block(0, ())[0]


def _tokens(expr):
    out, pos = [], 0
    expr = expr.rstrip()
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if not m or m.end() == pos:
            raise TemplateError("cannot read %r" % expr[pos:])
        out.append(m.group(1))
        pos = m.end()
    return out


class _Eval:
    def __init__(self, dot, variables):
        self.dot, self.vars = dot, variables

    def field(self, base, chain):
        for name in [p for p in chain.split(".") if p]:
            if base is None:
                return None
            if not isinstance(base, dict):
                raise TemplateError("no field %s in %r" % (name, base))
            base = base.get(name)
        return base

    def pipeline(self, tokens):
        value, first = None, True
        for command in self._split(tokens, "|"):
            value = self.command(command, None if first else value, piped=not first)
            first = False
        return value

    @staticmethod
    def _split(tokens, sep):
        parts, depth, cur = [], 0, []
        for tok in tokens:
            depth += tok == "("
            depth -= tok == ")"
            if tok == sep and depth == 0:
                parts.append(cur)
                cur = []
            else:
                cur.append(tok)
        parts.append(cur)
        return parts

    def operands(self, tokens):
        out, i = [], 0
        while i < len(tokens):
            tok = tokens[i]
            if tok == "(":
                depth, j = 1, i + 1
                while depth:
                    depth += tokens[j] == "("
                    depth -= tokens[j] == ")"
                    j += 1
                out.append(("value", self.pipeline(tokens[i + 1:j - 1])))
                i = j
                continue
            out.append(("token", tok))
            i += 1
        return out

    def operand(self, kind, tok):
        if kind == "value":
            return tok
        if tok.startswith('"'):
            return json.loads(tok)
        if tok.startswith("`"):
            return tok[1:-1]
        if tok.startswith("$"):
            name, _, chain = tok.partition(".")
            if name not in self.vars:
                raise TemplateError("undefined variable %s" % name)
            return self.field(self.vars[name], chain)
        if tok.startswith("."):
            return self.field(self.dot, tok)
        if re.match(r"-?\d+$", tok):
            return int(tok)
        raise TemplateError("unknown function or value %r" % tok)

    def command(self, tokens, piped_value, piped):
        ops = self.operands(tokens)
        if ops and ops[0][0] == "token" and re.match(r"[A-Za-z_]", ops[0][1]):
            name = ops[0][1]
            if name not in FUNCS:
                raise TemplateError("function %r is not supported" % name)
            args = [self.operand(k, t) for k, t in ops[1:]] + ([piped_value] if piped else [])
            return FUNCS[name](*args)
        if len(ops) != 1 or piped:
            raise TemplateError("cannot evaluate %r" % " ".join(tokens))
        return self.operand(*ops[0])


def _show(value):
    if value is None:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _run(nodes, dot, variables, out):
    ev = _Eval(dot, variables)
    for node in nodes:
        kind = node[0]
        if kind == "text":
            out.append(node[1])
        elif kind == "action":
            if node[1].startswith("/*"):
                continue
            out.append(_show(ev.pipeline(_tokens(node[1]))))
        elif kind in ("if", "with"):
            value = ev.pipeline(_tokens(node[1]))
            if _truthy(value):
                _run(node[2], value if kind == "with" else dot, variables, out)
            else:
                _run(node[3], dot, variables, out)
        elif kind == "range":
            (key_var, val_var), expr, body = node[1], node[2], node[3]
            items = ev.pipeline(_tokens(expr)) or []
            pairs = items.items() if isinstance(items, dict) else enumerate(items)
            for key, val in pairs:
                scope = dict(variables)
                if key_var:
                    scope[key_var], scope[val_var] = key, val
                _run(body, val, scope, out)


def render(text, data):
    out = []
    _run(_parse(text), data, {"$": data}, out)
    return "".join(out)
