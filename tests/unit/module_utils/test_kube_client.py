"""The Kubernetes layer against the test API server, in-process (no ansible-playbook)."""

import pytest

from ansible_collections.ambient.mesh.plugins.module_utils._objects.apply import apply_objects
from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError
from ansible_collections.ambient.mesh.plugins.module_utils._kube.client import KubeApi
from conftest import GATEWAY_V151
from standins import ModuleStandIn


@pytest.fixture
def api(kubeconfig):
    return KubeApi(ModuleStandIn(kubeconfig), budget_seconds=20)


def configmap(name, namespace="default", data=None):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace},
            "data": data or {"k": "v"}}


def test_discovery_sees_a_crd_created_after_the_first_lookup(cluster, api):
    with pytest.raises(AmbientMeshError) as err:
        api.resource("gateway.networking.k8s.io/v1", "HTTPRoute")
    assert "install its CustomResourceDefinition first" in err.value.msg
    cluster.load_crds(GATEWAY_V151)
    res = api.resource("gateway.networking.k8s.io/v1", "HTTPRoute")
    assert res.plural == "httproutes" and res.namespaced and "status" in res.subresources


def test_retries_honour_retry_after_and_give_up_at_the_budget(cluster, kubeconfig):
    api = KubeApi(ModuleStandIn(kubeconfig), budget_seconds=20)
    cluster.fail("list", "namespaces", status=429, times=1, retry_after=1)
    cluster.fail("list", "namespaces", status=504, times=1)
    mark = cluster.mark()
    assert {n["metadata"]["name"] for n in api.list("v1", "Namespace")} == {"default", "kube-system"}
    assert [e.get("injected") for e in cluster.requests(mark, "list")] == [429, 504, None]

    short = KubeApi(ModuleStandIn(kubeconfig), budget_seconds=1)
    cluster.fail("list", "namespaces", status=503, times=100)
    with pytest.raises(AmbientMeshError) as err:
        short.list("v1", "Namespace")
    assert "503" in err.value.msg


def test_client_errors_are_not_retried(cluster, api):
    cluster.fail("get", "configmaps", status=403, times=5, message="forbidden by policy")
    mark = cluster.mark()
    with pytest.raises(AmbientMeshError) as err:
        api.get("v1", "ConfigMap", "x", "default")
    assert "403" in err.value.msg and "forbidden by policy" in err.value.msg
    assert len(cluster.requests(mark, "get")) == 1


def test_batch_apply_reads_by_list_and_writes_only_changes(cluster, api):
    cluster.seed_namespace("apps")
    objects = [configmap(f"cm-{i}", "apps", {"i": str(i)}) for i in range(40)]
    mark = cluster.mark()
    results = apply_objects(api, objects, concurrency=8)
    assert [r["action"] for r in results] == ["created"] * 40
    assert len(cluster.requests(mark, "list")) == 1 and len(cluster.writes(mark)) == 40

    objects[3]["data"]["i"] = "changed"
    mark = cluster.mark()
    results = apply_objects(api, objects, concurrency=8)
    assert [r["ref"] for r in results if r["changed"]] == ["ConfigMap apps/cm-3"]
    assert len(cluster.writes(mark)) == 1
    assert [e["verb"] for e in cluster.requests(mark)] == ["list", "patch", "patch"]  # dry run, then write

    mark = cluster.mark()
    assert not any(r["changed"] for r in apply_objects(api, objects, concurrency=8))
    assert [e["verb"] for e in cluster.requests(mark)] == ["list"]


def test_batch_rejected_by_the_server_changes_nothing(cluster, api):
    cluster.load_crds(GATEWAY_V151)
    cluster.seed_namespace("hello")
    from builders import split_route
    good, bad = split_route(name="good"), split_route(name="bad", weights=(95, -5))
    mark = cluster.mark()
    with pytest.raises(AmbientMeshError) as err:
        apply_objects(api, [good, bad])
    assert "rejected 1 of 2 objects, so none was changed" in err.value.msg
    assert "greater than or equal to 0" in err.value.msg
    assert cluster.writes(mark) == []


def test_bad_input_fails_before_any_request_that_writes(cluster, api):
    mark = cluster.mark()
    with pytest.raises(AmbientMeshError) as err:
        apply_objects(api, [configmap("ok"), {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}},
                            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "no-ns"}}])
    assert "item 1 (ConfigMap) has no metadata.name" in err.value.msg
    assert "ConfigMap no-ns is namespaced: set metadata.namespace" in err.value.msg
    assert cluster.writes(mark) == [] and cluster.requests(mark, ("patch", "list")) == []
