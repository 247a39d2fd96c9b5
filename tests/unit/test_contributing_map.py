"""CONTRIBUTING.md's "Where things live" stays true (read from the tree at test time, as
tests/unit/test_registration.py keeps README's module table true): every path its tables name exists,
every file a plugins/module_utils package's row names is in that package, every name of the "defined
once" table is defined in its file, and every top-level directory git tracks and every package and flat
file of plugins/module_utils is in the map."""

import ast
import pathlib
import re
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODULE_UTILS = ROOT / "plugins" / "module_utils"
CONTRIBUTING = ROOT / "CONTRIBUTING.md"
TICKED = re.compile(r"`([^`]+)`")


def section():
    text = CONTRIBUTING.read_text(encoding="utf-8")
    assert "\n## Where things live\n" in text, "CONTRIBUTING.md has no '## Where things live' section"
    return text.split("\n## Where things live\n", 1)[1].split("\n## ", 1)[0]


def table(header):
    """The rows (lists of cells) of the table whose header row starts with `header`."""
    rows, inside = [], False
    for line in section().splitlines():
        if line.startswith("| %s |" % header):
            inside = True
            continue
        if inside and not line.startswith("|"):
            break
        if inside and not line.startswith("|---"):
            rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    assert rows, "CONTRIBUTING.md's map has no table headed '| %s |'" % header
    return rows


def mapped():
    """{path as written (directories end with '/'): what-it-holds cell} of the map's table."""
    out = {}
    for cells in table("path"):
        names = TICKED.findall(cells[0])
        assert len(names) == 1, "a row of the map names no path in backticks: %s" % cells
        out[names[0]] = cells[-1]
    return out


def tracked_top_level_dirs():
    listing = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    paths = [p for p in listing.decode().split("\0") if p and "/" in p and (ROOT / p).is_file()]
    return sorted(set(p.split("/", 1)[0] + "/" for p in paths))


def module_utils_entries():
    """Each package (directory) and flat .py file under plugins/module_utils, as the map writes it."""
    out = []
    for entry in sorted(MODULE_UTILS.iterdir()):
        if entry.name.startswith((".", "__")):
            continue
        if entry.is_dir():
            out.append("plugins/module_utils/%s/" % entry.name)
        elif entry.suffix == ".py":
            out.append("plugins/module_utils/%s" % entry.name)
    return out


def test_every_path_in_the_map_exists():
    stale = [path for path in mapped()
             if not ((ROOT / path).is_dir() if path.endswith("/") else (ROOT / path).is_file())]
    assert stale == [], "CONTRIBUTING.md's map names paths that do not exist (stale entries): %s" % stale


@pytest.mark.parametrize("directory", tracked_top_level_dirs())
def test_every_top_level_directory_is_in_the_map(directory):
    assert directory in mapped(), ("the top-level directory %s is not in CONTRIBUTING.md's 'Where things live' "
                                   "table: add a row '| `%s` | - | what it holds |'" % (directory, directory))


@pytest.mark.parametrize("entry", module_utils_entries())
def test_every_module_utils_package_and_flat_file_is_in_the_map(entry):
    assert entry in mapped(), ("%s is not in CONTRIBUTING.md's 'Where things live' table: add its row (layer, what "
                               "it holds) and its layer in tests/unit/test_layers.py" % entry)


def test_the_files_a_package_row_names_are_in_that_package():
    stale = []
    for path, holds in mapped().items():
        if path.startswith("plugins/module_utils/") and path.endswith("/"):
            stale += ["%s%s" % (path, name) for name in TICKED.findall(holds)
                      if name.endswith(".py") and not (ROOT / path / name).is_file()]
    assert stale == [], "CONTRIBUTING.md's map names files its packages do not hold: %s" % stale


def defined_names(path):
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def test_every_concept_is_defined_where_the_map_says():
    wrong = []
    for concept, where, names in table("concept"):
        (path,) = TICKED.findall(where)
        if not (ROOT / path).is_file():
            wrong.append("%s: %s does not exist" % (concept, path))
            continue
        missing = sorted(set(TICKED.findall(names)) - defined_names(ROOT / path))
        if missing:
            wrong.append("%s: %s does not define %s" % (concept, path, ", ".join(missing)))
    assert wrong == [], "CONTRIBUTING.md's 'defined once' table is stale: %s" % wrong
