"""apply_objects with a field the CRD's schema prunes: the dry run shows no change, so nothing is written."""

import pytest

from ansible_collections.ambient.mesh.plugins.module_utils._objects.apply import apply_objects
from ansible_collections.ambient.mesh.plugins.module_utils._kube.client import KubeApi
from conftest import GATEWAY_V151
from standins import ModuleStandIn


def gateway(**extra_spec):
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
            "metadata": {"name": "edge", "namespace": "apps"},
            "spec": dict({"gatewayClassName": "istio",
                          "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]}, **extra_spec)}


@pytest.mark.parametrize("extra", [
    {"unknownField": "dropped by the schema"},
    {"infrastructure": {"labels": {"a": "b"}, "notInTheSchema": True}},
])
def test_a_pruned_field_makes_no_write_on_the_next_apply(cluster, kubeconfig, extra):
    cluster.load_crds(GATEWAY_V151)
    cluster.seed_namespace("apps")
    api = KubeApi(ModuleStandIn(kubeconfig), budget_seconds=20)
    first = apply_objects(api, [gateway(**extra)])
    assert first[0]["action"] == "created"
    stored = cluster.get("gateway.networking.k8s.io/v1", "Gateway", "edge", "apps")
    assert "unknownField" not in stored["spec"]
    assert "notInTheSchema" not in stored["spec"].get("infrastructure", {})

    for check_mode in (True, False):
        mark = cluster.mark()
        again = apply_objects(api, [gateway(**extra)], check_mode=check_mode)
        assert again[0]["changed"] is False and again[0]["action"] == "unchanged"
        assert cluster.writes(mark) == []
        patches = cluster.requests(mark, "patch")
        assert patches and all(e["dry_run"] for e in patches)  # the dry run was asked, and said: no change
