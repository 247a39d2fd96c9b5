# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ambient.mesh.report: writes a run's JSON record and HTML report on the controller (docs in plugins/modules/report.py).

Nothing is sent to the managed host and no connection is opened: the files are the controller's, and the chart's
library (matplotlib) is needed there only."""


import datetime
import importlib.util

from ansible.errors import AnsibleActionFail
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.module_utils.errors import NoLogError, UnsupportedError
from ansible.plugins.action import ActionBase

from ansible_collections.ambient.mesh.plugins.module_utils._report.args import report_argument_spec
from ansible_collections.ambient.mesh.plugins.plugin_utils._report_chart import INSTALL_HINT, LIBRARY, render_svg
from ansible_collections.ambient.mesh.plugins.plugin_utils._report_files import (
    ReportWriteError,
    check_writable,
    free_paths,
    write_report,
)
from ansible_collections.ambient.mesh.plugins.plugin_utils._report_html import render_html
from ansible_collections.ambient.mesh.plugins.plugin_utils._report_record import (
    base_name,
    build_record,
    check_arguments,
    record_json,
    summary_lines,
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp=None, task_vars=None):
        result = super(ActionModule, self).run(tmp, task_vars)
        del tmp
        args = self._validated_args()
        problems = check_arguments(args)
        if problems:
            raise AnsibleActionFail("Validation of arguments failed: %s" % "; ".join(problems))

        now = datetime.datetime.now(datetime.timezone.utc)
        record = build_record(args, now)
        summary = summary_lines(record)
        base = base_name(args["kind"], args["name"], now)
        result.update(changed=False, summary=summary)
        try:
            if self._task.check_mode:
                check_writable(args["directory"])
                json_path, html_path = free_paths(args["directory"], base)
                if importlib.util.find_spec(LIBRARY) is None:
                    result.setdefault("warnings", []).append(INSTALL_HINT)
            else:
                chart, why_none = render_svg(record["steps"], "%s %s: %s" % (record["kind"], record["name"], record["outcome"]))
                if chart is None and why_none == INSTALL_HINT:
                    result.setdefault("warnings", []).append(INSTALL_HINT)
                json_path, html_path = write_report(args["directory"], base, record_json(record),
                                                    render_html(record, chart, why_none))
        except ReportWriteError as error:
            # the run is not lost: what was measured is in the message, and the whole record in the result
            result.update(failed=True, record=record,
                          msg="%s. The report was not written; what was measured:\n%s" % (error, "\n".join(summary)))
            return result
        result.update(changed=True, json_path=json_path, html_path=html_path)
        return result

    def _validated_args(self):
        """ActionBase.validate_argument_spec's work, with messages that name what the user wrote.

        ansible-core's own (plugins/action/__init__.py) reports only the first error, and names an unsupported
        parameter's module by the plugin's Python path. Its validator lists no_log values before it checks types, so a
        string where steps' mappings belong fails there first with "dictionary requested, could not parse JSON or
        key=value", which names no option (module_utils/common/arg_spec.py); the errors after it do: report those."""
        args = self._task.args.copy()
        validation = ArgumentSpecValidator(report_argument_spec()).validate(args)
        errors = [e for e in validation.errors.errors if not isinstance(e, NoLogError)] or validation.errors.errors
        if errors:
            name = getattr(self._task, "resolved_action", None) or "ambient.mesh.report"
            messages = [("Unsupported parameters for (%s) module: %s" % (name, e.msg)) if isinstance(e, UnsupportedError)
                        else e.msg for e in errors]
            hint = (" (steps is a list of mappings, written as YAML items: '- step: 1', not as a string)"
                    if any("'steps'" in m and "convert to dict" in m for m in messages) else "")
            raise AnsibleActionFail("; ".join(messages) + hint, obj=self._task.args)
        args.update(validation.validated_parameters)
        return args
