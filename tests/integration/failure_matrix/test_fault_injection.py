"""fault_injection in the fault and bad-input matrix (issue 11): what a user would really type wrong - wrong types, a
list or a mapping given as a string, Istio's own field names, unknown choices, percentages and statuses out of
range, bad durations ("3x", "-1s", "0.5ms"), names that are not DNS-1123 labels, Services and namespaces that do
not exist, contradictory destinations - refused before any write with a message naming the option; and outages
part way (a VirtualService write, a delete) that say what they changed and that a re-run finishes."""

import pytest

from builders import ambient_namespace, external_service, fault_virtualservice, service, split_route, wait_bound, waypoint
from conftest import GATEWAY_V151, ISTIO_CRDS, seed_istio
from failure_matrix.conftest import Case

pytestmark = [pytest.mark.integration, pytest.mark.core_compat]
MODULE = "ambient.mesh.fault_injection"
VS = ("networking.istio.io/v1", "VirtualService")
VIRTUALSERVICES = "virtualservices.networking.istio.io"
ABORT = {"http_status": 500, "percentage": 50}


def lab(*objects, bound=True):
    """setup: Gateway API and Istio CRDs, Istio, namespace hello with Services httpbin and helloworld and a
    waypoint the simulated istiod binds them to (unless bound=False), then the objects."""
    def setup(m):
        m.cluster.load_crds(GATEWAY_V151, ISTIO_CRDS)
        seed_istio(m.cluster)
        m.cluster.put(ambient_namespace("hello", waypoint="waypoint" if bound else None))
        for name in ("httpbin", "helloworld"):
            m.cluster.put(service("hello", name, port=8000))
        if bound:
            m.cluster.put(waypoint("hello", programmed=None))
            for name in ("httpbin", "helloworld"):
                wait_bound(m.cluster, "hello", name)
        for obj in objects:
            m.cluster.put(obj)
    return setup


def fault(**fields):
    return dict({"service": "httpbin", "namespace": "hello", "abort": ABORT}, **fields)


def refused(case_id, fragment, faults=None, setup=None, check_mode=False, **args):
    if faults is not None:
        args["faults"] = faults
    return Case(case_id, MODULE, args, fragment, setup=setup or lab(), check_mode=check_mode)


BAD_INPUTS = [
    # wrong types, a list or a mapping given as a string, Istio's field names
    refused("faults-a-string", "Elements value for option 'faults' is of type str", faults="httpbin"),
    refused("delay-a-string", "argument 'delay' is of type str found in 'faults'", faults=[fault(delay="3s")]),
    # ansible-core's own validation crashed on these ("argument of type 'int' is not iterable", no option named)
    refused("abort-a-number", "faults[0].abort must be a mapping (of http_status, percentage), not 500", faults=[fault(abort=500)]),
    refused("delay-a-boolean", "faults[0].delay must be a mapping (of fixed_delay, percentage), not True",
            faults=[fault(delay=True)], check_mode=True),
    refused("http-status-a-word", ["argument 'http_status'", "'five-hundred'", "cannot be converted to an int"],
            faults=[fault(abort={"http_status": "five-hundred"})]),
    refused("percentage-with-a-percent-sign", ["argument 'percentage'", "faults -> abort", "cannot be converted to a float"],
            faults=[fault(abort={"http_status": 500, "percentage": "50%"})]),
    refused("istio-field-names", "missing required arguments: fixed_delay found in faults -> delay",
            faults=[fault(delay={"fixedDelay": "3s"})]),
    refused("match-a-string", "argument 'match' is of type str found in 'faults'", faults=[fault(match="/delay")]),
    refused("destinations-a-string", "Elements value for option 'destinations' found in 'faults' is of type str",
            faults=[fault(destinations="httpbin-v1")]),
    refused("match-path-a-string", "fault 0 (hello/httpbin): match.path must be a mapping of type (PathPrefix, Exact) and "
            "value, for example {type: PathPrefix, value: /delay}, not '/delay'", faults=[fault(match={"path": "/delay"})]),
    refused("match-headers-a-mapping", "fault 0 (hello/httpbin): match.headers must be a list of mappings",
            faults=[fault(match={"headers": {"name": "x-chaos", "value": "on"}})]),
    refused("prune-expired-not-names", "prune_expired: 'Team_A' is not a valid namespace name", prune_expired="hello,Team_A"),
    # unknown choices and keys
    refused("state-unknown", "value of state must be one of: present, absent, got: off found in faults",
            faults=[fault(state="off")]),
    refused("match-uri", "fault 0 (hello/httpbin): match takes path and headers, not uri",
            faults=[fault(match={"uri": {"prefix": "/delay"}})]),
    refused("match-path-type-unknown", "match.path.type must be one of PathPrefix, Exact",
            faults=[fault(match={"path": {"type": "Prefix", "value": "/delay"}})]),
    refused("match-path-relative", "match.path.value must start with /", faults=[fault(match={"path": {"value": "delay"}})]),
    refused("match-header-without-value", "each match.headers entry needs a name and a value",
            faults=[fault(match={"headers": [{"name": "x-chaos"}]})]),
    # out of range and bad durations
    refused("http-status-99", "abort.http_status 99 is not an HTTP status from 200 to 599",
            faults=[fault(abort={"http_status": 99})]),
    refused("http-status-600", "abort.http_status 600 is not an HTTP status from 200 to 599",
            faults=[fault(abort={"http_status": 600})]),
    refused("percentage-150", "abort.percentage 150.0 is not a number from 0 to 100",
            faults=[fault(abort={"http_status": 500, "percentage": 150})]),
    refused("percentage-negative", "delay.percentage -5.0 is not a number from 0 to 100",
            faults=[fault(abort=None, delay={"fixed_delay": "1s", "percentage": -5})]),
    refused("delay-3x", "delay.fixed_delay '3x' is not a duration (for example 3s, 500ms, 1m30s)",
            faults=[fault(delay={"fixed_delay": "3x"})]),
    refused("delay-negative", "delay.fixed_delay '-1s' is not a duration", faults=[fault(delay={"fixed_delay": "-1s"})]),
    refused("delay-below-a-millisecond", "delay.fixed_delay '0.5ms' must be at least 1ms, in whole milliseconds",
            faults=[fault(delay={"fixed_delay": "0.5ms"})]),
    refused("delay-a-list", "delay.fixed_delay ['3s'] is not a duration", faults=[fault(delay={"fixed_delay": ["3s"]})]),
    refused("expires-after-negative", "expires_after '-15m' is not a duration above 0", faults=[fault(expires_after="-15m")]),
    refused("expires-after-a-word", "expires_after 'tomorrow' is not a duration above 0", faults=[fault(expires_after="tomorrow")]),
    # names that are not DNS-1123 labels
    refused("service-uppercase", "fault 0 (hello/HTTPBin): service 'HTTPBin' is not a valid name", faults=[fault(service="HTTPBin")]),
    refused("namespace-with-underscore", "fault 0 (team_a/httpbin): namespace 'team_a' is not a valid name",
            faults=[fault(namespace="team_a")]),
    refused("destination-name-invalid", "destinations[].service 'httpbin_v1' is not a valid Service name",
            faults=[fault(destinations=[{"service": "httpbin_v1"}])]),
    # references that do not exist
    refused("service-missing", "Service hello/httpbn does not exist: a fault is injected for an existing Service",
            faults=[fault(service="httpbn")]),
    refused("namespace-missing", "Service nowhere/httpbin does not exist", faults=[fault(namespace="nowhere")]),
    refused("destination-missing", "destination Service hello/httpbin-v1 does not exist",
            faults=[fault(destinations=[{"service": "httpbin-v1"}])]),
    refused("no-waypoint", ["no waypoint serves Service hello/httpbin", "the fault would silently not apply"],
            faults=[fault()], setup=lab(bound=False)),
    refused("externalname-service", "Service hello/api is an ExternalName Service",
            faults=[fault(service="api")], setup=lab(external_service("hello", "api"))),
    # missing combinations, contradictions, someone else's objects
    refused("neither-delay-nor-abort", "fault 0 (hello/httpbin): give a delay, an abort or both", faults=[fault(abort=None)]),
    refused("listed-twice", "fault 1 (hello/httpbin) is listed twice: one fault per Service (limit it with match)",
            faults=[fault(), fault(delay={"fixed_delay": "1s"})]),
    refused("destination-weights-zero", "the destinations' weights add up to 0",
            faults=[fault(destinations=[{"service": "httpbin", "weight": 0}, {"service": "helloworld", "weight": 0}])]),
    refused("destination-weight-missing", "with more than one destination, give each a weight",
            faults=[fault(destinations=[{"service": "httpbin", "weight": 90}, {"service": "helloworld"}])]),
    refused("destination-weight-negative", "destinations[].weight -1 must be an integer of at least 0",
            faults=[fault(destinations=[{"service": "httpbin", "weight": -1}])]),
    refused("split-route-shadows-the-fault", ["HTTPRoute hello/httpbin already routes Service hello/httpbin",
                                              "limit the fault with match"],
            faults=[fault()], setup=lab(split_route(service_name="httpbin", port=8000))),
    refused("virtualservice-not-ours", ["VirtualService hello/httpbin-fault exists and was not made by ambient.mesh",
                                        "delete or rename it"],
            faults=[fault(match={"path": {"value": "/delay"}})],
            setup=lab(dict(fault_virtualservice(ns="hello", host="other"), metadata={"name": "httpbin-fault",
                                                                                     "namespace": "hello"}))),
]


@pytest.mark.parametrize("case", BAD_INPUTS, ids=lambda c: c.id)
def test_bad_input_is_refused_before_any_write(matrix, case):
    matrix.check(case)


TWO = {"faults": [fault(), fault(service="helloworld", delay={"fixed_delay": "2s"})], "request_budget": 3}
TWO_ABSENT = {"faults": [fault(state="absent"), fault(service="helloworld", state="absent")], "request_budget": 3}


def second_write_fails(m):
    """setup: the lab; the first real VirtualService write goes through, every later one is answered 503."""
    lab()(m)
    m.cluster.fail("patch", VIRTUALSERVICES, status=503, times=1000, dry_run=False, after=1)


def made_both_faults(m):
    """setup: the lab with both faults in place; the first delete goes through, every later one is answered 503."""
    lab()(m)
    m.playbook.run(MODULE, TWO)
    m.cluster.fail("delete", VIRTUALSERVICES, status=503, times=1000, after=1)


def one_written_then_both(m, failed):
    assert len(failed.get("done") or []) == 1 and len(failed.get("failed_objects") or []) == 1, failed
    for name in ("httpbin-fault", "helloworld-fault"):
        assert m.cluster.get(*VS, name, "hello") is not None, name


def one_deleted_then_both(m, failed):
    assert len(failed.get("done") or []) == 1, failed
    for name in ("httpbin-fault", "helloworld-fault"):
        assert m.cluster.get(*VS, name, "hello") is None, name


FAULTS = [
    Case("second-virtualservice-write-refused", MODULE, TWO, ["1 of 2 writes failed", "-fault"],
         setup=second_write_fails, expect="converges", changed=True, fix=lambda m: m.cluster.api.faults.clear(),
         then=one_written_then_both),
    Case("second-delete-refused", MODULE, TWO_ABSENT,
         ["1 of 2 deletions failed", "-fault", "1 object written before the failure stays written",
          "run the task again once the API server answers"],
         setup=made_both_faults, expect="converges", changed=True, fix=lambda m: m.cluster.api.faults.clear(),
         then=one_deleted_then_both),
]


@pytest.mark.parametrize("case", FAULTS, ids=lambda c: c.id)
def test_fault_then_a_rerun_converges(matrix, case):
    matrix.check(case)
