"""Every module in plugins/modules/ is registered where users and CI find it (read from the tree)."""

import pathlib
import re

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
MODULES = sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("*.py") if not p.stem.startswith("_"))


def test_the_tree_has_modules():
    assert len(MODULES) >= 5, MODULES


# Controller-only action plugins (plugins/action/<name>.py, e.g. report) take no cluster connection: module_defaults
# for group/ambient.mesh.k8s would hand them a kubeconfig that their argument check refuses, so they stay out.
CONTROLLER_ONLY = {m for m in MODULES if (ROOT / "plugins" / "action" / f"{m}.py").is_file()}
# Modules that talk to no API server take no kubeconfig either: prometheus_query talks to Prometheus.
NO_CLUSTER = {"prometheus_query"}


@pytest.mark.parametrize("module", MODULES)
def test_module_is_in_the_action_group(module):
    runtime = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text(encoding="utf-8"))
    if module in CONTROLLER_ONLY | NO_CLUSTER:
        assert module not in runtime["action_groups"]["k8s"], "the group's kubeconfig would fail its argument check"
        return
    assert module in runtime["action_groups"]["k8s"], "module_defaults for group/ambient.mesh.k8s would miss it"


@pytest.mark.parametrize("module", MODULES)
def test_module_is_in_the_readme_table(module):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Modules\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith(f"| `ambient.mesh.{module}` |")]
    assert len(rows) == 1, f"README's module table has {len(rows)} rows for ambient.mesh.{module}"


@pytest.mark.parametrize("module", MODULES)
def test_module_is_in_the_changelog(module):
    texts = [p.read_text(encoding="utf-8") for p in (ROOT / "changelogs" / "fragments").glob("*.y*ml")]
    texts.append((ROOT / "changelogs" / "changelog.yaml").read_text(encoding="utf-8"))
    # antsibull-changelog's convention: an entry starts with the plugin's name and " - "
    pattern = re.compile(r"^\s*(- (>-\s*)?)?%s - " % module, re.MULTILINE)
    assert any(pattern.search(text) for text in texts), f"no changelog entry starts with '{module} - '"


@pytest.mark.parametrize("module", MODULES)
def test_module_is_in_the_docs_test(module):
    docs_test = (ROOT / "tests" / "integration" / "test_docs.py").read_text(encoding="utf-8")
    assert f'"ambient.mesh.{module}"' in docs_test, "tests/integration/test_docs.py does not render its docs"
