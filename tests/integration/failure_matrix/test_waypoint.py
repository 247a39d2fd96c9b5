"""waypoint: bad inputs and bad references refused before any write, and faults part way (an outage on the binding
writes, a waypoint that is not ready yet) that say what they changed and that a re-run finishes."""

import pytest

from builders import ambient_namespace, external_service, namespace, service
from conftest import GATEWAY_V151, seed_istio
from failure_matrix.conftest import Case

pytestmark = pytest.mark.integration
MODULE = "ambient.mesh.waypoint"


def lab(*objects):
    """setup: Gateway API CRDs, Istio (default revision), ambient namespace hello with Service helloworld, the objects."""
    def setup(m):
        m.cluster.load_crds(GATEWAY_V151)
        seed_istio(m.cluster)
        m.cluster.put(ambient_namespace("hello"))
        m.cluster.put(service("hello", "helloworld"))
        for obj in objects:
            m.cluster.put(obj)
    return setup


def refused(case_id, waypoints, fragment, setup=None, **args):
    return Case(case_id, MODULE, dict(args, waypoints=waypoints, wait_timeout=5), fragment, setup=setup or lab())


BAD_INPUTS = [
    # issue 11 item 9: it used to say "namespace is required"
    refused("namespace-uppercase", [{"namespace": "Hello", "enroll_namespace": True}],
            "waypoints[0].namespace 'Hello' is not a valid name: it has uppercase letters, and Kubernetes names must be a "
            "DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 "
            "characters: use 'hello'"),
    refused("namespace-empty", [{"namespace": ""}], "waypoints[0].namespace is required"),
    refused("namespace-too-long", [{"namespace": "n" * 64}], "waypoints[0].namespace 'nnnn"),
    refused("enroll-namespaces-entry-invalid", [{"namespace": "hello", "enroll_namespaces": ["team_a"]}],
            "waypoints[0].enroll_namespaces[0] 'team_a' is not a valid name"),
    refused("enroll-services-entry-invalid", [{"namespace": "hello", "enroll_services": ["Reviews"]}],
            "waypoints[0].enroll_services[0] 'Reviews' is not a valid name"),
    refused("name-none-reserved", [{"name": "none", "namespace": "hello"}], "the name none is reserved"),
    refused("name-invalid", [{"name": "Way.Point", "namespace": "hello"}], "waypoints[0].name 'Way.Point' is not a valid name"),
    refused("waypoints-a-string", "hello", ["option 'waypoints' is of type str",
                                            "a list of mappings is written as YAML items"]),
    refused("listed-twice", [{"namespace": "hello"}, {"namespace": "hello"}], "hello/waypoint is listed twice"),
    refused("for-unknown", [{"namespace": "hello", "for": "pods"}], "value of waypoint_for must be one of"),
    refused("workload-waypoint-for-a-service", [{"namespace": "hello", "for": "workload", "enroll_services": ["helloworld"]}],
            "is for workload traffic and cannot serve Service helloworld"),
    refused("namespace-missing", [{"namespace": "nowhere"}], "namespace nowhere does not exist"),
    refused("service-missing", [{"namespace": "hello", "enroll_services": ["ghost"]}], "Service hello/ghost does not exist"),
    refused("externalname-service", [{"namespace": "hello", "enroll_services": ["api"]}], "is an ExternalName Service",
            setup=lab(external_service("hello", "api"))),
    refused("rebind-without-overwrite", [{"namespace": "hello", "enroll_namespace": True}],
            "Namespace hello already uses waypoint hello/old: set overwrite: true",
            setup=lab(ambient_namespace("hello", waypoint="old"))),
    # issue 11 item 10: bad references
    refused("namespace-not-in-ambient-mode", [{"namespace": "legacy", "enroll_namespace": True}],
            "namespace legacy is not in ambient mode (istio.io/dataplane-mode=none)",
            setup=lab(namespace("legacy", **{"istio.io/dataplane-mode": "none"}))),
    refused("other-namespace-not-in-ambient-mode", [{"name": "shared", "namespace": "hello", "enroll_namespaces": ["team-a"]}],
            "namespace team-a is not in ambient mode (no istio.io/dataplane-mode label)",
            setup=lab(namespace("team-a"))),
    refused("revision-no-istiod-serves", [{"namespace": "hello", "revision": "canary", "enroll_namespace": True}],
            "waypoint hello/waypoint is for revision canary, which no istiod serves"),
    refused("namespace-revision-no-istiod-serves", [{"namespace": "rev", "enroll_namespace": True}],
            "is for revision old (from namespace rev's label istio.io/rev",
            setup=lab(ambient_namespace("rev", **{"istio.io/rev": "old"}))),
    refused("no-istiod-at-all", [{"namespace": "hello"}], "no istiod runs in the cluster",
            setup=lambda m: (m.cluster.load_crds(GATEWAY_V151), m.cluster.put(ambient_namespace("hello")))),
]


@pytest.mark.parametrize("case", BAD_INPUTS, ids=lambda c: c.id)
def test_bad_input_is_refused_before_any_write(matrix, case):
    matrix.check(case)


def bound_to(m, name, ns="hello"):
    return (m.cluster.get("v1", "Namespace", ns)["metadata"].get("labels") or {}).get("istio.io/use-waypoint")


def pods_come_up(m):
    """The operator's fix: whatever held the waypoint's pods is fixed, and the broken waypoint is deleted for the
    re-run to create again (its Deployment goes with it: ownerReferences)."""
    m.cluster.set_readiness("Deployment", "hello", "waypoint", 0)
    m.cluster.delete("gateway.networking.k8s.io/v1", "Gateway", "waypoint", "hello")


def waypoint_never_ready(m):
    lab()(m)
    m.cluster.set_readiness("Deployment", "hello", "waypoint", None)


FAULTS = [
    # the namespace label write is refused (an outage on namespaces): the Gateway was created, so changed: true
    Case("binding-writes-refused", MODULE,
         {"waypoints": [{"namespace": "hello", "enroll_namespace": True}], "wait_timeout": 10, "request_budget": 3},
         "some binding changes failed", setup=lambda m: (lab()(m), m.cluster.fail("patch", "namespaces", status=503, times=1000)),
         expect="converges", changed=True, fix=lambda m: m.cluster.api.faults.clear(),
         then=lambda m, failed: (failed["changes"] == ["Gateway hello/waypoint created"] or pytest.fail(failed["changes"]),
                                 bound_to(m, "hello") == "waypoint" or pytest.fail("not bound after the re-run"))),
    # issue 11 item 3: the namespace was bound, then the waypoint never became ready: the failed result says so
    Case("waypoint-not-ready-after-binding", MODULE,
         {"waypoints": [{"namespace": "hello", "enroll_namespace": True}], "wait_timeout": 3},
         ["Gateway hello/waypoint: Programmed=False", "changed before the failure: Gateway hello/waypoint created, "
                                                       "Namespace hello bound"],
         setup=waypoint_never_ready, expect="converges", changed=True,
         fix=pods_come_up),
    # issue 11 item 4: a rebind to a waypoint that is not ready moves nothing; once it is, the re-run moves it
    Case("rebind-to-a-waypoint-not-ready", MODULE,
         {"waypoints": [{"namespace": "hello", "enroll_namespace": True}], "overwrite": True, "wait_timeout": 3},
         "nothing was rebound: Namespace hello stays on the waypoint they use",
         setup=lambda m: (waypoint_never_ready(m), m.cluster.put(ambient_namespace("hello", waypoint="old"))),
         expect="converges", changed=True,
         fix=lambda m: (bound_to(m, "hello") == "old" or pytest.fail("moved before the proof"),
                        pods_come_up(m))),
]


@pytest.mark.parametrize("case", FAULTS, ids=lambda c: c.id)
def test_fault_then_a_rerun_converges(matrix, case):
    matrix.check(case)
