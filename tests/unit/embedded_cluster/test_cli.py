"""Starting the embedded cluster by hand, as embedded_cluster/README.md documents it: `python -m embedded_cluster`
from the repository root, and scripts/embedded_cluster.sh start|status|stop DIR (what molecule's create and
destroy run)."""

import json
import os
import pathlib
import subprocess
import sys
import urllib.request

import yaml

from conftest import ROOT

SCRIPT = ROOT / "scripts" / "embedded_cluster.sh"


def test_python_m_embedded_cluster_help_names_its_options():
    proc = subprocess.run([sys.executable, "-m", "embedded_cluster", "--help"], cwd=str(ROOT),
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: python -m embedded_cluster")
    for option in ("--kubeconfig", "--port", "--crds", "--fail", "--outage"):
        assert option in proc.stdout


def test_the_script_starts_the_cluster_and_the_fake_istioctl_then_stops_it(tmp_path):
    env = dict(os.environ, PYTHON=sys.executable)

    def run(action):
        return subprocess.run(["bash", str(SCRIPT), action, str(tmp_path / "ec")], env=env,
                              capture_output=True, text=True, timeout=120, check=False)

    started = run("start")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        printed = dict(line.split("=", 1) for line in started.stdout.splitlines() if "=" in line and " " not in line)
        kubeconfig, istioctl = printed["kubeconfig"], printed["istioctl"]
        assert (kubeconfig, istioctl) == (str(tmp_path / "ec" / "kubeconfig"), str(tmp_path / "ec" / "bin" / "istioctl"))
        assert run("status").returncode == 0
        server = yaml.safe_load(pathlib.Path(kubeconfig).read_text())["clusters"][0]["cluster"]["server"]
        with urllib.request.urlopen(server + "/api/v1/namespaces", timeout=10) as resp:
            assert {i["metadata"]["name"] for i in json.loads(resp.read())["items"]} == {"default", "kube-system"}
        # the fake istioctl runs from embedded_cluster/fake_istioctl with the interpreter it was given
        version = subprocess.run([istioctl, "version", "--remote=false", "-o", "json"],
                                 capture_output=True, text=True, timeout=60, check=False)
        assert version.returncode == 0, version.stderr
        assert json.loads(version.stdout)["clientVersion"]["version"] == "1.30.3"
        # a second start keeps the running server
        again = run("start")
        assert again.returncode == 0 and "running already" in again.stdout, again.stdout + again.stderr
    finally:
        stopped = run("stop")
    assert stopped.returncode == 0 and "stopped the embedded test cluster" in stopped.stdout, stopped.stdout
    assert run("status").returncode == 1
    assert not (tmp_path / "ec" / "kubeconfig").exists()
