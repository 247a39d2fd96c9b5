"""playbooks/files/lab/ carries the lab's apps (a user's clone has no ../shared): each object must
have the names, labels, selectors, images and ports of Istio 1.30.3's own samples, read here from
the unmodified upstream files in embedded_cluster/data/istio-1.30.3/samples/."""

import pathlib

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
LAB = ROOT / "playbooks" / "files" / "lab"
SAMPLES = ROOT / "embedded_cluster" / "data" / "istio-1.30.3" / "samples"
PAIRS = {"helloworld.yaml": "helloworld.yaml", "helloworld-versions.yaml": "helloworld-versions.yaml",
         "httpbin.yaml": "httpbin.yaml", "curl.yaml": "curl.yaml"}


def documents(path):
    """The objects of a file, a v1 List's items counted as objects (as kubectl and kubernetes.core.k8s do)."""
    found = {}
    for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        for obj in (doc["items"] if doc and doc.get("kind") == "List" else [doc] if doc else []):
            found[(obj["kind"], obj["metadata"]["name"])] = obj
    return found


def essentials(obj):
    """What a user, a selector or the simulated data plane depends on."""
    out = {"labels": obj["metadata"].get("labels", {})}
    spec = obj.get("spec", {})
    if obj["kind"] == "Service":
        out["selector"] = spec.get("selector")
        out["ports"] = [(p.get("name"), p["port"], p.get("targetPort", p["port"])) for p in spec["ports"]]
    if obj["kind"] == "Deployment":
        template = spec["template"]
        out["replicas"] = spec.get("replicas", 1)
        out["selector"] = spec["selector"]
        out["template_labels"] = template["metadata"]["labels"]
        out["service_account"] = template["spec"].get("serviceAccountName")
        out["containers"] = [(c["name"], c["image"], c.get("command"), [p["containerPort"] for p in c.get("ports", [])])
                             for c in template["spec"]["containers"]]
    return out


@pytest.mark.parametrize("ours,upstream", sorted(PAIRS.items()))
def test_the_lab_manifest_matches_istios_sample(ours, upstream):
    mine, theirs = documents(LAB / ours), documents(SAMPLES / upstream)
    assert sorted(mine) == sorted(theirs)
    for key, obj in theirs.items():
        assert essentials(mine[key]) == essentials(obj), key


def test_every_lab_file_is_compared():
    assert sorted(p.name for p in LAB.glob("*.yaml") if p.name != "trap.yaml") == sorted(PAIRS)


def test_the_trap_split_is_95_5_over_version_subsets():
    objs = documents(LAB / "trap.yaml")
    routes = objs[("VirtualService", "helloworld")]["spec"]["http"][0]["route"]
    assert [(r["destination"]["subset"], r["weight"]) for r in routes] == [("v1", 95), ("v2", 5)]
    subsets = objs[("DestinationRule", "helloworld")]["spec"]["subsets"]
    assert {s["name"]: s["labels"] for s in subsets} == {"v1": {"version": "v1"}, "v2": {"version": "v2"}}
