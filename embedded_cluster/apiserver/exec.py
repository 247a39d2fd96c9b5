"""pods/exec over WebSocket, as kube-apiserver and the kubelet speak it.

GET /api/v1/namespaces/{ns}/pods/{name}/exec?command=..&container=..&stdout=1&stderr=1 with
`Upgrade: websocket`. What is checked before the upgrade and in which words follows kube-apiserver
(pkg/registry/core/pod/strategy.go streamLocation; apiserver pkg/registry/generic/rest
UpgradeAwareProxyHandler: "Upgrade request required"). The subprotocol (the Kubernetes source, files named
from kubernetes/kubernetes):
- `v5.channel.k8s.io` when the client offers it anywhere: kube-apiserver's StreamTranslatorHandler answers
  those itself and supports only v5 (staging/src/k8s.io/apiserver/pkg/util/proxy/websocket.go
  createWebSocketStreams; wsstream IsWebSocketRequestWithStreamCloseProtocol);
- otherwise the request goes through to the kubelet, which takes the first protocol the client offers of
  `channel.k8s.io`, `base64.channel.k8s.io`, `v4.channel.k8s.io`, `v4.base64.channel.k8s.io` (none offered:
  binary, as channel.k8s.io) (staging/src/k8s.io/kubelet/pkg/cri/streaming/remotecommand/websocket.go;
  wsstream/conn.go handshake: the client's order decides).
Frames (wsstream/conn.go): binary messages whose first byte is the channel (0 stdin, 1 stdout, 2 stderr,
3 error, 4 resize: apimachinery pkg/util/remotecommand/constants.go); base64 protocols send text messages,
the channel as an ASCII digit and the data base64-encoded; v5 clients may send [255, channel] to close a
stream. After the upgrade an empty message goes to the lowest writable channel; at the end the status goes
to channel 3 and the server closes the connection (v5: apiserver websocket.go finish; kubelet: conn.Close).
The status (v4 and v5: metav1.Status as JSON; v1: only a failure's message) comes from the kubelet's
ServeExec (staging/src/k8s.io/kubelet/pkg/cri/streaming/remotecommand/exec.go) over containerd's exec
(containerd internal/cri/server/streaming.go, container_execsync.go), re-wrapped by kube-apiserver for v5
(apiserver pkg/util/proxy/streamtranslator.go). stdin is accepted and not read: the simulated commands
take no input. SPDY (the older transport kubectl falls back to) is not simulated: refused with a message.
"""

import base64
import json
import re
import secrets
import urllib.parse

import aiohttp.web
from kmock import KubernetesError

from .execapi import ExecResult, ExecutableNotFound

PATH = re.compile(r"^/api/v1/namespaces/([^/]+)/pods/([^/]+)/exec/?$")
V5, V4, V4_BASE64 = "v5.channel.k8s.io", "v4.channel.k8s.io", "v4.base64.channel.k8s.io"
V1, V1_BASE64 = "channel.k8s.io", "base64.channel.k8s.io"
KUBELET_PROTOCOLS = (V1, V1_BASE64, V4, V4_BASE64)
STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4
_CHUNK = 32 * 1024  # io.Copy's buffer: how the kubelet forwards a process's output


def is_exec(request):
    return bool(PATH.match(request.path))


def _parse_bool(value):
    """strconv.ParseBool, as the query parameters are converted to PodExecOptions."""
    return value in ("1", "t", "T", "TRUE", "true", "True")


def _error(status, reason, message, **details):
    return KubernetesError(status=status, reason=reason, message=message, details=details or {})


def _status_json(status):
    """json.Marshal(metav1.Status): TypeMeta empty and omitted, metadata always, the rest omitempty."""
    out = {"metadata": {}, "status": status["status"]}
    for key in ("message", "reason", "details", "code"):
        if status.get(key):
            out[key] = status[key]
    return json.dumps(out, separators=(",", ":")).encode()


def _exit_status(protocol, argv, code):
    """NonZeroExitCode with the ExitCode cause. The kubelet's message wraps containerd's CodeExitError
    ("error executing command %v, exit code %d", %v of a []string printing as [a b]); for v5 the apiserver's
    SPDY client has already turned it into "command terminated with exit code %d" (client-go
    tools/remotecommand/v4.go errorDecoderV4) and codeExitToStatusError wraps that."""
    inner = "command terminated with exit code %d" % code if protocol == V5 else \
        "error executing command [%s], exit code %d" % (" ".join(argv), code)
    return {"status": "Failure", "reason": "NonZeroExitCode",
            "message": "command terminated with non-zero exit code: " + inner,
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}


def _internal(message):
    """apierrors.NewInternalError(err)."""
    return {"status": "Failure", "reason": "InternalError", "code": 500,
            "message": "Internal error occurred: " + message, "details": {"causes": [{"message": message}]}}


def _not_found_status(protocol, executable):
    """A missing executable: runc's exec fails (Go's exec.LookPath error inside runc's "unable to start
    container process"), containerd reports it from process.Start (container_execsync.go: failed to start
    exec %q, the exec id being 32 random bytes in hex; streaming.go: failed to exec in container), the
    kubelet sends an InternalError ("error executing command in container: %v"). Through the v5 translator the
    apiserver wraps that status's message once more in an InternalError (streamtranslator.go: the SPDY
    executor returns it as a plain error), so kubectl prints "Internal error occurred:" twice."""
    message = ('error executing command in container: failed to exec in container: failed to start exec "%s": '
               'OCI runtime exec failed: exec failed: unable to start container process: exec: "%s": '
               "executable file not found in $PATH: unknown" % (secrets.token_hex(32), executable))
    status = _internal(message)
    return _internal(status["message"]) if protocol == V5 else status


def _negotiate(header):
    offered = [p.strip() for p in (header or "").split(",") if p.strip()]
    if V5 in offered:
        return V5
    if not offered:
        return ""
    return next((p for p in offered if p in KUBELET_PROTOCOLS), None)


def _resolve_container(pod, name, container):
    """strategy.go streamLocation: the only container when none is named; a named one must exist."""
    spec = pod.get("spec") or {}
    names = [c["name"] for c in spec.get("containers") or []]
    init = [c["name"] for c in spec.get("initContainers") or []]
    ephemeral = [c["name"] for c in spec.get("ephemeralContainers") or []]
    if not container:
        if len(names) == 1:
            return names[0]
        if not names:
            raise _error(400, "BadRequest", "a container name must be specified for pod %s" % name)
        message = "a container name must be specified for pod %s, choose one of: [%s]" % (name, " ".join(names))
        if init:
            message += " or one of the init containers: [%s]" % " ".join(init)
        raise _error(400, "BadRequest", message)
    if container not in names + init + ephemeral:
        raise _error(400, "BadRequest", "container %s is not valid for pod %s" % (container, name))
    if (pod.get("status") or {}).get("phase") != "Running":
        raise _error(500, "InternalError", "the test API server simulates exec only into Running pods; pod %s is %s"
                     % (name, (pod.get("status") or {}).get("phase") or "without a phase"))
    if not spec.get("nodeName"):
        raise _error(400, "BadRequest", "pod %s does not have a host assigned" % name)
    return container


async def serve(server, request):
    namespace, name = PATH.match(request.path).groups()
    query = urllib.parse.parse_qs(request.query_string, keep_blank_values=True)
    params = {k: v[-1] for k, v in query.items()}
    argv = query.get("command", [])
    # kube-apiserver's RequestInfo: the verb comes from the method (GET, the WebSocket upgrade: get; POST: create;
    # since 1.35 the authorizer also asks for create on pods/exec, AuthorizePodWebsocketUpgradeCreatePermission)
    entry = {"method": request.method, "path": request.path, "params": params, "verb": "get" if request.method == "GET"
             else "create", "resource": "pods", "namespace": namespace, "name": name, "subresource": "exec",
             "dry_run": False, "content_type": request.headers.get("Content-Type", ""), "command": argv}
    server.log.append(entry)
    try:
        server._inject_fault(entry)
        pod = server.objects.get(("", "pods", namespace, name))
        if pod is None:
            raise _error(404, "NotFound", 'pods "%s" not found' % name, name=name, kind="pods")
        container = _resolve_container(pod, name, params.get("container", ""))
        if request.method not in ("GET", "POST"):
            raise _error(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
        if server.dataplane is None:
            raise _error(500, "InternalError", "the test API server has no simulated data plane "
                         "(ApiServer.dataplane is None): nothing can run in pod %s" % name)
        if request.headers.get("Upgrade", "").lower() != "websocket":
            if request.headers.get("Upgrade"):
                raise _error(400, "BadRequest", "the test API server serves pods/exec over WebSocket only "
                             "(v5.channel.k8s.io, v4.channel.k8s.io); %s is not simulated" % request.headers["Upgrade"])
            raise _error(400, "BadRequest", "Upgrade request required")
        stdin, stdout, stderr, tty = (_parse_bool(params.get(k, "")) for k in ("stdin", "stdout", "stderr", "tty"))
        if tty and stderr:
            stderr = False  # remotecommand NewOptions: "Access to exec with tty and stderr is not supported"
        if not (stdin or stdout or stderr):
            raise _error(400, "BadRequest", "you must specify at least 1 of stdin, stdout, stderr")
        if not argv:
            raise _error(400, "BadRequest", "you must specify at least 1 command")
        protocol = _negotiate(request.headers.get("Sec-WebSocket-Protocol"))
        if protocol is None:
            # golang.org/x/net/websocket answers a failed handshake 403 (the message is wsstream's handshake error)
            return aiohttp.web.Response(status=403, text="requested protocol(s) are not supported: [%s]; supports [%s]"
                                        % (request.headers.get("Sec-WebSocket-Protocol"),
                                           " ".join((V5,) + KUBELET_PROTOCOLS)))
    except KubernetesError as exc:
        entry["status"] = exc.status
        return await server._render_error(exc)

    socket = aiohttp.web.WebSocketResponse(protocols=(protocol,) if protocol else ())
    await socket.prepare(request)
    entry["protocol"] = protocol
    encoded = protocol in (V1_BASE64, V4_BASE64)

    async def send(channel, data):
        if encoded:
            await socket.send_str(chr(ord("0") + channel) + base64.b64encode(data).decode())
        else:
            await socket.send_bytes(bytes([channel]) + data)

    # websocket.go: an empty message to the lowest writable channel says the connection is established
    await send(STDOUT if stdout else STDERR if stderr else ERROR, b"")
    try:
        result = server.dataplane.run(pod, container, list(argv))
        if not isinstance(result, ExecResult):
            raise TypeError("dataplane.run returned %r, not an ExecResult" % (result,))
        status = {"status": "Success"} if result.exit_code == 0 else _exit_status(protocol, argv, result.exit_code)
        out, err = bytes(result.stdout), bytes(result.stderr)
        if tty:
            out, err = out + err, b""  # one terminal: everything on stdout
        for channel, data, wanted in ((STDOUT, out, stdout), (STDERR, err, stderr)):
            for start in range(0, len(data), _CHUNK) if wanted else ():
                await send(channel, data[start:start + _CHUNK])
        entry["exit_code"] = result.exit_code
    except ExecutableNotFound as exc:
        status = _not_found_status(protocol, exc.executable)
        entry["exit_code"] = None
    except Exception as exc:  # a data plane failure is the test's to see, on the status channel and in the log
        status = _internal("the test API server's simulated data plane failed: %r" % exc)
        entry["error"] = repr(exc)
    if protocol in (V4, V4_BASE64, V5):
        await send(ERROR, _status_json(status))
    elif status["status"] != "Success":
        await send(ERROR, status["message"].encode())  # v1WriteStatusFunc: status.Error(), failures only
    await socket.close()
    return socket
