import pytest

from ansible_collections.ambient.mesh.plugins.module_utils._objects.diff import (
    CONFIG_HASH_ANNOTATION,
    apply_is_noop,
    changed,
    config_hash,
    leaf_paths,
    owned_paths,
    strip_server_fields,
    with_config_hash,
)

DESIRED = {"apiVersion": "v1", "kind": "Namespace",
           "metadata": {"name": "hello", "labels": {"istio.io/dataplane-mode": "ambient"}}}


# What the API server records in managedFields for a server-side apply of DESIRED with its hash
# annotation, written out (not computed with leaf_paths, which apply_is_noop relies on).
OURS = {"f:metadata": {"f:annotations": {".": {}, "f:" + CONFIG_HASH_ANNOTATION: {}},
                       "f:labels": {".": {}, "f:istio.io/dataplane-mode": {}}}}
LABEL_ONLY = {"f:metadata": {"f:labels": {".": {}, "f:istio.io/dataplane-mode": {}}}}
WITH_TEAM = {"f:metadata": {"f:annotations": {"f:" + CONFIG_HASH_ANNOTATION: {}},
                            "f:labels": {"f:istio.io/dataplane-mode": {}, "f:team": {}}}}


def live_of(desired, manager="ambient.mesh", fields=None, extra_labels=None, drop_hash=False, value=None):
    live = with_config_hash(desired)
    if drop_hash:
        live["metadata"]["annotations"].pop(CONFIG_HASH_ANNOTATION)
    live["metadata"].update(uid="u", resourceVersion="7", creationTimestamp="t")
    if extra_labels:
        live["metadata"]["labels"].update(extra_labels)
    if value is not None:
        live["metadata"]["labels"]["istio.io/dataplane-mode"] = value
    live["metadata"]["managedFields"] = [{"manager": manager, "operation": "Apply", "fieldsType": "FieldsV1",
                                          "fieldsV1": OURS if fields is None else fields}]
    return live


@pytest.mark.parametrize("live, noop", [
    (None, False),
    (live_of(DESIRED), True),
    (live_of(DESIRED, extra_labels={"team": "a"}), True),  # a foreign label is not ours to judge
    (live_of(DESIRED, manager="kubectl"), False),  # someone else owns it: apply to take our fields
    (live_of(DESIRED, drop_hash=True), False),
    (live_of(DESIRED, value="none"), False),  # drifted value
    (live_of(DESIRED, fields=LABEL_ONLY), False),  # hash not owned
    # we still own a label an earlier apply set: only an apply removes it
    (live_of(DESIRED, extra_labels={"team": "a"}, fields=WITH_TEAM), False),
])
def test_apply_is_noop(live, noop):
    assert apply_is_noop(with_config_hash(DESIRED), live, "ambient.mesh") is noop


@pytest.mark.parametrize("obj, paths", [
    (DESIRED, {("metadata", "labels", "istio.io/dataplane-mode")}),  # apiVersion, kind, name: not claimed
    ({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "n", "labels": {}},
      "spec": {"ports": [{"port": 80}], "selector": {"app": "a"}, "type": "ClusterIP"}},
     {("metadata", "labels"), ("spec", "ports"), ("spec", "selector", "app"), ("spec", "type")}),
    ({"spec": {"a": {"b": {"c": None}}, "list": []}}, {("spec", "a", "b", "c"), ("spec", "list")}),
    ({}, set()),
    (None, set()),
])
def test_leaf_paths(obj, paths):
    assert leaf_paths(obj) == paths


def test_a_changed_list_changes_the_hash():
    a = {"kind": "X", "spec": {"rules": [{"weight": 95}, {"weight": 5}]}}
    b = {"kind": "X", "spec": {"rules": [{"weight": 90}, {"weight": 10}]}}
    assert config_hash(a) != config_hash(b)
    assert config_hash(a) == config_hash({"spec": {"rules": [{"weight": 95}, {"weight": 5}]}, "kind": "X"})


def test_strip_server_fields_and_changed():
    live = live_of(DESIRED)
    live["status"] = {"phase": "Active"}
    stripped = strip_server_fields(live)
    assert stripped == DESIRED
    assert not changed(live, DESIRED)
    assert changed(None, DESIRED)


def test_owned_paths_reads_fields_v1():
    live = {"metadata": {"managedFields": [
        {"manager": "ambient.mesh", "operation": "Apply",
         "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:a": {}}}, "f:spec": {"f:rules": {}}}},
        {"manager": "ambient.mesh", "operation": "Update", "fieldsV1": {"f:spec": {"f:x": {}}}},
        {"manager": "ambient.mesh", "operation": "Apply", "subresource": "status", "fieldsV1": {"f:status": {}}},
    ]}}
    assert owned_paths(live, "ambient.mesh") == {("metadata", "labels", "a"), ("spec", "rules")}


@pytest.mark.parametrize("obj", [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}},
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a", "uid": "u", "resourceVersion": "3",
                                                           "annotations": {"ambient.mesh/config-hash": "x"}},
     "status": {"phase": "Active"}},
    {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
     "metadata": {"name": "waypoint", "namespace": "hello", "labels": {"istio.io/waypoint-for": "service"},
                  "annotations": {"ambient.mesh/config-hash": "x", "keep": "me"}, "managedFields": [{"manager": "m"}]},
     "spec": {"gatewayClassName": "istio-waypoint", "listeners": [{"name": "mesh", "port": 15008, "protocol": "HBONE"}]}},
])
def test_config_hash_is_the_digest_of_the_object_without_server_fields_and_changes_nothing(obj):
    """The hash of objects already in clusters must not change between releases: it is the digest of what
    strip_server_fields leaves, and neither it nor with_config_hash changes the object given."""
    import copy
    import hashlib
    import json
    given = copy.deepcopy(obj)
    body = json.dumps(strip_server_fields(obj), sort_keys=True, separators=(",", ":")).encode("utf-8")
    assert config_hash(obj) == hashlib.sha256(body).hexdigest()[:32]
    hashed = with_config_hash(obj)
    assert obj == given
    assert hashed["metadata"]["annotations"]["ambient.mesh/config-hash"] == config_hash(obj)
    hashed["spec" if "spec" in hashed else "metadata"]["x"] = 1  # a deep copy: nothing below is shared
    assert obj == given
