#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r"""
module: report
short_description: Write a canary's or fault check's record (JSON) and report (HTML with a chart) on the controller
version_added: 0.1.0
description:
  - Runs on the controller as an action plugin - nothing is sent to the managed host and no connection is opened.
    It takes no cluster connection options, so it is not in the action group C(group/ambient.mesh.k8s).
  - Writes two new files into O(directory) (made when missing) -
    C(<kind>-<name>-<UTC time>.json), the record (C(schema_version), C(generator), C(kind), C(name), C(outcome),
    C(started_at), C(finished_at), C(written_at), C(steps) as validated with every key present, C(details)), and
    C(.html) beside it, one self-contained page (inline CSS and SVG, nothing fetched) - the run, a chart of asked vs
    measured share per backend over the steps with the error rate and the latency, a table of the steps (asked and
    measured shares, counts, requests, error rate, latency p50/p95/p99/max, verdict) and each step's gates and
    verdicts with expected and measured values.
  - In the file names C(/) and anything else unsafe in O(name) become C(_); a report of the same second gets C(-2),
    C(-3), ... so no report overwrites an earlier one.
  - The chart is drawn with matplotlib, needed on the controller only. Without it the HTML still has every table and
    says that the chart needs matplotlib, and the task warns; nothing measured is lost.
  - A directory that cannot be made or written (a file in the way, no permission) fails the task with a message
    naming the path and the cause, followed by the summary table, so what was measured is still in the play's
    output; the failed result also holds the whole record under RV(record).
author:
  - ambient.mesh maintainers (@ambient-mesh)
attributes:
  check_mode:
    description: Writes nothing; checks that the directory could be made and written, and returns the paths it would write and RV(summary).
    support: full
  diff_mode:
    description: Writes new files only; there is nothing to compare.
    support: none
  idempotent:
    description: Every run writes a new report (its time is in the file names), and reports C(changed).
    support: none
  action:
    description: Runs as an action plugin on the controller.
    support: full
options:
  directory:
    description:
      - Where the files go, on the controller; made (with its parents) when missing.
      - A relative path is taken from the directory ansible-playbook runs in; V({{ playbook_dir }}/reports) keeps the
        reports beside the playbook.
    type: path
    required: true
  kind:
    description: What ran.
    type: str
    required: true
    choices: [canary, fault_check]
  name:
    description: What it ran on, e.g. V(hello/helloworld) (namespace/service); part of the file names.
    type: str
    required: true
  outcome:
    description: How the run ended, e.g. V(promoted), V(rolled_back), V(failed), V(passed).
    type: str
    required: true
  started_at:
    description: When the run started, RFC 3339 with an offset (V(2026-11-23T10:15:30Z)).
    type: str
  finished_at:
    description: When the run finished, RFC 3339 with an offset.
    type: str
  steps:
    description:
      - The steps in the order they ran; an empty list when none ran. Unknown keys are refused.
    type: list
    elements: dict
    required: true
    suboptions:
      step:
        description: The step's number.
        type: int
        required: true
      label:
        description: A short name shown in the chart and the tables, e.g. V(25%) or V(httpbin/httpbin delay 3s).
        type: str
      asked:
        description: 'The share asked of each backend, in percent (0-100), e.g. V({"v1": 75, "v2": 25}).'
        type: dict
        default: {}
      measured:
        description:
          - The measured share of each backend, a fraction (0-1), as M(ambient.mesh.traffic_probe) returns
            RV(ambient.mesh.traffic_probe#module:shares).
        type: dict
        default: {}
      counts:
        description: Responses per backend.
        type: dict
        default: {}
      requests:
        description: How many requests the step's probe made.
        type: int
      error_rate:
        description: The fraction of requests that failed (0-1).
        type: float
      latency:
        description: Latency percentiles in seconds (C(p50), C(p95), C(p99), C(max)), as M(ambient.mesh.traffic_probe) returns them.
        type: dict
        default: {}
      gates:
        description:
          - The run's own judgements of the step (the canary role's gates), each a verdict - C(name) (required),
            C(passed) (a boolean, required), C(expected) and C(measured) (any value) and C(message) (text). Other keys
            are refused.
        type: list
        elements: dict
        default: []
      verdicts:
        description:
          - M(ambient.mesh.traffic_probe)'s RV(ambient.mesh.traffic_probe#module:verdicts) for the step, in the same
            shape as O(steps[].gates).
        type: list
        elements: dict
        default: []
      passed:
        description: Whether the step passed.
        type: bool
      metrics:
        description:
          - What M(ambient.mesh.prometheus_query) measured at the step (the canary role's metric gates), one entry a
            check - C(name) (required), C(value) (a number or null), C(unit), C(requests) (the count behind it),
            C(verdict) and C(passed). Shown in the steps table next to the probe's measurement. Other keys are refused.
        type: list
        elements: dict
        default: []
      details:
        description: Anything else to keep in the record for the step (shown in the HTML as JSON).
        type: dict
        default: {}
  details:
    description: Anything else to keep in the record for the run (shown in the HTML as JSON).
    type: dict
    default: {}
requirements:
  - matplotlib on the controller, for the chart (optional - without it the report has the tables only)
seealso:
  - module: ambient.mesh.traffic_probe
  - module: ambient.mesh.fault_injection
"""

EXAMPLES = r"""
- name: Write the canary's report
  ambient.mesh.report:
    directory: "{{ playbook_dir }}/reports"
    kind: canary
    name: hello/helloworld
    outcome: promoted
    started_at: "2026-11-23T10:15:30Z"
    finished_at: "2026-11-23T10:16:02Z"
    steps:
      - step: 1
        label: 5%
        asked: {v1: 95, v2: 5}
        measured: "{{ probe.shares }}"
        counts: "{{ probe.counts }}"
        requests: "{{ probe.requests }}"
        error_rate: "{{ probe.error_rate }}"
        latency: "{{ probe.latency }}"
        verdicts: "{{ probe.verdicts }}"
        gates:
          - {name: error_rate, passed: true, expected: 0.01, measured: 0.0, message: "error rate 0.0% <= 1.0%"}
        passed: true
  register: report

- name: Show the summary and where the report is
  ansible.builtin.debug:
    msg: "{{ report.summary + ['report: ' ~ report.html_path] }}"
"""

RETURN = r"""
json_path:
  description: The record's path (in check mode, the path it would have).
  returned: success
  type: str
  sample: /work/playbooks/reports/canary-hello_helloworld-20261123T101602Z.json
html_path:
  description: The HTML report's path (in check mode, the path it would have).
  returned: success
  type: str
  sample: /work/playbooks/reports/canary-hello_helloworld-20261123T101602Z.html
summary:
  description:
    - A short text table - a title line, a header line and one line per step (label, asked and measured shares,
      requests, error rate, p95, and V(passed) or V(FAILED) with the failed gates and verdicts).
  returned: always
  type: list
  elements: str
  sample:
    - "canary hello/helloworld: promoted (2 steps)"
    - "step  label  asked           measured            requests  errors  p95     verdict"
    - "1     5%     v1 95%, v2 5%   v1 95.5%, v2 4.5%   200       0.0%    0.009s  passed"
    - "2     100%   v1 0%, v2 100%  v1 0.0%, v2 100.0%  200       0.0%    0.008s  passed"
record:
  description: The whole record, when the files could not be written (so nothing measured is lost).
  returned: failure to write
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ambient.mesh.plugins.module_utils._report.args import report_argument_spec


def main():
    # ansible-core runs the action plugin plugins/action/report.py for this name; this runs only when the file is
    # executed as a module some other way, where it cannot reach the controller's files.
    module = AnsibleModule(argument_spec=report_argument_spec(), supports_check_mode=True)
    module.fail_json(msg="ambient.mesh.report runs on the controller only, as an action plugin; "
                         "call it as a task of a play (no delegation or module execution is needed)")


if __name__ == "__main__":
    main()
