# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ambient.mesh.report's argument spec, in one place for its two users: the action plugin, which validates the
task's arguments with ansible-core's ArgumentSpecValidator on the controller, and the documentation stub
plugins/modules/report.py, whose AnsibleModule call lets ansible-test's validate-modules hold the docs against it."""


import copy

REPORT_KINDS = ["canary", "fault_check"]

# One judgement, as traffic_probe returns its verdicts and the canary role its gates: name, passed, expected,
# measured, message. Checked by the report itself (plugins/plugin_utils/_report_record.py), not as suboptions:
# validate-modules reserves the option name "message" at every level.
VERDICT_KEYS = ("name", "passed", "expected", "measured", "message")
# One metric of a step, as ambient.mesh.prometheus_query measured it (the canary role's metric gates): name, value,
# unit, requests, verdict, passed. Checked by the report itself, as the verdicts are.
METRIC_KEYS = ("name", "value", "unit", "requests", "verdict", "passed")

STEP_SPEC = dict(
    step=dict(type="int", required=True),
    label=dict(type="str"),
    asked=dict(type="dict", default={}),
    measured=dict(type="dict", default={}),
    counts=dict(type="dict", default={}),
    requests=dict(type="int"),
    error_rate=dict(type="float"),
    latency=dict(type="dict", default={}),
    gates=dict(type="list", elements="dict", default=[]),
    verdicts=dict(type="list", elements="dict", default=[]),
    metrics=dict(type="list", elements="dict", default=[]),
    passed=dict(type="bool"),
    details=dict(type="dict", default={}),
)

REPORT_ARG_SPEC = dict(
    directory=dict(type="path", required=True),
    kind=dict(type="str", required=True, choices=REPORT_KINDS),
    name=dict(type="str", required=True),
    outcome=dict(type="str", required=True),
    started_at=dict(type="str"),
    finished_at=dict(type="str"),
    steps=dict(type="list", elements="dict", required=True, options=STEP_SPEC),
    details=dict(type="dict", default={}),
)


def report_argument_spec():
    """A copy to hand to a validator (validators and AnsibleModule may change the spec they are given)."""
    return copy.deepcopy(REPORT_ARG_SPEC)
