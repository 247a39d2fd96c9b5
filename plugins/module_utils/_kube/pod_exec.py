# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run a command in a pod's container through the pods/exec subresource, as kubernetes.core's
k8s_exec does: the kubernetes client's stream() over a WebSocket, stdout and stderr kept apart, the
exit code read from the status channel (channel 3)."""


import collections
import json
import time

from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError

from ansible_collections.ambient.mesh.plugins.module_utils._kube.imports import ApiException, CoreException, core_v1_api, get_api_client, stream


ExecOutput = collections.namedtuple("ExecOutput", "stdout stderr exit_code")

# kubectl's annotation naming the container `kubectl exec` picks when none is given
# (k8s.io/kubectl/pkg/cmd/util/podcmd: DefaultContainerAnnotationName)
DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"
ERROR_CHANNEL = 3


def core_api_for(module):
    """A CoreV1Api over the same kubernetes.core client (kubeconfig, context, auth) as KubeApi: the
    client is cached per set of connection options, so this is the connection KubeApi already made."""
    try:
        return core_v1_api(get_api_client(module=module).client.client)
    except CoreException as exc:
        raise AmbientMeshError("cannot connect to Kubernetes: %s" % exc)


def _ready(pod):
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _state(pod):
    status = pod.get("status") or {}
    return "%s%s" % (status.get("phase") or "no phase", ", Ready" if _ready(pod) else ", not Ready")


def choose_pod(api, namespace, name=None, selector=None):
    """The named pod, or the first Ready pod by name among those the label selector matches."""
    if name:
        pod = api.get("v1", "Pod", name, namespace)
        if pod is None:
            raise AmbientMeshError("pod %s/%s not found: name a running client pod (kubectl get pods -n %s), or "
                                   "use pod_selector" % (namespace, name, namespace))
        return pod
    pods = api.list("v1", "Pod", namespace, label_selector=selector)
    if not pods:
        raise AmbientMeshError("no pod in namespace %s matches %s: deploy the client first (playbooks/lab.yml "
                               "deploys curl in namespace test) or fix pod_selector" % (namespace, selector))
    pods.sort(key=lambda p: p["metadata"]["name"])
    ready = [p for p in pods if _ready(p) and not p["metadata"].get("deletionTimestamp")]
    if not ready:
        raise AmbientMeshError("no Ready pod in namespace %s matches %s: %s; wait for the rollout" % (
            namespace, selector, ", ".join("%s (%s)" % (p["metadata"]["name"], _state(p)) for p in pods)))
    return ready[0]


def choose_container(pod, container=None):
    """The container to run in: the one asked for, else kubectl's default (annotation, else the first);
    it must be running."""
    meta = pod["metadata"]
    names = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
    ref = "%s/%s" % (meta.get("namespace"), meta["name"])
    if container is None:
        container = (meta.get("annotations") or {}).get(DEFAULT_CONTAINER) or (names[0] if names else None)
    if container not in names:
        raise AmbientMeshError("pod %s has no container %s; its containers: %s" % (ref, container, ", ".join(names)),
                               containers=names)
    statuses = dict((s.get("name"), s) for s in (pod.get("status") or {}).get("containerStatuses") or [])
    state = (statuses.get(container) or {}).get("state") or {}
    if "running" not in state:
        how = ["%s: %s" % (k, (v or {}).get("reason") or "") for k, v in state.items()] or ["no status yet"]
        raise AmbientMeshError("container %s of pod %s is not running (%s; pod %s): wait for it or choose another pod"
                               % (container, ref, "; ".join(how), _state(pod)))
    return container


def _exit_code(status_text, where):
    """0, or the exit code of the status channel's Failure/NonZeroExitCode (the kubernetes client's
    WSClient.returncode reads it the same way); any other Failure means the command did not run."""
    if not status_text:
        raise AmbientMeshError("exec in %s ended without a status: the connection to the API server was cut" % where)
    try:
        status = json.loads(status_text)
    except ValueError:
        raise AmbientMeshError("exec in %s: unreadable status %r" % (where, status_text))
    if status.get("status") == "Success":
        return 0
    if status.get("reason") == "NonZeroExitCode":
        for cause in (status.get("details") or {}).get("causes") or []:
            if cause.get("reason") == "ExitCode":
                return int(cause["message"])
    raise AmbientMeshError("exec in %s failed: %s" % (where, status.get("message") or status_text), exec_status=status)


def _handshake_message(exc):
    """The API server's Status message from a refused WebSocket handshake; websocket-client reports it as
    "Handshake status 400 Bad Request -+-+- {headers} -+-+- {body}" (websocket/_handshake.py)."""
    text = str(getattr(exc, "reason", None) or exc)
    body = text.rsplit(" -+-+- ", 1)[-1]
    try:
        status = json.loads(body)
        return "%s %s: %s" % (status.get("code"), status.get("reason"), status["message"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return text


def run_in_pod(core, pod, container, argv, deadline_seconds, clock=time.monotonic):
    """ExecOutput(stdout bytes, stderr bytes, exit code) of argv run (no shell) in the container."""
    name, namespace = pod["metadata"]["name"], pod["metadata"]["namespace"]
    where = "container %s of pod %s/%s" % (container, namespace, name)
    try:
        ws = stream(core.connect_get_namespaced_pod_exec, name, namespace, command=list(argv), container=container,
                    stdin=False, stdout=True, stderr=True, tty=False, _preload_content=False, binary=True)
    except ApiException as exc:
        raise AmbientMeshError("exec in %s failed: %s" % (where, _handshake_message(exc)))
    try:
        deadline = clock() + deadline_seconds
        while ws.is_open():
            if clock() > deadline:
                raise AmbientMeshError("exec in %s did not end within %ds" % (where, deadline_seconds))
            ws.update(timeout=1)
        out = ExecOutput(ws.read_stdout() or b"", ws.read_stderr() or b"", None)
        status = ws.read_channel(ERROR_CHANNEL)
    finally:
        ws.close()
    if isinstance(status, bytes):
        status = status.decode("utf-8", "replace")
    return out._replace(exit_code=_exit_code(status, where))
