# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The pending-restart marker (issue 11 item 2).

A namespace whose capture changes in a way its running pods only follow when restarted carries the
annotation RESTART_PENDING (its time), set in the same write as the label change and removed in the
write after its workloads were restarted. A run that fails in between (an API outage mid-batch) leaves
it there, so the next run finishes the restarts; a workload restarted at or after the marker's time
(its restartedAt) is not restarted again, so each is restarted exactly once.

Apart from _restart (which a no-op run does not import): every run reads the marker.
"""


import datetime
import re

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
# the same key mesh_info reports as RESTART_PENDING (_findings.RESTART_PENDING_ANNOTATION)
RESTART_PENDING = "ambient.mesh/restart-pending"
# RFC 3339 in UTC, to the second, as kubectl writes restartedAt (kubectl rollout restart: time.Now().Format(time.RFC3339))
STAMP = "%Y-%m-%dT%H:%M:%SZ"


def now_stamp():
    return datetime.datetime.now(datetime.timezone.utc).strftime(STAMP)


def parse_stamp(value):
    """An RFC 3339 time (Z or an offset, fractional seconds ignored) as an aware datetime; None if it is not one."""
    if not isinstance(value, str):
        return None
    text = re.sub(r"\.\d+", "", value.strip()).replace("z", "Z")
    text = text[:-1] + "+0000" if text.endswith("Z") else re.sub(r"([+-]\d\d):(\d\d)$", r"\1\2", text)
    try:
        return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None


def pending_since(namespace):
    """The time of the namespace's pending-restart marker (its text), or None."""
    return ((namespace or {}).get("metadata", {}).get("annotations") or {}).get(RESTART_PENDING)


def marker_patch(stamp):
    """The annotation part of a namespace patch: the marker set (stamp) or removed (None)."""
    return {"metadata": {"annotations": {RESTART_PENDING: stamp}}}


def restarted_since(workload, since):
    """Whether the workload was restarted at or after `since` (the marker's text): its restart is done.

    A marker that cannot be read counts as "not restarted": restarting once more is the safe side."""
    since = parse_stamp(since)
    template = (workload.get("spec") or {}).get("template") or {}
    at = parse_stamp(((template.get("metadata") or {}).get("annotations") or {}).get(RESTARTED_AT))
    return since is not None and at is not None and at >= since
