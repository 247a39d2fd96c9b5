"""apply_objects' preflight: a dry run of every object ("each"), or, for generated objects such as the waypoint
Gateways ("first"), a dry run of each existing object and the first new object of each kind written alone before
the others; counted on the test API server."""

import pytest

from ansible_collections.ambient.mesh.plugins.module_utils._objects.apply import apply_objects
from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError
from ansible_collections.ambient.mesh.plugins.module_utils._kube.client import KubeApi
from conftest import GATEWAY_V151
from standins import ModuleStandIn

GW = "gateways.gateway.networking.k8s.io"


def gateway(namespace, port=15008):
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": "waypoint", "namespace": namespace},
            "spec": {"gatewayClassName": "istio-waypoint",
                     "listeners": [{"name": "mesh", "port": port, "protocol": "HBONE"}]}}


@pytest.fixture
def api(cluster, kubeconfig):
    cluster.load_crds(GATEWAY_V151)
    for name in ("a", "b", "c", "d"):
        cluster.seed_namespace(name)
    return KubeApi(ModuleStandIn(kubeconfig), budget_seconds=5)


def patches(cluster, mark, dry_run):
    return [e["namespace"] for e in cluster.requests(mark, "patch", resource=GW) if bool(e["dry_run"]) is dry_run]


def test_each_dry_runs_every_object_before_writing(cluster, api):
    mark = cluster.mark()
    results = apply_objects(api, [gateway(n) for n in "abc"])
    assert [r["action"] for r in results] == ["created"] * 3
    assert sorted(patches(cluster, mark, True)) == ["a", "b", "c"]
    assert sorted(patches(cluster, mark, False)) == ["a", "b", "c"]


def test_first_writes_the_first_new_object_alone_and_dry_runs_only_existing_ones(cluster, api):
    apply_objects(api, [gateway("a")])
    mark = cluster.mark()
    results = apply_objects(api, [gateway("a", port=15009), gateway("b"), gateway("c"), gateway("d")],
                            preflight="first", concurrency=8)
    assert [r["action"] for r in results] == ["updated", "created", "created", "created"]
    assert patches(cluster, mark, True) == ["a"]  # the existing one only
    writes = patches(cluster, mark, False)
    assert sorted(writes) == ["a", "b", "c", "d"] and writes[0] == "b"  # b alone, before the others
    assert cluster.get("gateway.networking.k8s.io/v1", "Gateway", "waypoint", "d")["spec"]["listeners"][0]["port"] == 15008
    assert results[3]["after"]["metadata"]["uid"]  # the server's answer is the result's after


def test_first_in_check_mode_dry_runs_every_object_and_writes_none(cluster, api):
    mark = cluster.mark()
    results = apply_objects(api, [gateway(n) for n in "abc"], check_mode=True, preflight="first")
    assert [r["changed"] for r in results] == [True] * 3
    assert sorted(patches(cluster, mark, True)) == ["a", "b", "c"] and cluster.writes(mark) == []


def test_first_a_refusal_of_the_kind_stops_at_the_first_write(cluster, api):
    cluster.fail("patch", GW, status=403, times=100)
    mark = cluster.mark()
    with pytest.raises(AmbientMeshError, match="refused 1 of 1 first objects of their kind, so none of the other new "
                                               "objects was written") as caught:
        apply_objects(api, [gateway(n) for n in "abc"], preflight="first")
    assert caught.value.details["changed"] is False and caught.value.details["done"] == []
    assert len(cluster.requests(mark, "patch", resource=GW)) == 1
    assert cluster.list("gateway.networking.k8s.io/v1", "Gateway") == []


def test_first_a_creation_refused_on_its_own_fails_after_the_others_were_written(cluster, api):
    cluster.fail("patch", GW, status=422, times=1, after=2, dry_run=False)  # the third real write
    mark = cluster.mark()
    with pytest.raises(AmbientMeshError, match="1 of 3 writes failed") as caught:
        apply_objects(api, [gateway(n) for n in "abc"], preflight="first", concurrency=1)
    assert len(caught.value.details["done"]) == 2 and caught.value.details["changed"] is True
    assert sorted(g["metadata"]["namespace"] for g in cluster.list("gateway.networking.k8s.io/v1", "Gateway")) == ["a", "b"]
    assert [e.get("injected") for e in cluster.writes(mark)] == [None, None, 422]


def test_an_unknown_preflight_is_a_programming_error(api):
    with pytest.raises(ValueError, match="preflight is each or first"):
        apply_objects(api, [gateway("a")], preflight="some")
