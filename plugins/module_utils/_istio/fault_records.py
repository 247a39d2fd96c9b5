# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the collection writes on the fault VirtualServices it makes, and how that is read back.

The labels say a VirtualService is the collection's fault for a Service (only those are ever changed or
deleted); the annotations record when it was made and when it expires, in RFC 3339 UTC, so that a fault
an interrupted run left behind is found (mesh_info's FAULT_EXPIRED) and removed (fault_injection's
prune_expired) by anyone, later. Imported by the fault_injection planner and by mesh_info's findings alike.
"""


import datetime
import re

from ansible_collections.ambient.mesh.plugins.module_utils._objects.refs import labels_of

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "ambient.mesh"
FAULT_FOR = "ambient.mesh/fault-for"
CREATED_AT = "ambient.mesh/created-at"
EXPIRES_AT = "ambient.mesh/expires-at"
# The label selector that finds every fault VirtualService of the collection.
SELECTOR = "%s=%s,%s" % (MANAGED_BY, MANAGER, FAULT_FOR)

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# Go's time.ParseDuration units that matter for faults and expiries (ns and us are below Istio's 1 ms
# precision for delays, pkg/config/validation/agent/validation.go ValidateDuration).
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$")
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")


def is_fault(obj, service=None):
    """True for a fault VirtualService this collection made (for `service`, when given)."""
    lbl = labels_of(obj)
    if lbl.get(MANAGED_BY) != MANAGER or not lbl.get(FAULT_FOR):
        return False
    return service is None or lbl[FAULT_FOR] == service


def parse_duration(text):
    """Seconds in a Go-style duration ("3s", "500ms", "1m30s", "1.5h") or a plain number of seconds;
    None when it is neither."""
    if isinstance(text, bool):
        return None
    if isinstance(text, (int, float)):
        return float(text)
    text = str(text or "").strip()
    if re.match(r"^\d+(\.\d+)?$", text):
        return float(text)
    if not _DURATION.match(text):
        return None
    return sum(float(value) * _UNITS[unit] for value, unit in _PART.findall(text))


def utc_now():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def format_time(moment):
    return moment.astimezone(datetime.timezone.utc).strftime(_TIME_FORMAT)


def parse_time(text):
    """An RFC 3339 UTC time as written by format_time; None when it is not one."""
    try:
        return datetime.datetime.strptime(str(text), _TIME_FORMAT).replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return None


def annotation(obj, key):
    return ((obj.get("metadata") or {}).get("annotations") or {}).get(key)


def expiry(obj):
    """When a fault VirtualService expires (a datetime), or None when it carries no (readable) expiry."""
    return parse_time(annotation(obj, EXPIRES_AT))


def is_expired(obj, now):
    moment = expiry(obj)
    return moment is not None and moment <= now
