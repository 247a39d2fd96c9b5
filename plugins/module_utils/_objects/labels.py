# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Label edits on objects the collection does not own (namespaces, Services, workloads).

Only the keys the collection manages are ever written, as a JSON merge patch with the field
manager ambient.mesh; every other label and annotation is left as it is.
"""


import re

from ansible_collections.ambient.mesh.plugins.module_utils._kube.concurrency import run_concurrently

_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def valid_label_value(value):
    return isinstance(value, str) and len(value) <= 63 and bool(_LABEL_VALUE.match(value))


def valid_dns_label(value):
    return isinstance(value, str) and len(value) <= 63 and bool(_DNS_LABEL.match(value))


DNS_LABEL_RULE = ("a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit, "
                  "at most 63 characters")


def dns_label_problem(value):
    """Why value is not a DNS-1123 label (the names of namespaces and Services) and the fix, or None when it is one."""
    if valid_dns_label(value):
        return None
    if not isinstance(value, str) or not value:
        return "it is empty: a name is %s" % DNS_LABEL_RULE
    why = []
    if any(c.isupper() for c in value):
        why.append("it has uppercase letters")
    if len(value) > 63:
        why.append("it is %d characters long" % len(value))
    if any(not (c.islower() or c.isdigit() or c == "-") and not c.isupper() for c in value):
        why.append("it has characters other than letters, digits and '-'")
    if not why:
        why.append("it starts or ends with '-'")
    fix = value.lower()
    fix = "".join(c if (c.isalnum() and c.isascii()) or c == "-" else "-" for c in fix).strip("-")[:63].strip("-")
    hint = ": use %r" % fix if fix and valid_dns_label(fix) and fix != value else ""
    return "%s, and Kubernetes names must be %s%s" % (" and ".join(why), DNS_LABEL_RULE, hint)


def labels_patch(live_labels, wanted):
    """The merge patch that makes live_labels hold `wanted` ({key: value, or None to remove}); None if none."""
    changes = {}
    for key, value in wanted.items():
        if value is None:
            if key in live_labels:
                changes[key] = None
        elif live_labels.get(key) != value:
            changes[key] = value
    return {"metadata": {"labels": changes}} if changes else None


def apply_labels(labels, patch):
    """The labels after a labels_patch."""
    out = dict(labels)
    for key, value in ((patch or {}).get("metadata") or {}).get("labels", {}).items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def patch_all(api, edits, check_mode, concurrency):
    """Send each (apiVersion, kind, namespace, name, patch); returns [(edit, answer, error)]."""
    def send(edit):
        api_version, kind, namespace, name, patch = edit
        return api.patch(api_version, kind, name, patch, namespace=namespace, dry_run=check_mode)

    return run_concurrently(send, edits, concurrency)
