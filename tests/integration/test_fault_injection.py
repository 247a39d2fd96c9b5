"""fault_injection through ansible-playbook, on the lab's hello namespace with a waypoint the simulated istiod binds."""

import datetime
import time

import pytest
import yaml

from builders import ambient_namespace, fault_virtualservice, service, split_route, wait_bound
from conftest import DATA, GATEWAY_V151, ISTIO_CRDS, seed_istio

pytestmark = pytest.mark.integration
MODULE = "ambient.mesh.fault_injection"
VS = ("networking.istio.io/v1", "VirtualService")
SVC = ("v1", "Service")
GW = ("gateway.networking.k8s.io/v1", "Gateway")
OURS = {"app.kubernetes.io/managed-by": "ambient.mesh", "ambient.mesh/fault-for": "httpbin"}
LAB_FAULT = {"service": "httpbin", "namespace": "hello", "delay": {"fixed_delay": "3s", "percentage": 100},
             "abort": {"http_status": 500, "percentage": 50}, "expires_after": "15m"}


def sample(name, kind):
    docs = yaml.safe_load_all((DATA / "istio-1.30.3" / "samples" / f"{name}.yaml").read_text(encoding="utf-8"))
    return next(d for d in docs if d and d["kind"] == kind)


@pytest.fixture
def mesh(cluster):
    cluster.load_crds(GATEWAY_V151, ISTIO_CRDS)
    seed_istio(cluster)
    return cluster


def lab(cluster, waypoint=True, extra_services=()):
    """Namespace hello with Istio's httpbin Service (samples/httpbin.yaml) and, bound to it, a waypoint."""
    cluster.put(ambient_namespace("hello", waypoint="waypoint" if waypoint else None))
    svc = sample("httpbin", "Service")
    cluster.put(dict(svc, metadata=dict(svc["metadata"], namespace="hello")))
    for name in extra_services:
        cluster.put(service("hello", name))
    if waypoint:
        cluster.put({"apiVersion": GW[0], "kind": GW[1], "metadata": {"name": "waypoint", "namespace": "hello"},
                     "spec": {"gatewayClassName": "istio-waypoint",
                              "listeners": [{"name": "mesh", "port": 15008, "protocol": "HBONE"}]}})
        for name in ("httpbin",) + tuple(extra_services):
            wait_bound(cluster, "hello", name)


def rfc3339(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)


def test_the_labs_fault_field_by_field_and_four_steps(mesh, playbook):
    lab(mesh)
    args = {"faults": [LAB_FAULT]}
    mark = mesh.mark()
    check = playbook.run(MODULE, args, check=True, diff=True)
    assert check["changed"] is True and mesh.writes(mark) == []
    assert mesh.get(*VS, "httpbin-fault", "hello") is None
    assert [e["before_header"] for e in check["diff"]] == ["VirtualService hello/httpbin-fault"]
    assert check["diff"][0]["before"] == {}

    before_run = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    run = playbook.run(MODULE, args)
    assert run["changed"] is True
    vs = mesh.get(*VS, "httpbin-fault", "hello")
    assert vs["metadata"]["labels"] == OURS
    # the fault as the lab wrote it by hand (builders.fault_virtualservice), stored by the same server
    by_hand = mesh.put(fault_virtualservice(ns="hello", host="httpbin", delay="3s", delay_pct=100, abort=500,
                                            abort_pct=50))
    assert vs["spec"]["hosts"] == by_hand["spec"]["hosts"] == ["httpbin"]
    assert vs["spec"]["http"][0]["fault"] == by_hand["spec"]["http"][0]["fault"]
    assert vs["spec"]["http"][0]["route"] == by_hand["spec"]["http"][0]["route"]
    assert len(vs["spec"]["http"]) == 1  # no match: the fault route takes everything, no catch-all needed
    created = rfc3339(vs["metadata"]["annotations"]["ambient.mesh/created-at"])
    expires = rfc3339(vs["metadata"]["annotations"]["ambient.mesh/expires-at"])
    assert before_run <= created <= datetime.datetime.now(datetime.timezone.utc)
    assert expires - created == datetime.timedelta(minutes=15)
    [fault] = run["faults"]
    assert fault["virtualservice"] == "httpbin-fault" and fault["expires_at"] == vs["metadata"]["annotations"][
        "ambient.mesh/expires-at"]
    mesh.delete(*VS, by_hand["metadata"]["name"], "hello")  # the lab's own would be refused next to ours

    time.sleep(1.1)  # a later second: a second run that rewrote the times would show
    mark = mesh.mark()
    assert playbook.run(MODULE, args, check=True)["changed"] is False
    again = playbook.run(MODULE, args, diff=True)
    assert again["changed"] is False and not again.get("diff")
    assert mesh.writes(mark) == []
    assert {e["verb"] for e in mesh.requests(mark)} == {"list"}
    assert mesh.get(*VS, "httpbin-fault", "hello")["metadata"]["resourceVersion"] == vs["metadata"]["resourceVersion"]


def test_refused_without_a_waypoint_with_zero_writes(mesh, playbook):
    lab(mesh, waypoint=False)
    mark = mesh.mark()
    refused = playbook.run(MODULE, {"faults": [LAB_FAULT]}, fails=[
        "cannot inject the faults, nothing was changed: no waypoint serves Service hello/httpbin "
        "(no istio.io/use-waypoint label on it or on namespace hello): the fault would silently not apply - in ambient "
        "mode only a waypoint applies L7 faults; deploy and bind one first, for example ambient.mesh.waypoint with "
        "waypoints: [{namespace: hello, enroll_namespace: true}] (or the ambient.mesh.waypoint role), then run "
        "this again"])
    assert refused["changed"] is False
    assert mesh.writes(mark) == []
    assert playbook.run(MODULE, {"faults": [LAB_FAULT]}, check=True, fails="no waypoint serves")["changed"] is False
    assert mesh.list(*VS, "hello") == []


def test_refused_next_to_a_catch_all_split_naming_both_ways_out(mesh, playbook):
    lab(mesh, extra_services=("helloworld", "helloworld-v1", "helloworld-v2"))
    mesh.put(split_route(ns="hello", name="hello-http-split-traffic"))
    mark = mesh.mark()
    fault = {"service": "helloworld", "namespace": "hello", "delay": {"fixed_delay": "3s"}}
    for match in (None, {"path": {"type": "PathPrefix", "value": "/hello"}}):
        args = {"faults": [dict(fault, match=match)]}
        playbook.run(MODULE, args, fails=[
            "HTTPRoute hello/hello-http-split-traffic already routes Service hello/helloworld and its rule 0 may take "
            "the requests the fault is for: at the waypoint (namespace hello) HTTPRoute hello/hello-http-split-traffic "
            "comes before the fault's VirtualService, so it takes those requests and the fault would never fire for "
            "them; limit the fault with match to a path the route does not catch, or remove the split for the duration of "
            "the check (ambient.mesh.traffic_split with state: absent) and express it in the fault's VirtualService "
            "with destinations: [{service: helloworld-v1, weight: 95}, {service: helloworld-v2, weight: 5}]"])
    assert mesh.writes(mark) == []

    # the second way out: the split gone, carried by the fault's VirtualService
    mesh.delete("gateway.networking.k8s.io/v1", "HTTPRoute", "hello-http-split-traffic", "hello")
    playbook.run(MODULE, {"faults": [dict(fault, destinations=[{"service": "helloworld-v1", "weight": 95},
                                                               {"service": "helloworld-v2", "weight": 5}])]})
    vs = mesh.get(*VS, "helloworld-fault", "hello")
    assert vs["spec"]["http"][0]["route"] == [{"destination": {"host": "helloworld-v1"}, "weight": 95},
                                              {"destination": {"host": "helloworld-v2"}, "weight": 5}]


def test_a_fault_on_a_path_the_route_does_not_catch_is_allowed_without_a_catch_all(mesh, playbook):
    lab(mesh)
    route = split_route(ns="hello", service_name="httpbin", weights=(100,), port=8000, name="httpbin-api")
    route["spec"]["rules"][0]["matches"] = [{"path": {"type": "PathPrefix", "value": "/api"}},
                                            {"path": {"type": "Exact", "value": "/headers"},
                                             "headers": [{"name": "x-env", "value": "prod"}]}]
    mesh.put(route)
    mark = mesh.mark()
    for path in ({"type": "PathPrefix", "value": "/api/v1"}, {"type": "PathPrefix", "value": "/"},
                 {"type": "Exact", "value": "/headers"}):
        playbook.run(MODULE, {"faults": [dict(LAB_FAULT, match={"path": path})]},
                     fails="HTTPRoute hello/httpbin-api already routes Service hello/httpbin and its rule 0 may take")
    assert mesh.writes(mark) == []
    # /apiary is not under /api (whole segments); /headers with x-env: test never meets x-env: prod
    for match in ({"path": {"type": "PathPrefix", "value": "/apiary"}},
                  {"path": {"type": "Exact", "value": "/headers"}, "headers": [{"name": "X-Env", "value": "test"}]}):
        result = playbook.run(MODULE, {"faults": [dict(LAB_FAULT, match=match)]})
        assert result["faults"][0]["beside"] == ["HTTPRoute hello/httpbin-api"]
        vs = mesh.get(*VS, "httpbin-fault", "hello")
        assert [r["name"] for r in vs["spec"]["http"]] == ["fault"]  # the route's answer for the rest stays
    assert vs["spec"]["http"][0]["match"] == [{"uri": {"exact": "/headers"}, "headers": {"x-env": {"exact": "test"}}}]


def test_a_matched_fault_keeps_the_rest_flowing_with_a_catch_all(mesh, playbook):
    lab(mesh)
    playbook.run(MODULE, {"faults": [dict(LAB_FAULT, match={"path": {"type": "PathPrefix", "value": "/delay/"},
                                                            "headers": [{"name": "x-chaos", "value": "on"}]})]})
    http = mesh.get(*VS, "httpbin-fault", "hello")["spec"]["http"]
    assert http[0]["match"] == [{"uri": {"exact": "/delay"}, "headers": {"x-chaos": {"exact": "on"}}},
                                {"uri": {"prefix": "/delay/"}, "headers": {"x-chaos": {"exact": "on"}}}]
    assert http[1] == {"name": "no-fault", "route": [{"destination": {"host": "httpbin"}}]}
    assert "fault" not in http[1] and "match" not in http[1]


def test_refused_next_to_a_foreign_virtualservice_for_the_host_which_stays_untouched(mesh, playbook):
    lab(mesh)
    theirs = mesh.put(fault_virtualservice(ns="hello", host="httpbin"))
    mark = mesh.mark()
    playbook.run(MODULE, {"faults": [LAB_FAULT]}, fails=[
        "VirtualService hello/httpbin-faults already routes Service hello/httpbin and its http route 0 may take the "
        "requests the fault is for"])
    playbook.run(MODULE, {"faults": [dict(LAB_FAULT, state="absent")]})
    assert mesh.writes(mark) == []
    assert mesh.get(*VS, "httpbin-faults", "hello")["metadata"]["resourceVersion"] == theirs["metadata"]["resourceVersion"]


def test_a_same_named_virtualservice_not_ours_is_refused(mesh, playbook):
    lab(mesh, extra_services=("other",))
    mesh.put(fault_virtualservice(ns="hello", host="other") | {"metadata": {"name": "httpbin-fault", "namespace": "hello"}})
    playbook.run(MODULE, {"faults": [LAB_FAULT]}, fails=[
        "VirtualService hello/httpbin-fault exists and was not made by ambient.mesh for Service hello/httpbin (no "
        "labels app.kubernetes.io/managed-by=ambient.mesh, ambient.mesh/fault-for=httpbin): delete or rename it"])


def test_absent_leaves_a_same_named_virtualservice_not_ours_and_warns(mesh, playbook):
    lab(mesh, extra_services=("other",))
    theirs = mesh.put(fault_virtualservice(ns="hello", host="other") | {"metadata": {"name": "httpbin-fault",
                                                                                     "namespace": "hello"}})
    mark = mesh.mark()
    result = playbook.run(MODULE, {"faults": [{"service": "httpbin", "namespace": "hello", "state": "absent"}]})
    assert result["changed"] is False and result["deleted"] == []
    assert mesh.writes(mark) == []
    assert mesh.get(*VS, "httpbin-fault", "hello")["metadata"]["resourceVersion"] == theirs["metadata"]["resourceVersion"]
    assert [w for w in result["warnings"] if w.startswith(
        "VirtualService hello/httpbin-fault was left in place: it has the fault's name but not the labels")], result


def test_invalid_parameters_refused_before_any_request_writes(mesh, playbook):
    lab(mesh)
    mark = mesh.mark()
    bad = {"service": "httpbin", "namespace": "hello", "delay": {"fixed_delay": "3 seconds", "percentage": 150},
           "abort": {"http_status": 700, "percentage": -1}, "expires_after": "soon",
           "match": {"path": {"type": "RegularExpression", "value": "/x.*"}}}
    result = playbook.run(MODULE, {"faults": [bad, {"service": "httpbin", "namespace": "hello", "delay": {
        "fixed_delay": "0.0005s"}}, {"service": "empty", "namespace": "hello"}]}, fails=[
        "invalid faults, nothing was changed",
        "fault 0 (hello/httpbin): delay.fixed_delay '3 seconds' is not a duration (for example 3s, 500ms, 1m30s)",
        "fault 0 (hello/httpbin): delay.percentage 150.0 is not a number from 0 to 100",
        "fault 0 (hello/httpbin): abort.http_status 700 is not an HTTP status from 200 to 599",
        "fault 0 (hello/httpbin): abort.percentage -1.0 is not a number from 0 to 100",
        "fault 0 (hello/httpbin): match.path.type must be one of PathPrefix, Exact",
        "fault 0 (hello/httpbin): expires_after 'soon' is not a duration above 0",
        "fault 1 (hello/httpbin) is listed twice",
        "fault 1 (hello/httpbin): delay.fixed_delay '0.0005s' must be at least 1ms, in whole milliseconds",
        "fault 2 (hello/empty): give a delay, an abort or both"])
    assert len(result["msg"].split("; ")) == 9
    assert mesh.writes(mark) == []


def test_absent_removes_exactly_the_labelled_ones(mesh, playbook):
    lab(mesh, extra_services=("helloworld",))
    playbook.run(MODULE, {"faults": [LAB_FAULT, {"service": "helloworld", "namespace": "hello",
                                                 "abort": {"http_status": 503}}]})
    # another tool's VirtualService for another host, and one that only looks like ours (no labels)
    theirs = mesh.put(fault_virtualservice(ns="hello", host="helloworld") | {
        "metadata": {"name": "lookalike", "namespace": "hello",
                     "annotations": {"ambient.mesh/expires-at": "2000-01-01T00:00:00Z"}}})
    theirs["spec"]["hosts"] = ["elsewhere.example.com"]
    theirs = mesh.put(theirs)
    args = {"faults": [{"service": "httpbin", "namespace": "hello", "state": "absent"}]}
    mark = mesh.mark()
    check = playbook.run(MODULE, args, check=True, diff=True)
    assert check["changed"] is True and mesh.writes(mark) == []
    assert [e["before_header"] for e in check["diff"]] == ["VirtualService hello/httpbin-fault"]
    assert check["diff"][0]["after"] == {}
    run = playbook.run(MODULE, args)
    assert run["deleted"] == ["VirtualService hello/httpbin-fault"] and run["faults"][0]["changed"] is True
    assert [(w["verb"], w["name"]) for w in mesh.writes(mark)] == [("delete", "httpbin-fault")]
    assert sorted(v["metadata"]["name"] for v in mesh.list(*VS, "hello")) == ["helloworld-fault", "lookalike"]
    assert mesh.get(*VS, "lookalike", "hello")["metadata"]["resourceVersion"] == theirs["metadata"]["resourceVersion"]
    again = playbook.run(MODULE, args)
    assert again["changed"] is False and again["deleted"] == []


def test_prune_expired_removes_only_expired_faults_of_the_collection(mesh, playbook):
    lab(mesh, extra_services=("helloworld",))
    playbook.run(MODULE, {"faults": [dict(LAB_FAULT, expires_after="1s"),
                                     {"service": "helloworld", "namespace": "hello", "abort": {"http_status": 503},
                                      "expires_after": "1h"}]})
    lookalike = mesh.put({"apiVersion": VS[0], "kind": VS[1], "metadata": {
        "name": "lookalike", "namespace": "hello", "labels": {"app.kubernetes.io/managed-by": "ambient.mesh"},
        "annotations": {"ambient.mesh/expires-at": "2000-01-01T00:00:00Z"}},
        "spec": {"hosts": ["elsewhere.example.com"], "http": [{"route": [{"destination": {"host": "x.example.com"}}]}]}})
    time.sleep(2.1)
    mark = mesh.mark()
    check = playbook.run(MODULE, {"prune_expired": ["hello"]}, check=True)
    assert check["changed"] is True and check["pruned"] == ["VirtualService hello/httpbin-fault"]
    assert mesh.writes(mark) == []
    run = playbook.run(MODULE, {"prune_expired": ["hello"]})
    assert run["pruned"] == ["VirtualService hello/httpbin-fault"]
    assert sorted(v["metadata"]["name"] for v in mesh.list(*VS, "hello")) == ["helloworld-fault", "lookalike"]
    assert mesh.get(*VS, "lookalike", "hello")["metadata"]["resourceVersion"] == lookalike["metadata"]["resourceVersion"]
    assert playbook.run(MODULE, {"prune_expired": ["hello"]})["changed"] is False


def test_an_expired_fault_applied_again_starts_anew(mesh, playbook):
    lab(mesh)
    first = playbook.run(MODULE, {"faults": [dict(LAB_FAULT, expires_after="1s")]})["faults"][0]
    time.sleep(2.1)
    again = playbook.run(MODULE, {"faults": [dict(LAB_FAULT, expires_after="1s")]})
    assert again["changed"] is True
    assert rfc3339(again["faults"][0]["created_at"]) > rfc3339(first["created_at"])


def test_many_faults_in_one_call(mesh, playbook):
    names = tuple(f"app-{i:02d}" for i in range(12))
    lab(mesh, extra_services=names)
    faults = [{"service": n, "namespace": "hello", "delay": {"fixed_delay": f"{i + 1}00ms"}, "expires_after": "10m"}
              for i, n in enumerate(names)]
    mark = mesh.mark()
    result = playbook.run(MODULE, {"faults": faults, "concurrency": 6})
    assert [f["service"] for f in result["faults"]] == [f"hello/{n}" for n in names]
    assert mesh.get(*VS, "app-11-fault", "hello")["spec"]["http"][0]["fault"]["delay"]["fixedDelay"] == "1.200s"
    writes = mesh.writes(mark)
    assert len(writes) == 12 and {w["verb"] for w in writes} == {"patch"}  # one server-side apply each
    reads = [e for e in mesh.requests(mark) if e["verb"] in ("get", "list")]
    assert {e["verb"] for e in reads} == {"list"} and len(reads) == 5  # whatever the number of faults
    mark = mesh.mark()
    removed = playbook.run(MODULE, {"faults": [{"service": n, "namespace": "hello", "state": "absent"} for n in names]})
    assert len(removed["deleted"]) == 12 and mesh.list(*VS, "hello") == []
    assert len(mesh.writes(mark)) == 12
