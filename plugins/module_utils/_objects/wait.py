# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Waiting on status conditions, top-level (status.conditions) or per parent (status.parents[]).

An Ansible module cannot print while it runs, so every wait is recorded (what, seconds, polls) and
run_with_api returns the records as `waits`, with a warning for each wait longer than SLOW_WAIT
seconds: the controller shows warnings even without -v.
"""


import threading
import time

from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError
from ansible_collections.ambient.mesh.plugins.module_utils._objects.refs import ref_of


# a wait that took longer than this many seconds is also reported as a warning
SLOW_WAIT = 30

_RECORDS = {"waits": None}
_RECORDS_LOCK = threading.Lock()


def start_recording():
    """Start collecting the waits of this module run (one run per process); returns the list they go to."""
    with _RECORDS_LOCK:
        _RECORDS["waits"] = []
        return _RECORDS["waits"]


def stop_recording():
    with _RECORDS_LOCK:
        waits, _RECORDS["waits"] = _RECORDS["waits"], None
    return waits or []


def _record(what, seconds, polls, met):
    with _RECORDS_LOCK:
        if _RECORDS["waits"] is not None:
            _RECORDS["waits"].append({"what": what, "seconds": round(seconds, 3), "polls": polls, "met": met})


def slow_waits(waits, threshold=SLOW_WAIT):
    """Warnings for the waits that took longer than `threshold` seconds."""
    return ["waited %.0fs (%d polls) for %s%s" % (w["seconds"], w["polls"], w["what"], "" if w["met"] else ", in vain")
            for w in waits if w["seconds"] > threshold]


def find_condition(conditions, cond_type):
    for cond in conditions or []:
        if cond.get("type") == cond_type:
            return cond
    return None


def parent_conditions(obj, parent):
    """The condition lists of the status.parents[] entries (Gateway API routes) whose parentRef matches every
    key given in `parent`; a parentRef without namespace is in the object's namespace."""
    own_ns = (obj.get("metadata") or {}).get("namespace")
    out = []
    for entry in (obj.get("status") or {}).get("parents") or []:
        ref = dict(entry.get("parentRef") or {})
        ref.setdefault("namespace", own_ns)
        if all(ref.get(k) == v for k, v in parent.items()):
            out.append(entry.get("conditions"))
    return out


def condition_state(obj, cond_type, status="True", parent=None):
    """(met, condition) for one object.

    A condition counts only when its observedGeneration (when given) has caught up with
    metadata.generation. With `parent`, the condition is looked up in status.parents[] whose
    parentRef matches every key given in `parent` (name, kind, namespace, port, ...).
    """
    generation = (obj.get("metadata") or {}).get("generation")
    status_doc = obj.get("status") or {}
    if parent is None:
        lists = [status_doc.get("conditions")]
    else:
        lists = parent_conditions(obj, parent)
    best = None
    for conditions in lists:
        cond = find_condition(conditions, cond_type)
        if cond is None:
            continue
        best = cond
        observed = cond.get("observedGeneration")
        fresh = observed is None or generation is None or observed >= generation
        if fresh and str(cond.get("status")) == str(status):
            return True, cond
    return False, best


def describe(cond):
    if cond is None:
        return "not reported yet"
    text = "%s=%s" % (cond.get("type"), cond.get("status"))
    if cond.get("reason"):
        text += " (%s)" % cond["reason"]
    if cond.get("message"):
        text += ": %s" % cond["message"]
    return text


def wait_for(read, predicate, timeout, what, sleep=time.sleep, clock=time.monotonic, interval=0.5):
    """Poll read() until predicate(obj) gives (True, info); fail after `timeout` seconds with info."""
    start = clock()
    deadline = start + timeout
    delay = min(interval, 0.1)
    polls = 0
    while True:
        obj = read()
        polls += 1
        met, info = predicate(obj) if obj is not None else (False, "the object does not exist")
        if met:
            _record(what, clock() - start, polls, True)
            return obj
        if clock() >= deadline:
            _record(what, clock() - start, polls, False)
            raise AmbientMeshError("timed out after %ss waiting for %s: %s" % (timeout, what, info),
                                   waited_for=what, last_seen=info)
        sleep(min(delay, max(0.0, deadline - clock())))
        delay = min(delay * 2, interval * 4)


def wait_for_condition(api, api_version, kind, name, cond_type, timeout, namespace=None, status="True", parent=None):
    """Wait until one object has the condition; returns the object."""
    what = "%s to have %s=%s" % (ref_of(kind, namespace, name), cond_type, status)

    def predicate(obj):
        met, cond = condition_state(obj, cond_type, status, parent)
        return met, describe(cond)

    return wait_for(lambda: api.get(api_version, kind, name, namespace), predicate, timeout, what)
