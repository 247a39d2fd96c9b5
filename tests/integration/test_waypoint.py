"""waypoint through ansible-playbook, with the simulated istiod of the test API server."""

import pytest

from builders import external_service, istiod, namespace, service, tag_webhook
from conftest import GATEWAY_V151, seed_istio

pytestmark = pytest.mark.integration
MODULE = "ambient.mesh.waypoint"
GW = ("gateway.networking.k8s.io/v1", "Gateway")
# a namespace is bound to a waypoint only in ambient mode (require_ambient)
AMBIENT = {"istio.io/dataplane-mode": "ambient"}


@pytest.fixture
def mesh(cluster):
    cluster.load_crds(GATEWAY_V151)
    seed_istio(cluster)
    return cluster


def labels(cluster, kind, name, ns=None):
    found = dict(cluster.get("v1", kind, name, ns)["metadata"].get("labels") or {})
    if kind == "Namespace":  # kube-apiserver's own label (SetDefaults_Namespace): always there, never ours
        assert found.pop("kubernetes.io/metadata.name") == name
    return found


def bound(cluster, ns, name, message=False):
    for cond in (cluster.get("v1", "Service", name, ns).get("status") or {}).get("conditions") or []:
        if cond["type"] == "istio.io/WaypointBound":
            return (cond["status"], cond["reason"]) + ((cond["message"],) if message else ())
    return None


def test_four_step_namespace_waypoint(mesh, playbook):
    mesh.put(namespace("hello", team="a", **{"istio.io/dataplane-mode": "ambient"}))
    mesh.put(service("hello", "helloworld"))
    args = {"waypoints": [{"namespace": "hello", "enroll_namespace": True}], "wait_timeout": 20}
    check = playbook.run(MODULE, args, check=True, diff=True)
    assert check["changed"] is True and not check.get("failed"), check.get("msg")
    assert mesh.get(*GW, "waypoint", "hello") is None and "istio.io/use-waypoint" not in labels(mesh, "Namespace", "hello")
    assert check["bound"] == ["Namespace hello"]

    run = playbook.run(MODULE, args)
    assert run["changed"] is True and not run.get("failed"), run.get("msg")
    gw = mesh.get(*GW, "waypoint", "hello")
    assert gw["spec"]["gatewayClassName"] == "istio-waypoint"
    assert gw["spec"]["listeners"][0] == {"name": "mesh", "port": 15008, "protocol": "HBONE",
                                          "allowedRoutes": {"namespaces": {"from": "Same"}}}
    assert gw["metadata"]["labels"] == {"istio.io/waypoint-for": "service"}  # written, as istioctl --for does
    assert labels(mesh, "Namespace", "hello") == {"team": "a", "istio.io/dataplane-mode": "ambient",
                                                  "istio.io/use-waypoint": "waypoint"}
    assert bound(mesh, "hello", "helloworld") == ("True", "WaypointAccepted")

    mark = mesh.mark()
    assert playbook.run(MODULE, args, check=True)["changed"] is False
    assert playbook.run(MODULE, args)["changed"] is False
    assert mesh.writes(mark) == []


def test_service_scoped_waypoint_binds_one_service_only(mesh, playbook):
    mesh.put(namespace("bookinfo", **{"istio.io/dataplane-mode": "ambient"}))
    mesh.put(service("bookinfo", "reviews"))
    mesh.put(service("bookinfo", "ratings"))
    result = playbook.run(MODULE, {"waypoints": [{"name": "reviews-wp", "namespace": "bookinfo",
                                                  "enroll_services": ["reviews"]}], "wait_timeout": 20})
    assert not result.get("failed"), result.get("msg")
    assert result["bound"] == ["Service bookinfo/reviews"]
    assert labels(mesh, "Service", "reviews", "bookinfo")["istio.io/use-waypoint"] == "reviews-wp"
    assert "istio.io/use-waypoint" not in labels(mesh, "Service", "ratings", "bookinfo")
    assert "istio.io/use-waypoint" not in labels(mesh, "Namespace", "bookinfo")
    assert bound(mesh, "bookinfo", "reviews") == ("True", "WaypointAccepted")
    assert bound(mesh, "bookinfo", "ratings") is None


def test_cross_namespace_waypoint(mesh, playbook):
    for ns in ("mesh-infra", "team-a"):
        mesh.put(namespace(ns, **{"istio.io/dataplane-mode": "ambient"}))
    mesh.put(service("team-a", "api"))
    result = playbook.run(MODULE, {"waypoints": [{"name": "shared", "namespace": "mesh-infra",
                                                  "enroll_namespaces": ["team-a"]}], "wait_timeout": 20})
    assert not result.get("failed"), result.get("msg")
    assert labels(mesh, "Namespace", "team-a")["istio.io/use-waypoint"] == "shared"
    assert labels(mesh, "Namespace", "team-a")["istio.io/use-waypoint-namespace"] == "mesh-infra"
    assert mesh.get(*GW, "shared", "mesh-infra")["spec"]["listeners"][0]["allowedRoutes"] == {
        "namespaces": {"from": "All"}}
    assert bound(mesh, "team-a", "api") == ("True", "WaypointAccepted")


def test_attachment_denied_is_surfaced(mesh, playbook):
    for ns in ("mesh-infra", "team-a"):
        mesh.put(namespace(ns, **AMBIENT))
    mesh.put(service("team-a", "api"))
    result = playbook.run(MODULE, {"waypoints": [{"name": "shared", "namespace": "mesh-infra",
                                                  "allowed_namespaces": "same", "enroll_namespaces": ["team-a"]}],
                                   "wait_timeout": 3},
                          fails="istio.io/WaypointBound=False (AttachmentDenied)")
    assert result["failed"] is True
    assert "Service team-a/api (waypoint mesh-infra/shared): istio.io/WaypointBound=False (AttachmentDenied)" in result["msg"]
    assert "set allowed_namespaces: all" in result["msg"]


def test_waypoint_not_ready_is_surfaced(mesh, playbook):
    mesh.put(namespace("hello", **AMBIENT))
    mesh.put(service("hello", "helloworld"))
    mesh.set_readiness("Deployment", "hello", "waypoint", None)  # the waypoint's pods never come up
    result = playbook.run(MODULE, {"waypoints": [{"namespace": "hello", "enroll_namespace": True}], "wait_timeout": 3},
                          fails="Gateway hello/waypoint: Programmed=False (AddressNotAssigned)")
    assert result["failed"] is True
    assert "Gateway hello/waypoint: Programmed=False (AddressNotAssigned)" in result["msg"]
    assert "istio.io/WaypointBound=False (WaypointIsNotReady)" in result["msg"]


def test_a_stale_waypoint_for_set_by_someone_else_is_a_conflict(mesh, playbook):
    mesh.put(namespace("hello", **AMBIENT))
    mesh.put(service("hello", "helloworld"))
    args = {"waypoints": [{"namespace": "hello", "enroll_services": ["helloworld"]}], "wait_timeout": 3}
    assert not playbook.run(MODULE, args).get("failed")
    gw = mesh.get(*GW, "waypoint", "hello")  # someone relabels it for workloads only
    gw["metadata"]["labels"]["istio.io/waypoint-for"] = "workload"
    mesh.put(gw, manager="kubectl-label")
    mark = mesh.mark()
    result = playbook.run(MODULE, args, fails=["kubectl-label", "istio.io/waypoint-for"])
    assert "UnsupportedTrafficType" not in result["msg"]  # found before the wait, not after it
    assert mesh.writes(mark, resource="gateways.gateway.networking.k8s.io") == []
    assert labels(mesh, "Service", "helloworld", "hello")["istio.io/use-waypoint"] == "waypoint"
    forced = playbook.run(MODULE, dict(args, force_conflicts=True))
    assert forced["changed"] is True
    assert mesh.get(*GW, "waypoint", "hello")["metadata"]["labels"]["istio.io/waypoint-for"] == "service"


def test_istiod_not_answering_is_surfaced(mesh, playbook):
    mesh.api.waypoints.enabled = False
    mesh.put(namespace("hello", **AMBIENT))
    result = playbook.run(MODULE, {"waypoints": [{"namespace": "hello"}], "wait_timeout": 2},
                          fails="Gateway hello/waypoint: Programmed=Unknown (Pending)")
    assert result["failed"] is True and "Gateway hello/waypoint: Programmed=Unknown (Pending)" in result["msg"]


def test_overwrite_is_needed_to_rebind_and_never_silent(mesh, playbook):
    mesh.put(namespace("hello", **AMBIENT, **{"istio.io/use-waypoint": "old"}))
    mark = mesh.mark()
    refused = playbook.run(MODULE, {"waypoints": [{"namespace": "hello", "enroll_namespace": True}]},
                           fails="Namespace hello already uses waypoint hello/old: set overwrite: true")
    assert refused["failed"] is True
    assert "Namespace hello already uses waypoint hello/old: set overwrite: true" in refused["msg"]
    assert mesh.writes(mark) == []
    rebound = playbook.run(MODULE, {"waypoints": [{"namespace": "hello", "enroll_namespace": True}],
                                    "overwrite": True, "wait_timeout": 20})
    assert not rebound.get("failed"), rebound.get("msg")
    assert labels(mesh, "Namespace", "hello")["istio.io/use-waypoint"] == "waypoint"


@pytest.mark.parametrize("waypoint, fragment", [
    ({"name": "none", "namespace": "hello"}, "the name none is reserved"),
    ({"namespace": "hello", "for": "workload", "enroll_services": ["helloworld"]},
     "is for workload traffic and cannot serve Service helloworld"),
    ({"namespace": "hello", "for": "none", "enroll_namespace": True}, "is for none traffic and cannot serve Namespace hello"),
    ({"namespace": "nowhere"}, "namespace nowhere does not exist"),
    ({"namespace": "hello", "enroll_services": ["ghost"]}, "Service hello/ghost does not exist"),
])
def test_refusals_change_nothing(mesh, playbook, waypoint, fragment):
    mesh.put(namespace("hello", **AMBIENT))
    mesh.put(service("hello", "helloworld"))
    mark = mesh.mark()
    result = playbook.run(MODULE, {"waypoints": [waypoint]}, fails=fragment)
    assert result["failed"] is True and fragment in result["msg"], result["msg"]
    assert mesh.writes(mark) == []


def test_absent_unbinds_first_then_deletes_and_keeps_foreign_labels(mesh, playbook):
    mesh.put(namespace("hello", team="a", **AMBIENT))
    mesh.put(service("hello", "helloworld", labels={"app": "helloworld"}))
    playbook.run(MODULE, {"waypoints": [{"namespace": "hello", "enroll_namespace": True,
                                         "enroll_services": ["helloworld"]}], "wait_timeout": 20})
    mark = mesh.mark()
    gone = playbook.run(MODULE, {"waypoints": [{"namespace": "hello", "state": "absent"}]})
    assert gone["changed"] is True and gone["deleted"] == ["hello/waypoint"]
    assert sorted(gone["unbound"]) == ["Namespace hello", "Service hello/helloworld"]
    verbs = [(e["verb"], e["resource"]) for e in mesh.writes(mark)]
    assert verbs.index(("delete", "gateways.gateway.networking.k8s.io")) > max(
        i for i, v in enumerate(verbs) if v[1] in ("namespaces", "services"))
    assert labels(mesh, "Namespace", "hello") == {"team": "a", **AMBIENT}
    assert labels(mesh, "Service", "helloworld", "hello") == {"app": "helloworld"}
    assert mesh.get(*GW, "waypoint", "hello") is None
    assert playbook.run(MODULE, {"waypoints": [{"namespace": "hello", "state": "absent"}]})["changed"] is False


def test_changing_for_relabels_the_waypoint_with_one_write(mesh, playbook):
    mesh.put(namespace("hello", **AMBIENT))
    service_only = {"waypoints": [{"namespace": "hello"}], "wait_timeout": 20}
    assert not playbook.run(MODULE, service_only).get("failed")
    assert mesh.get(*GW, "waypoint", "hello")["metadata"]["labels"]["istio.io/waypoint-for"] == "service"

    mark = mesh.mark()
    everything = playbook.run(MODULE, {"waypoints": [{"namespace": "hello", "for": "all"}], "wait_timeout": 20})
    assert everything["changed"] is True
    assert mesh.get(*GW, "waypoint", "hello")["metadata"]["labels"]["istio.io/waypoint-for"] == "all"
    assert len(mesh.writes(mark, resource="gateways.gateway.networking.k8s.io")) == 1

    mark = mesh.mark()
    back = playbook.run(MODULE, service_only)
    assert back["changed"] is True
    assert mesh.get(*GW, "waypoint", "hello")["metadata"]["labels"]["istio.io/waypoint-for"] == "service"
    assert len(mesh.writes(mark, resource="gateways.gateway.networking.k8s.io")) == 1


def test_overwrite_is_needed_to_rebind_a_service(mesh, playbook):
    mesh.put(namespace("hello", **AMBIENT))
    mesh.put(service("hello", "reviews", labels={"istio.io/use-waypoint": "other"}))
    args = {"waypoints": [{"name": "reviews-wp", "namespace": "hello", "enroll_services": ["reviews"]}],
            "wait_timeout": 20}
    mark = mesh.mark()
    playbook.run(MODULE, args, fails="Service reviews already uses waypoint hello/other: set overwrite: true")
    assert mesh.writes(mark) == []
    assert labels(mesh, "Service", "reviews", "hello")["istio.io/use-waypoint"] == "other"

    rebound = playbook.run(MODULE, dict(args, overwrite=True))
    assert rebound["bound"] == ["Service hello/reviews"]
    assert labels(mesh, "Service", "reviews", "hello")["istio.io/use-waypoint"] == "reviews-wp"
    assert bound(mesh, "hello", "reviews") == ("True", "WaypointAccepted")


def test_an_externalname_service_does_not_hold_up_a_namespace_waypoint(mesh, playbook):
    mesh.put(namespace("hello", **AMBIENT))
    mesh.put(service("hello", "helloworld"))
    mesh.put(external_service("hello", "payments"))  # istiod never reports WaypointBound on it
    result = playbook.run(MODULE, {"waypoints": [{"namespace": "hello", "enroll_namespace": True}], "wait_timeout": 10})
    assert result["changed"] is True
    assert bound(mesh, "hello", "helloworld") == ("True", "WaypointAccepted")
    assert bound(mesh, "hello", "payments") is None


def test_an_externalname_service_cannot_be_enrolled(mesh, playbook):
    mesh.put(namespace("hello", **AMBIENT))
    mesh.put(external_service("hello", "payments"))
    mark = mesh.mark()
    playbook.run(MODULE, {"waypoints": [{"namespace": "hello", "enroll_services": ["payments"]}]},
                 fails="Service hello/payments is an ExternalName Service: istiod binds no waypoint to it")
    assert mesh.writes(mark) == []


@pytest.fixture
def prod_tag(mesh):
    mesh.put(tag_webhook("prod", "default"))
    return mesh


@pytest.mark.parametrize("waypoint, ns_labels, fragment", [
    ({"revision": "canary"}, {}, "waypoint hello/waypoint is for revision canary, which no istiod serves"),
    # no revision on the waypoint: istiod takes the namespace's istio.io/rev (tag_watcher.go IsMine)
    ({}, {"istio.io/rev": "1-29-0"}, "revision 1-29-0 (from namespace hello's label istio.io/rev"),
])
def test_a_revision_no_istiod_serves_is_refused_before_any_change(prod_tag, playbook, waypoint, ns_labels, fragment):
    mesh = prod_tag
    mesh.put(namespace("hello", **AMBIENT, **ns_labels))
    mark = mesh.mark()
    result = playbook.run(MODULE, {"waypoints": [dict(waypoint, namespace="hello", enroll_namespace=True)]},
                          fails=[fragment, "istiod revisions: default (tags: prod)"])
    assert "set revision:" in result["msg"]
    assert mesh.writes(mark) == []


def test_a_tag_or_revision_is_programmed_by_the_istiod_it_points_at(prod_tag, playbook):
    mesh = prod_tag
    mesh.put(istiod("canary"))
    mesh.put(namespace("hello", **AMBIENT, **{"istio.io/rev": "canary"}))  # a namespace on the canary revision
    mesh.put(namespace("shop", **AMBIENT))
    result = playbook.run(MODULE, {"waypoints": [{"namespace": "hello", "enroll_namespace": True},
                                                 {"namespace": "shop", "revision": "prod", "enroll_namespace": True}],
                                   "wait_timeout": 20})
    assert result["changed"] is True
    # the pod template's istio.io/rev is the revision of the istiod that rendered it (templates/waypoint.yaml)
    rendered_by = {ns: mesh.get("apps/v1", "Deployment", "waypoint", ns)["spec"]["template"]["metadata"]["annotations"]
                   ["istio.io/rev"] for ns in ("hello", "shop")}
    assert rendered_by == {"hello": "canary", "shop": "default"}
    assert mesh.get(*GW, "waypoint", "shop")["metadata"]["labels"]["istio.io/rev"] == "prod"


# ---- issue 11: a rebind proves the new waypoint first and is undone when the proof after it fails ----------
def gateways_of(mesh):
    return {(g["metadata"]["namespace"], g["metadata"]["name"]) for g in mesh.list(*GW)}


@pytest.fixture
def on_old_waypoint(mesh, playbook):
    """Namespace hello (ambient, with a Service) bound to a working waypoint hello/old."""
    mesh.put(namespace("hello", **AMBIENT))
    mesh.put(service("hello", "helloworld"))
    first = playbook.run(MODULE, {"waypoints": [{"name": "old", "namespace": "hello", "enroll_namespace": True}],
                                  "wait_timeout": 20})
    assert not first.get("failed"), first.get("msg")
    assert bound(mesh, "hello", "helloworld", message=True)[2].endswith("hello/old")
    return mesh


def test_a_rebind_to_a_waypoint_that_never_becomes_programmed_moves_nothing(on_old_waypoint, playbook):
    mesh = on_old_waypoint
    mesh.set_readiness("Deployment", "hello", "waypoint", None)  # the new waypoint's pods never come up
    mark = mesh.mark()
    failed = playbook.run(MODULE, {"waypoints": [{"namespace": "hello", "enroll_namespace": True}], "overwrite": True,
                                   "wait_timeout": 3},
                          fails=["Gateway hello/waypoint: Programmed=False", "nothing was rebound: Namespace hello stays"])
    assert failed["changed"] is True and failed["changes"] == ["Gateway hello/waypoint created"]
    assert failed["bound"] == [] and failed["rebound"] == []
    assert labels(mesh, "Namespace", "hello")["istio.io/use-waypoint"] == "old"
    assert not mesh.writes(mark, resource="namespaces")
    assert bound(mesh, "hello", "helloworld") == ("True", "WaypointAccepted")  # traffic stays on the old one


def test_a_rebind_whose_proof_fails_after_the_move_is_put_back(on_old_waypoint, playbook):
    mesh = on_old_waypoint
    mesh.put(namespace("mesh-infra", **AMBIENT))
    # the new waypoint is Programmed, but takes bindings from its own namespace only: AttachmentDenied after the move
    args = {"waypoints": [{"name": "shared", "namespace": "mesh-infra", "allowed_namespaces": "same",
                           "enroll_namespaces": ["hello"]}], "overwrite": True, "wait_timeout": 4}
    failed = playbook.run(MODULE, args, fails=["AttachmentDenied", "put back on their old waypoints (restore_on_failure): "
                                               "Namespace hello (hello/old)"])
    assert failed["changed"] is True
    assert failed["rebound"] == failed["restored"] == [{"object": "Namespace hello", "from": "hello/old",
                                                        "to": "mesh-infra/shared"}]
    assert failed["changes"] == ["Gateway mesh-infra/shared created", "Namespace hello bound",
                                 "Namespace hello put back on waypoint hello/old"]
    ns = labels(mesh, "Namespace", "hello")
    assert ns["istio.io/use-waypoint"] == "old" and "istio.io/use-waypoint-namespace" not in ns
    # the simulated istiod binds the Service to the old waypoint again
    assert bound(mesh, "hello", "helloworld", message=True)[2].endswith("hello/old")


def test_restore_on_failure_false_leaves_the_rebind_in_place(on_old_waypoint, playbook):
    mesh = on_old_waypoint
    mesh.put(namespace("mesh-infra", **AMBIENT))
    args = {"waypoints": [{"name": "shared", "namespace": "mesh-infra", "allowed_namespaces": "same",
                           "enroll_namespaces": ["hello"]}], "overwrite": True, "restore_on_failure": False,
            "wait_timeout": 3}
    failed = playbook.run(MODULE, args, fails="left on the new waypoint as restore_on_failure is false: Namespace hello")
    assert failed["changed"] is True and failed["restored"] == []
    assert labels(mesh, "Namespace", "hello")["istio.io/use-waypoint-namespace"] == "mesh-infra"


def test_a_successful_rebind_is_reported(on_old_waypoint, playbook):
    result = playbook.run(MODULE, {"waypoints": [{"namespace": "hello", "enroll_namespace": True}], "overwrite": True,
                                   "wait_timeout": 20})
    assert result["changed"] is True and result["rebound"] == [
        {"object": "Namespace hello", "from": "hello/old", "to": "hello/waypoint"}]
    assert bound(on_old_waypoint, "hello", "helloworld", message=True)[2].endswith("hello/waypoint")


def test_a_namespace_not_in_ambient_mode_is_refused_unless_deliberate(mesh, playbook):
    mesh.put(namespace("legacy", **{"istio-injection": "enabled"}))
    args = {"waypoints": [{"namespace": "legacy", "enroll_namespace": True}], "wait_timeout": 20}
    mark = mesh.mark()
    playbook.run(MODULE, args, fails="namespace legacy is not in ambient mode (no istio.io/dataplane-mode label)")
    assert mesh.writes(mark) == [] and gateways_of(mesh) == set()
    deliberate = playbook.run(MODULE, dict(args, require_ambient=False))
    assert deliberate["bound"] == ["Namespace legacy"]


def test_a_revision_no_istiod_serves_is_accepted_when_deliberate(mesh, playbook):
    mesh.put(namespace("hello", **AMBIENT))
    args = {"waypoints": [{"namespace": "hello", "revision": "canary", "enroll_namespace": True}], "wait": False}
    playbook.run(MODULE, args, fails="which no istiod serves")
    result = playbook.run(MODULE, dict(args, require_istiod=False))
    assert result["changed"] is True
    assert mesh.get(*GW, "waypoint", "hello")["metadata"]["labels"]["istio.io/rev"] == "canary"
