"""The one diff convention every module returns: diff_entry, module_diff, with_diff (expected values written out)."""

import pytest

from ansible_collections.ambient.mesh.plugins.module_utils._objects.diff import diff_entry, module_diff, with_diff

LIVE = {"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": "hello", "uid": "u-1", "resourceVersion": "7", "creationTimestamp": "2026-01-01T00:00:00Z",
                     "managedFields": [{"manager": "kubectl"}], "labels": {"team": "a"},
                     "annotations": {"ambient.mesh/config-hash": "abc"}},
        "status": {"phase": "Active"}}
LABELLED = {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "hello", "uid": "u-1", "resourceVersion": "8", "labels": {"team": "a", "x": "y"}},
            "status": {"phase": "Active"}}
SHOWN_BEFORE = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "hello", "labels": {"team": "a"}}}
SHOWN_AFTER = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "hello", "labels": {"team": "a", "x": "y"}}}
SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "hello"}}


@pytest.mark.parametrize("before, after, header, expected", [
    (LIVE, LABELLED, None, {"before": SHOWN_BEFORE, "after": SHOWN_AFTER,
                            "before_header": "Namespace hello", "after_header": "Namespace hello"}),
    (None, SERVICE, None, {"before": {}, "after": SERVICE,
                           "before_header": "Service hello/web", "after_header": "Service hello/web"}),
    (SERVICE, None, None, {"before": SERVICE, "after": {},
                           "before_header": "Service hello/web", "after_header": "Service hello/web"}),
    ({"revision": "default"}, {}, "Istio install (revision default)",
     {"before": {"revision": "default"}, "after": {}, "before_header": "Istio install (revision default)",
      "after_header": "Istio install (revision default)"}),
])
def test_diff_entry(before, after, header, expected):
    assert diff_entry(before, after, header) == expected


def entry(header, before, after):
    return {"before": before, "after": after, "before_header": header, "after_header": header}


@pytest.mark.parametrize("entries, expected", [
    ([], []),
    # an object written in three ordered steps shows once, from the first before to the last after
    ([entry("Namespace a", {"l": 1}, {"l": 2}), entry("Namespace b", {}, {"m": 1}), entry("Namespace a", {"l": 2}, {"l": 3})],
     [entry("Namespace a", {"l": 1}, {"l": 3}), entry("Namespace b", {}, {"m": 1})]),
    # unchanged objects are left out, also when steps cancel out
    ([entry("Namespace a", {"l": 1}, {"l": 1}), entry("Namespace b", {"m": 1}, {"m": 2}), entry("Namespace b", {"m": 2}, {"m": 1})],
     []),
])
def test_module_diff(entries, expected):
    assert module_diff(entries) == expected


@pytest.mark.parametrize("diff_mode, expected", [
    (True, {"changed": True, "diff": [entry("Namespace a", {}, {"l": 1})]}),
    (False, {"changed": True}),
])
def test_with_diff_returns_the_diff_only_in_diff_mode(diff_mode, expected):
    assert with_diff({"changed": True, "diff": [entry("Namespace a", {}, {"l": 1})]}, diff_mode) == expected
