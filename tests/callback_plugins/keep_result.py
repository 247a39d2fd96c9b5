"""Test harness only: hands the result of the task named "under test" to the test that ran the play.

conftest.Playbook used to add a second task (`ansible.builtin.copy` of `{{ result | to_json }}`), which
runs two more modules (stat and copy) in processes of their own: 1.1 s of CPU per playbook, most of a
small play's cost, about a thousand times per test leg. This callback runs in the controller and writes
the same value to $AMBIENT_MESH_TEST_RESULT.

"The same value": ansible-core registers strip_internal_keys(result) without `invocation`
(plugins/strategy/__init__.py, "register final results"); a callback gets that result with `failed` and
`skipped` moved into the event's name (executor/task_result.py, as_callback_task_result), so they are
put back here from the event.
"""

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: keep_result
type: aggregate
short_description: writes the result of the task named "under test" to $AMBIENT_MESH_TEST_RESULT
description: test harness of ambient.mesh (tests/conftest.py)
"""

TASK_NAME = "under test"


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "keep_result"
    CALLBACK_NEEDS_ENABLED = True

    def _keep(self, result, failed=False, skipped=None):
        path = os.environ.get("AMBIENT_MESH_TEST_RESULT")
        task = getattr(result, "task", None) or result._task
        if not path or task.get_name() != TASK_NAME:
            return
        data = getattr(result, "result", None)
        if data is None:  # ansible-core before 2.19
            data = result._result
        data = {k: v for k, v in data.items() if k != "invocation" and not k.startswith("_ansible_")}
        data["failed"] = failed
        if skipped is not None:
            data["skipped"] = skipped
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(data, handle, default=str)

    def v2_runner_on_ok(self, result, **kwargs):
        self._keep(result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._keep(result, failed=True)

    def v2_runner_on_skipped(self, result):
        self._keep(result, skipped=True)

    def v2_runner_on_unreachable(self, result):
        self._keep(result, failed=True)
