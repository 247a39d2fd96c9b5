# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A callback for benchmarks/canary.py: one JSON line per task start and end (wall time), so a benchmark can time
the part of a play it measures (from the canary's first step to its promotion) without the play's start-up."""

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = r"""
name: task_times
type: aggregate
short_description: Write each task's start and end time to a file (for benchmarks)
description:
  - Appends C({"event", "task", "time"}) JSON lines to the file named by the environment variable
    C(TASK_TIMES_FILE); does nothing without it.
requirements: []
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_times"
    CALLBACK_NEEDS_ENABLED = True

    def _write(self, event, name):
        path = os.environ.get("TASK_TIMES_FILE")
        if path:
            with open(path, "a", encoding="utf-8") as out:
                out.write(json.dumps({"event": event, "task": name, "time": time.time()}) + "\n")

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._write("start", task.get_name())

    def v2_runner_on_ok(self, result):
        self._write("ok", result.task_name)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._write("failed", result.task_name)

    def v2_playbook_on_stats(self, stats):
        self._write("end", "")
