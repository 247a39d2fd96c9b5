"""traffic_split in the fault and bad-input matrix (issue 11): what a user would really type wrong - wrong types, a
list given as a string, unknown choices, weights out of range, names that are not DNS-1123 labels, Services and
namespaces that do not exist, contradictory options - refused before any write with a message naming the option;
and an outage on the HTTPRoute write after the per-version Services were made, which says what it changed and
which a re-run finishes."""

import pytest

from builders import ambient_namespace, service, split_virtualservice, wait_bound, waypoint
from conftest import GATEWAY_V151, ISTIO_CRDS, seed_istio
from failure_matrix.conftest import Case

pytestmark = pytest.mark.integration
MODULE = "ambient.mesh.traffic_split"
ROUTES = "httproutes.gateway.networking.k8s.io"
V1_V2 = [{"name": "v1", "weight": 90}, {"name": "v2", "weight": 10}]


def deployment(ns, name, labels):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app"}]}}}}


def lab(*objects, bound=True):
    """setup: Gateway API and Istio CRDs, Istio, namespace hello with Service helloworld (port 5000) and its
    Deployments v1 and v2, a waypoint the simulated istiod binds to it (unless bound=False), the objects."""
    def setup(m):
        m.cluster.load_crds(GATEWAY_V151, ISTIO_CRDS)
        seed_istio(m.cluster)
        m.cluster.put(ambient_namespace("hello", waypoint="waypoint" if bound else None))
        m.cluster.put(service("hello", "helloworld"))
        for version in ("v1", "v2"):
            m.cluster.put(deployment("hello", "helloworld-" + version, {"app": "helloworld", "version": version}))
        if bound:
            m.cluster.put(waypoint("hello", programmed=None))
            wait_bound(m.cluster, "hello", "helloworld")
        for obj in objects:
            m.cluster.put(obj)
    return setup


def split(**fields):
    return dict({"service": "helloworld", "namespace": "hello", "versions": V1_V2}, **fields)


def refused(case_id, fragment, splits=None, setup=None, **args):
    args = dict(args, wait_timeout=5)
    if splits is not None:
        args["splits"] = splits
    return Case(case_id, MODULE, args, fragment, setup=setup or lab())


BAD_INPUTS = [
    # wrong types and a list given as a string
    refused("splits-a-string", ["option 'splits' is of type str", "a list of mappings is written as YAML items"], splits="helloworld"),
    refused("versions-a-string", "versions", splits=[split(versions="v1,v2")]),
    refused("weight-not-a-number", ["weight", "'ninety'"], splits=[split(versions=[{"name": "v1", "weight": "ninety"},
                                                                                   {"name": "v2", "weight": 10}])]),
    refused("ports-not-numbers", ["ports", "http"], splits=[split(ports=["http"])]),
    refused("version-without-weight", ["weight", "versions"], splits=[split(versions=[{"name": "v1"}])]),
    refused("matches-a-string", "matches", splits=[split(matches="/canary", unmatched_version="v1")]),
    # unknown options and choices
    refused("state-unknown", ["state", "present, absent"], splits=[split(state="deleted")]),
    refused("unknown-key-in-a-split", "weights", splits=[split(weights={"v1": 90, "v2": 10})]),
    refused("require-waypoint-not-a-bool", "require_waypoint", splits=[split()], require_waypoint="sometimes"),
    refused("route-name-invalid", "split 0 (hello/helloworld): route_name 'Hello_Route' is not a valid name",
            splits=[split(route_name="Hello_Route")]),
    # VirtualService habits in an HTTPRoute match: the API server would prune uri and the empty match take everything
    refused("match-path-a-string", "matches[0].path must be a mapping of type (Exact, PathPrefix, RegularExpression) and value",
            splits=[split(matches=[{"path": "/canary"}], unmatched_version="v1")]),
    refused("match-unknown-key", "matches[0] has uri: an HTTPRoute match takes headers, method, path, queryParams",
            splits=[split(matches=[{"uri": {"prefix": "/canary"}}], unmatched_version="v1")]),
    refused("port-out-of-range", "has no port 70000", splits=[split(ports=[70000])]),
    # out of range
    refused("weight-negative", "version v2 has weight -10; a weight is an integer from 0 to 1000000",
            splits=[split(versions=[{"name": "v1", "weight": 110}, {"name": "v2", "weight": -10}])]),
    refused("weight-too-big", "version v1 has weight 2000000",
            splits=[split(versions=[{"name": "v1", "weight": 2000000}, {"name": "v2", "weight": 1}])]),
    refused("all-weights-zero", "all weights are 0", splits=[split(versions=[{"name": "v1", "weight": 0},
                                                                             {"name": "v2", "weight": 0}])]),
    refused("seventeen-versions", "has 17 versions; an HTTPRoute rule takes at most 16 backends",
            splits=[split(versions=[{"name": "v%d" % i, "weight": 1} for i in range(17)])]),
    refused("port-the-service-lacks", "Service hello/helloworld has no port 8080 (it has 5000): fix ports",
            splits=[split(ports=[8080])]),
    # names that are not DNS-1123 labels
    refused("service-uppercase", "split 0 (hello/HelloWorld): service 'HelloWorld' is not a valid name",
            splits=[split(service="HelloWorld")]),
    refused("namespace-with-underscore", "split 0 (team_a/helloworld): namespace 'team_a' is not a valid name",
            splits=[split(namespace="team_a")]),
    refused("version-name-with-a-dot", "version v1.2 would make the Service 'helloworld-v1.2'",
            splits=[split(versions=[{"name": "v1.2", "weight": 1}, {"name": "v2", "weight": 1}])]),
    refused("label-value-with-a-space", "version v1: label version='v 1' is not a valid label value",
            splits=[split(versions=[{"name": "v1", "weight": 1, "labels": {"version": "v 1"}},
                                    {"name": "v2", "weight": 1}])]),
    # references that do not exist
    refused("service-missing", "Service hello/goodbye does not exist: create it first", splits=[split(service="goodbye")]),
    refused("namespace-missing", "Service nowhere/helloworld does not exist", splits=[split(namespace="nowhere")]),
    refused("version-service-missing", "version v2 of Service hello/helloworld: Service hello/helloworld-canary does not exist",
            splits=[split(versions=[{"name": "v1", "weight": 1}, {"name": "v2", "weight": 1, "service": "helloworld-canary"}])]),
    refused("no-waypoint", ["no waypoint serves Service hello/helloworld", "require_waypoint: false"],
            splits=[split()], setup=lab(bound=False)),
    # missing combinations, contradictions, duplicates
    refused("no-versions", "split 0 (hello/helloworld): give versions", splits=[split(versions=[])]),
    refused("unmatched-version-without-matches", "unmatched_version needs matches", splits=[split(unmatched_version="v1")]),
    refused("unmatched-version-unknown", "unmatched_version v3 is not one of the versions (v1, v2)",
            splits=[split(matches=[{"headers": [{"name": "x-canary", "value": "true"}]}], unmatched_version="v3")]),
    refused("labels-and-service", ["labels", "service", "mutually exclusive"],
            splits=[split(versions=[{"name": "v1", "weight": 1, "labels": {"version": "v1"}, "service": "helloworld"},
                                    {"name": "v2", "weight": 1}])]),
    refused("version-listed-twice", "version v1 is listed twice",
            splits=[split(versions=[{"name": "v1", "weight": 1}, {"name": "v1", "weight": 2}])]),
    refused("split-listed-twice", "split 1 (hello/helloworld) is listed twice", splits=[split(), split()]),
    # timeouts and retry (issue 26): durations as the CRD's GEP-2257 pattern takes them, and retry only where the CRD has it
    refused("timeout-negative", "split 0 (hello/helloworld): timeouts.request '-1s' is not a Gateway API duration (GEP-2257",
            splits=[split(timeouts={"request": "-1s"})]),
    refused("timeout-malformed", "timeouts.backend_request '1.5s' is not a Gateway API duration",
            splits=[split(timeouts={"backend_request": "1.5s"})]),
    refused("timeout-a-bare-number", "timeouts.request '3' is not a Gateway API duration",
            splits=[split(timeouts={"request": 3})]),
    refused("backend-request-longer-than-request", "timeouts.backend_request 2s is longer than timeouts.request 1s",
            splits=[split(timeouts={"request": "1s", "backend_request": "2s"})]),
    refused("timeouts-unknown-key", ["timeouts", "per_try"], splits=[split(timeouts={"per_try": "1s"})]),
    refused("retry-attempts-negative", "retry.attempts -1 is not a whole number from 0",
            splits=[split(retry={"attempts": -1})]),
    refused("retry-code-not-an-error", "retry.codes 200: each must be an HTTP status from 400 to 599",
            splits=[split(retry={"codes": [200, 503]})]),
    refused("retry-backoff-malformed", "retry.backoff '25' is not a Gateway API duration",
            splits=[split(retry={"backoff": "25"})]),
    refused("retry-backoff-zero", "retry.backoff 0s: Envoy needs a back-off above 0",
            splits=[split(retry={"backoff": "0s"})]),
    refused("retry-without-the-experimental-crd", ["retry needs the HTTPRoute CRD of the Gateway API experimental channel",
                                                   "channel: experimental"],
            splits=[split(retry={"attempts": 2, "codes": [503]})]),
    refused("conflicting-virtualservice", ["VirtualService hello/helloworld", "remove_conflicts: true"],
            splits=[split()], setup=lab(split_virtualservice())),
]


@pytest.mark.parametrize("case", BAD_INPUTS, ids=lambda c: c.id)
def test_bad_input_is_refused_before_any_write(matrix, case):
    matrix.check(case)


def route_write_fails(m):
    """setup: the lab, and every real (not dry-run) write of an HTTPRoute answered 503 (an outage on
    that resource): the per-version Services go through, the route does not."""
    lab()(m)
    m.cluster.fail("patch", ROUTES, status=503, times=1000, dry_run=False)


def services_kept_and_route_made(m, failed):
    assert sorted(failed.get("done") or []) == ["Service hello/helloworld-v1", "Service hello/helloworld-v2"], failed
    assert failed.get("failed_objects") == ["HTTPRoute hello/helloworld"], failed
    route = m.cluster.get("gateway.networking.k8s.io/v1", "HTTPRoute", "helloworld", "hello")
    assert [b["weight"] for b in route["spec"]["rules"][0]["backendRefs"]] == [90, 10]


def split_made_then_service_deletes_fail(m):
    """setup: the lab with the split made; then every Service delete is answered 503."""
    lab()(m)
    m.playbook.run(MODULE, {"splits": [split()], "wait_timeout": 20})
    m.cluster.fail("delete", "services", status=503, times=1000)


def route_gone_services_back(m, failed):
    assert failed.get("done") == ["HTTPRoute hello/helloworld deleted"], failed
    assert sorted(failed.get("failed_objects") or []) == ["Service hello/helloworld-v1", "Service hello/helloworld-v2"]
    for name in ("helloworld-v1", "helloworld-v2"):
        assert m.cluster.get("v1", "Service", name, "hello") is None, name


def conflict_removed_after_the_rerun(m, failed):
    assert sorted(failed.get("done") or []) == ["HTTPRoute hello/helloworld", "Service hello/helloworld-v1",
                                                "Service hello/helloworld-v2"], failed
    assert m.cluster.get("networking.istio.io/v1", "VirtualService", "helloworld", "hello") is None


FAULTS = [
    # issue 11 item 3: a failed deletion after the split's objects were written used to report changed: false
    Case("conflict-delete-refused-after-the-split-was-made", MODULE,
         {"splits": [split()], "remove_conflicts": True, "wait_timeout": 20, "request_budget": 3},
         ["1 of 1 deletions failed", "VirtualService hello/helloworld", "3 objects written before the failure"],
         setup=lambda m: (lab(split_virtualservice())(m), m.cluster.fail("delete", "virtualservices.networking.istio.io",
                                                                         status=503, times=1000)),
         expect="converges", changed=True, fix=lambda m: m.cluster.api.faults.clear(), then=conflict_removed_after_the_rerun),
    Case("absent-service-deletes-refused-after-the-route", MODULE,
         {"splits": [split(state="absent")], "request_budget": 3}, ["2 of 3 deletions failed", "Service hello/helloworld-v1"],
         setup=split_made_then_service_deletes_fail, expect="converges", changed=True,
         fix=lambda m: m.cluster.api.faults.clear(), then=route_gone_services_back),
    Case("route-write-refused-after-the-services", MODULE, {"splits": [split()], "wait_timeout": 20, "request_budget": 3},
         ["1 of 3 writes failed", "HTTPRoute hello/helloworld"], setup=route_write_fails, expect="converges", changed=True,
         fix=lambda m: m.cluster.api.faults.clear(), then=services_kept_and_route_made),
]


@pytest.mark.parametrize("case", FAULTS, ids=lambda c: c.id)
def test_fault_then_a_rerun_converges(matrix, case):
    matrix.check(case)
