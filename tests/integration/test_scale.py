"""200 namespaces, each enrolled with its own waypoint, in one call per module: the request counts."""

import collections

import pytest

from builders import namespace
from conftest import GATEWAY_V151, seed_istio

pytestmark = pytest.mark.integration
COUNT = 200


def counts(entries):
    return collections.Counter((e["verb"], e["resource"]) for e in entries)


def test_200_namespaces_with_a_waypoint_each(cluster, playbook):
    cluster.load_crds(GATEWAY_V151)
    seed_istio(cluster)
    names = ["team-%03d" % i for i in range(COUNT)]
    for name in names:
        cluster.put(namespace(name, owner="platform"))

    # the waypoints come in the next task: said so, as a play would (allow_missing_waypoint)
    enroll = {"namespaces": [{"name": n, "use_waypoint": "waypoint"} for n in names], "allow_missing_waypoint": True}
    waypoints = {"waypoints": [{"namespace": n, "enroll_namespace": True} for n in names], "wait_timeout": 60}

    mark = cluster.mark()
    first = playbook.run("ambient.mesh.ambient_namespace", enroll)
    assert first["changed"] is True and not first.get("failed"), first.get("msg")
    requests = cluster.requests(mark)
    assert counts(cluster.writes(mark)) == {("patch", "namespaces"): COUNT}  # one write per changed object
    assert {e["verb"] for e in requests} == {"list", "patch"}  # no GET per namespace
    assert len([e for e in requests if e["verb"] == "list"]) == 3  # namespaces, ztunnel, istio-cni

    mark = cluster.mark()
    second = playbook.run("ambient.mesh.waypoint", waypoints)
    assert second["changed"] is True and not second.get("failed"), second.get("msg")
    assert counts(cluster.writes(mark)) == {("patch", "gateways.gateway.networking.k8s.io"): COUNT}
    assert "get" not in {e["verb"] for e in cluster.requests(mark)}
    # new Gateways generated from validated input: the first is written alone, no dry run (one write per object)
    assert [e for e in cluster.requests(mark, "patch") if e["dry_run"]] == []
    assert len(cluster.list("gateway.networking.k8s.io/v1", "Gateway")) == COUNT

    mark = cluster.mark()
    assert playbook.run("ambient.mesh.ambient_namespace", enroll)["changed"] is False
    assert playbook.run("ambient.mesh.waypoint", waypoints)["changed"] is False
    assert cluster.writes(mark) == []
    reads = cluster.requests(mark)
    assert {e["verb"] for e in reads} == {"list"}
    assert len(reads) <= 3 + 4 + 2 * 5  # ambient_namespace 3; waypoint 4 reads plus a few wait polls
    assert all(labels == "platform" for labels in
               (ns["metadata"]["labels"]["owner"] for ns in cluster.list("v1", "Namespace") if ns["metadata"]["name"] in names))
