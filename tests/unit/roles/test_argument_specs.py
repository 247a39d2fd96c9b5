"""Every role's meta/argument_specs.yml covers exactly its public defaults, with the same values."""

import pathlib

import pytest
import yaml

ROLES = sorted(p for p in (pathlib.Path(__file__).resolve().parents[3] / "roles").iterdir() if p.is_dir())


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_specs_match_defaults(role):
    defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text()) or {}
    options = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
    assert sorted(defaults) == sorted(options)
    for name, value in defaults.items():
        assert name.startswith(role.name + "_"), f"{name} is not prefixed with the role name"
        assert options[name].get("default") == value, name
        assert options[name].get("description"), name


@pytest.mark.parametrize("role", ROLES, ids=[r.name for r in ROLES])
def test_roles_have_preflight_and_readme(role):
    assert (role / "tasks" / "preflight.yml").exists()
    readme = (role / "README.md").read_text()
    assert "## Role variables" in readme and "## Example playbook" in readme
