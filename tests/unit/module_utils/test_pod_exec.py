"""traffic_probe's client pod: which pod and container it runs in, and the exec status channel."""

import json

import pytest

from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError
from ansible_collections.ambient.mesh.plugins.module_utils._kube.pod_exec import (
    _exit_code,
    _handshake_message,
    choose_container,
    choose_pod,
)


def pod(name, ready=True, phase="Running", containers=("curl",), running=None, annotations=None, deleting=False):
    running = containers if running is None else running
    meta = {"name": name, "namespace": "test", "labels": {"app": "curl"}, "annotations": annotations or {}}
    if deleting:
        meta["deletionTimestamp"] = "2026-11-23T10:00:00Z"
    return {"metadata": meta, "spec": {"containers": [{"name": c, "image": "curlimages/curl:8.16.0"} for c in containers]},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                       "containerStatuses": [{"name": c, "state": {"running": {}} if c in running else
                                              {"waiting": {"reason": "CrashLoopBackOff"}}} for c in containers]}}


class Pods:
    """What choose_pod reads: GET by name, LIST by selector (the selector itself is the server's job)."""

    def __init__(self, *pods):
        self.pods = list(pods)

    def get(self, api_version, kind, name, namespace):
        return next((p for p in self.pods if p["metadata"]["name"] == name), None)

    def list(self, api_version, kind, namespace, label_selector=None):
        return list(self.pods)


@pytest.mark.parametrize("pods, chosen", [
    ([pod("curl-b"), pod("curl-a")], "curl-a"),
    ([pod("curl-a", ready=False), pod("curl-b")], "curl-b"),
    ([pod("curl-a", deleting=True), pod("curl-c")], "curl-c"),
])
def test_the_first_ready_pod_by_name(pods, chosen):
    assert choose_pod(Pods(*pods), "test", selector="app=curl")["metadata"]["name"] == chosen


@pytest.mark.parametrize("pods, name, selector, words", [
    ([], None, "app=curl", "no pod in namespace test matches app=curl: deploy the client"),
    ([pod("curl-a", ready=False, phase="Pending")], None, "app=curl", "curl-a (Pending, not Ready)"),
    ([], "curl-x", None, "pod test/curl-x not found"),
])
def test_no_pod_says_why(pods, name, selector, words):
    with pytest.raises(AmbientMeshError, match=words.replace("(", r"\(").replace(")", r"\)")):
        choose_pod(Pods(*pods), "test", name=name, selector=selector)


@pytest.mark.parametrize("p, asked, chosen", [
    (pod("c", containers=("curl",)), None, "curl"),
    (pod("c", containers=("app", "curl")), "curl", "curl"),
    (pod("c", containers=("app", "curl"), annotations={"kubectl.kubernetes.io/default-container": "curl"}), None, "curl"),
])
def test_container(p, asked, chosen):
    assert choose_container(p, asked) == chosen


def test_a_missing_container_lists_the_pods_containers():
    with pytest.raises(AmbientMeshError, match="pod test/c has no container shell; its containers: app, curl"):
        choose_container(pod("c", containers=("app", "curl")), "shell")


def test_a_container_that_is_not_running():
    with pytest.raises(AmbientMeshError, match="container curl of pod test/c is not running .waiting: CrashLoopBackOff"):
        choose_container(pod("c", running=()), None)


def status(**fields):
    return json.dumps(dict({"metadata": {}}, **fields))


def test_exit_codes_from_the_status_channel():
    assert _exit_code(status(status="Success"), "x") == 0
    failure = status(status="Failure", reason="NonZeroExitCode", message="command terminated with non-zero exit code: 7",
                     details={"causes": [{"reason": "ExitCode", "message": "7"}]})
    assert _exit_code(failure, "x") == 7


def test_a_command_that_did_not_run_is_an_error_with_the_servers_message():
    not_found = status(status="Failure", reason="InternalError",
                       message='exec: "curl": executable file not found in $PATH: unknown')
    with pytest.raises(AmbientMeshError, match='exec in x failed: exec: "curl": executable file not found'):
        _exit_code(not_found, "x")
    with pytest.raises(AmbientMeshError, match="ended without a status"):
        _exit_code("", "x")


def test_a_refused_handshake_shows_the_servers_status_message():
    # websocket-client's WebSocketBadStatusException text, as kubernetes' websocket_call wraps it in ApiException
    from kubernetes.client.exceptions import ApiException

    body = json.dumps({"kind": "Status", "code": 400, "status": "Failure", "reason": "BadRequest",
                       "message": "container nope is not valid for pod curl-1"})
    exc = ApiException(status=0, reason="Handshake status 400 Bad Request -+-+- {'server': 'x'} -+-+- " + body)
    assert _handshake_message(exc) == "400 BadRequest: container nope is not valid for pod curl-1"
    assert _handshake_message(ApiException(status=0, reason="Connection refused")) == "Connection refused"
