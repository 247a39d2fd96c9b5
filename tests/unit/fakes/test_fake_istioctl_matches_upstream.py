"""The fake istioctl against Istio 1.30.3: the objects its install applies compared with the rendered
files (embedded_cluster/data/istio-1.30.3/rendered/*.golden.yaml, read here, never retyped), and the behaviour
of tag set, uninstall and precheck as istioctl's source describes it (cited per test)."""

import json
import subprocess

import pytest
import yaml

from conftest import DATA

RENDERED = DATA / "istio-1.30.3" / "rendered"
MWC = ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration")
VWC = ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration")
# operator/pkg/install/install.go getOwnerLabels: what istioctl adds to the chart's labels
OWNER_LABELS = {"operator.istio.io/managed", "operator.istio.io/version",
                "install.operator.istio.io/owning-resource-namespace", "istio.io/rev", "operator.istio.io/component"}
# the chart version labels: 1.0.0 in the test charts, the Istio version in a release
RELEASE_LABELS = {"app.kubernetes.io/version", "helm.sh/chart"}


def golden(name, kind):
    docs = [d for d in yaml.safe_load_all((RENDERED / f"{name}.golden.yaml").read_text()) if d and d["kind"] == kind]
    assert len(docs) == 1
    return docs[0]


def run(istioctl, kubeconfig, *argv, answer=""):
    return subprocess.run([istioctl.path, *argv, "--kubeconfig", kubeconfig], input=answer, capture_output=True,
                          text=True, timeout=120, check=False)


def labels(obj, template=False):
    meta = obj["spec"]["template"]["metadata"] if template else obj["metadata"]
    return meta.get("labels") or {}


@pytest.fixture
def installed(cluster, kubeconfig, istioctl):
    proc = run(istioctl, kubeconfig, "install", "-y", "--set", "profile=ambient")
    assert proc.returncode == 0, proc.stderr
    return cluster


@pytest.mark.parametrize("file, kind, name, component", [
    ("pilot_default", "Deployment", "istiod", "Pilot"),
    ("ztunnel", "DaemonSet", "ztunnel", "Ztunnel"),
    ("istio-cni", "DaemonSet", "istio-cni-node", "Cni"),
])
def test_install_applies_the_rendered_workloads_with_istioctls_owner_labels(installed, file, kind, name, component):
    upstream = golden(file, kind)
    live = installed.get("apps/v1", kind, name, "istio-system")
    assert live is not None and upstream["metadata"]["name"] == name
    expected = {k: v for k, v in labels(upstream).items() if k not in RELEASE_LABELS}
    expected.update({"operator.istio.io/managed": "Reconcile", "operator.istio.io/version": "1.30.3",
                     "install.operator.istio.io/owning-resource-namespace": "istio-system", "istio.io/rev": "default",
                     "operator.istio.io/component": component})
    assert {k: v for k, v in labels(live).items() if k not in RELEASE_LABELS} == expected
    assert live["spec"]["selector"] == upstream["spec"]["selector"]
    assert labels(live, template=True) == {k: (("1.30.3" if k == "app.kubernetes.io/version" else
                                                 v.replace("1.0.0", "1.30.3")) if k in RELEASE_LABELS else v)
                                           for k, v in labels(upstream, template=True).items()}
    live_containers = live["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in live_containers] == [c["name"] for c in upstream["spec"]["template"]["spec"]["containers"]]
    # the ambient profile's image variant (manifests/helm-profiles/ambient.yaml global.variant)
    assert live_containers[0]["image"].endswith(":1.30.3-distroless")
    assert "istio-operator" in [m["manager"] for m in live["metadata"]["managedFields"]]


def test_install_applies_istiods_service_and_webhooks_as_rendered(installed):
    for api_version, kind, name in (("v1", "Service", "istiod"), MWC + ("istio-sidecar-injector",),
                                    VWC + ("istio-validator-istio-system",)):
        upstream = golden("pilot_default", kind)
        assert upstream["metadata"]["name"] == name
        live = installed.get(api_version, kind, name, "istio-system" if kind == "Service" else None)
        assert live is not None, name
        assert {k: v for k, v in labels(upstream).items() if k not in RELEASE_LABELS}.items() <= labels(live).items()
        assert OWNER_LABELS <= set(labels(live))
        if kind == "Service":
            assert live["spec"]["selector"] == upstream["spec"]["selector"]
            assert [(p["name"], p["port"]) for p in live["spec"]["ports"]] == \
                [(p["name"], p["port"]) for p in upstream["spec"]["ports"]]
        else:
            assert [w["name"] for w in live["webhooks"]] == [w["name"] for w in upstream["webhooks"]]


def test_a_fresh_default_install_creates_the_default_tag_and_deactivates_its_own_webhook(installed):
    """operator/pkg/webhook/webhook.go WebhooksToDeploy; istioctl/pkg/tag/util.go DeactivateIstioInjectionWebhook."""
    tag = installed.get(*MWC, "istio-revision-tag-default")
    assert labels(tag)["istio.io/tag"] == "default" and labels(tag)["istio.io/rev"] == "default"
    assert labels(tag)["install.operator.istio.io/owning-resource-not-pruned"] == "true"
    own = installed.get(*MWC, "istio-sidecar-injector")
    assert all(w["namespaceSelector"] == {"matchLabels": {"istio.io/deactivated": "never-match"}} for w in own["webhooks"])
    assert installed.get(*VWC, "istiod-default-validator") is not None
    assert installed.get("v1", "Service", "istiod-revision-tag-default", "istio-system") is not None


def test_a_revision_install_renames_as_the_charts_and_relabels_the_shared_data_plane(installed, kubeconfig, istioctl):
    proc = run(istioctl, kubeconfig, "install", "-y", "--set", "profile=ambient", "--set", "revision=canary")
    assert proc.returncode == 0, proc.stderr
    dep = installed.get("apps/v1", "Deployment", "istiod-canary", "istio-system")
    assert dep["spec"]["selector"]["matchLabels"] == {"app": "istiod", "istio.io/rev": "canary"}
    assert installed.get("v1", "Service", "istiod-canary", "istio-system")["spec"]["selector"] == {
        "app": "istiod", "istio.io/rev": "canary"}
    assert installed.get(*MWC, "istio-sidecar-injector-canary") is not None
    assert installed.get(*VWC, "istio-validator-canary-istio-system") is not None
    ztunnel = installed.get("apps/v1", "DaemonSet", "ztunnel", "istio-system")
    assert labels(ztunnel)["istio.io/rev"] == "canary"  # the last install's revision
    assert ztunnel["metadata"]["annotations"]["istio.io/rev"] == "canary"  # the ztunnel chart's own mark
    # a revision install does not take the default tag when one exists (webhook.go detectIfTagWebhookIsNeeded)
    assert labels(installed.get(*MWC, "istio-revision-tag-default"))["istio.io/rev"] == "default"


def test_uninstall_of_the_revision_that_installed_last_deletes_ztunnel_and_cni(installed, kubeconfig, istioctl):
    """The break the module refuses: operator/pkg/uninstall/prune.go GetPrunedResources."""
    run(istioctl, kubeconfig, "install", "-y", "--set", "profile=ambient", "--set", "revision=canary")
    proc = run(istioctl, kubeconfig, "uninstall", "-y", "--revision", "canary")
    assert proc.returncode == 0, proc.stderr
    assert installed.get("apps/v1", "Deployment", "istiod", "istio-system") is not None
    assert installed.get("apps/v1", "Deployment", "istiod-canary", "istio-system") is None
    assert installed.get("apps/v1", "DaemonSet", "ztunnel", "istio-system") is None
    assert installed.get("apps/v1", "DaemonSet", "istio-cni-node", "istio-system") is None
    # CRDs (component Base) stay
    assert installed.get("apiextensions.k8s.io/v1", "CustomResourceDefinition",
                         "virtualservices.networking.istio.io") is not None


@pytest.mark.parametrize("argv, rc, stderr", [
    (["uninstall", "-y"], 1, "at least one of the --revision (or --set revision=<revision>), --filename or --purge "
                              "flags must be set"),
    (["uninstall", "-y", "--revision", "nope"], 1, "could not find target revision"),
    (["uninstall", "-y", "--bogus"], 1, "unknown flag: --bogus"),
])
def test_uninstall_errors_as_istioctl(installed, kubeconfig, istioctl, argv, rc, stderr):
    """operator/cmd/mesh/uninstall.go UninstallCmd Args and runUninstall."""
    proc = run(istioctl, kubeconfig, *argv)
    assert proc.returncode == rc and stderr in proc.stderr
    assert installed.get("apps/v1", "Deployment", "istiod", "istio-system") is not None


def test_purge_without_y_asks_and_no_answer_cancels(installed, kubeconfig, istioctl):
    """uninstall.go preCheckWarnings: a purge always asks; no answer: "Cancelled." and exit 1."""
    proc = run(istioctl, kubeconfig, "uninstall", "--purge")
    assert proc.returncode == 1 and "Cancelled." in proc.stdout
    assert installed.get("apps/v1", "DaemonSet", "ztunnel", "istio-system") is not None
    proc = run(istioctl, kubeconfig, "uninstall", "--purge", answer="y\n")
    assert proc.returncode == 0, proc.stderr
    assert installed.list("apps/v1", "DaemonSet", "istio-system") == []
    assert installed.get("apiextensions.k8s.io/v1", "CustomResourceDefinition",
                         "virtualservices.networking.istio.io") is None


def test_tag_set_needs_the_revisions_webhook_or_service(cluster, kubeconfig, istioctl):
    """istioctl/pkg/tag/generate.go checkControlPlaneExistenceOrDuplicate."""
    proc = run(istioctl, kubeconfig, "tag", "set", "prod", "--revision", "nope", "-y")
    assert proc.returncode == 1
    assert 'cannot modify tag: cannot find MutatingWebhookConfiguration or Service with revision "nope"' in proc.stderr


def test_tag_set_creates_the_tag_webhook_and_service(installed, kubeconfig, istioctl):
    """generate.go Generate: the tag webhook and the istiod-revision-tag-<tag> Service; user-managed tags
    carry no operator.istio.io labels (generateLabels)."""
    proc = run(istioctl, kubeconfig, "tag", "set", "prod", "--revision", "default", "-y")
    assert proc.returncode == 0, proc.stderr
    hook = installed.get(*MWC, "istio-revision-tag-prod")
    assert labels(hook)["istio.io/tag"] == "prod" and labels(hook)["istio.io/rev"] == "default"
    assert not [k for k in labels(hook) if "operator.istio.io" in k]
    svc = installed.get("v1", "Service", "istiod-revision-tag-prod", "istio-system")
    assert svc["spec"]["selector"] == {"app": "istiod", "istio.io/rev": "default"}
    assert installed.get(*VWC, "istiod-default-validator") is not None  # from the install's default tag
    again = run(istioctl, kubeconfig, "tag", "set", "prod", "--revision", "default", "-y")
    assert again.returncode == 1 and 'revision tag "prod" already exists, and --overwrite is false' in again.stderr


def overlapping_webhook(cluster):
    """A leftover webhook that injects the same pods as the tag prod would (webhook analyzer IST0139)."""
    cluster.put({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
                 "metadata": {"name": "leftover-injector"},
                 "webhooks": [{"name": "rev.namespace.sidecar-injector.istio.io", "admissionReviewVersions": ["v1"],
                               "sideEffects": "None",
                               "clientConfig": {"service": {"name": "istiod", "namespace": "istio-system"}},
                               "namespaceSelector": {"matchExpressions": [
                                   {"key": "istio.io/rev", "operator": "In", "values": ["prod"]}]}}]})


def test_tag_set_with_a_conflict_asks_and_without_an_answer_exits_0_unmoved(installed, kubeconfig, istioctl):
    """tag.go setTag: analyzeWebhook finds a conflict; without -y, "Apply anyways? [y/N]", no answer:
    return nil (exit 0) without applying. With -y the tag is applied."""
    overlapping_webhook(installed)
    proc = run(istioctl, kubeconfig, "tag", "set", "prod", "--revision", "default")
    assert proc.returncode == 0
    assert "creating tag would conflict, pass --skip-confirmation to proceed" in proc.stderr
    assert "Webhook overlaps with others: [leftover-injector/rev.namespace.sidecar-injector.istio.io]" in proc.stderr
    assert "Apply anyways? [y/N]" in proc.stdout
    assert installed.get(*MWC, "istio-revision-tag-prod") is None
    forced = run(istioctl, kubeconfig, "tag", "set", "prod", "--revision", "default", "-y")
    assert forced.returncode == 0, forced.stderr
    assert labels(installed.get(*MWC, "istio-revision-tag-prod"))["istio.io/rev"] == "default"


@pytest.mark.parametrize("messages, rc, shown", [
    ([], 0, None),
    ([{"code": "IST0136", "level": "Info", "message": "an info"}], 0, None),
    ([{"code": "IST0141", "level": "Warning", "message": "a warning"},
      {"code": "IST0136", "level": "Info", "message": "an info"}], 1, ["IST0141"]),
    ([{"code": "IST0002", "level": "Error", "message": "an error"}], 1, ["IST0002"]),
])
def test_precheck_json_shows_warnings_and_errors_only(cluster, kubeconfig, istioctl, messages, rc, shown):
    """istioctl/pkg/precheck/precheck.go: output threshold Warning; clean: nothing on stdout."""
    istioctl.configure(precheck=messages)
    proc = run(istioctl, kubeconfig, "x", "precheck", "-o", "json")
    assert proc.returncode == rc
    if shown is None:
        assert proc.stdout == "" and "No issues found" in proc.stderr
    else:
        assert [m["code"] for m in json.loads(proc.stdout)] == shown
        assert "Issues found when checking the cluster" in proc.stderr
