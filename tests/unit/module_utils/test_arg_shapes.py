"""Option values ansible-core's validation crashes on (a number where a mapping with suboptions is expected) are
found with the option's path; what ansible-core reports itself (strings, mappings) is left to it."""

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.ambient.mesh.plugins.module_utils._arg_shapes import shape_problems

SPEC = dict(
    faults=dict(type="list", elements="dict", options=dict(
        service=dict(type="str"),
        abort=dict(type="dict", options=dict(http_status=dict(type="int", required=True))),
    )),
    top=dict(type="dict", options=dict(a=dict(type="int"))),
    plain=dict(type="dict"),
)


def test_a_number_or_a_boolean_where_a_mapping_with_suboptions_goes_is_named():
    params = {"faults": [{"service": "x", "abort": {"http_status": 500}}, {"service": "y", "abort": 500}],
              "top": True, "plain": 5}
    assert shape_problems(SPEC, params) == [
        "faults[1].abort must be a mapping (of http_status), not 500",
        "top must be a mapping (of a), not True",
    ]


def test_what_ansible_core_reports_itself_is_left_to_it():
    params = {"faults": [{"service": "x", "abort": "500"}, "not-a-mapping", {"abort": ["a"]}], "top": {"a": 1}}
    assert shape_problems(SPEC, params) == []
    # and ansible-core does report those, naming the option
    errors = ArgumentSpecValidator(SPEC).validate({"faults": [{"service": "x", "abort": "500"}]}).errors.messages
    assert any("'abort'" in e for e in errors)


def test_each_value_found_is_one_ansible_core_cannot_validate():
    """The reason for the module: if ansible-core ever takes these apart itself, this test says so."""
    for value in (500, True, [500]):
        try:
            ArgumentSpecValidator(SPEC).validate({"faults": [{"service": "x", "abort": value}]})
        except TypeError:
            continue
        raise AssertionError("ansible-core now validates abort=%r itself: _arg_shapes may go" % (value,))
