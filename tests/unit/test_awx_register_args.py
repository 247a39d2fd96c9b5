"""awx/register.yml against the argument specs of the awx.awx modules it calls, without an AWX to call.

Each module's argument_spec is read from the module itself (awx.awx from the `ansible` package, in
.cache/collections): its main() is run until it builds its module object, which is stopped there. Every task's
options must be options (or aliases) of its module, the required ones given, and each literal value valid for
its option's type and choices; a templated value ("{{ ... }}") is checked only for being there. ansible-lint
does not do this for awx.awx (a misspelt option passes it): this is what the README calls the registration
playbook's argument check.
"""

import importlib
import pytest

from conftest import ROOT

REGISTER = ROOT / "awx" / "register.yml"


class _Built(Exception):
    pass


def argument_spec(module):
    """The argument_spec awx.awx.<module> builds (its own options and the controller connection ones)."""
    import ansible.module_utils.basic as basic

    captured = {}

    def stop(self, *args, **kwargs):
        captured["spec"] = kwargs.get("argument_spec") or (args[0] if args else None)
        raise _Built()

    original = basic.AnsibleModule.__init__
    basic.AnsibleModule.__init__ = stop
    try:
        code = importlib.import_module("ansible_collections.awx.awx.plugins.modules.%s" % module)
        with pytest.raises(_Built):
            code.main()
    finally:
        basic.AnsibleModule.__init__ = original
    return captured["spec"]


TYPES = {"bool": bool, "int": int, "str": str, "list": list, "dict": dict, "float": (int, float)}


def problems(module, args, spec):
    """What is wrong with one task's arguments."""
    out = []
    names = {}
    for option, entry in spec.items():
        names[option] = option
        for alias in entry.get("aliases") or []:
            names[alias] = option
    for key, value in args.items():
        if key not in names:
            out.append("%s: %s is not an option" % (module, key))
            continue
        entry = spec[names[key]]
        if isinstance(value, str) and "{{" in value:
            continue  # known only when the play runs
        kind = TYPES.get(entry.get("type", "str"))
        if kind is not None and not isinstance(value, kind):
            out.append("%s: %s=%r is not a %s" % (module, key, value, entry.get("type", "str")))
        choices = entry.get("choices")
        if choices:
            values = value if isinstance(value, list) else [value]
            out += ["%s: %s=%r is not one of %s" % (module, key, v, choices) for v in values if v not in choices]
    given = set(names[k] for k in args if k in names)
    out += ["%s: %s is required" % (module, option) for option, entry in spec.items()
            if entry.get("required") and option not in given]
    return out


def awx_tasks(path=REGISTER):
    from ansible.parsing.dataloader import DataLoader  # Ansible's YAML (!unsafe and the rest)

    for play in DataLoader().load_from_file(str(path)):
        for task in play.get("tasks") or []:
            for key, args in task.items():
                if key.startswith("awx.awx."):
                    yield task["name"], key.split(".")[-1], args


TASKS = list(awx_tasks())


def test_the_playbook_calls_the_modules_it_registers_with():
    assert sorted(module for _name, module, _args in TASKS) == [
        "credential", "credential_type", "execution_environment", "group", "host", "inventory", "job_template",
        "project"]


@pytest.mark.parametrize("name, module, args", TASKS, ids=[t[0] for t in TASKS])
def test_each_awx_task_is_valid_for_its_module(name, module, args):
    assert problems(module, args, argument_spec(module)) == []


@pytest.mark.parametrize("module, args, expected", [
    ("project", {"name": "x", "scm_tyep": "git"}, "project: scm_tyep is not an option"),
    ("project", {"name": "x", "scm_type": "cvs"}, "project: scm_type='cvs' is not one of"),
    ("execution_environment", {"name": "x", "image": "i", "pull": "sometimes"}, "pull='sometimes' is not one of"),
    ("job_template", {"name": "x", "survey_enabled": "yes please"}, "survey_enabled='yes please' is not a bool"),
    ("credential_type", {"description": "no name"}, "credential_type: name is required"),
])
def test_the_check_finds_what_ansible_lint_lets_through(module, args, expected):
    found = problems(module, args, argument_spec(module))
    assert any(expected in p for p in found), found
