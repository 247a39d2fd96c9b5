# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter error_rate_verdict: the error-rate gate over a traffic_probe result, as one of its verdicts."""


DOCUMENTATION = r"""
name: error_rate_verdict
version_added: 0.1.0
short_description: Judge a traffic_probe result's error rate against a maximum, as a verdict
description:
  - Takes the result of M(ambient.mesh.traffic_probe) and returns a verdict shaped like the ones in its
    C(verdicts) - C(name) (C(error_rate)), C(passed), C(expected) (C({max})), C(measured) (the error rate) and
    C(message) (what failed, by status code and by curl exit code).
  - It passes when the error rate (non-2xx/3xx responses and failed transfers) is at or below O(max_error_rate).
  - The error-rate gate of the C(ambient.mesh.canary) role (its C(tasks/step.yml)).
author:
  - ambient.mesh maintainers (@ambient-mesh)
positional: _input, max_error_rate
options:
  _input:
    description:
      - A registered result of M(ambient.mesh.traffic_probe) - its C(error_rate), C(requests), C(status_codes) and
        C(transport_errors).
    type: dict
    required: true
  max_error_rate:
    description: The largest error rate that passes, 0 to 1.
    type: float
    required: true
"""

EXAMPLES = r"""
- name: Probe
  ambient.mesh.traffic_probe:
    namespace: test
    pod_selector: app=curl
    url: http://helloworld.hello.svc.cluster.local:5000/hello
    requests: 200
  register: probe

- name: Fail when more than 1% of the requests failed
  ansible.builtin.assert:
    that: gate.passed
    fail_msg: "{{ gate.message }}"
  vars:
    gate: "{{ probe | ambient.mesh.error_rate_verdict(0.01) }}"
"""

RETURN = r"""
_value:
  description: The verdict.
  type: dict
  contains:
    name:
      description: C(error_rate).
      type: str
    passed:
      description: Whether the error rate is at or below O(max_error_rate).
      type: bool
    expected:
      description: C({max}), the largest error rate that passes.
      type: dict
    measured:
      description: The measured error rate.
      type: float
    message:
      description: Expected and measured, how many requests failed, the status codes and curl's exit codes.
      type: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.ambient.mesh.plugins.module_utils._traffic.verdicts import error_rate_verdict as _verdict


def error_rate_verdict(probe, max_error_rate):
    try:
        return _verdict(probe["error_rate"], probe["requests"], probe["status_codes"], probe.get("transport_errors") or {},
                        max_error_rate)
    except (KeyError, TypeError, ValueError) as exc:
        raise AnsibleFilterError("error_rate_verdict needs a traffic_probe result (error_rate, requests, status_codes): %s"
                                 % exc)


class FilterModule(object):
    def filters(self):
        return {"error_rate_verdict": error_rate_verdict}
