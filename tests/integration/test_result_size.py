"""Results at a few hundred objects: by default only what changed is listed, the rest counted and named."""

import json

import pytest

from builders import namespace
from conftest import GATEWAY_V151, seed_istio

pytestmark = pytest.mark.integration
COUNT = 300
AMBIENT = {"istio.io/dataplane-mode": "ambient", "istio.io/use-waypoint": "waypoint"}


def names(count):
    return ["team-%03d" % i for i in range(count)]


def task_result_bytes(result):
    """What the module returned, without Ansible's echo of the task's own arguments."""
    return len(json.dumps({k: v for k, v in result.items() if k not in ("invocation", "_stdout")}))


def test_ambient_namespace_lists_what_changed_and_counts_the_rest(cluster, playbook):
    seed_istio(cluster)
    everyone = names(COUNT)
    enrolled = everyone[:40]  # already as asked: the first run leaves them alone
    for name in everyone:
        cluster.put(namespace(name, owner="platform", **(AMBIENT if name in enrolled else {})))
    args = {"namespaces": [{"name": n, "use_waypoint": "waypoint"} for n in everyone], "allow_missing_waypoint": True}

    check = playbook.run("ambient.mesh.ambient_namespace", args, check=True)
    assert [n["name"] for n in check["namespaces"]] == everyone[40:]
    assert check["unchanged"] == enrolled and check["unchanged_count"] == 40

    first = playbook.run("ambient.mesh.ambient_namespace", args)
    assert [n["name"] for n in first["namespaces"]] == everyone[40:]
    assert all(n["changed"] for n in first["namespaces"])
    assert first["unchanged"] == enrolled and first["unchanged_count"] == 40
    assert first["summary"] == {"total": COUNT, "changed": COUNT - 40, "unchanged": 40}
    # each entry shows the labels the module manages, not the namespace's others
    assert first["namespaces"][0]["labels"] == {"before": {}, "after": AMBIENT}

    noop = playbook.run("ambient.mesh.ambient_namespace", args)
    assert noop["changed"] is False and noop["namespaces"] == []
    assert noop["unchanged"] == everyone and noop["unchanged_count"] == COUNT
    assert noop["summary"] == {"total": COUNT, "changed": 0, "unchanged": COUNT}

    every = playbook.run("ambient.mesh.ambient_namespace", dict(args, results="all"))
    assert every["changed"] is False and [n["name"] for n in every["namespaces"]] == everyone
    assert every["namespaces"][0]["labels"]["after"] == dict(AMBIENT, owner="platform",
                                                             **{"kubernetes.io/metadata.name": "team-000"})
    assert every["unchanged_count"] == COUNT
    assert task_result_bytes(noop) * 10 < task_result_bytes(every)  # what the controller has to take in

    moved = everyone[7:300:50]  # 6 namespaces move to another waypoint
    args = {"namespaces": [{"name": n, "use_waypoint": "other" if n in moved else "waypoint"} for n in everyone],
            "allow_missing_waypoint": True}
    some = playbook.run("ambient.mesh.ambient_namespace", args)
    assert [(n["name"], n["labels"]["before"]["istio.io/use-waypoint"], n["labels"]["after"]["istio.io/use-waypoint"])
            for n in some["namespaces"]] == [(n, "waypoint", "other") for n in moved]
    assert some["unchanged"] == [n for n in everyone if n not in moved] and some["unchanged_count"] == COUNT - 6
    assert cluster.get("v1", "Namespace", moved[0])["metadata"]["labels"]["istio.io/use-waypoint"] == "other"


def test_waypoint_lists_what_changed_and_counts_the_rest(cluster, playbook):
    cluster.load_crds(GATEWAY_V151)
    seed_istio(cluster)
    everyone = names(120)
    for name in everyone:
        cluster.put(namespace(name, **{"istio.io/dataplane-mode": "ambient"}))
    waypoints = [{"namespace": n, "enroll_namespace": True} for n in everyone]
    args = {"waypoints": waypoints, "wait": False}

    first = playbook.run("ambient.mesh.waypoint", args)
    assert [w["ref"] for w in first["waypoints"]] == ["Gateway %s/waypoint" % n for n in everyone]
    assert first["unchanged"] == [] and first["summary"] == {"total": 120, "changed": 120, "unchanged": 0}

    noop = playbook.run("ambient.mesh.waypoint", args)
    assert noop["changed"] is False and noop["waypoints"] == []
    assert noop["unchanged"] == ["%s/waypoint" % n for n in everyone] and noop["unchanged_count"] == 120

    every = playbook.run("ambient.mesh.waypoint", dict(args, results="all"))
    assert [(w["name"], w["action"]) for w in every["waypoints"]] == [("waypoint", "unchanged")] * 120
    assert every["unchanged_count"] == 120

    # three waypoints take workload traffic too, two go away: the Gateways changed are listed, the rest counted
    relabelled, removed = everyone[10:13], everyone[50:52]
    changed_args = {"wait": False, "waypoints": [
        dict(w, state="absent", enroll_namespace=False) if w["namespace"] in removed
        else dict(w, waypoint_for="all") if w["namespace"] in relabelled else w for w in waypoints]}
    some = playbook.run("ambient.mesh.waypoint", changed_args)
    assert [(w["namespace"], w["action"]) for w in some["waypoints"]] == [(n, "updated") for n in relabelled]
    assert some["deleted"] == ["%s/waypoint" % n for n in removed]
    assert some["unchanged"] == ["%s/waypoint" % n for n in everyone if n not in relabelled + removed]
    assert some["summary"] == {"total": 120, "changed": 5, "unchanged": 115}
    assert cluster.get("gateway.networking.k8s.io/v1", "Gateway", "waypoint", removed[0]) is None
