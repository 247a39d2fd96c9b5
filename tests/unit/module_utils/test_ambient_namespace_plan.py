"""ambient_namespace's planner and the pending-restart marker (pure functions, table-driven)."""

import pytest

from ansible_collections.ambient.mesh.plugins.module_utils._enrollment.ambient_namespace import (
    mark_pending,
    missing_waypoints,
    needs_restart,
    normalize,
    plan_steps,
    waypoint_references,
)
from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError, batch_error
from ansible_collections.ambient.mesh.plugins.module_utils._objects.labels import dns_label_problem
from ansible_collections.ambient.mesh.plugins.module_utils._enrollment.restart_pending import (
    RESTART_PENDING,
    parse_stamp,
    restarted_since,
)

AMBIENT = {"istio.io/dataplane-mode": "ambient"}
SIDECAR = {"istio-injection": "enabled"}


def spec(name="hello", **kw):
    return dict({"name": name, "dataplane_mode": "ambient", "use_waypoint": None, "use_waypoint_namespace": None,
                 "state": "present", "create": False}, **kw)


@pytest.mark.parametrize("before, after, restart, owed", [
    ({}, AMBIENT, False, False),  # istio-cni captures running pods: nothing owed
    ({}, AMBIENT, True, True),  # the task restarts: owed until it has
    (SIDECAR, AMBIENT, False, True),  # the pods keep their sidecars until restarted
    (AMBIENT, dict(AMBIENT, **{"istio.io/use-waypoint": "wp"}), True, False),  # capture unchanged
    (AMBIENT, {}, True, True),
    (AMBIENT, {}, False, False),
])
def test_needs_restart(before, after, restart, owed):
    assert needs_restart(before, after, restart) is owed


def test_the_marker_goes_with_the_write_that_changes_the_capture():
    steps = plan_steps(dict(SIDECAR, team="a"), spec(use_waypoint="wp"), migrate=True)
    marked = mark_pending(steps, dict(SIDECAR, team="a"), "2026-11-23T20:00:00Z")
    assert [s["metadata"].get("annotations") for s in marked] == [None, None, {RESTART_PENDING: "2026-11-23T20:00:00Z"}]
    assert [s["metadata"]["labels"] for s in marked] == [s["metadata"]["labels"] for s in steps]


def workload(restarted_at=None):
    annotations = {"kubectl.kubernetes.io/restartedAt": restarted_at} if restarted_at else {}
    return {"spec": {"template": {"metadata": {"annotations": annotations}}}}


@pytest.mark.parametrize("restarted_at, since, done", [
    (None, "2026-11-23T20:00:00Z", False),
    ("2026-11-23T19:59:59Z", "2026-11-23T20:00:00Z", False),
    ("2026-11-23T20:00:00Z", "2026-11-23T20:00:00Z", True),  # the same second: the run that marked it restarted it
    ("2026-11-23T21:00:01+01:00", "2026-11-23T20:00:00Z", True),  # kubectl writes local time with an offset
    ("2026-11-23T20:59:59+01:00", "2026-11-23T20:00:00Z", False),
    ("2026-11-23T20:00:00.5Z", "2026-11-23T20:00:00Z", True),
    ("yesterday", "2026-11-23T20:00:00Z", False),  # unreadable: restart once more rather than never
    ("2026-11-23T20:00:00Z", "garbage", False),
])
def test_restarted_since_the_marker(restarted_at, since, done):
    assert restarted_since(workload(restarted_at), since) is done


def test_parse_stamp_rejects_what_is_not_rfc3339():
    assert parse_stamp(None) is None and parse_stamp("2026-11-23") is None
    assert parse_stamp("2026-11-23T20:00:00Z") == parse_stamp("2026-11-23T21:00:00+01:00")


@pytest.mark.parametrize("specs, live, expected", [
    ([spec(use_waypoint="wp")], {"hello": {"metadata": {"labels": {}}}}, [("hello", "hello", "wp")]),
    ([spec(use_waypoint="wp", use_waypoint_namespace="shared")], {}, [("hello", "shared", "wp")]),
    ([spec(use_waypoint="none")], {}, []),  # opting out names no waypoint
    ([spec(use_waypoint="wp", state="absent")], {}, []),
    # already written: a no-op run checks nothing (mesh_info reports a waypoint that went away)
    ([spec(use_waypoint="wp")], {"hello": {"metadata": {"labels": {"istio.io/use-waypoint": "wp"}}}}, []),
])
def test_waypoint_references_only_of_labels_written(specs, live, expected):
    assert waypoint_references(specs, live) == expected


@pytest.mark.parametrize("references, gateways, expected", [
    ([("a", "a", "wp")], {("a", "wp")}, []),
    ([("a", "a", "wp")], set(), ["use_waypoint wp of a: there is no waypoint (Gateway) a/wp"]),
    ([("a", "gone", "wp")], set(), ["use_waypoint_namespace gone of a: namespace gone does not exist"]),
    ([("a", "a", "wp")], None, ["use_waypoint wp of a: no waypoint can exist, the Gateway API CRDs are not installed"]),
    ([("n%d" % i, "shared", "wp") for i in range(7)], set(),
     ["use_waypoint wp of n0, n1, n2, n3, n4 and 2 more: there is no waypoint (Gateway) shared/wp"]),
])
def test_missing_waypoints_grouped_by_target(references, gateways, expected):
    assert missing_waypoints(references, {"a", "shared"} | {"n%d" % i for i in range(7)}, gateways) == expected


def test_a_waypoint_namespace_the_same_task_creates_is_named_as_created_not_missing():
    problems = missing_waypoints([("hello", "shared", "wp")], {"hello"}, set(), created={"shared"})
    assert problems == ["use_waypoint wp of hello: namespace shared is created by this task, so it holds no waypoint "
                        "yet: deploy the waypoint (ambient.mesh.waypoint) in a later task and set "
                        "allow_missing_waypoint: true here, or create shared and its waypoint before this task"]


@pytest.mark.parametrize("name, words", [
    ("Hello", ["it has uppercase letters", "DNS-1123 label", "use 'hello'"]),
    ("team_a", ["characters other than letters, digits and '-'", "use 'team-a'"]),
    ("-a", ["starts or ends with '-'", "use 'a'"]),
    ("a" * 64, ["64 characters long"]),
])
def test_a_bad_namespace_name_says_why_and_the_fix(name, words):
    with pytest.raises(AmbientMeshError) as err:
        normalize([name])
    assert "item 0: %r is not a namespace name: " % name in err.value.msg
    for word in words:
        assert word in err.value.msg and word in dns_label_problem(name)
    assert dns_label_problem("hello") is None


def test_partial_failure_counts_add_up():
    """20 namespaces to label, 10 failed of which 3 after their first step: 10 failed + 10 written = 20."""
    failures = [("ns-%02d" % i, AmbientMeshError("x", cause="connection refused", transient=True)) for i in range(10)]
    done = ["ns-%02d" % i for i in range(7, 20)]  # ns-07..09 partly written, then failed
    err = batch_error("labelling 10 of 20 namespaces failed", failures, done=done)
    assert "10 objects written before the failure stay written" in err.msg
    assert "3 of the failed objects had been written in part before failing" in err.msg
    assert err.details["done"] == done and len(err.details["failed"]) == 10
