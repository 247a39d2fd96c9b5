"""Faults the test API server injects on request: from a test (`TestCluster.fail`, `outage`), or from a
shell (`python -m embedded_cluster --fail ...`, `POST /debug/faults`), so that a person can reproduce the
failure matrix by hand.

Two kinds:

- an error answer: the next `times` requests of `verb` (on `resource`) get `status` with a Status
  body as kube-apiserver writes it. A 403 without a message of its own gets kube-apiserver's
  authorization denial for that request (k8s.io/apiserver pkg/endpoints/handlers/responsewriters/
  errors.go, forbiddenMessage, wrapped by apimachinery's errors.NewForbidden); a 429 or 5xx may ask
  for a wait (`retry_after`), in the Retry-After header and details.retryAfterSeconds.
- an outage: the listener closes and every open connection is dropped, as when the API server's
  process dies (clients get "connection refused", a request in flight a dropped connection); after
  `seconds` the server listens again on the same port with all its objects: a restart that keeps
  its state (etcd survives a kube-apiserver restart).

The control endpoint (not logged, like /debug/requests):

    GET    /debug/faults                  the faults still armed, and whether an outage is planned
    POST   /debug/faults {"verb": "patch", "resource": "namespaces", "status": 503, "times": 100}
    POST   /debug/faults {"outage": 20}    close the listener 0.2 s from now, for 20 seconds
    POST   /debug/faults {"verb": "patch", "dry_run": false, "after": 150, "outage": 30}
                                          the 151st real patch starts an outage of 30 s (mid-batch)
    DELETE /debug/faults                  disarm every error fault
"""

import asyncio
import json
import socket
import time

from aiohttp import web
from aiohttp.test_utils import get_port_socket
from kmock import KubernetesError

# the user of the test kubeconfig (embedded_cluster/apiserver/cluster.py: token "test-token")
USER = "test"
REASONS = {400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound", 409: "Conflict",
           422: "Invalid", 429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout"}
FIELDS = ("verb", "resource", "status", "times", "retry_after", "message", "retry_after_in", "user", "after", "dry_run",
          "outage")


def add(faults, verb, resource=None, status=503, times=1, retry_after=None, message=None,
        retry_after_in=("header", "body"), user=USER, after=0, dry_run=None, outage=None):
    """Arm a fault: the next `times` requests of `verb` ("*": any) on `resource` (group_resource, e.g.
    "namespaces" or "gateways.gateway.networking.k8s.io"; None: any) fail with `status`.

    `after`: let that many matching requests through first; `dry_run`: match only dry runs (True) or
    only real requests (False); `outage`: instead of an error answer, the matching request starts an
    outage of that many seconds (its own connection drops unanswered: the server "died" mid-batch)."""
    if outage is not None and (not isinstance(outage, (int, float)) or outage <= 0):
        raise ValueError("outage is a number of seconds > 0, not %r" % (outage,))
    if not isinstance(status, int) or not 400 <= status <= 599:
        raise ValueError("status must be an HTTP error status (400-599), not %r" % (status,))
    if not isinstance(times, int) or times < 1:
        raise ValueError("times must be a positive integer, not %r" % (times,))
    faults.append({"verb": verb, "resource": resource, "status": status, "left": times,
                   "retry_after": retry_after, "retry_after_in": tuple(retry_after_in),
                   "message": message, "user": user, "skip": int(after), "dry_run": dry_run, "outage": outage})


def forbidden_message(entry, user=USER):
    """kube-apiserver's 403 text for the request in `entry` (the server's request log entry)."""
    plural, _, group = (entry["resource"] or "").partition(".")
    resource = plural + ("/" + entry["subresource"] if entry.get("subresource") else "")
    # requestinfo.go: for /api/v1/namespaces/<name>, the request's namespace is <name> itself
    namespace = entry.get("namespace") or (entry.get("name") if plural == "namespaces" and not group else None)
    denial = 'User "%s" cannot %s resource "%s" in API group "%s" ' % (user, entry["verb"], resource, group)
    denial += 'in the namespace "%s"' % namespace if namespace else "at the cluster scope"
    qualified = entry["resource"] or plural
    subject = '%s "%s"' % (qualified, entry["name"]) if entry.get("name") else qualified
    return "%s is forbidden: %s" % (subject, denial)


def inject(api, entry, error_cls):
    """Raise the armed fault of api.faults that matches this request (error_cls: a KubernetesError with
    retry_after), or start the outage it asks for."""
    for fault in api.faults:
        if fault["left"] <= 0 or fault["verb"] not in (entry["verb"], "*"):
            continue
        if fault["resource"] not in (None, entry["resource"]):
            continue
        if fault["dry_run"] is not None and bool(fault["dry_run"]) != bool(entry.get("dry_run")):
            continue
        if fault["skip"] > 0:
            fault["skip"] -= 1
            continue
        fault["left"] -= 1
        if fault["outage"]:
            entry["injected"] = "outage"
            _drop_connections(api)  # this request's too: it is never answered
            asyncio.ensure_future(outage(api, fault["outage"]))
            raise error_cls(status=503, reason="ServiceUnavailable", message="outage", details={})
        entry["injected"] = fault["status"]
        status = fault["status"]
        message = fault["message"]
        details = {}
        if status == 403 and not message:
            message = forbidden_message(entry, fault.get("user") or USER)
            details = {"name": entry.get("name") or "", "group": (entry["resource"] or "").partition(".")[2],
                       "kind": (entry["resource"] or "").partition(".")[0]}
        wait = fault["retry_after"]
        if wait and "body" in fault["retry_after_in"]:
            details["retryAfterSeconds"] = wait
        raise error_cls(status=status, reason=REASONS.get(status, "Failure"), message=message or "injected failure",
                        details=details, retry_after=wait if wait and "header" in fault["retry_after_in"] else None)


def armed(faults):
    return [dict((k, f[k]) for k in ("verb", "resource", "status", "left", "retry_after", "message", "outage"))
            for f in faults if f["left"] > 0]


# ---- outages ---------------------------------------------------------------------------------
def _drop_connections(api):
    for server in list(api.servers):
        for handler in list(server.server.runner.server.connections):
            if handler.transport is not None:
                handler.transport.close()


async def _close(api):
    """Close every listener of the server and drop its open connections; what _reopen needs."""
    closed = []
    for server in list(api.servers):
        raw = server.server  # aiohttp's RawTestServer, on the port the kubeconfig names
        runner = raw.runner
        for site in list(runner.sites):
            await site.stop()
        closed.append((runner, raw.host, raw.port))
    return closed


async def _reopen(closed):
    for runner, host, port in closed:
        if runner.server is None:  # the cluster stopped during the outage
            continue
        site = web.SockSite(runner, sock=get_port_socket(host, port, socket.AF_INET))
        await site.start()


async def outage(api, seconds):
    """An outage of `seconds`, from the server's own loop."""
    closed = await _close(api)
    _drop_connections(api)
    api.outage_until = time.time() + seconds
    try:
        await asyncio.sleep(seconds)
    finally:
        await _reopen(closed)
        api.outage_until = None


def begin_outage(cluster, seconds):
    """From a test: the listener is closed when this returns; the returned future is done once the
    server listens again (after `seconds`)."""
    async def close():
        closed = await _close(cluster.api)
        _drop_connections(cluster.api)
        return closed

    closed = asyncio.run_coroutine_threadsafe(close(), cluster._loop).result(10)
    cluster.api.outage_until = time.time() + seconds

    async def later():
        try:
            await asyncio.sleep(seconds)
        finally:
            await _reopen(closed)
            cluster.api.outage_until = None

    return asyncio.run_coroutine_threadsafe(later(), cluster._loop)


# ---- the control endpoint and the command line ----------------------------------------------
def _bad_request(message):
    return KubernetesError(status=400, reason="BadRequest", message=message, details={})


async def control(api, request):
    """GET, POST or DELETE /debug/faults (see the module's docstring)."""
    method = request.method.upper()
    if method == "DELETE":
        api.faults.clear()
        return {"faults": []}
    if method == "POST":
        try:
            spec = json.loads(request.body or b"{}")
        except ValueError as exc:
            raise _bad_request("the body must be a JSON object: %s" % exc) from exc
        if not isinstance(spec, dict):
            raise _bad_request("the body must be a JSON object")
        if "outage" in spec and "verb" not in spec:  # with a verb, the matching request starts it (below)
            if set(spec) != {"outage"}:
                raise _bad_request("an outage that starts now takes only 'outage'; to start it on a request, "
                                   "give verb (and resource, after, dry_run): got %s" % sorted(spec))
            seconds = spec["outage"]
            if not isinstance(seconds, (int, float)) or seconds <= 0:
                raise _bad_request("outage is a number of seconds > 0")
            # after the answer to this request has gone out
            asyncio.get_running_loop().call_later(0.2, lambda: asyncio.ensure_future(outage(api, seconds)))
            return {"outage": seconds, "starts_in": 0.2}
        unknown = sorted(set(spec) - set(FIELDS))
        if unknown or "verb" not in spec:
            raise _bad_request("a fault has verb (required) and %s; unknown: %s" % (", ".join(FIELDS[1:]), unknown))
        try:
            add(api.faults, **spec)
        except (TypeError, ValueError) as exc:
            raise _bad_request(str(exc)) from exc
    return {"faults": armed(api.faults), "outage_until": getattr(api, "outage_until", None)}


def parse_spec(text):
    """A --fail value: 'verb=patch,resource=namespaces,status=503,times=5' (or the same as JSON)."""
    text = text.strip()
    if text.startswith("{"):
        return json.loads(text)
    spec = {}
    for part in filter(None, text.split(",")):
        key, sep, value = part.partition("=")
        if not sep or key.strip() not in FIELDS:
            raise ValueError("%r: expected key=value with a key among %s" % (part, ", ".join(FIELDS)))
        value = value.strip()
        spec[key.strip()] = int(value) if value.isdigit() else {"true": True, "false": False}.get(value, value)
    if "verb" not in spec:
        raise ValueError("%r: verb is required" % text)
    return spec
