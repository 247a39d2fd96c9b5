"""How the collection reads Istio's install from the API, against Istio 1.30.3's own rendered files
(embedded_cluster/data/istio-1.30.3/rendered/*.golden.yaml, read here at test time): the lookups, versions,
revisions, profile and health of an install made by istioctl or by Helm."""

import pytest
import yaml

from ansible_collections.ambient.mesh.plugins.module_utils._install import istio_install as install
from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError
from ansible_collections.ambient.mesh.plugins.module_utils._istio.state import (
    ISTIO_READS,
    image_tag,
    istio_summary,
    revision_of,
    version_of,
)
from embedded_cluster.apiserver.controllers import workload_status
from embedded_cluster.apiserver.selectors import parse_labels
from conftest import DATA
from embedded_cluster.fake_istioctl import rendered

RENDERED = DATA / "istio-1.30.3" / "rendered"


def golden(name):
    return [d for d in yaml.safe_load_all((RENDERED / f"{name}.golden.yaml").read_text()) if d]


def selects(selector, obj):
    labels = obj["metadata"].get("labels") or {}
    return all(pred(labels) for pred in parse_labels(selector))


@pytest.mark.parametrize("name, file, kind", [
    ("istiod", "pilot_default", "Deployment"),
    ("ztunnel", "ztunnel", "DaemonSet"),
    ("istio-cni", "istio-cni", "DaemonSet"),
])
def test_each_lookup_finds_the_workload_istio_renders_and_nothing_else_there(name, file, kind):
    api_version, read_kind, selector, _required = ISTIO_READS[name]
    assert (api_version, read_kind) == ("apps/v1", kind)
    found = [d for d in golden(file) if d["kind"] == kind and selects(selector, d)]
    assert len(found) == 1
    everything = [d for f in ("pilot_default", "ztunnel", "istio-cni") for d in golden(f) if d["kind"] == kind]
    assert [d["metadata"]["name"] for d in everything if selects(selector, d)] == [found[0]["metadata"]["name"]]


def test_ztunnel_is_not_found_by_its_pod_label():
    """The label the collection used to read (app=ztunnel) is on the pod template, not the DaemonSet."""
    ds = golden("ztunnel")[0]
    assert ds["spec"]["template"]["metadata"]["labels"]["app"] == "ztunnel"
    assert not selects("app=ztunnel", ds)


@pytest.mark.parametrize("image, tag", [
    ("docker.io/istio/pilot:1.30.3", "1.30.3"),
    ("docker.io/istio/ztunnel:1.30.3-distroless", "1.30.3"),
    ("gcr.io/istio-release/pilot:1.30.3-debug", "1.30.3"),
    ("registry.local:5000/istio/install-cni:1.30.3-distroless@sha256:" + "a" * 64, "1.30.3"),
    ("registry.local:5000/istio/pilot", None),
    ("docker.io/istio/pilot:1.31.0-beta.1", "1.31.0-beta.1"),
])
def test_image_tag_drops_image_variants_and_digests(image, tag):
    assert image_tag({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}}) == tag


def ready(objects):
    for obj in objects:
        obj["status"] = workload_status(obj, True)
    return objects


def raw(objects):
    """What read_lists returns, by ISTIO_READS' selectors over the given objects."""
    return {name: [o for o in objects if o["kind"] == kind and selects(selector, o)]
            for name, (_v, kind, selector, _r) in ISTIO_READS.items()}


@pytest.mark.parametrize("build", [rendered.istioctl_install, rendered.helm_install], ids=["istioctl", "helm"])
@pytest.mark.parametrize("revision", ["", "1-30-3"])
def test_an_install_by_istioctl_or_helm_reads_as_healthy_ambient_1_30_3(build, revision):
    objects = ready(build("ambient", "1.30.3", revision))
    summary = istio_summary(raw(objects))
    assert summary["installed"] is True and summary["version"] == "1.30.3"
    assert summary["revisions"] == [revision or "default"]
    assert summary["profile"] == "ambient" and summary["healthy"] is True
    assert [c["name"] for c in summary["components"]["ztunnel"]] == ["ztunnel"]
    by_kind = {o["metadata"]["name"]: o for o in objects if o["kind"] in ("DaemonSet", "Deployment")}
    for obj in by_kind.values():
        assert version_of(obj) == "1.30.3"
        assert revision_of(obj) == (revision or "default")


def test_helm_objects_carry_no_istioctl_owner_labels_and_distroless_tags():
    """What makes a Helm install different: the chart's labels only, the image variant in the tag."""
    for obj in rendered.helm_install("ambient", "1.30.3", ""):
        labels = obj["metadata"].get("labels") or {}
        assert rendered.VERSION not in labels and rendered.MANAGED not in labels
        if obj["kind"] in ("Deployment", "DaemonSet"):
            assert obj["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":1.30.3-distroless")


def test_a_not_ready_ztunnel_makes_the_install_unhealthy():
    objects = ready(rendered.helm_install("ambient", "1.30.3", ""))
    ds = next(o for o in objects if o["metadata"]["name"] == "ztunnel")
    ds["status"] = workload_status(ds, False)
    assert istio_summary(raw(objects))["healthy"] is False


def labelled(**labels):
    return {"metadata": {"labels": labels}}


OWNED = {"istio.io/rev": "1-30-3", "install.operator.istio.io/owning-resource-namespace": "istio-system"}


@pytest.mark.parametrize("labels, revision, pruned", [
    (dict(OWNED, **{"operator.istio.io/component": "Ztunnel"}), "1-30-3", True),
    (dict(OWNED, **{"operator.istio.io/component": "Cni"}), "1-30-3", True),
    (dict(OWNED, **{"operator.istio.io/component": "Pilot"}), "1-30-3", True),
    (dict(OWNED, **{"operator.istio.io/component": "Ztunnel"}), "default", False),
    # base (CRDs) is never pruned by a revision's uninstall
    (dict(OWNED, **{"operator.istio.io/component": "Base"}), "1-30-3", False),
    # the charts' own labels without istioctl's owner namespace (an install by Helm): not selected
    ({"istio.io/rev": "1-30-3", "operator.istio.io/component": "Cni"}, "1-30-3", False),
    ({"istio.io/rev": "1-30-3"}, "1-30-3", False),
])
def test_what_a_revision_uninstall_prunes(labels, revision, pruned):
    assert install.pruned_by_revision_uninstall(labelled(**labels), revision) is pruned


def test_what_a_revision_uninstall_prunes_matches_the_objects_istioctl_applies():
    for obj in rendered.istioctl_install("ambient", "1.30.3", "1-30-3"):
        assert install.pruned_by_revision_uninstall(obj, "1-30-3"), obj["metadata"]["name"]
        assert not install.pruned_by_revision_uninstall(obj, "default")
    for obj in rendered.helm_install("ambient", "1.30.3", "1-30-3"):
        assert not install.pruned_by_revision_uninstall(obj, "1-30-3"), obj["metadata"]["name"]


def live(revisions, dataplane_revision):
    dataplane = [{"component": c, "ref": "%s istio-system/%s" % (c, n),
                  "metadata": {"labels": dict(OWNED, **{"istio.io/rev": dataplane_revision,
                                                        "operator.istio.io/component": comp})}}
                 for c, n, comp in (("ztunnel", "ztunnel", "Ztunnel"), ("istio-cni", "istio-cni-node", "Cni"))]
    return {"revisions": {r: {"version": v} for r, v in revisions.items()}, "dataplane": dataplane}


@pytest.mark.parametrize("revisions, dataplane, removed, refused", [
    ({"default": "1.29.2", "1-30-3": "1.30.3"}, "1-30-3", "1-30-3", True),
    ({"default": "1.29.2", "1-30-3": "1.30.3"}, "1-30-3", "default", False),
    ({"1-30-3": "1.30.3"}, "1-30-3", "1-30-3", False),  # the last revision: the data plane goes with it
    ({"default": "1.29.2", "1-30-3": "1.30.3"}, "default", "1-30-3", False),
])
def test_refuse_a_revision_uninstall_that_deletes_the_shared_data_plane(revisions, dataplane, removed, refused):
    state = live(revisions, dataplane)
    pruned = [d["ref"] for d in state["dataplane"] if install.pruned_by_revision_uninstall(d, removed)]
    if not refused:
        install.refuse_dataplane_loss(state, removed, pruned)
        return
    with pytest.raises(AmbientMeshError) as err:
        install.refuse_dataplane_loss(state, removed, pruned)
    survivor = sorted(set(revisions) - {removed})[-1]
    assert "ztunnel istio-system/ztunnel and istio-cni istio-system/istio-cni-node" in err.value.msg
    assert "(%s)" % revisions[survivor] in err.value.msg and "purge: true" in err.value.msg


def test_helm_objects_keep_every_label_of_the_rendered_file():
    """Only the chart version labels differ (release charts carry the Istio version)."""
    original = (golden("ztunnel")[0]["metadata"]["labels"])
    built = rendered.helm_install("ambient", "1.30.3", "")
    ds = next(o for o in built if o["metadata"]["name"] == "ztunnel")
    for key, value in original.items():
        if key not in ("app.kubernetes.io/version", "helm.sh/chart"):
            assert ds["metadata"]["labels"][key] == value
