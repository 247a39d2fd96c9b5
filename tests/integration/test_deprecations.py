"""No Ansible deprecation warning comes from the collection's own calls (issue 28 item 5), on both legs: ansible-core
2.19 and the newest (pytest.ini's core_compat mark puts this file on the second leg too).

ansible-core 2.19 deprecated `warnings` (and `deprecations`) handed to exit_json / fail_json, to be removed in 2.23;
a refused traffic_split once passed its warnings that way. The harness turns deprecation warnings off for every
other test (conftest.ansible_env), so this play turns them back on and runs refusals, warnings and plain runs of
several modules in one ansible-playbook run."""

import pathlib
import subprocess
import sys

import pytest
import yaml

from builders import ambient_namespace, namespace, service
from conftest import GATEWAY_V151, ISTIO_CRDS, TESTS, ansible_env, seed_istio

pytestmark = [pytest.mark.integration, pytest.mark.core_compat]


def deployment(ns, name, labels):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "app", "image": "docker.io/istio/examples-helloworld"}]}}}}


def task(name, module, args, check=False):
    return {"name": name, module: args, "register": name.replace(" ", "_"), "ignore_errors": True, "check_mode": check}


# what each task must do, so that a task that stops failing (or warning) cannot leave the test passing for nothing
TASKS = [
    (task("split refused with warnings", "ambient.mesh.traffic_split", {"splits": [{
        "service": "helloworld", "namespace": "hello", "ports": [5000],
        "versions": [{"name": "v1", "weight": 95}, {"name": "v9", "weight": 5}, {"name": "v8", "weight": 0}]}],
        "require_waypoint": False}),
     "failed", "version v9 of hello/helloworld"),
    (task("split with a warning", "ambient.mesh.traffic_split", {"splits": [{
        "service": "helloworld", "namespace": "empty", "ports": [5000],
        "versions": [{"name": "v1", "weight": 95}, {"name": "v2", "weight": 5}]}], "require_waypoint": False}, check=True),
     "warned", "namespace empty has no Deployment or StatefulSet yet"),
    (task("probe refused", "ambient.mesh.traffic_probe", {"namespace": "hello", "pod_selector": "app=curl", "url": ""}),
     "failed", "url is empty"),
    (task("enroll refused", "ambient.mesh.ambient_namespace", {"namespaces": [{"name": "Hello"}]}),
     "failed", "'Hello' is not a namespace name"),
    (task("enroll with a warning", "ambient.mesh.ambient_namespace",
          {"namespaces": [{"name": "legacy"}], "migrate_sidecars": True, "check_dataplane": False}),
     "warned", "restart_workloads: true"),
    (task("mesh info", "ambient.mesh.mesh_info", {}), "ok", ""),
    (task("waypoint refused", "ambient.mesh.waypoint", {"waypoints": [{"namespace": "nowhere"}]}),
     "failed", "namespace nowhere does not exist"),
]


def test_no_deprecation_warning_from_the_collections_calls(cluster, kubeconfig, tmp_path):
    cluster.load_crds(GATEWAY_V151, ISTIO_CRDS)
    seed_istio(cluster)
    cluster.put(ambient_namespace("hello"))
    cluster.put(namespace("empty"))
    cluster.put(namespace("legacy", **{"istio-injection": "enabled"}))
    for ns in ("hello", "empty"):
        cluster.put(service(ns, "helloworld", selector={"app": "helloworld"}))
    cluster.put(deployment("hello", "helloworld-v1", {"app": "helloworld", "version": "v1"}))
    checks = [{"name": "check " + t["name"], "ansible.builtin.assert": {"fail_msg": "{{ %s | to_json }}" % t["register"], "that": [
        ("%s is failed" if outcome == "failed" else "%s is not failed") % t["register"]]
        + (["%s.msg is search(%r)" % (t["register"], text)] if outcome == "failed" else [])
        + (["%s.warnings | default([]) | select('search', %r) | list | length > 0" % (t["register"], text)]
           if outcome == "warned" else [])}} for t, outcome, text in TASKS]
    play = [{"hosts": "localhost", "gather_facts": False,
             "module_defaults": {"group/ambient.mesh.k8s": {"kubeconfig": kubeconfig}},
             "tasks": [t for t, _outcome, _text in TASKS] + checks}]
    book = pathlib.Path(tmp_path) / "deprecations.yml"
    book.write_text(yaml.safe_dump(play), encoding="utf-8")
    env = dict(ansible_env(), ANSIBLE_DEPRECATION_WARNINGS="1")
    binary = pathlib.Path(sys.executable).parent / "ansible-playbook"
    proc = subprocess.run([str(binary), "-i", "localhost,", "-c", "local", str(book)], capture_output=True, text=True,
                          env=env, timeout=600, check=False, cwd=str(TESTS))
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "failed=0" in output, output[-4000:]  # every check above held
    assert "[DEPRECATION WARNING]" not in output, output
