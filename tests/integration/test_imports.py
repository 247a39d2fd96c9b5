"""What a module run imports: the imports a run does not need stay out (each costs start-up time on every run).

The module's main() runs in a fresh interpreter against the test API server, with the collection on sys.path (as
the AnsiballZ payload has it); the test reads that interpreter's sys.modules after the run.
"""

import json
import subprocess
import sys

import pytest

from builders import namespace
from conftest import COLLECTIONS, seed_istio

pytestmark = [pytest.mark.integration, pytest.mark.core_compat]
MU = "ansible_collections.ambient.mesh.plugins.module_utils."

# The arguments go where AnsiballZ puts them (what ansible.module_utils.testing.patch_module_args does, without
# unittest.mock, which would import asyncio and concurrent.futures itself).
RUN_MAIN = r"""
import contextlib, importlib, io, json, sys
from ansible.module_utils import basic
module, args, out = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode()
basic._ANSIBLE_PROFILE = "legacy"
main = importlib.import_module("ansible_collections.ambient.mesh.plugins.modules." + module).main
answer = io.StringIO()
with contextlib.redirect_stdout(answer):
    try:
        main()
    except SystemExit:
        pass
with open(out, "w") as handle:
    json.dump({"result": json.loads(answer.getvalue()), "modules": sorted(sys.modules)}, handle)
"""


def run_main(module, args, tmp_path):
    """(the module's result, the modules its interpreter imported)."""
    out = tmp_path / "imports.json"
    proc = subprocess.run([sys.executable, "-c", RUN_MAIN, module, json.dumps(args), str(out)],
                          capture_output=True, text=True, timeout=300, env={"PYTHONPATH": str(COLLECTIONS)})
    assert proc.returncode == 0 and out.exists(), proc.stderr[-3000:]
    found = json.loads(out.read_text())
    return found["result"], set(found["modules"])


# Needed only to create namespaces, check the data plane before capturing pods, or restart workloads; and the
# thread pool only when there is more than nothing to do at once. (_wait is small and every result reports
# its waits, so every run imports it.)
LAZY_ON_NOOP = [MU + "_objects.apply", MU + "_istio.dataplane", MU + "_istio.state", MU + "_enrollment.restart",
                "concurrent.futures"]


def test_a_no_op_enrollment_imports_only_what_it_uses(cluster, kubeconfig, tmp_path):
    seed_istio(cluster)
    for name in ("hello", "test"):
        cluster.put(namespace(name, **{"istio.io/dataplane-mode": "ambient"}))
    args = {"kubeconfig": kubeconfig, "namespaces": [{"name": "hello"}, {"name": "test"}]}

    result, modules = run_main("ambient_namespace", args, tmp_path)
    assert result["changed"] is False and not result.get("failed"), result
    assert result["unchanged"] == ["hello", "test"]
    assert [m for m in LAZY_ON_NOOP if m in modules] == []
    assert "kubernetes" in modules  # the run did talk to the API server through the kubernetes client


def test_the_lazy_imports_load_when_a_run_needs_them(cluster, kubeconfig, tmp_path):
    """The same module, with something to create, check and restart: each lazily imported part is there."""
    seed_istio(cluster)
    cluster.put(namespace("hello"))
    cluster.put({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "hello"},
                 "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                          "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web"}]}}}})
    args = {"kubeconfig": kubeconfig, "restart_workloads": True,
            "namespaces": [{"name": "hello"}, {"name": "fresh", "create": True}]}

    result, modules = run_main("ambient_namespace", args, tmp_path)
    assert result["changed"] is True and not result.get("failed"), result
    assert result["restarted"] == ["Deployment hello/web"]
    assert cluster.get("v1", "Namespace", "fresh")["metadata"]["labels"]["istio.io/dataplane-mode"] == "ambient"
    assert [m for m in LAZY_ON_NOOP if m not in modules] == []
