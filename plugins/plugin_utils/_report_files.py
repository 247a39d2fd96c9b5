# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ambient.mesh.report's files: the report directory (made when missing) and the two files, each created new, so
a report never overwrites an earlier one. A directory that cannot be made or written is a ReportWriteError
naming the path and why."""


import os

# Reports of runs finished in the same second get -2, -3, ... before the extension.
_MAX_SUFFIX = 100


class ReportWriteError(Exception):
    """The report directory cannot be made or written; the message names the path and the cause."""


def _blocker(directory):
    """The first existing path on the way to directory that is not a directory (a file in the way), or None."""
    path = os.path.abspath(directory)
    while path and not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    return path if os.path.exists(path) and not os.path.isdir(path) else None


def _explain(directory, error):
    blocker = _blocker(directory)
    if blocker:
        return "cannot write the report to %s: %s is a file, not a directory (a file is in the way)" % (directory, blocker)
    reason = getattr(error, "strerror", None) or str(error)
    return "cannot write the report to %s: %s%s" % (
        directory, reason, " (no permission: choose a directory the controller's user may write)"
        if isinstance(error, PermissionError) else "")


def check_writable(directory):
    """Without writing anything: raise ReportWriteError unless directory exists writable or could be made."""
    blocker = _blocker(directory)
    if blocker:
        raise ReportWriteError(_explain(directory, None))
    path = os.path.abspath(directory)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    if not os.access(path, os.W_OK | os.X_OK):
        raise ReportWriteError(_explain(directory, PermissionError(13, "permission denied on %s" % path)))


def free_paths(directory, base):
    """(json path, html path) under base, or base-2, base-3, ... when a report of the same second exists."""
    for n in range(1, _MAX_SUFFIX + 1):
        stem = os.path.join(os.path.abspath(directory), base if n == 1 else "%s-%d" % (base, n))
        paths = (stem + ".json", stem + ".html")
        if not any(os.path.lexists(p) for p in paths):
            return paths
    raise ReportWriteError("cannot write the report to %s: %d reports named %s already exist" % (directory, _MAX_SUFFIX, base))


def write_report(directory, base, json_text, html_text):
    """Make directory if missing, create both files new; (json path, html path)."""
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as error:
        raise ReportWriteError(_explain(directory, error))
    if not os.path.isdir(directory):
        raise ReportWriteError(_explain(directory, None))
    for _attempt in range(_MAX_SUFFIX):
        json_path, html_path = free_paths(directory, base)
        try:
            with open(json_path, "x", encoding="utf-8") as out:
                out.write(json_text)
        except FileExistsError:
            continue  # another run took the name between the look and the write: take the next one
        except OSError as error:
            raise ReportWriteError(_explain(directory, error))
        try:
            with open(html_path, "w", encoding="utf-8") as out:
                out.write(html_text)
        except OSError as error:
            raise ReportWriteError("%s (the record was written to %s)" % (_explain(directory, error), json_path))
        return json_path, html_path
    raise ReportWriteError("cannot write the report to %s: no free file name for %s" % (directory, base))
