"""The apps of the lab, recognised by their container image, answering as the real ones do.

- helloworld (registry.istio.io/release/examples-helloworld-v1|v2, Istio samples/helloworld/src):
  gunicorn 22.0.0 serving Flask 3.0.3 on [::]:5000 (Dockerfile CMD, requirements.txt); SERVICE_VERSION is
  the image's build argument (Dockerfile `ENV SERVICE_VERSION=${service_version:-v1}`; the image name
  carries it), HOSTNAME the pod name (kubelet sets the pod's hostname to its name).
- go-httpbin (mccutchen/go-httpbin, tag of the image; httpbin/handlers.go, helpers.go, responses.go,
  middleware.go at v2.15.0), listening on 8080 (its default port, samples/httpbin.yaml containerPort):
  /get, /headers, /status/<code> and weighted /status/<code>:<weight>,... (one draw per request), /delay/<s>,
  /drip with duration 0 (the status `code` after `delay`, no echo: a slow answer that can pass a waypoint).
- curlimages/curl: the client; nothing listens in it (samples/curl.yaml runs `sleep infinity`).
Any other image: no process listens, connections are refused.

Test knob (no Istio, Kubernetes or app feature; only this simulation reads it): the pod annotation
`dataplane.test/error-rate: "0.5"`, set on a Deployment's pod template, makes helloworld and httpbin answer
that share of their requests with HTTP 500, drawn from the data plane's seeded random.Random (a version that
fails, for the canary role's rollback tests). helloworld's 500 is Flask's answer to an unhandled exception
(werkzeug 3.0.3 InternalServerError), httpbin's the one of its /status/500. A waypoint passes a 500 on
unchanged unless its route retries that status: Istio's default retry policy retries connect failures,
refused streams and listed status codes, none listed (pilot/pkg/networking/core/route/retry/retry.go
defaultRetryOn; resilience.py).
"""

import email.utils
import json
import re
import urllib.parse

from .messages import NotSimulated, Response

HELLOWORLD_IMAGE = re.compile(r"(^|/)examples-helloworld-(v\d+)(:|@|$)")
HTTPBIN_IMAGE = re.compile(r"(^|/)mccutchen/go-httpbin(:|@|$)")
CURL_IMAGE = re.compile(r"(^|/)curlimages/curl(:|@|$)")
ERROR_RATE = "dataplane.test/error-rate"


def error_rate(pod):
    """The pod's test-only error-rate annotation as a share 0..1 (0 without it); anything else is refused."""
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(ERROR_RATE)
    if raw is None:
        return 0.0
    try:
        rate = float(raw)
    except (TypeError, ValueError):
        rate = -1.0
    if not 0.0 <= rate <= 1.0:
        raise NotSimulated(f"{ERROR_RATE}: {raw!r} on pod {pod['metadata'].get('name')} (a share from 0 to 1)")
    return rate


def fails(pod, rng):
    """Whether this request fails under the error-rate knob; draws from rng only when the knob is set, so that
    the seeded sequences of every other test stay as they were."""
    rate = error_rate(pod)
    return rate > 0 and rng.random() < rate


def http_date(epoch):
    return email.utils.formatdate(epoch, usegmt=True)


class Helloworld:
    port = 5000

    def __init__(self, version):
        self.version = version

    def handle(self, req, pod, now, rng, client_ip="", through_proxy=False):
        path = urllib.parse.urlsplit(req.path).path
        if fails(pod, rng):
            # Flask's handle_exception: an unhandled exception becomes werkzeug's InternalServerError
            return self._reply(req, pod, now, 500, _werkzeug_error(
                500, "Internal Server Error", "The server encountered an internal error and was unable to complete "
                "your request. Either the server is overloaded or there is an error in the application."), [])
        routes = {"/hello": "Hello version: %s, instance: %s\n" % (self.version, pod["metadata"]["name"]),
                  "/health": "Helloworld is healthy"}  # app.py hello() and health()
        if path in routes:
            if req.method not in ("GET", "HEAD", "OPTIONS"):
                # werkzeug 3.0.3 MethodNotAllowed (Flask adds HEAD and OPTIONS to a GET route)
                status, body, extra = 405, _werkzeug_error(405, "Method Not Allowed",
                                                           "The method is not allowed for the requested URL."), \
                    [("Allow", "GET, HEAD, OPTIONS")]
            else:
                status, body, extra = 200, routes[path], []
        else:
            status, extra = 404, []
            body = _werkzeug_error(404, "Not Found", "The requested URL was not found on the server. If you entered "
                                   "the URL manually please check your spelling and try again.")
        return self._reply(req, pod, now, status, body, extra)

    @staticmethod
    def _reply(req, pod, now, status, body, extra):
        ctype = "text/html; charset=utf-8"  # Flask: a str return value is text/html; werkzeug's errors too
        data = body.encode()
        # gunicorn/http/wsgi.py Response.default_headers: Server, Date, Connection; then the app's headers
        headers = [("Server", "gunicorn"), ("Date", http_date(now)),
                   ("Connection", "close" if req.wants_close else "keep-alive"),
                   ("Content-Type", ctype), ("Content-Length", str(len(data)))] + extra
        return Response(status, headers, b"" if req.method == "HEAD" else data, backend=pod["metadata"]["name"])


def _werkzeug_error(code, name, description):
    """werkzeug.exceptions.HTTPException.get_body (werkzeug 3.0.3)."""
    return ('<!doctype html>\n<html lang=en>\n<title>%d %s</title>\n<h1>%s</h1>\n<p>%s</p>\n'
            % (code, name, name, description))


class HTTPBin:
    port = 8080
    MAX_DURATION = 10.0  # httpbin.go DefaultMaxDuration

    def handle(self, req, pod, now, rng, client_ip="", through_proxy=False):
        split = urllib.parse.urlsplit(req.path)
        path, delay = split.path, 0.0
        headers = [("Access-Control-Allow-Credentials", "true"),  # middleware.go preflight
                   ("Access-Control-Allow-Origin", req.header("origin") or "*")]
        if fails(pod, rng):
            return self._status(req, pod, now, rng, "500", headers)
        if path == "/get":
            if req.method not in ("GET", "HEAD"):
                return self._plain(req, pod, now, 405, "Method Not Allowed\n", headers + [("Allow", "GET, HEAD")])
            status, body = 200, self._echo(req, split, client_ip, through_proxy, with_body=False)
        elif path == "/headers":
            status, body = 200, _json({"headers": self._headers(req, through_proxy)})
        elif re.fullmatch(r"/status/[^/]+", path):
            return self._status(req, pod, now, rng, path.split("/")[2], headers)
        elif path == "/drip":
            return self._drip(req, pod, now, split.query, headers)
        elif re.fullmatch(r"/delay/[^/]+", path):
            seconds = _go_duration(path.split("/")[2])
            if seconds is None or seconds > self.MAX_DURATION or seconds < 0:
                if seconds is None or seconds < 0 or seconds >= 60:
                    raise NotSimulated(f"go-httpbin's error text for /delay/{path.split('/')[2]}")
                # helpers.go parseBoundedDuration: "duration %s longer than %s" with Go's Duration.String
                detail = "invalid duration: duration %ss longer than 10s" % format(seconds, "g")
                status, body = 400, _json({"status_code": 400, "error": "Bad Request", "detail": detail})
            else:
                delay = seconds
                headers.append(("Server-Timing", 'initial_delay;dur=%0.2f;desc="initial delay"' % (seconds * 1e3)))
                status, body = 200, self._echo(req, split, client_ip, through_proxy, with_body=True)
        else:
            # net/http ServeMux NotFound: http.Error(w, "404 page not found", 404)
            return self._plain(req, pod, now, 404, "404 page not found\n", headers)
        headers.append(("Content-Type", "application/json; charset=utf-8"))
        return self._finish(req, pod, now, status, headers, body.encode(), delay)

    def _status(self, req, pod, now, rng, raw, headers):
        code = int(raw) if raw.isdigit() and 100 <= int(raw) <= 599 else None
        if "," in raw:
            code = _weighted_status(raw, rng)
        if code is None:
            raise NotSimulated(f"go-httpbin's answer to /status/{raw} (an invalid code or weight)")
        body = b""
        special = {418: (b"I'm a teapot!", [("X-More-Info", "http://tools.ietf.org/html/rfc2324")]),
                   402: (b"Fuck you, pay me!", [("X-More-Info", "http://vimeo.com/22053820")])}
        if code in (301, 302, 303, 305, 307, 401, 406, 407):
            raise NotSimulated(f"go-httpbin's special case for /status/{code}")
        extra = []
        if code in special:
            body, extra = special[code]
        # handlers.go doStatus: text/plain unless a special case says otherwise
        return self._finish(req, pod, now, code, headers + [("Content-Type", "text/plain; charset=utf-8")] + extra,
                            body, 0.0)

    def _drip(self, req, pod, now, query, headers):
        """handlers.go Drip: after `delay` (default 2s) the status `code` (default 200) with `numbytes` (default 10)
        bytes of "*"; only a `duration` of 0 (the whole body at once) is simulated, not a body dripped over time."""
        q = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
        duration = _go_duration(q["duration"]) if "duration" in q else 2.0
        delay = _go_duration(q["delay"]) if "delay" in q else 2.0
        numbytes = q.get("numbytes", "10")
        code = q.get("code", "200")
        if duration != 0 or delay is None or not 0 <= delay <= self.MAX_DURATION or not numbytes.isdigit() \
                or not 1 <= int(numbytes) <= 1024 * 1024 or not code.isdigit() or not 100 <= int(code) <= 599:
            raise NotSimulated(f"go-httpbin /drip?{query} (a body dripped over a duration, or its 400 text)")
        # helpers.go encodeServerTimings: name;dur=<ms %0.2f>;desc="..."
        timing = ", ".join('%s;dur=%0.2f;desc="%s"' % (name, value * 1e3, desc) for name, value, desc in (
            ("total_duration", delay, "total request duration"), ("initial_delay", delay, "initial delay"),
            ("write_duration", 0.0, "duration of writes after initial delay"),
            ("pause_per_write", 0.0, "computed pause between writes")))
        return self._finish(req, pod, now, int(code), headers + [("Content-Type", "text/plain; charset=utf-8"),
                                                                  ("Server-Timing", timing)],
                            b"*" * int(numbytes), delay)

    def _plain(self, req, pod, now, status, text, headers):
        # net/http Error: text/plain, nosniff
        return self._finish(req, pod, now, status, headers + [("Content-Type", "text/plain; charset=utf-8"),
                                                             ("X-Content-Type-Options", "nosniff")], text.encode(), 0.0)

    @staticmethod
    def _finish(req, pod, now, status, headers, body, delay):
        # net/http server: Date and Content-Length for a handler that wrote its whole body; Connection: close
        # when the request asked for it (server.go: closeAfterReply)
        headers = headers + [("Date", http_date(now + delay)), ("Content-Length", str(len(body)))]
        if req.wants_close:
            headers.append(("Connection", "close"))
        resp = Response(status, headers, b"" if req.method == "HEAD" else body, backend=pod["metadata"]["name"])
        resp.elapsed = delay
        return resp

    @staticmethod
    def _headers(req, through_proxy):
        if through_proxy:
            raise NotSimulated("the request headers a waypoint's Envoy adds upstream (go-httpbin echoes them)")
        out = {}
        for name, value in req.headers:
            out.setdefault(_canonical(name), []).append(value)
        out["Host"] = [req.authority]  # helpers.go getRequestHeaders: h.Set("Host", r.Host)
        return dict(sorted(out.items()))

    def _echo(self, req, split, client_ip, through_proxy, with_body):
        args = {}
        for key, value in urllib.parse.parse_qsl(split.query, keep_blank_values=True):
            args.setdefault(key, []).append(value)
        body = {"args": dict(sorted(args.items())), "headers": self._headers(req, through_proxy),
                "method": req.method, "origin": client_ip,
                "url": urllib.parse.urlunsplit(("http", req.authority, split.path, split.query, ""))}
        if with_body:
            body.update(data="", files={}, form={}, json=None)  # responses.go bodyResponse
        return _json(body)


def _weighted_status(raw, rng):
    """handlers.go Status with a comma: helpers.go parseWeightedChoices (code[:weight], weight 1 when not given)
    and weightedRandomChoice (a uniform draw times the total weight, the first choice whose running sum exceeds
    it). None for what the simulation does not answer (a bad code or weight: go-httpbin's 400 text)."""
    choices = []
    for pair in raw.split(","):
        code, found, weight = pair.partition(":")
        if not code.isdigit() or not 100 <= int(code) <= 599:
            return None
        try:
            value = float(weight) if found else 1.0
        except ValueError:
            return None
        choices.append((int(code), value))
    total = sum(w for _, w in choices)
    point, running = rng.random() * total, 0.0
    for code, weight in choices:
        running += weight
        if point < running:
            return code
    return None


def _json(value):
    """helpers.go mustMarshalJSON: encoding/json, two-space indent, no HTML escaping, newline."""
    return json.dumps(value, indent=2, ensure_ascii=False) + "\n"


def _canonical(name):
    """net/textproto.CanonicalMIMEHeaderKey."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def _go_duration(text):
    """helpers.go parseDuration: a Go duration (time.ParseDuration) or seconds as a float."""
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    parts = re.findall(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)", text)
    if parts and "".join(n + u for n, u in parts) == text:
        return sum(float(n) * units[u] for n, u in parts)
    try:
        return int(float(text) * 1000) / 1000.0  # time.Duration(n*1000) * time.Millisecond
    except ValueError:
        return None


def app_for(pod, port):
    """The app listening on `port` in the pod, or None (the connection is refused)."""
    for container in (pod.get("spec") or {}).get("containers") or []:
        image = container.get("image") or ""
        match = HELLOWORLD_IMAGE.search(image)
        if match and port == Helloworld.port:
            return Helloworld(match.group(2))
        if HTTPBIN_IMAGE.search(image) and port == HTTPBin.port:
            return HTTPBin()
    return None


def has_curl(image):
    return bool(CURL_IMAGE.search(image or ""))
