"""AmbientModule's argument errors, for every module: option values ansible-core's validation crashes on (a number
where a mapping with suboptions is expected) are refused with the option's path, from the parameters the module was
given (no private ansible-core API); what ansible-core reports itself (strings, mappings) is left to it; the
`warnings` of a result go through warn(), not into exit_json or fail_json (deprecated in ansible-core 2.19)."""

import json
import os
import pathlib
import subprocess
import sys

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.testing import patch_module_args

from ansible_collections.ambient.mesh.plugins.module_utils._module import AmbientModule, no_log_strings, shape_problems

SPEC = dict(
    faults=dict(type="list", elements="dict", options=dict(
        service=dict(type="str"),
        abort=dict(type="dict", options=dict(http_status=dict(type="int", required=True))),
    )),
    top=dict(type="dict", aliases=["upper"], options=dict(a=dict(type="int"))),
    plain=dict(type="dict"),
)


def test_a_number_or_a_boolean_where_a_mapping_with_suboptions_goes_is_named():
    params = {"faults": [{"service": "x", "abort": {"http_status": 500}}, {"service": "y", "abort": 500}],
              "top": True, "plain": 5}
    assert shape_problems(SPEC, params) == [
        "faults[1].abort must be a mapping (of http_status), not 500",
        "top must be a mapping (of a), not True",
    ]


def test_an_option_given_by_its_alias_is_named_so():
    assert shape_problems(SPEC, {"upper": 3}) == ["upper must be a mapping (of a), not 3"]


def test_what_ansible_core_reports_itself_is_left_to_it():
    params = {"faults": [{"service": "x", "abort": "500"}, "not-a-mapping", {"abort": ["a"]}], "top": {"a": 1}}
    assert shape_problems(SPEC, params) == []
    # and ansible-core does report those, naming the option
    errors = ArgumentSpecValidator(SPEC).validate({"faults": [{"service": "x", "abort": "500"}]}).errors.messages
    assert any("'abort'" in e for e in errors)


def test_each_value_found_is_one_ansible_core_cannot_validate():
    """The reason for shape_problems: if ansible-core ever takes these apart itself, this test says so."""
    for value in (500, True, [500]):
        try:
            ArgumentSpecValidator(SPEC).validate({"faults": [{"service": "x", "abort": value}]})
        except TypeError:
            continue
        raise AssertionError("ansible-core now validates abort=%r itself: shape_problems may go" % (value,))


def run_module(capsys, spec, args, work=None):
    """AmbientModule(argument_spec=spec) as AnsiballZ runs it (then work(module), if given): its JSON result."""
    with patch_module_args(args), pytest.raises(SystemExit):
        module = AmbientModule(argument_spec=spec, supports_check_mode=True)
        work(module)
    return json.loads(capsys.readouterr().out)


SECRET_SPEC = dict(SPEC, token=dict(type="str", no_log=True))


def test_the_module_class_refuses_a_value_ansible_core_would_crash_on(capsys):
    result = run_module(capsys, SECRET_SPEC, {"faults": [{"service": "x", "abort": 500}], "token": "s3cret-value"})
    assert result["failed"] is True
    assert result["msg"] == "faults[0].abort must be a mapping (of http_status), not 500"
    assert "Traceback" not in json.dumps(result) and "not iterable" not in json.dumps(result)
    assert "s3cret-value" not in json.dumps(result)  # the no_log value stays hidden, in the invocation too


def test_the_module_class_refuses_in_check_mode_too(capsys):
    result = run_module(capsys, SPEC, {"top": False, "_ansible_check_mode": True})
    assert result["failed"] is True and result["msg"] == "top must be a mapping (of a), not False"


def test_valid_arguments_pass(capsys):
    result = run_module(capsys, SPEC, {"faults": [{"service": "x", "abort": {"http_status": "500"}}]},
                        lambda module: module.exit_json(abort=module.params["faults"][0]["abort"]))
    assert result["abort"] == {"http_status": 500} and not result.get("failed")


def test_no_log_strings_are_those_of_no_log_options_and_suboptions():
    spec = dict(token=dict(no_log=True), creds=dict(type="dict", options=dict(password=dict(no_log=True), user=dict())),
                port=dict(type="int", no_log=True), flag=dict(type="bool", no_log=True))
    params = {"token": "abc", "creds": {"password": "pw", "user": "me"}, "port": 6443, "flag": True}
    assert no_log_strings(spec, params) == {"abc", "pw", "6443"}
    assert no_log_strings(spec, {"creds": 5}) == set()  # a value of the wrong shape is not taken apart


# In a process of its own, as AnsiballZ runs a module: once a test of this session has imported ansible's
# controller side (a filter plugin's AnsibleFilterError), module warnings go to the controller's display instead.
WARNINGS_RUN = """
import json, sys
from ansible.module_utils.testing import patch_module_args
from ansible_collections.ambient.mesh.plugins.module_utils._module import AmbientModule
with patch_module_args({}):
    module = AmbientModule(argument_spec={}, supports_check_mode=True)
    if sys.argv[1] == "exit_json":
        module.exit_json(changed=False, warnings=["first", "second"])
    module.fail_json(msg="refused", problems=["p"], warnings=["first", "second"])
"""


@pytest.mark.parametrize("how", ["exit_json", "fail_json"])
def test_a_results_warnings_go_through_warn_without_ansible_cores_deprecation(how):
    collections = pathlib.Path(__file__).resolve().parents[3] / ".cache" / "collections"
    proc = subprocess.run([sys.executable, "-c", WARNINGS_RUN, how], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(collections)))
    result = json.loads(proc.stdout)
    # as text (ansible-core 2.19's legacy profile writes each as a WarningSummary of an Event)
    assert [w["event"]["msg"] if isinstance(w, dict) else w for w in result["warnings"]] == ["first", "second"]
    assert "deprecations" not in result, result["deprecations"]
    assert (result.get("msg"), result.get("failed")) == (("refused", True) if how == "fail_json" else (None, None))
