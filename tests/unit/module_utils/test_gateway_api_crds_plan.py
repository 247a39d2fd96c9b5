import pytest

from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError
from ansible_collections.ambient.mesh.plugins.module_utils._gateway_api_crds.bundle import (
    check_bundle_matches,
    parse_bundle,
    plan_refusal,
)
from ansible_collections.ambient.mesh.plugins.module_utils._istio.gateway_api import bundle_identity
from conftest import GATEWAY_V121, GATEWAY_V151


def crd(version, channel="standard", name="httproutes.gateway.networking.k8s.io"):
    return {"kind": "CustomResourceDefinition", "metadata": {"name": name, "annotations": {
        "gateway.networking.k8s.io/bundle-version": version, "gateway.networking.k8s.io/channel": channel}},
        "spec": {"group": "gateway.networking.k8s.io"}}


@pytest.mark.parametrize("path, version, kinds", [
    (GATEWAY_V121, "v1.2.1", {"CustomResourceDefinition": 5}),
    (GATEWAY_V151, "v1.5.1", {"CustomResourceDefinition": 8, "ValidatingAdmissionPolicy": 1,
                              "ValidatingAdmissionPolicyBinding": 1}),
])
def test_real_bundles_parse(path, version, kinds):
    docs = parse_bundle(path.read_text(), str(path))
    counted = {}
    for doc in docs:
        counted[doc["kind"]] = counted.get(doc["kind"], 0) + 1
    assert counted == kinds
    assert bundle_identity([d for d in docs if d["kind"] == "CustomResourceDefinition"]) == (version, "standard")
    check_bundle_matches(docs, version, "standard", str(path))


@pytest.mark.parametrize("text, fragment", [
    ("kind: [unclosed", "is not valid YAML"),
    ("just a string", "document 1 is not a Kubernetes object"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", "does not belong in a Gateway API CRD bundle"),
    ("", "holds no CustomResourceDefinition"),
])
def test_malformed_bundles(text, fragment):
    with pytest.raises(AmbientMeshError) as err:
        parse_bundle(text, "bundle.yaml")
    assert fragment in err.value.msg and "bundle.yaml" in err.value.msg


def test_bundle_of_another_version_is_refused():
    docs = [crd("v1.2.1")]
    with pytest.raises(AmbientMeshError) as err:
        check_bundle_matches(docs, "v1.5.1", "standard", "f.yaml")
    assert "holds Gateway API v1.2.1, but version v1.5.1 was asked for" in err.value.msg


@pytest.mark.parametrize("installed, wanted, options, refused", [
    ((None, None), ("v1.5.1", "standard"), {}, None),
    (("v1.2.1", "standard"), ("v1.5.1", "standard"), {}, None),
    (("v1.5.1", "standard"), ("v1.5.1", "standard"), {}, None),
    (("v1.5.1", "standard"), ("v1.2.1", "standard"), {}, "refusing to downgrade Gateway API CRDs from v1.5.1 to v1.2.1"),
    (("v1.5.1", "standard"), ("v1.2.1", "standard"), {"allow_downgrade": True}, None),
    (("v1.5.1", "experimental"), ("v1.5.1", "standard"), {}, "from the experimental channel to standard"),
    (("v1.5.1", "experimental"), ("v1.5.1", "standard"), {"allow_channel_switch": True}, None),
])
def test_plan_refusal(installed, wanted, options, refused):
    message = plan_refusal(installed[0], installed[1], wanted[0], wanted[1],
                           options.get("allow_downgrade", False), options.get("allow_channel_switch", False))
    if refused is None:
        assert message is None
    else:
        assert refused in message


def test_bundle_identity_takes_the_oldest_and_experimental():
    assert bundle_identity([crd("v1.5.1"), crd("v1.2.1", name="b")]) == ("v1.2.1", "standard")
    assert bundle_identity([crd("v1.5.1"), crd("v1.5.1", "experimental", "b")]) == ("v1.5.1", "experimental")
    assert bundle_identity([]) == (None, None)
