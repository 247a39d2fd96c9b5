"""istio_install: bad inputs refused before anything runs, and faults that end with a re-run converging."""

import os
import pathlib
import time

import pytest
import yaml

from embedded_cluster import fake_istioctl
from builders import ambient_namespace
from failure_matrix.conftest import Case

pytestmark = [pytest.mark.integration, pytest.mark.core_compat]
MODULE = "ambient.mesh.istio_install"


alive = fake_istioctl.alive


def install_args(**extra):
    return lambda m: dict({"istioctl_path": m.istioctl.path, "version": "1.30.3", "wait_timeout": 20}, **extra)


def refused(case_id, fragment, no_istioctl=True, setup=None, **extra):
    return Case(case_id, MODULE, install_args(**extra), fragment, setup=setup, no_istioctl=no_istioctl)


def installed(m):
    m.playbook.run(MODULE, install_args()(m))


BAD_INPUTS = [
    # argument injection (issue 11 item 11): refused before any request and any istioctl call
    refused("tag-is-a-flag", "tag '--overwrite' is not a valid name", tag="--overwrite"),
    refused("revision-with-a-blank", "revision 'a b' is not a valid name", revision="a b"),
    refused("revision-uppercase", "revision 'Canary' is not a valid name", revision="Canary"),
    refused("revision-is-a-flag", "revision '--purge' is not a valid name", revision="--purge"),
    refused("tag-too-long", "is not a valid name", tag="t" * 64),
    refused("version-not-a-version", "version 'latest' is not an Istio version", version="latest"),
    refused("set-key-is-a-flag", "set key '--dry-run' is not an istioctl --set path", set={"--dry-run": "true"}),
    refused("set-key-with-equals", "set key 'a=b' is not an istioctl --set path", set={"a=b": "c"}),
    refused("set-profile", "set profile is not allowed", set={"profile": "demo"}),
    refused("set-value-multiline", "the value must be a single-line", set={"values.global.hub": "a\n--set x=y"}),
    refused("values-file-missing", "values file /nonexistent/values.yaml does not exist",
            values_files=["/nonexistent/values.yaml"]),
    refused("istioctl-timeout-zero", "istioctl_timeout must be a positive number", istioctl_timeout=0),
    refused("several-problems-at-once", ["tag '-y' is not a valid name", "revision 'A' is not a valid name"],
            tag="-y", revision="A"),
    Case("istioctl-path-is-a-directory", MODULE, lambda m: dict(install_args()(m), istioctl_path=str(m.tmp_path)),
         "is a directory: give the path of the istioctl binary in it", no_istioctl=True),
    # refusals after reading istioctl's version or the cluster
    refused("version-mismatch", "is version 1.30.3, but version 1.31.0 was asked for", no_istioctl=False,
            version="1.31.0"),
    refused("version-mismatch-with-v", "is version 1.30.3, but version 1.31.0 was asked for", no_istioctl=False,
            version="v1.31.0"),
    refused("precheck-warning", "IST0141", no_istioctl=False, precheck=True,
            setup=lambda m: m.istioctl.configure(precheck=[{"code": "IST0141", "level": "Warning",
                                                            "message": "Insufficient permissions"}])),
    refused("uninstall-while-enrolled", "namespace hello", no_istioctl=False, state="absent",
            setup=lambda m: (installed(m), m.cluster.put(ambient_namespace("hello")))),
]


@pytest.mark.parametrize("case", BAD_INPUTS, ids=lambda c: c.id)
def test_bad_input_is_refused_before_any_change(matrix, case):
    matrix.check(case)


def restore_ztunnel(m):
    m.cluster.set_readiness("DaemonSet", "istio-system", "ztunnel", 0)
    ds = m.cluster.get("apps/v1", "DaemonSet", "ztunnel", "istio-system")
    ds.pop("status")
    ds["spec"]["template"]["metadata"].setdefault("annotations", {})["restarted"] = "1"
    m.cluster.put(ds, manager="kubectl-rollout")  # the node came back; the pods roll


def nothing_of_the_hung_istioctl_survives(m, failed):
    pids = fake_istioctl.hung(m.istioctl.home)
    assert len(pids) == 2, pids  # the fake and the child it started
    assert not [p for p in pids if alive(p)], "istioctl outlived its deadline"
    assert failed["subcommand"] == "install" and failed["timed_out"] is True and failed["deadline"] == 8


def changes_named(m, failed):
    assert failed["changes"][0].startswith("istioctl install was started (install: no istiod")
    assert "before this failure: istioctl install was started" in failed["msg"]
    # like every module's result, failed or not: the wait that failed, and what the API layer retried
    assert failed["waits"][-1]["what"] == "istiod, ztunnel and istio-cni of revision default to be ready"
    assert failed["waits"][-1]["met"] is False and failed["waits"][-1]["polls"] >= 2, failed["waits"]
    assert failed["retries"] == {"count": 0, "by_reason": {}, "seconds": 0.0}


FAULTS = [
    # item 1: a hung istioctl install (ignoring SIGTERM, with a child) is stopped at its deadline
    # (8 s: the re-run's real install must fit in it on a loaded 2-core machine)
    Case("install-hangs", MODULE, install_args(istioctl_timeout=8),
         ["istioctl install did not finish within its deadline of 8 s", "raise istioctl_timeout or wait_timeout"],
         setup=lambda m: m.istioctl.configure(hang={"install": {"child": True, "ignore_term": True}}),
         expect="converges", changed=True, fix=lambda m: m.istioctl.configure(hang={}),
         then=nothing_of_the_hung_istioctl_survives),
    # item 3: istioctl install ran, then the wait failed: the failed result says what changed
    Case("install-then-wait-fails", MODULE, install_args(wait_timeout=3), "ztunnel istio-system/ztunnel 0/3 ready",
         setup=lambda m: m.cluster.set_readiness("DaemonSet", "istio-system", "ztunnel", None),
         expect="converges", changed=True, fix=restore_ztunnel, then=changes_named),
    Case("install-fails", MODULE, install_args(), "webhook timeout",
         setup=lambda m: m.istioctl.configure(fail={"install": {"rc": 1, "stderr": "Error: webhook timeout"}}),
         expect="converges", changed=True, fix=lambda m: m.istioctl.configure(fail={}),
         then=lambda m, failed: (failed["subcommand"], failed["timed_out"]) == ("install", False) or pytest.fail(failed)),
]


@pytest.mark.parametrize("case", FAULTS, ids=lambda c: c.id)
def test_fault_reports_what_changed_and_a_rerun_converges(matrix, case):
    matrix.check(case)


def test_a_hung_istioctl_version_is_named_and_stopped(matrix):
    failed = matrix.check(Case("version-hangs", MODULE, install_args(istioctl_timeout=2),
                               "istioctl version did not finish within its deadline of 2 s", no_istioctl=False,
                               setup=lambda m: m.istioctl.configure(hang={"version": {}})))
    assert failed["changed"] is False  # nothing that changes the cluster was started
    assert not [p for p in fake_istioctl.hung(matrix.istioctl.home) if alive(p)]


def test_istioctl_dies_with_the_task_under_ansible_timeout(cluster, kubeconfig, istioctl, tmp_path, short_tmpdir):
    """ansible-core's `timeout:` does not signal the module (it stops reading it): istioctl must still go,
    long before its own deadline, and the temporary kubeconfig with it."""
    from conftest import run_playbook

    short = short_tmpdir
    istioctl.configure(hang={"install": {"child": True}})
    args = dict(install_args()(type("M", (), {"istioctl": istioctl})), kubeconfig=yaml.safe_load(open(kubeconfig)))
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "under test", MODULE: args, "timeout": 5, "ignore_errors": True, "register": "result"}]}]
    book = tmp_path / "timeout.yml"
    book.write_text(yaml.safe_dump(play))
    started = time.time()
    proc = run_playbook(book)
    assert "Timed out after 5 second(s)" in proc.stdout or "timed out" in proc.stdout.lower(), proc.stdout
    pids = fake_istioctl.hung(istioctl.home)
    assert len(pids) == 2
    deadline = time.time() + 10  # the module polls every 0.5 s, then SIGTERM and up to 5 s of grace
    while time.time() < deadline and [p for p in pids if alive(p)]:
        time.sleep(0.2)
    assert not [p for p in pids if alive(p)], "istioctl outlived the task (%.0f s after start)" % (time.time() - started)
    deadline = time.time() + 5
    while time.time() < deadline and list(short.glob("ambient-mesh-*")):
        time.sleep(0.2)
    assert list(short.glob("ambient-mesh-*")) == []


def test_sigterm_stops_istioctl_and_removes_the_temporary_kubeconfig(cluster, kubeconfig, istioctl, tmp_path,
                                                                      short_tmpdir):
    """What AWX does to cancel a job: SIGTERM to the module while istioctl install hangs. The module stops istioctl
    with its child, removes the temporary kubeconfig (it held the bearer token) and fails saying so, with
    changed: true (an install had started)."""
    import json
    import signal
    import subprocess
    import sys

    from conftest import TESTS, ansible_env

    istioctl.configure(hang={"install": {"child": True}})
    args = dict(install_args()(type("M", (), {"istioctl": istioctl})), kubeconfig=yaml.safe_load(open(kubeconfig)))
    book = tmp_path / "sigterm.yml"
    book.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": [
        {"name": "under test", MODULE: args, "ignore_errors": True, "register": "result"}]}]))
    result_file = tmp_path / "result.json"
    env = dict(ansible_env(), ANSIBLE_CALLBACK_PLUGINS=str(TESTS / "callback_plugins"),
               ANSIBLE_CALLBACKS_ENABLED="keep_result", AMBIENT_MESH_TEST_RESULT=str(result_file))
    proc = subprocess.Popen([str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c",
                             "local", str(book)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and len(fake_istioctl.hung(istioctl.home)) < 2:
            time.sleep(0.2)
        pids = fake_istioctl.hung(istioctl.home)
        assert len(pids) == 2, "istioctl install never started"
        assert list(short_tmpdir.glob("ambient-mesh-*")), "no temporary kubeconfig while istioctl runs"
        with open("/proc/%d/stat" % pids[0]) as handle:
            module_pid = int(handle.read().rsplit(")", 1)[1].split()[1])  # the fake's parent: the module
        os.kill(module_pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    result = json.loads(result_file.read_text())
    assert result["failed"] is True and result["changed"] is True, out
    assert "istio_install was stopped by signal 15; istioctl was stopped with it and the temporary kubeconfig removed" \
        in result["msg"]
    assert [call[0] for call in result["istioctl_calls"]][-1] == "install", result["istioctl_calls"]
    assert not [p for p in pids if alive(p)], "istioctl outlived the module"
    assert list(short_tmpdir.glob("ambient-mesh-*")) == []
