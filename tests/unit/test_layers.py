"""plugins/module_utils is packages by layer and domain (CONTRIBUTING.md, "Where things live"): transport
(_kube) <- objects (_objects) <- Istio and Gateway API concepts (_istio) <- one package per domain, with a
few flat cross-cutting files below and above them. A file imports only from lower layers or its own package,
and no domain imports another domain; a concept two domains need moves down a layer."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODULE_UTILS = ROOT / "plugins" / "module_utils"
PREFIX = "ansible_collections.ambient.mesh.plugins.module_utils."

BASE = {"_errors", "_versions"}  # flat, imported by every layer, import nothing of the collection
LAYERS = {"_kube": 1, "_objects": 2, "_istio": 3}
DOMAINS = {"_enrollment", "_waypoints", "_install", "_gateway_api_crds", "_traffic", "_faults", "_mesh_info", "_report",
           "_metrics"}
GLUE = {"_module", "_args"}  # flat, what plugins/modules build a module from; imported by modules only
DOMAIN_RANK = 4
GLUE_RANK = 5


def unit_of(path):
    """The top-level name under module_utils a file belongs to: its package, or the flat file's own name."""
    return path.relative_to(MODULE_UTILS).parts[0].removesuffix(".py")


def rank(unit):
    if unit in BASE:
        return 0
    if unit in LAYERS:
        return LAYERS[unit]
    if unit in DOMAINS:
        return DOMAIN_RANK
    if unit in GLUE:
        return GLUE_RANK
    raise AssertionError(f"plugins/module_utils/{unit} belongs to no layer: add it to tests/unit/test_layers.py "
                         "and to CONTRIBUTING.md's map")


def imports_of(path):
    """(line, imported unit) for every import of the collection's own module_utils in a file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            if name.startswith(PREFIX):
                out.append((node.lineno, name[len(PREFIX):].split(".")[0]))
    return sorted(set(out))


def violations(path):
    """Each import in a module_utils file that goes up a layer or across to another domain."""
    own = unit_of(path)
    out = []
    for line, unit in imports_of(path):
        if unit == own:
            continue
        where = f"{path.relative_to(ROOT)}:{line} imports {unit}"
        if own in DOMAINS and unit in DOMAINS:
            out.append(f"{where}: a domain imports another domain (move the shared concept down a layer)")
        elif rank(unit) >= rank(own):
            out.append(f"{where}: layer {rank(own)} may import only lower layers, and {unit} is layer {rank(unit)}")
    return out


FILES = sorted(MODULE_UTILS.rglob("*.py"))


def test_every_file_belongs_to_a_layer():
    for path in FILES:
        rank(unit_of(path))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(MODULE_UTILS)))
def test_imports_go_down_the_layers(path):
    assert violations(path) == []


def test_a_flat_module_utils_is_only_the_cross_cutting_files():
    flat = {p.stem for p in MODULE_UTILS.glob("*.py")} - {"__init__"}
    assert flat == BASE | GLUE


def test_the_check_names_an_upward_import(tmp_path, monkeypatch):
    """A planted import of a domain from the objects layer, and of one domain from another, fail with the line."""
    fake = tmp_path / "plugins" / "module_utils"
    (fake / "_objects").mkdir(parents=True)
    (fake / "_traffic").mkdir()
    (fake / "_objects" / "apply.py").write_text(f"import os\nfrom {PREFIX}_traffic.split import plan\n")
    (fake / "_traffic" / "probe.py").write_text(f"from {PREFIX}_faults import injection\n")
    monkeypatch.setitem(globals(), "MODULE_UTILS", fake)
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    assert violations(fake / "_objects" / "apply.py") == [
        "plugins/module_utils/_objects/apply.py:2 imports _traffic: layer 2 may import only lower layers, and _traffic is layer 4"]
    assert violations(fake / "_traffic" / "probe.py") == [
        "plugins/module_utils/_traffic/probe.py:1 imports _faults: a domain imports another domain (move the shared "
        "concept down a layer)"]
