"""fault_injection's planner and match comparison, table-driven: parameters, live objects and a time in; objects,
deletions and refusals out."""

import copy
import datetime

import pytest

from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError
from ansible_collections.ambient.mesh.plugins.module_utils._faults.injection import Live, delay_text, normalize, plan
from ansible_collections.ambient.mesh.plugins.module_utils._istio.route_match import (
    httproute_catches,
    virtualservice_catches,
    virtualservice_matches,
)
from ansible_collections.ambient.mesh.plugins.module_utils._istio.fault_records import parse_duration
from builders import ambient_namespace, service, split_route

NOW = datetime.datetime(2026, 11, 30, 10, 0, 0, tzinfo=datetime.timezone.utc)
OURS = {"app.kubernetes.io/managed-by": "ambient.mesh", "ambient.mesh/fault-for": "httpbin"}
FAULT = {"service": "httpbin", "namespace": "hello", "delay": {"fixed_delay": "3s", "percentage": 100}}


def bound(svc, status="True", reason="WaypointAccepted"):
    svc = copy.deepcopy(svc)
    svc["status"] = {"conditions": [{"type": "istio.io/WaypointBound", "status": status, "reason": reason,
                                     "message": "Successfully attached to waypoint hello/waypoint"}]}
    return svc


def live(*extra, httpbin_status="True"):
    objects = [ambient_namespace("hello", waypoint="waypoint"),
               bound(service("hello", "httpbin", port=8000), status=httpbin_status)] + list(extra)
    return Live(namespaces=[o for o in objects if o["kind"] == "Namespace"],
                services=[o for o in objects if o["kind"] == "Service"],
                httproutes=[o for o in objects if o["kind"] == "HTTPRoute"],
                virtualservices=[o for o in objects if o["kind"] == "VirtualService"])


def fault_vs(name="httpbin-fault", service_name="httpbin", created="2026-11-30T09:00:00Z", expires=None, labels=None):
    annotations = {"ambient.mesh/created-at": created}
    if expires:
        annotations["ambient.mesh/expires-at"] = expires
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": name, "namespace": "hello", "annotations": annotations,
                         "labels": OURS | {"ambient.mesh/fault-for": service_name} if labels is None else labels},
            "spec": {"hosts": [service_name], "http": [{"route": [{"destination": {"host": service_name}}]}]}}


@pytest.mark.parametrize("text, seconds", [
    ("3s", 3.0), ("500ms", 0.5), ("1m30s", 90.0), ("1.5h", 5400.0), (2, 2.0), ("2", 2.0),
    ("3 s", None), ("soon", None), ("", None), (True, None), ("-1s", None),
])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("seconds, text", [(3, "3s"), (0.5, "0.500s"), (90.25, "90.250s"), (0.001, "0.001s")])
def test_delays_are_written_as_protobuf_json_durations(seconds, text):
    assert delay_text(seconds) == text


@pytest.mark.parametrize("match, expected", [
    (None, []),
    ({"path": {"type": "Exact", "value": "/get"}}, [{"uri": {"exact": "/get"}}]),
    ({"path": {"type": "PathPrefix", "value": "/"}}, [{"uri": {"prefix": "/"}}]),
    ({"path": {"type": "PathPrefix", "value": "/status/"}}, [{"uri": {"exact": "/status"}},
                                                             {"uri": {"prefix": "/status/"}}]),
    ({"headers": [{"name": "X-Chaos", "value": "on"}, {"name": "x-user", "value": "a.*", "type": "RegularExpression"}]},
     [{"headers": {"x-chaos": {"exact": "on"}, "x-user": {"regex": "a.*"}}}]),
])
def test_the_fault_match_as_virtualservice_matches(match, expected):
    assert virtualservice_matches(match) == expected


def route_with(*matches):
    route = split_route(ns="hello", service_name="httpbin", weights=(100,), port=8000)
    route["spec"]["rules"][0]["matches"] = list(matches)
    return route


P = lambda kind, value: {"path": {"type": kind, "value": value}}  # noqa: E731


@pytest.mark.parametrize("rule_matches, fault_match, caught", [
    ([], None, True),                                    # a rule without matches takes everything
    ([], P("Exact", "/get"), True),
    ([P("PathPrefix", "/")], P("Exact", "/get"), True),  # a / prefix is everything
    ([P("PathPrefix", "/api")], P("PathPrefix", "/api/v1"), True),
    ([P("PathPrefix", "/api/v1")], P("PathPrefix", "/api"), True),  # the fault's prefix includes the rule's paths
    ([P("PathPrefix", "/api")], P("PathPrefix", "/apiary"), False),  # whole segments
    ([P("PathPrefix", "/api")], P("Exact", "/api"), True),
    ([P("Exact", "/api")], P("Exact", "/api/"), False),
    ([P("Exact", "/api/x")], P("PathPrefix", "/api"), True),
    ([P("RegularExpression", "/nothing-like-it")], P("Exact", "/get"), True),  # not provable
    ([{"path": {"type": "Exact", "value": "/get"}, "headers": [{"name": "x-env", "value": "prod"}]}],
     {"path": {"type": "Exact", "value": "/get"}, "headers": [{"name": "X-Env", "value": "test"}]}, False),
    ([{"headers": [{"name": "x-env", "value": "prod"}]}], {"headers": [{"name": "x-env", "value": "p.*",
                                                                       "type": "RegularExpression"}]}, True),
    ([{"headers": [{"name": "x-env", "value": "prod"}]}], {"headers": [{"name": "x-other", "value": "1"}]}, True),
    ([{"method": "POST"}], P("Exact", "/get"), True),   # methods are not compared: counts as catching
])
def test_which_httproute_rules_take_the_faults_requests(rule_matches, fault_match, caught):
    assert bool(httproute_catches(route_with(*rule_matches) if rule_matches else route_with(), fault_match)) is caught


@pytest.mark.parametrize("vs_match, fault_match, caught", [
    (None, P("Exact", "/get"), True),
    ([{"uri": {"prefix": "/ap"}}], P("PathPrefix", "/api"), True),    # a VirtualService prefix is a string prefix
    ([{"uri": {"prefix": "/apix"}}], P("PathPrefix", "/api"), False),
    ([{"uri": {"prefix": "/api/v1"}}], P("PathPrefix", "/api"), True),
    ([{"uri": {"exact": "/get"}}], P("Exact", "/post"), False),
    ([{"sourceLabels": {"app": "curl"}}], None, False),  # dropped at a waypoint: takes nothing there
])
def test_which_virtualservice_routes_take_the_faults_requests(vs_match, fault_match, caught):
    vs = fault_vs(labels={})
    if vs_match is not None:
        vs["spec"]["http"][0]["match"] = vs_match
    assert bool(virtualservice_catches(vs, fault_match)) is caught


def test_a_new_fault_starts_now_and_an_existing_one_keeps_its_times():
    specs = normalize([dict(FAULT, expires_after="15m")])
    [obj] = plan(specs, live(), NOW)["apply"]
    assert obj["metadata"]["annotations"] == {"ambient.mesh/created-at": "2026-11-30T10:00:00Z",
                                              "ambient.mesh/expires-at": "2026-11-30T10:15:00Z"}
    [kept] = plan(specs, live(fault_vs(expires="2026-11-30T10:05:00Z", created="2026-11-30T09:50:00Z")),
                  NOW)["apply"]
    assert kept["metadata"]["annotations"]["ambient.mesh/created-at"] == "2026-11-30T09:50:00Z"
    assert kept["metadata"]["annotations"]["ambient.mesh/expires-at"] == "2026-11-30T10:05:00Z"
    [anew] = plan(specs, live(fault_vs(created="2026-11-30T09:00:00Z", expires="2026-11-30T09:15:00Z")), NOW)["apply"]
    assert anew["metadata"]["annotations"]["ambient.mesh/created-at"] == "2026-11-30T10:00:00Z"


@pytest.mark.parametrize("objects, status, text", [
    ((), "False", "no waypoint serves Service hello/httpbin"),
    ((split_route(ns="hello", service_name="httpbin", port=8000, name="r"),), "True",
     "HTTPRoute hello/r already routes Service hello/httpbin and its rule 0 may take"),
    ((fault_vs(labels={}),), "True", "VirtualService hello/httpbin-fault exists and was not made by ambient.mesh"),
])
def test_refusals(objects, status, text):
    with pytest.raises(AmbientMeshError) as err:
        plan(normalize([FAULT]), live(*objects, httpbin_status=status), NOW)
    assert text in err.value.msg and err.value.msg.startswith("cannot inject the faults, nothing was changed: ")


def test_prune_takes_expired_labelled_faults_only_and_not_one_being_applied():
    expired = [fault_vs(name="a-fault", service_name="a", expires="2026-11-30T09:59:59Z"),
               fault_vs(name="b-fault", service_name="b", expires="2026-11-30T10:00:00Z"),
               fault_vs(expires="2026-11-30T09:00:00Z")]
    fresh = fault_vs(name="c-fault", service_name="c", expires="2026-11-30T10:00:01Z")
    unlabelled = fault_vs(name="d-fault", service_name="d", expires="2000-01-01T00:00:00Z", labels={})
    planned = plan(normalize([FAULT], ["hello"]), live(*expired, fresh, unlabelled), NOW, ["hello"])
    assert [o["metadata"]["name"] for o in planned["prune"]] == ["a-fault", "b-fault"]
    assert [o["metadata"]["name"] for o in planned["apply"]] == ["httpbin-fault"]  # made anew, not pruned


@pytest.mark.parametrize("objects, deleted, warned", [
    ((fault_vs(),), ["httpbin-fault"], False),                                # ours: deleted
    ((fault_vs(labels={}),), [], True),                                       # same name, no labels: left, warned
    ((fault_vs(labels={"app.kubernetes.io/managed-by": "ambient.mesh"}),), [], True),  # half our labels
    ((fault_vs(labels=OURS | {"ambient.mesh/fault-for": "other"}),), [], True),  # ours, for another Service
    ((fault_vs(name="renamed"),), ["renamed"], False),                        # ours under another name: deleted
    ((), [], False),
])
def test_absent_deletes_by_the_collections_labels_never_by_name(objects, deleted, warned):
    planned = plan(normalize([{"service": "httpbin", "namespace": "hello", "state": "absent"}]), live(*objects), NOW)
    assert [o["metadata"]["name"] for o in planned["delete"]] == deleted
    assert bool(planned["warnings"]) is warned
    if warned:
        [text] = planned["warnings"]
        assert text.startswith("VirtualService hello/httpbin-fault was left in place: it has the fault's name but "
                               "not the labels app.kubernetes.io/managed-by=ambient.mesh, ambient.mesh/fault-for=httpbin")


def _refusal(*objects):
    with pytest.raises(AmbientMeshError) as err:
        plan(normalize([FAULT]), live(*objects), NOW)
    return err.value.msg


def stamped(obj, stamp):
    obj["metadata"]["creationTimestamp"] = stamp
    return obj


def test_refusal_names_the_httproute_of_the_waypoints_namespace_as_first():
    """Istio 1.30.3 push_context.go VirtualServicesForGateway: the HTTPRoutes of the waypoint's namespace come
    before the public VirtualServices - the fault's, new or old."""
    route = stamped(split_route(ns="hello", service_name="httpbin", port=8000, name="r"), "2026-11-30T09:30:00Z")
    for existing in ((), (stamped(fault_vs(), "2026-11-30T09:00:00Z"),)):
        msg = _refusal(route, *existing)
        assert ("at the waypoint (namespace hello) HTTPRoute hello/r comes before the fault's VirtualService, so it "
                "takes those requests and the fault would never fire for them") in msg


def test_refusal_names_an_older_fault_first_at_a_waypoint_of_another_namespace():
    """With the waypoint in another namespace the HTTPRoute is one of the "other public" VirtualServices:
    creation order (model/config.go sortConfigByCreationTime), so a fault made before the route comes first."""
    route = stamped(split_route(ns="hello", service_name="httpbin", port=8000, name="r"), "2026-11-30T09:30:00Z")
    ns = ambient_namespace("hello", waypoint="waypoint", **{"istio.io/use-waypoint-namespace": "wp"})
    svc = bound(service("hello", "httpbin", port=8000))
    lv = Live(namespaces=[ns], services=[svc], httproutes=[route],
              virtualservices=[stamped(fault_vs(), "2026-11-30T09:00:00Z")])
    with pytest.raises(AmbientMeshError) as err:
        plan(normalize([FAULT]), lv, NOW)
    assert ("at the waypoint (namespace wp) the fault's VirtualService comes before HTTPRoute hello/r, so the fault "
            "takes those requests and breaks its routing") in err.value.msg


def test_refusal_names_an_older_public_virtualservice_first():
    other = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
             "metadata": {"name": "httpbin-routes", "namespace": "hello", "creationTimestamp": "2026-11-30T08:00:00Z"},
             "spec": {"hosts": ["httpbin"], "http": [{"route": [{"destination": {"host": "httpbin"}}]}]}}
    msg = _refusal(other)
    assert ("at the waypoint (namespace hello) VirtualService hello/httpbin-routes comes before the fault's "
            "VirtualService, so it takes those requests and the fault would never fire for them") in msg
