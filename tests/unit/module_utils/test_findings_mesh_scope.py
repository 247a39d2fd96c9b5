"""Which VirtualServices act on mesh traffic: only those the findings about ambient may judge."""

import pytest

from ansible_collections.ambient.mesh.plugins.module_utils._mesh_info.findings import Snapshot, find_misconfigurations
from ansible_collections.ambient.mesh.plugins.module_utils._istio.hosts import vs_applies_to_mesh
from builders import ambient_namespace, service, split_virtualservice


def bound_to(gateways):
    vs = split_virtualservice()
    if gateways is not None:
        vs["spec"]["gateways"] = gateways
    return vs


@pytest.mark.parametrize("gateways, mesh", [
    (None, True),  # no gateways: the reserved gateway "mesh" is implied
    ([], True),
    (["mesh"], True),
    (["istio-system/ingressgateway", "mesh"], True),
    (["istio-system/ingressgateway"], False),  # ingress traffic only: sidecars and ztunnel never see it
    (["ingress", "istio-system/meshgw"], False),
])
def test_vs_applies_to_mesh(gateways, mesh):
    assert vs_applies_to_mesh(bound_to(gateways)) is mesh


@pytest.mark.parametrize("gateways, codes", [
    (None, ["VS_SPLIT_WITHOUT_WAYPOINT"]),
    (["mesh", "istio-system/ingressgateway"], ["VS_SPLIT_WITHOUT_WAYPOINT"]),
    (["istio-system/ingressgateway"], []),  # the ingress gateway splits it; no waypoint needed
])
def test_a_split_for_ingress_only_is_no_ambient_finding(gateways, codes):
    snapshot = Snapshot(namespaces=[ambient_namespace("hello")], services=[service("hello", "helloworld")],
                        virtualservices=[bound_to(gateways)])
    assert [f["code"] for f in find_misconfigurations(snapshot)] == codes
