"""istio_install through ansible-playbook, with the fake istioctl and the test API server."""

import subprocess

import pytest
import yaml

from embedded_cluster import fake_istioctl
from builders import ambient_namespace, waypoint
from conftest import GATEWAY_V151, seed_istio
from embedded_cluster.fake_istioctl import rendered

pytestmark = pytest.mark.integration


def installed(cluster):
    deps = {d["metadata"]["name"]: d for d in cluster.list("apps/v1", "Deployment", "istio-system")}
    ds = {d["metadata"]["name"]: d for d in cluster.list("apps/v1", "DaemonSet", "istio-system")}
    return deps, ds


def run_istioctl(istioctl, kubeconfig, *argv, answer=""):
    """The fake istioctl run by hand, as a person following the module's advice would."""
    return subprocess.run([istioctl.path, *argv, "--kubeconfig", kubeconfig], input=answer, capture_output=True,
                          text=True, timeout=120, check=False)


def args(istioctl, **extra):
    return dict({"istioctl_path": istioctl.path, "version": "1.30.3", "wait_timeout": 20}, **extra)


def test_four_step_idempotence(cluster, playbook, istioctl):
    check = playbook.run("ambient.mesh.istio_install", args(istioctl), check=True, diff=True)
    assert check["changed"] is True and check["action"] == "install", check.get("msg")
    assert check["diff"][0]["before"] == {} and check["diff"][0]["after"]["version"] == "1.30.3"
    assert "install" not in istioctl.subcommands() and "manifest generate" in istioctl.subcommands()
    assert installed(cluster) == ({}, {})

    run = playbook.run("ambient.mesh.istio_install", args(istioctl))
    assert run["changed"] is True and run["action"] == "install", run.get("msg")
    assert [c["component"] for c in run["components"]] == ["istiod", "ztunnel", "istio-cni"]
    assert all(c["ready"] for c in run["components"])
    deps, ds = installed(cluster)
    assert set(deps) == {"istiod"} and set(ds) == {"ztunnel", "istio-cni-node"}
    istiod = deps["istiod"]
    assert istiod["metadata"]["labels"]["operator.istio.io/component"] == "Pilot"
    assert istiod["metadata"]["labels"]["operator.istio.io/version"] == "1.30.3"
    assert "istio-operator" in [m["manager"] for m in istiod["metadata"]["managedFields"]]
    install_calls = [a for a in istioctl.calls() if a[0] == "install"]
    assert len(install_calls) == 1 and "-y" in install_calls[0] and "profile=ambient" in install_calls[0]

    mark = istioctl.mark()
    again_check = playbook.run("ambient.mesh.istio_install", args(istioctl), check=True)
    again = playbook.run("ambient.mesh.istio_install", args(istioctl))
    assert again_check["changed"] is False and again["changed"] is False
    assert again["action"] is None and "installed as asked" in again["reason"]
    assert "install" not in istioctl.subcommands(mark)


def test_upgrade_from_one_version_to_another(cluster, playbook, istioctl):
    istioctl.configure(version="1.29.2")
    playbook.run("ambient.mesh.istio_install", args(istioctl, version="1.29.2"))
    istioctl.configure(version="1.30.3")
    check = playbook.run("ambient.mesh.istio_install", args(istioctl), check=True, diff=True)
    assert check["action"] == "upgrade" and check["version"] == {"before": "1.29.2", "after": "1.30.3"}
    assert check["diff"][0]["before"]["version"] == "1.29.2" and check["diff"][0]["after"]["version"] == "1.30.3"
    run = playbook.run("ambient.mesh.istio_install", args(istioctl))
    assert run["changed"] and run["action"] == "upgrade"
    deps, ds = installed(cluster)
    assert deps["istiod"]["metadata"]["labels"]["operator.istio.io/version"] == "1.30.3"
    assert ds["ztunnel"]["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":1.30.3-distroless")


def test_revision_side_by_side_and_tag_move(cluster, playbook, istioctl):
    istioctl.configure(version="1.29.2")
    playbook.run("ambient.mesh.istio_install", args(istioctl, version="1.29.2", tag="default"))
    assert cluster.get("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration",
                       "istio-revision-tag-default")["metadata"]["labels"]["istio.io/rev"] == "default"
    istioctl.configure(version="1.30.3")
    canary = playbook.run("ambient.mesh.istio_install", args(istioctl, revision="1-30-3"))
    assert canary["action"] == "install" and canary["tag_moved"] is None
    deps, _ds = installed(cluster)
    assert set(deps) == {"istiod", "istiod-1-30-3"}
    assert deps["istiod"]["metadata"]["labels"]["operator.istio.io/version"] == "1.29.2"

    moved = playbook.run("ambient.mesh.istio_install", args(istioctl, revision="1-30-3", tag="default"))
    assert moved["changed"] is True and moved["action"] is None
    assert moved["tag_moved"] == {"from": "default", "to": "1-30-3"}
    assert cluster.get("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration",
                       "istio-revision-tag-default")["metadata"]["labels"]["istio.io/rev"] == "1-30-3"
    tag_calls = [a for a in istioctl.calls() if a[:2] == ["tag", "set"]]
    assert tag_calls and all("-y" in a for a in tag_calls)  # never left to a prompt nobody answers
    assert playbook.run("ambient.mesh.istio_install", args(istioctl, revision="1-30-3", tag="default"))["changed"] is False

    old_gone = playbook.run("ambient.mesh.istio_install", args(istioctl, state="absent", revision="default"))
    assert old_gone["changed"] is True, old_gone.get("msg")
    deps, _ds = installed(cluster)
    assert set(deps) == {"istiod-1-30-3"}


def test_uninstall_refused_while_enrolled_then_forced(cluster, playbook, istioctl):
    playbook.run("ambient.mesh.istio_install", args(istioctl))
    cluster.load_crds(GATEWAY_V151)
    cluster.put(ambient_namespace("hello", waypoint="waypoint"))
    cluster.put(waypoint("hello"))
    mark = istioctl.mark()
    refused = playbook.run("ambient.mesh.istio_install", args(istioctl, state="absent", purge=True), fails="namespace hello")
    assert refused["failed"] is True
    assert "namespace hello" in refused["msg"] and "waypoint hello/waypoint" in refused["msg"]
    assert "uninstall" not in istioctl.subcommands(mark)
    check = playbook.run("ambient.mesh.istio_install", args(istioctl, state="absent", purge=True, force=True),
                         check=True)
    assert check["changed"] is True and installed(cluster)[0]
    gone = playbook.run("ambient.mesh.istio_install", args(istioctl, state="absent", purge=True, force=True))
    assert gone["changed"] is True
    assert installed(cluster) == ({}, {})
    assert cluster.get("apiextensions.k8s.io/v1", "CustomResourceDefinition",
                       "virtualservices.networking.istio.io") is None
    again = playbook.run("ambient.mesh.istio_install", args(istioctl, state="absent", purge=True, force=True))
    assert again["changed"] is False


def test_precheck_warnings_are_surfaced_by_name(cluster, playbook, istioctl):
    istioctl.configure(precheck=[{"code": "IST0141", "level": "Warning", "origin": "Deployment default/legacy",
                                  "message": "Insufficient permissions to install Istio"}])
    result = playbook.run("ambient.mesh.istio_install", args(istioctl, precheck=True), fails="IST0141")
    assert result["failed"] is True
    assert "IST0141" in result["msg"] and "Insufficient permissions to install Istio" in result["msg"]
    assert "install" not in istioctl.subcommands()


@pytest.mark.parametrize("extra, fragment", [
    ({"istioctl_path": "/nonexistent/istioctl"}, "istioctl_path /nonexistent/istioctl is not an executable file"),
    ({"version": "1.31.0"}, "is version 1.30.3, but version 1.31.0 was asked for"),
])
def test_istioctl_missing_or_wrong_version(cluster, playbook, istioctl, extra, fragment):
    result = playbook.run("ambient.mesh.istio_install", dict(args(istioctl), **extra), fails=fragment)
    assert result["failed"] is True and fragment in result["msg"]
    assert installed(cluster) == ({}, {})


def test_istioctl_not_on_path(cluster, playbook, istioctl):
    result = playbook.run("ambient.mesh.istio_install", {"version": "1.30.3"}, fails="istioctl was not found on PATH")
    assert result["failed"] is True and "istioctl was not found on PATH" in result["msg"]


def test_failing_install_shows_stderr_and_a_rerun_converges(cluster, playbook, istioctl):
    istioctl.configure(fail={"install": {"rc": 1, "stderr": "Error: failed to install manifests: webhook timeout"}})
    failed = playbook.run("ambient.mesh.istio_install", args(istioctl), fails="webhook timeout")
    assert failed["failed"] is True and "webhook timeout" in failed["msg"] and failed["rc"] == 1
    assert failed["stderr"].startswith("Error: failed to install manifests")
    istioctl.configure(fail={})
    fixed = playbook.run("ambient.mesh.istio_install", args(istioctl))
    assert fixed["changed"] is True and not fixed.get("failed")
    assert playbook.run("ambient.mesh.istio_install", args(istioctl))["changed"] is False


def test_component_never_ready_names_it_and_a_rerun_finishes(cluster, playbook, istioctl):
    cluster.set_readiness("DaemonSet", "istio-system", "ztunnel", None)
    timed_out = playbook.run("ambient.mesh.istio_install", args(istioctl, wait_timeout=3),
                             fails="ztunnel istio-system/ztunnel 0/3 ready")
    assert timed_out["failed"] is True
    assert "ztunnel istio-system/ztunnel 0/3 ready" in timed_out["msg"]
    cluster.set_readiness("DaemonSet", "istio-system", "ztunnel", 0)
    ds = cluster.get("apps/v1", "DaemonSet", "ztunnel", "istio-system")
    ds.pop("status")
    ds["spec"]["template"]["metadata"].setdefault("annotations", {})["restarted"] = "1"
    cluster.put(ds, manager="kubectl-rollout")  # the node came back; the pods roll
    rerun = playbook.run("ambient.mesh.istio_install", args(istioctl))
    assert not rerun.get("failed"), rerun.get("msg")
    assert playbook.run("ambient.mesh.istio_install", args(istioctl))["changed"] is False


def test_changed_settings_reinstall_and_bad_settings_fail_in_check_mode(cluster, playbook, istioctl):
    playbook.run("ambient.mesh.istio_install", args(istioctl))
    changed = playbook.run("ambient.mesh.istio_install",
                           args(istioctl, set={"values.pilot.env.PILOT_ENABLE_ALPHA_GATEWAY_API": "true"}))
    assert changed["action"] == "reconfigure" and "settings" in changed["reason"]
    env = cluster.get("apps/v1", "Deployment", "istiod", "istio-system")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "PILOT_ENABLE_ALPHA_GATEWAY_API", "value": "true"} in env
    bad = playbook.run("ambient.mesh.istio_install", args(istioctl, set={"bogus.key": "1"}), check=True,
                       fails='unknown field "bogus.key"')
    assert bad["failed"] is True and 'unknown field "bogus.key"' in bad["msg"]


def test_uninstall_returns_only_when_istiod_ztunnel_and_istio_cni_are_gone(cluster, playbook, istioctl):
    playbook.run("ambient.mesh.istio_install", args(istioctl))
    # istioctl deletes in the foreground; the pods take a while to stop, ztunnel and istio-cni longest
    cluster.set_termination_delay(1, kind="Deployment")
    cluster.set_termination_delay(5, kind="DaemonSet")
    mark = cluster.mark()
    gone = playbook.run("ambient.mesh.istio_install", args(istioctl, state="absent", purge=True))
    assert gone["changed"] is True
    assert installed(cluster) == ({}, {})  # gone when the module returns, not some time later
    foreground = [e["name"] for e in cluster.writes(mark) if e["verb"] == "delete"
                  and e["params"].get("propagationPolicy") == "Foreground"
                  and e["resource"] in ("deployments.apps", "daemonsets.apps")]
    assert sorted(foreground) == ["istio-cni-node", "istiod", "ztunnel"]


def test_uninstall_that_does_not_finish_names_what_is_still_there(cluster, playbook, istioctl):
    playbook.run("ambient.mesh.istio_install", args(istioctl))
    cluster.set_termination_delay(60)
    slow = playbook.run("ambient.mesh.istio_install", args(istioctl, state="absent", revision="default",
                                                           wait_timeout=2),
                        fails=["Istio revision default to be removed", "still there: istiod istio-system/istiod, "
                               "ztunnel istio-system/ztunnel, istio-cni istio-system/istio-cni-node"])
    assert slow["failed"] is True


@pytest.mark.parametrize("installer", ["istioctl", "helm"])
def test_an_install_with_istios_real_labels_is_recognised_and_adopted_once(cluster, playbook, istioctl, installer):
    """istiod, ztunnel and istio-cni from Istio's rendered files, with istioctl's labels or the charts'
    only (Helm: no operator.istio.io/version, images tagged 1.30.3-distroless)."""
    seed_istio(cluster, installer=installer)
    check = playbook.run("ambient.mesh.istio_install", args(istioctl), check=True, diff=True)
    # version, revision and profile are recognised: only the settings record of the collection is missing
    assert check["action"] == "reconfigure", check["reason"]
    assert check["reason"] == "the settings (set, values files) differ from the last install"
    assert check["version"]["before"] == "1.30.3"
    assert check["diff"][0]["before"]["profile"] == "ambient"
    assert check["diff"][0]["before"]["components"] == {"istiod": "istiod", "ztunnel": True, "istio-cni": True}
    playbook.run("ambient.mesh.istio_install", args(istioctl))
    mark = istioctl.mark()
    again = playbook.run("ambient.mesh.istio_install", args(istioctl))
    assert again["changed"] is False and again["action"] is None, again["reason"]
    assert "install" not in istioctl.subcommands(mark)


def test_uninstalling_the_revision_that_carries_ztunnel_is_refused_while_another_stays(cluster, kubeconfig, playbook,
                                                                                       istioctl):
    istioctl.configure(version="1.29.2")
    playbook.run("ambient.mesh.istio_install", args(istioctl, version="1.29.2"))
    istioctl.configure(version="1.30.3")
    playbook.run("ambient.mesh.istio_install", args(istioctl, revision="1-30-3"))
    deps, ds = installed(cluster)
    assert set(deps) == {"istiod", "istiod-1-30-3"}
    # the last install labels the shared data plane with its revision (install.go getOwnerLabels)
    assert {d["metadata"]["labels"]["istio.io/rev"] for d in ds.values()} == {"1-30-3"}

    mark, imark = cluster.mark(), istioctl.mark()
    for check in (True, False):
        refused = playbook.run("ambient.mesh.istio_install", args(istioctl, state="absent", revision="1-30-3"),
                               check=check, fails=["refusing to uninstall revision 1-30-3",
                                                   "ztunnel istio-system/ztunnel and istio-cni istio-system/istio-cni-node",
                                                   "istiod of revision default stays",
                                                   "`istioctl install -y --set profile=ambient`", "(1.29.2)",
                                                   "purge: true"])
        assert refused["surviving_revisions"] == ["default"]
    assert "uninstall" not in istioctl.subcommands(imark)
    assert cluster.writes(mark) == []
    assert set(installed(cluster)[1]) == {"ztunnel", "istio-cni-node"}

    # what the message says: move the data plane to the revision that stays, then uninstall
    istioctl.configure(version="1.29.2")
    moved = run_istioctl(istioctl, kubeconfig, "install", "-y", "--set", "profile=ambient")
    assert moved.returncode == 0, moved.stderr
    assert {d["metadata"]["labels"]["istio.io/rev"] for d in installed(cluster)[1].values()} == {"default"}
    gone = playbook.run("ambient.mesh.istio_install", args(istioctl, state="absent", revision="1-30-3"))
    assert gone["changed"] is True
    deps, ds = installed(cluster)
    assert set(deps) == {"istiod"} and set(ds) == {"ztunnel", "istio-cni-node"}


def test_a_tag_that_does_not_point_at_the_revision_after_tag_set_fails(cluster, playbook, istioctl):
    playbook.run("ambient.mesh.istio_install", args(istioctl))
    # a second control plane (namespace istio-other) has a tag of the same name: its webhook is named
    # istio-revision-tag-<tag>-<namespace> (templates/revision-tags-mwc.yaml) and tag set leaves it alone
    other = rendered.tag_webhook("prod", "other", "1.30.3")
    other["metadata"]["name"] = "istio-revision-tag-prod-istio-other"
    cluster.put(other)
    failed = playbook.run("ambient.mesh.istio_install", args(istioctl, tag="prod"),
                          fails=["istioctl tag set prod --revision default finished, but the tag does not point at "
                                 "revision default", "istio-revision-tag-prod-istio-other (istio.io/rev=other)"])
    assert failed["webhooks"] == ["istio-revision-tag-prod-istio-other (istio.io/rev=other)"]
    assert cluster.get("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration",
                       "istio-revision-tag-prod")["metadata"]["labels"]["istio.io/rev"] == "default"


def test_v_prefixed_version_is_the_same_version(cluster, playbook, istioctl):
    run = playbook.run("ambient.mesh.istio_install", args(istioctl, version="v1.30.3"))
    assert run["changed"] is True and run["version"]["after"] == "1.30.3"
    assert playbook.run("ambient.mesh.istio_install", args(istioctl, version="v1.30.3"))["changed"] is False


def test_a_tag_reaches_istioctl_after_double_dash(cluster, playbook, istioctl):
    playbook.run("ambient.mesh.istio_install", args(istioctl, tag="prod"))
    (tag_call,) = [a for a in istioctl.calls() if a[:2] == ["tag", "set"]]
    assert tag_call[-2:] == ["--", "prod"]  # after every flag, the kubeconfig's included


def inline_kubeconfig(kubeconfig):
    """The kubeconfig as a dict (as a vault or AWX credential may hand it over): istioctl needs a file."""
    with open(kubeconfig) as handle:
        return yaml.safe_load(handle)


@pytest.mark.core_compat
@pytest.mark.parametrize("outcome", ["success", "failure", "timeout", "istioctl_path is a directory"])
def test_the_temporary_kubeconfig_is_private_and_removed(cluster, kubeconfig, playbook, istioctl, tmp_path, short_tmpdir,
                                                         outcome):
    tmp = short_tmpdir  # where the module's tempfile.mkdtemp writes
    extra = {"kubeconfig": inline_kubeconfig(kubeconfig)}
    fails = None
    if outcome == "failure":
        istioctl.configure(fail={"install": {"rc": 1, "stderr": "Error: webhook timeout"}})
        fails = "webhook timeout"
    elif outcome == "timeout":
        istioctl.configure(hang={"install": {}})
        extra["istioctl_timeout"] = 2
        fails = "istioctl install did not finish within its deadline of 2 s"
    elif outcome == "istioctl_path is a directory":
        extra["istioctl_path"] = str(tmp_path)
        fails = "is a directory"
    playbook.run("ambient.mesh.istio_install", args(istioctl, **extra), fails=fails)
    written = [r for r in fake_istioctl.records(istioctl.home) if r.get("kubeconfig")]
    if outcome != "istioctl_path is a directory":
        assert written and all(r["kubeconfig"].startswith(str(tmp) + "/ambient-mesh-") for r in written)
        assert {(r["kubeconfig_mode"], r["kubeconfig_dir_mode"]) for r in written} == {("0o600", "0o700")}
    # nothing left behind with the token in it (kubernetes.core keeps its API discovery cache, k8srcp-*.json,
    # in the same directory: resource lists, no credentials)
    assert list(tmp.glob("ambient-mesh-*")) == []
    assert all(p.name.startswith("k8srcp-") for p in tmp.iterdir()), list(tmp.iterdir())
