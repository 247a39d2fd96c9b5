"""Background traffic: requests a client Deployment sends by itself, in wall-clock time, while the cluster runs.

Test knob (no Istio, Kubernetes or app feature; only this simulation reads it), like apps.ERROR_RATE: the
Deployment annotation `dataplane.test/traffic`, a JSON object or list of objects:

    {"url": "http://helloworld.default:5000/hello", "rps": 10, "headers": {"x-user": "bot"}}

or the same from the command line, for a Deployment that exists now or later (python -m embedded_cluster
--traffic test/curl=http://helloworld.hello:5000/hello@20; parse_flag). Each entry sends `rps` requests a second
(0 < rps <= MAX_RPS; at most MAX_TOTAL_RPS over the cluster) from the Deployment's ready pods in turn, each on a
new connection (as a shell loop of curl calls does: the lab's
`for i in $(seq 1 100); do curl ...; done`), through the same path as the probe's curl: DNS, ztunnel or
kube-proxy, the waypoint's routes, faults, timeouts and retries, the apps and their error-rate knob
(network.py). The proxies count it in their metrics (telemetry.py), which a real Prometheus scrapes
(exposition.py). It runs on the API server's event loop, so it never races a request, and draws from its own
random.Random, so the probe's seeded sequence is the same with or without it. A request's simulated duration
(a 3 s fault delay) is recorded as it is, without waiting for it in wall-clock time: the load is an open model,
a fixed rate whatever the latency.

`counts` keeps what was sent per (namespace, deployment, url): outcomes by HTTP status or transport error,
for the tests to hold Prometheus's numbers against (GET /debug/traffic answers them for another process).
Bad annotations are refused loudly: the Deployment sends nothing and the error is kept in `errors`; a request
the simulation cannot play (NotSimulated) stops that Deployment's traffic, kept in `failed` and logged.
"""

import asyncio
import collections
import json
import random
import time

from . import dns
from ..controllers import selector_matches
from .cluster import labels, ready
from .curl import split_url
from .messages import ConnectionFailed, ConnectionReset, NotSimulated, Request
from .telemetry import workload_name

ANNOTATION = "dataplane.test/traffic"
MAX_RPS = 50
MAX_TOTAL_RPS = 200  # 2 cores: every request is simulated in this process
TICK = 0.25  # seconds between sends


class TrafficError(ValueError):
    pass


def parse(raw):
    """The annotation's entries [{url, rps, headers}] or TrafficError naming what is wrong."""
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise TrafficError(f"{ANNOTATION} is not JSON: {exc}") from None
    entries = value if isinstance(value, list) else [value]
    out = []
    for entry in entries:
        if not isinstance(entry, dict) or set(entry) - {"url", "rps", "headers"}:
            raise TrafficError(f"{ANNOTATION}: each entry is an object with url, rps and optional headers, not {entry!r}")
        url, rps, headers = entry.get("url"), entry.get("rps"), entry.get("headers") or {}
        if not isinstance(url, str) or not url.startswith("http://"):
            raise TrafficError(f"{ANNOTATION}: url must be an http:// URL, not {url!r}")
        if isinstance(rps, bool) or not isinstance(rps, (int, float)) or not 0 < rps <= MAX_RPS:
            raise TrafficError(f"{ANNOTATION}: rps must be a number above 0 and at most {MAX_RPS}, not {rps!r}")
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise TrafficError(f"{ANNOTATION}: headers must map names to strings, not {headers!r}")
        out.append({"url": url, "rps": float(rps), "headers": headers})
    return out


def parse_flag(text):
    """The command line's `--traffic NAMESPACE/DEPLOYMENT=URL@RPS` as ((namespace, deployment), entry)."""
    target, sep, rest = text.partition("=")
    url, at, rps = rest.rpartition("@")
    ns, slash, name = target.partition("/")
    if not sep or not at or not slash or not ns or not name:
        raise TrafficError(f"expected NAMESPACE/DEPLOYMENT=URL@RPS, for example test/curl=http://helloworld.hello:5000/hello@20, "
                           f"not {text!r}")
    try:
        rate = float(rps)
    except ValueError:
        raise TrafficError(f"RPS in {text!r} is not a number") from None
    (entry,) = parse(json.dumps({"url": url, "rps": rate}))
    return (ns, name), entry


class BackgroundTraffic:
    def __init__(self, dataplane, seed=0):
        self.dp = dataplane
        # (namespace, deployment) -> [entries] declared on the command line (parse_flag), as if annotated
        self.declared_by_flag = {}
        self.rng = random.Random(f"background-{seed}")
        self.credit = {}  # key -> requests owed (fractions carry over between ticks)
        self.turn = collections.Counter()  # key -> next pod index
        self.counts = collections.defaultdict(collections.Counter)  # key -> {"200": n, "connection reset": n, ...}
        # key -> {(the workload that answered, or "" for a proxy's local reply, status): n}
        self.backends = collections.defaultdict(collections.Counter)
        self.errors = {}  # (namespace, deployment) -> why its annotation is refused (this tick)
        self.failed = {}  # (namespace, deployment, annotation) -> the NotSimulated that stopped it
        self._task = None

    # ---- lifecycle (on the server's loop) ----------------------------------------------------------
    def start(self):
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self):
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None

    async def _run(self):
        last = time.monotonic()
        while True:
            await asyncio.sleep(TICK)
            now = time.monotonic()
            self.tick(min(now - last, 2.0))  # a stalled loop does not send a burst
            last = now

    # ---- one tick ----------------------------------------------------------------------------------------
    def declared(self):
        """[(deployment, entry)] of every Deployment that declares traffic, bad annotations set aside."""
        out, errors, current = [], {}, {}
        for dep in self.dp.view.all("apps", "deployments"):
            raw = ((dep.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION)
            key = (dep["metadata"]["namespace"], dep["metadata"]["name"])
            current[key] = raw
            if key + (raw,) in self.failed:
                continue
            out.extend((dep, entry) for entry in self.declared_by_flag.get(key, []))
            if raw is None:
                continue
            try:
                out.extend((dep, entry) for entry in parse(raw))
            except TrafficError as exc:
                errors[key] = str(exc)
        for key, message in errors.items():
            if self.errors.get(key) != message:  # said once, where the cluster's log shows it
                print(f"background traffic of {key[0]}/{key[1]} refused: {message}", flush=True)
        self.errors = errors
        # a changed or removed annotation is judged anew
        self.failed = {k: v for k, v in self.failed.items() if current.get(k[:2]) == k[2]}
        total = sum(entry["rps"] for _dep, entry in out)
        if total > MAX_TOTAL_RPS:
            scale = MAX_TOTAL_RPS / total
            out = [(dep, dict(entry, rps=entry["rps"] * scale)) for dep, entry in out]
        return out

    def tick(self, seconds):
        for dep, entry in self.declared():
            meta = dep["metadata"]
            key = (meta["namespace"], meta["name"], entry["url"])
            self.credit[key] = self.credit.get(key, 0.0) + entry["rps"] * seconds
            due = int(self.credit[key])
            self.credit[key] -= due
            pods = self._pods(dep)
            for _ in range(due):
                if not pods:
                    self.counts[key]["no ready pod"] += 1
                    continue
                pod = pods[self.turn[key] % len(pods)]
                self.turn[key] += 1
                try:
                    outcome, backend = self.send(pod, entry)
                    self.counts[key][outcome] += 1
                    if backend is not None:
                        self.backends[key][(backend, outcome)] += 1
                except NotSimulated as exc:  # this Deployment's traffic stops, loudly (summary, the log)
                    raw = (meta.get("annotations") or {}).get(ANNOTATION)
                    self.failed[(meta["namespace"], meta["name"], raw)] = str(exc)
                    print(f"background traffic of {meta['namespace']}/{meta['name']} stopped: {exc}", flush=True)
                    break

    def _pods(self, dep):
        """The Deployment's ready pods: its selector (matchLabels and matchExpressions) over the namespace's pods."""
        selector = (dep.get("spec") or {}).get("selector")
        return [p for p in self.dp.view.all("", "pods", dep["metadata"]["namespace"])
                if ready(p) and selector_matches(selector, labels(p))]

    def send(self, pod, entry):
        """One request on a new connection: (its outcome - the status as text, or the transport error's name - and the
        workload of the pod that answered, "" for a proxy's local reply, None without a response)."""
        dp = self.dp
        _scheme, host, port, path = split_url(entry["url"])
        saved, dp.rng = dp.rng, self.rng  # the probe's seeded sequence stays its own
        try:
            ip = dns.resolve(dp.view, host.strip("[]"), pod["metadata"]["namespace"])
            if ip is None:
                return "could not resolve", None
            try:
                conn = dp.network.connect(pod, ip, port)
                headers = [("Host", host if port == 80 else f"{host}:{port}"), ("User-Agent", "curl/8.16.0"),
                           ("Accept", "*/*")] + list(entry["headers"].items())
                resp = conn.send(Request("GET", path, dict(headers)["Host"], headers))
            except ConnectionFailed:
                return "connection refused", None
            except ConnectionReset:
                return "connection reset", None
            return str(resp.status), workload_name(resp.upstream) if resp.backend and resp.upstream is not None else ""
        finally:
            dp.rng = saved

    def summary(self):
        return {"sent": [{"namespace": ns, "deployment": dep, "url": url, "outcomes": dict(c),
                          "backends": [{"workload": w, "outcome": o, "count": n}
                                       for (w, o), n in sorted(self.backends[(ns, dep, url)].items())]}
                         for (ns, dep, url), c in sorted(self.counts.items())],
                "errors": [{"namespace": ns, "deployment": dep, "message": msg}
                           for (ns, dep), msg in sorted(self.errors.items())]
                + [{"namespace": ns, "deployment": dep, "message": msg}
                   for (ns, dep, _raw), msg in sorted(self.failed.items())]}


