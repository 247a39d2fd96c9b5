"""kube-apiserver semantics on top of kmock's Kubernetes scaffold.

kmock gives the HTTP server, the request log, Status error bodies and the reaction DSL;
this module adds the stateful part the collection relies on: routing for every built-in
and CRD resource, resourceVersion/generation/uid, patches of every type, server-side apply
with field ownership, dryRun=All, status subresources, selectors and schema validation.
"""

import asyncio
import base64
import binascii
import copy
import datetime
import itertools
import json
import secrets

import attrs
import yaml
from kmock import KubernetesError, KubernetesScaffold, Response
from kmock._internal import parsing

from . import builtins, cel, exec as exec_mod, openapi, patches, schema, selectors, ssa
from . import catalog as catalog_mod
from . import faults as faults_mod
from . import scale as scale_mod
from .controllers import WaypointController, WorkloadController
from .dataplane import DataPlane
from .pods import PodController
from .route_status import RouteStatusController
from .store import Store

_JSON_PATCH = "application/json-patch+json"
_MERGE_PATCH = "application/merge-patch+json"
_STRATEGIC_PATCH = "application/strategic-merge-patch+json"
_APPLY_PATCH = "application/apply-patch+yaml"


def _tolerant_parse_path(path, _original=parsing.parse_path):
    # kmock 0.8 raises ValueError on "/api/v1/namespaces" (a list of namespaces); our own router
    # parses every path itself, so kmock's parse only needs not to fail.
    try:
        return _original(path)
    except ValueError:
        return parsing.ParsedPath()


parsing.parse_path = _tolerant_parse_path

_DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_LABEL_VALUE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"


def _now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _error(status, reason, message, **details):
    return KubernetesError(status=status, reason=reason, message=message, details=details or {})


@attrs.frozen
class _RetryLaterError(KubernetesError):
    """A Status error that also carries the Retry-After header (429, or 5xx asking for a wait)."""

    retry_after: object = None


def _not_found(res, name):
    return _error(404, "NotFound", f'{res.group_resource} "{name}" not found',
                  name=name, group=res.group, kind=res.plural)


def _invalid(res, name, causes):
    text = "; ".join(f"{f}: {m}" if f else m for f, m in causes)
    return _error(422, "Invalid", f'{res.kind}.{res.group or "core"} "{name}" is invalid: [{text}]'
                  if len(causes) > 1 else f'{res.kind}{"." + res.group if res.group else ""} "{name}" is invalid: {text}',
                  name=name, group=res.group, kind=res.kind,
                  causes=[{"reason": "FieldValueInvalid", "message": m, "field": f} for f, m in causes])


def _comparable(obj):
    obj = copy.deepcopy(obj)
    meta = obj.get("metadata", {})
    meta.pop("resourceVersion", None)
    for entry in meta.get("managedFields") or []:
        entry.pop("time", None)
    return obj


def _spec_part(obj):
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


@attrs.define(kw_only=True)
class ApiServer(KubernetesScaffold):
    """A stateful, in-memory Kubernetes API server."""

    kubernetes_version: str = "v1.33.1"
    catalog: catalog_mod.Catalog = attrs.field(factory=catalog_mod.Catalog)
    objects: Store = attrs.field(factory=Store)  # (group, plural, namespace, name) -> object, indexed
    log: list = attrs.field(factory=list)  # one dict per request, for the tests to count
    faults: list = attrs.field(factory=list)  # injected failures, see fail() and faults.py
    outage_until: object = None  # time.time() an injected outage ends (faults.py)
    hold_crd_establishment: bool = False
    # seconds a Deployment/DaemonSet/StatefulSet deleted with propagationPolicy=Foreground stays
    # visible (deletionTimestamp set) while its pods terminate: {kind: seconds}, None for any kind
    termination_delays: dict = attrs.field(factory=dict)
    _rv: object = attrs.field(factory=lambda: itertools.count(1000))
    _last_rv: int = 1000

    allocator: builtins.Allocator = attrs.field(factory=builtins.Allocator)

    _own_payloads: int = 0
    workloads: object = None
    waypoints: object = None
    routes: object = None
    pods: object = None
    # what runs a command in a container for pods/exec: run(pod, container_name, argv) -> execapi.ExecResult
    # (embedded_cluster/apiserver/execapi.py); None: exec answers that no data plane is simulated
    dataplane: object = None
    seed: int = 0  # the data plane's randomness (endpoint picks, weights, fault percentages, jitter)

    def __attrs_post_init__(self):
        super().__attrs_post_init__()
        self.fallback << self._dispatch
        self._own_payloads = len(self._payloads)
        self.workloads = WorkloadController(self)
        self.waypoints = WaypointController(self)
        self.routes = RouteStatusController(self)
        self.dataplane = DataPlane(self, seed=self.seed)
        self.pods = PodController(self)

    async def __call__(self, raw_request):
        # pods/exec upgrades the connection to a WebSocket: answered here, before kmock reads the request
        if exec_mod.is_exec(raw_request):
            return await exec_mod.serve(self, raw_request)
        return await super().__call__(raw_request)

    async def _handle(self, request):
        # kmock matches every reaction against its whole request history, which grows with each
        # request; while a test has added no reaction of its own, answer directly.
        if len(self._payloads) > self._own_payloads:
            return await super()._handle(request)
        answer = await self._dispatch(request)
        if not isinstance(answer, Response):
            answer = Response(payload=answer)
        return await answer(request)

    async def _render_error(self, exc):
        response = await super()._render_error(exc)
        if getattr(exc, "retry_after", None) is not None:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    # kmock's scaffold serves its own, simplified discovery; every path goes through ours.
    async def _serve_root(self, request):
        return await self._dispatch(request)

    _serve_server_version = _serve_api = _serve_apis = _serve_group = _serve_version = _serve_root

    # ---- the router ----------------------------------------------------------------------
    async def _dispatch(self, request):
        path = request.url.path.rstrip("/") or "/"
        method = request.method.upper()
        params = dict(request.params or {})
        parts = path.strip("/").split("/") if path != "/" else []
        if path == "/debug/requests":  # for tests and benchmarks in another process; not logged
            return self.log_summary()
        if path == "/debug/traffic":  # what the background traffic sent (dataplane/traffic.py); not logged
            return self.dataplane.traffic.summary()
        if path == "/debug/faults":  # fault injection from a shell (faults.py); not logged
            return await faults_mod.control(self, request)
        entry = {"method": method, "path": path, "params": params, "verb": None,
                 "resource": None, "namespace": None, "name": None, "subresource": None,
                 "dry_run": params.get("dryRun") == "All",
                 "content_type": (request.headers or {}).get("Content-Type", "")}
        self.log.append(entry)
        if method == "GET":
            discovery = self._discovery(parts)
            if discovery is not None:
                entry["verb"] = "discovery"
                return discovery
        route = self._route(parts)
        if route is None:
            raise _error(404, "NotFound", f"the server could not find the requested resource ({method} {path})")
        res, namespace, name, sub = route
        entry.update(resource=res.group_resource, namespace=namespace, name=name, subresource=sub)
        verb = self._verb(method, name, params)
        entry["verb"] = verb
        self._inject_fault(entry)
        body = self._body(request) if method in ("POST", "PUT", "PATCH") else None
        entry["body"] = body
        if sub == "scale":
            if verb not in scale_mod.VERBS:
                raise _error(405, "MethodNotAllowed", f"{method} is not allowed on {res.plural}/scale")
            return self._scale(res, namespace, name, verb, params, body, request)
        handler = getattr(self, f"_do_{verb}")
        return await handler(res, namespace, name, sub, params, body, request)

    def _discovery(self, parts):
        if parts[:2] == ["openapi", "v3"]:
            return self._openapi(parts[2:])
        if parts == []:
            paths = {"/api", "/api/v1", "/apis", "/version"}
            for group, versions in self.catalog.groups().items():
                if group:
                    paths.add(f"/apis/{group}")
                    paths.update(f"/apis/{group}/{v}" for v in versions)
            return {"paths": sorted(paths)}
        if parts == ["version"]:
            major, minor = self.kubernetes_version.lstrip("v").split(".")[:2]
            return {"major": major, "minor": minor, "gitVersion": self.kubernetes_version,
                    "platform": "linux/amd64"}
        if parts == ["api"]:
            return {"kind": "APIVersions", "versions": ["v1"],
                    "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}
        if parts == ["apis"]:
            return {"kind": "APIGroupList", "apiVersion": "v1",
                    "groups": [self._group_doc(g, v) for g, v in sorted(self.catalog.groups().items()) if g]}
        if len(parts) == 2 and parts[0] == "apis":
            versions = self.catalog.groups().get(parts[1])
            if not versions:
                raise _error(404, "NotFound", "the server could not find the requested resource")
            return dict(self._group_doc(parts[1], versions), kind="APIGroup", apiVersion="v1")
        if (len(parts) == 2 and parts[0] == "api") or (len(parts) == 3 and parts[0] == "apis"):
            group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
            found = self.catalog.in_group_version(group, version)
            if not found:
                raise _error(404, "NotFound", "the server could not find the requested resource")
            return {"kind": "APIResourceList", "apiVersion": "v1",
                    "groupVersion": f"{group}/{version}" if group else version,
                    "resources": [e for r in sorted(found, key=lambda r: r.plural)
                                  for e in catalog_mod.discovery_entry(r)]}
        return None

    def _openapi(self, rest):
        if not rest:
            return openapi.index(self.catalog, self.kubernetes_version)
        if rest[0] == "api" and len(rest) == 2:
            group, version = "", rest[1]
        elif rest[0] == "apis" and len(rest) == 3:
            group, version = rest[1], rest[2]
        else:
            group = version = None
        if version is None or not self.catalog.in_group_version(group, version):
            raise _error(404, "NotFound", "the server could not find the requested resource")
        return openapi.document(self.catalog, group, version, self.kubernetes_version)

    @staticmethod
    def _group_doc(group, versions):
        return {"name": group,
                "versions": [{"groupVersion": f"{group}/{v}", "version": v} for v in versions],
                "preferredVersion": {"groupVersion": f"{group}/{versions[0]}", "version": versions[0]}}

    def _route(self, parts):
        if len(parts) >= 3 and parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        elif len(parts) >= 4 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return None
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3 and not (len(rest) == 3 and rest[2] in ("status", "finalize")):
            namespace, rest = rest[1], rest[2:]
        res = self.catalog.get(group, version, rest[0])
        if res is None or len(rest) > 3:
            return None
        if namespace is not None and not res.namespaced:
            return None
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub is not None and not (sub == "status" and res.status_subresource) \
                and not (sub == "scale" and scale_mod.served(res)):
            return None
        if name is not None and res.namespaced and namespace is None:
            return None
        return res, namespace, name, sub

    @staticmethod
    def _verb(method, name, params):
        if method == "GET":
            if params.get("watch") in ("true", "1"):
                raise _error(405, "MethodNotAllowed", "watch is not served by the test API server")
            return "get" if name else "list"
        if name is None:
            return {"POST": "create", "DELETE": "deletecollection"}.get(method) or _raise(
                _error(405, "MethodNotAllowed", f"{method} is not allowed on a collection"))
        return {"PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method) or _raise(
            _error(405, "MethodNotAllowed", f"{method} is not allowed on an object"))

    @staticmethod
    def _body(request):
        raw = request.body or b""
        try:
            return json.loads(raw) if raw else {}
        except ValueError:
            try:
                return yaml.safe_load(raw)
            except yaml.YAMLError as exc:
                raise _error(400, "BadRequest", f"the request body could not be decoded: {exc}") from exc

    _WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")

    def log_summary(self):
        counted = [e for e in self.log if e["verb"] not in (None, "discovery")]
        writes = [e for e in counted if e["verb"] in self._WRITE_VERBS and not e["dry_run"]]
        by_verb = {}
        for entry in counted:
            by_verb[entry["verb"]] = by_verb.get(entry["verb"], 0) + 1
        return {"requests": len(counted), "writes": len(writes), "by_verb": by_verb}

    def fail(self, verb, resource=None, **options):
        """Make the next `times` requests of `verb` (on `resource`) fail with `status`, or start an outage
        (faults.add: status, times, retry_after, retry_after_in, message, after, dry_run, outage).

        With `retry_after`, the answer asks the client to wait that many seconds the way
        kube-apiserver does: the Retry-After header and the Status body's details.retryAfterSeconds
        (`retry_after_in` keeps only one of them, as a proxy that drops headers would). A 403
        without a message says what kube-apiserver says of the request's user, verb and resource."""
        faults_mod.add(self.faults, verb, resource, **options)

    def _inject_fault(self, entry):
        faults_mod.inject(self, entry, _RetryLaterError)

    # ---- reads -------------------------------------------------------------------------------
    def _key(self, res, namespace, name):
        return (res.group, res.plural, namespace or "" if res.namespaced else "", name)

    def _out(self, res, obj):
        obj = copy.deepcopy(obj)
        obj["apiVersion"], obj["kind"] = res.api_version, res.kind
        return obj

    async def _do_get(self, res, namespace, name, sub, params, body, request):
        obj = self.objects.get(self._key(res, namespace, name))
        if obj is None:
            raise _not_found(res, name)
        return self._out(res, obj)

    def select(self, res, namespace, params):
        try:
            lp = selectors.parse_labels(params.get("labelSelector"))
            fp = selectors.parse_fields(params.get("fieldSelector"))
        except selectors.SelectorError as exc:
            raise _error(400, "BadRequest", str(exc)) from exc
        # keys sort as (namespace, name) within one resource: the order kube-apiserver lists in
        found = self.objects.of_kind(res.group, res.plural, namespace)
        return [obj for _key, obj in sorted(found.items()) if selectors.matches(obj, lp, fp)]

    async def _do_list(self, res, namespace, name, sub, params, body, request):
        selected = self.select(res, namespace, params)
        meta = {"resourceVersion": str(self._last_rv)}
        token = params.get("continue")
        if token:
            after, meta["resourceVersion"] = self._continue_position(token)
            selected = [o for o in selected if self._position(o) > after]
        limit = self._limit(params)
        if limit and len(selected) > limit:
            remaining = len(selected) - limit
            selected = selected[:limit]
            meta["continue"] = base64.urlsafe_b64encode(json.dumps(
                {"v": "meta.k8s.io/v1", "rv": int(meta["resourceVersion"]),
                 "start": list(self._position(selected[-1]))}).encode()).decode()
            meta["remainingItemCount"] = remaining
        return {"apiVersion": res.api_version, "kind": f"{res.kind}List", "metadata": meta,
                "items": [self._out(res, o) for o in selected]}

    @staticmethod
    def _position(obj):
        return (obj["metadata"].get("namespace") or "", obj["metadata"]["name"])

    @staticmethod
    def _limit(params):
        value = params.get("limit")
        if value in (None, ""):
            return None
        try:
            limit = int(value)
        except ValueError:
            raise _error(400, "BadRequest", f'invalid limit "{value}"') from None
        return limit if limit > 0 else None

    @staticmethod
    def _continue_position(token):
        """(namespace, name) the next page starts after, and the list's resourceVersion."""
        try:
            doc = json.loads(base64.urlsafe_b64decode(token.encode()))
            start, rv = tuple(doc["start"]), str(doc["rv"])
            if doc.get("v") != "meta.k8s.io/v1" or len(start) != 2:
                raise ValueError(token)
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise _error(400, "BadRequest", "continue key is not valid: incorrect encoded start "
                         "resourceVersion (version meta.k8s.io/v1)") from None
        return start, rv

    # ---- writes ------------------------------------------------------------------------------
    def _next_rv(self):
        self._last_rv = next(self._rv)
        return str(self._last_rv)

    @staticmethod
    def _dry_run(params):
        value = params.get("dryRun")
        if value not in (None, "", "All"):
            raise _error(400, "BadRequest", f'Invalid dry run value "{value}": supported values: "All"')
        return value == "All"

    @staticmethod
    def _manager(params, request, required=False):
        manager = params.get("fieldManager")
        if not manager:
            if required:
                raise _error(400, "BadRequest", "PATCH /apply requires the fieldManager query parameter")
            agent = (request.headers or {}).get("User-Agent", "unknown")
            manager = agent.split("/")[0] or "unknown"
        return manager

    async def _do_create(self, res, namespace, name, sub, params, body, request):
        if not isinstance(body, dict):
            raise _error(400, "BadRequest", "the request body must be an object")
        meta = body.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
        obj_name = meta.get("name")
        if obj_name and self._key(res, namespace, obj_name) in self.objects:
            raise _error(409, "AlreadyExists", f'{res.group_resource} "{obj_name}" already exists',
                         name=obj_name, group=res.group, kind=res.plural)
        new = self._write(res, namespace, obj_name, None, body, manager=self._manager(params, request),
                          apply=False, sub=None, dry_run=self._dry_run(params),
                          field_validation=self._field_validation(params))
        return Response(status=201, payload=self._out(res, new))

    async def _do_update(self, res, namespace, name, sub, params, body, request):
        key = self._key(res, namespace, name)
        old = self.objects.get(key)
        if old is None:
            raise _not_found(res, name)
        rv = (body.get("metadata") or {}).get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise self._conflict(res, name)
        new = self._write(res, namespace, name, old, body, manager=self._manager(params, request),
                          apply=False, sub=sub, dry_run=self._dry_run(params),
                          field_validation=self._field_validation(params))
        return self._out(res, new)

    @staticmethod
    def _conflict(res, name):
        return _error(409, "Conflict", f'Operation cannot be fulfilled on {res.group_resource} "{name}": '
                      "the object has been modified; please apply your changes to the latest version and try again",
                      name=name, group=res.group, kind=res.plural)

    async def _do_patch(self, res, namespace, name, sub, params, body, request):
        ctype = ((request.headers or {}).get("Content-Type") or "").split(";")[0].strip()
        key = self._key(res, namespace, name)
        old = self.objects.get(key)
        dry_run = self._dry_run(params)
        if ctype == _APPLY_PATCH:
            return await self._apply(res, namespace, name, sub, params, body, request, old, dry_run)
        if old is None:
            raise _not_found(res, name)
        current = copy.deepcopy(old)
        try:
            if ctype == _JSON_PATCH:
                new = patches.json_patch(current, body)
            elif ctype == _MERGE_PATCH:
                new = patches.merge_patch(current, body)
            elif ctype == _STRATEGIC_PATCH:
                if res.crd_name:
                    raise _error(415, "UnsupportedMediaType",
                                 f"the body of the request was in an unknown format - accepted media types "
                                 f"include: {_JSON_PATCH}, {_MERGE_PATCH}, {_APPLY_PATCH}")
                new = patches.strategic_merge_patch(current, body)
            else:
                raise _error(415, "UnsupportedMediaType", f"unsupported patch type {ctype!r}")
        except patches.PatchError as exc:
            raise _error(422, "Invalid", str(exc)) from exc
        rv = (new.get("metadata") or {}).get("resourceVersion")
        if rv and rv != old["metadata"]["resourceVersion"]:
            raise self._conflict(res, name)
        new = self._write(res, namespace, name, old, new, manager=self._manager(params, request),
                          apply=False, sub=sub, dry_run=dry_run, field_validation=self._field_validation(params))
        return self._out(res, new)

    def _scale(self, res, namespace, name, verb, params, body, request):
        """GET, PATCH and PUT of <plural>/<name>/scale (scale.py: kube-apiserver's ScaleREST)."""
        old = self.objects.get(self._key(res, namespace, name))
        if old is None:
            raise _not_found(res, name)
        current = scale_mod.scale_of(old)
        if verb == "get":
            return current
        dry_run = self._dry_run(params)
        if verb == "update":
            wanted = body
        else:
            ctype = ((request.headers or {}).get("Content-Type") or "").split(";")[0].strip()
            patch = {_JSON_PATCH: patches.json_patch, _MERGE_PATCH: patches.merge_patch,
                     _STRATEGIC_PATCH: patches.strategic_merge_patch}.get(ctype)
            if patch is None:
                raise _error(415, "UnsupportedMediaType", f"unsupported patch type {ctype!r} for {res.plural}/scale "
                             "in the test API server")
            try:
                wanted = patch(current, body)
            except patches.PatchError as exc:
                raise _error(422, "Invalid", str(exc)) from exc
        if not isinstance(wanted, dict):
            raise _error(400, "BadRequest", "the request body must be an object")
        causes = scale_mod.problems(wanted)
        if causes:
            raise _error(422, "Invalid", 'Scale.autoscaling "%s" is invalid: %s' % (
                name, "; ".join(f"{f}: {m}" for f, m in causes)), name=name, group="autoscaling", kind="Scale",
                causes=[{"reason": "FieldValueInvalid", "message": m, "field": f} for f, m in causes])
        uid = (wanted.get("metadata") or {}).get("uid")
        if uid and uid != old["metadata"].get("uid"):
            raise _error(409, "Conflict", f'Operation cannot be fulfilled on {res.group_resource}/scale "{name}": '
                         f'Precondition failed: UID in precondition: {uid}, UID in object meta: {old["metadata"].get("uid")}',
                         name=name, group=res.group, kind=f"{res.plural}/scale")
        new = scale_mod.updated_workload(old, wanted)
        if new["metadata"].get("resourceVersion") != old["metadata"]["resourceVersion"]:
            raise self._conflict(res, name)
        new = self._write(res, namespace, name, old, new, manager=self._manager(params, request), apply=False,
                          sub="scale", dry_run=dry_run, field_validation=self._field_validation(params))
        return scale_mod.scale_of(new)

    async def _apply(self, res, namespace, name, sub, params, body, request, old, dry_run):
        manager = self._manager(params, request, required=True)
        if not isinstance(body, dict):
            raise _error(400, "BadRequest", "the apply configuration must be an object")
        for field in ("apiVersion", "kind"):
            if not body.get(field):
                raise _error(400, "BadRequest", f"{field} must be set in an apply configuration")
        if body["kind"] != res.kind:
            raise _error(400, "BadRequest", f"the kind {body['kind']} does not match the URL's {res.kind}")
        body_meta = body.get("metadata") or {}
        if body_meta.get("name") not in (None, name):
            raise _error(400, "BadRequest", f"the name of the object ({body_meta.get('name')}) does not "
                         f"match the name on the URL ({name})")
        # An apply is an update of the patched object: a resourceVersion in the configuration is a
        # precondition, as in any update (apiserver pkg/registry/generic/registry/store.go, Store.Update:
        # newResourceVersion != existingResourceVersion -> Conflict, OptimisticLockErrorMsg); without
        # one the update is unconditional.
        wanted_rv = body_meta.get("resourceVersion")
        if old is not None and wanted_rv and str(wanted_rv) != old["metadata"]["resourceVersion"]:
            raise self._conflict(res, name)
        force = params.get("force") in ("true", "1")
        body = self._reset_fields(res, sub, body)
        try:
            schema_doc = self.catalog.storage_schema(res.group, res.plural) if res.crd_name else None
            shape = self.catalog.shape(res)
            merged = ssa.apply(old, body, manager, force, res.api_version, subresource=sub or "",
                               normalize=self._defaulting(body, schema_doc, shape), shape=shape)
        except ssa.ApplyConflict as exc:
            fields = [(ssa.format_path(p), m) for m, p in exc.conflicts]
            text = "\n".join(f'- conflict with "{m}": {f}' for f, m in fields)
            raise _error(409, "Conflict", f"Apply failed with {len(fields)} conflict"
                         f"{'s' if len(fields) > 1 else ''}: " + (
                             f'conflict with "{fields[0][1]}": {fields[0][0]}' if len(fields) == 1 else "\n" + text),
                         name=name, group=res.group, kind=res.plural,
                         causes=[{"reason": "FieldManagerConflict", "message": f'conflict with "{m}"', "field": f}
                                 for f, m in fields]) from exc
        new = self._write(res, namespace, name, old, merged, manager=manager, apply=True, sub=sub,
                          dry_run=dry_run, field_validation=self._field_validation(params))
        status = 201 if old is None else 200
        return Response(status=status, payload=self._out(res, new))

    @staticmethod
    def _reset_fields(res, sub, body):
        """The apply configuration without the fields the endpoint resets (never stored, owned or compared).

        kube-apiserver's strategies declare them (GetResetFields / ResetFieldsFor), and the field
        manager drops them from the applier's set before it looks for conflicts (structured-merge-diff
        merge/update.go, Updater.Apply: IgnoreFilter). The main resource resets status
        (apiextensions-apiserver pkg/registry/customresource/strategy.go; every built-in with a status
        subresource, e.g. pkg/registry/core/service/strategy.go); Namespaces also spec.finalizers
        (pkg/registry/core/namespace/strategy.go). The status subresource keeps only status (its
        PrepareForUpdate copies everything else from the stored object).
        """
        if not res.status_subresource:
            return body
        if sub == "status":
            meta = body.get("metadata") or {}
            kept = {k: v for k, v in body.items() if k in ("apiVersion", "kind", "status")}
            kept["metadata"] = {k: meta[k] for k in ("name", "namespace") if k in meta}
            return kept
        body = {k: v for k, v in body.items() if k != "status"}
        if res.plural == "namespaces" and "finalizers" in (body.get("spec") or {}):
            body["spec"] = {k: v for k, v in body["spec"].items() if k != "finalizers"}
            if not body["spec"]:
                del body["spec"]
        return body

    @staticmethod
    def _defaulting(applied, schema_doc, shape=None):
        """Schema defaults for the values of the fields an apply configuration sets (a default inside
        a list it sets is no conflict); fields it does not set, such as a defaulted status, are not
        part of the configuration, so they are never compared, as in kube-apiserver."""
        if not schema_doc:
            return None
        wanted = set(ssa.leaves(applied, shape))

        def normalize(obj):
            schema.apply_defaults(obj, schema_doc)
            for path in set(ssa.leaves(obj, shape)) - wanted:
                if not any(path[:len(w)] == w for w in wanted):
                    ssa._delete(obj, path)
        return normalize

    @staticmethod
    def _field_validation(params):
        value = params.get("fieldValidation") or ""
        if value not in ("", "Ignore", "Warn", "Strict"):
            raise _error(400, "BadRequest", f'fieldValidation parameter unsupported: "{value}"; '
                         'must be one of: "Ignore", "Warn", "Strict"')
        return value

    def _write(self, res, namespace, name, old, new, *, manager, apply, sub, dry_run, field_validation=""):
        new = copy.deepcopy(new)
        new["apiVersion"], new["kind"] = res.api_version, res.kind
        meta = new.setdefault("metadata", {})
        if name is None:
            name = meta.get("name")
        if not name:
            raise _invalid(res, "", [("metadata.name", "Required value: name or generateName is required")])
        if meta.get("name") not in (None, name):
            raise _error(400, "BadRequest", f"the name of the object ({meta['name']}) does not match the name "
                         f"on the URL ({name})")
        meta["name"] = name
        if res.namespaced:
            if meta.get("namespace") not in (None, "", namespace):
                raise _error(400, "BadRequest", "the namespace of the provided object does not match the "
                             "namespace sent on the request")
            meta["namespace"] = namespace
            if ("", "namespaces", "", namespace) not in self.objects:
                raise _error(404, "NotFound", f'namespaces "{namespace}" not found', name=namespace, kind="namespaces")
        else:
            meta.pop("namespace", None)

        # status and spec are written through different endpoints
        if sub == "status":
            base = copy.deepcopy(old)
            if "status" in new:
                base["status"] = new["status"]
            else:
                base.pop("status", None)
            base["metadata"]["managedFields"] = meta.get("managedFields", base["metadata"].get("managedFields"))
            new, meta = base, base["metadata"]
        elif res.status_subresource:
            if old is not None and "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)

        try:
            builtins.prepare(res, new, old, self.allocator.dry_run() if dry_run else self.allocator, sub=sub)
        except builtins.Invalid as exc:
            raise _invalid(res, name, exc.causes) from exc
        meta = new["metadata"]

        generation = builtins.has_generation(res)
        if old is not None:
            for field in ("uid", "creationTimestamp", "generation", "deletionTimestamp"):
                if field in old["metadata"]:
                    meta[field] = old["metadata"][field]
                else:
                    meta.pop(field, None)
            meta["resourceVersion"] = old["metadata"]["resourceVersion"]
        else:
            meta.update(uid=secrets.token_hex(16), creationTimestamp=_now())
            meta.pop("resourceVersion", None)
            meta.pop("generation", None)
            if generation:
                meta["generation"] = 1

        if res.crd_name:
            schema_doc = self.catalog.storage_schema(res.group, res.plural)
            if schema_doc:
                unknown = schema.unknown_fields(new, schema_doc) if field_validation == "Strict" else []
                if unknown:
                    # apiserver pkg/endpoints/handlers: a strict decoding error is a 400 BadRequest
                    raise _error(400, "BadRequest", "strict decoding error: "
                                 + ", ".join(f'unknown field "{f}"' for f in unknown))
                schema.apply_defaults(new, schema_doc)
                schema.prune(new, schema_doc)
                causes = schema.validate(new, schema_doc)
                causes += self._validation_rules(res, name, new, old, schema_doc, causes)
                if causes:
                    raise _invalid(res, name, causes)
        causes = self._validate_metadata(res, new)
        if res.plural == "customresourcedefinitions":
            causes += self._validate_crd(new)
        if causes:
            raise _invalid(res, name, causes)

        if generation and old is not None and _spec_part(old) != _spec_part(new):
            meta["generation"] = old["metadata"].get("generation", 1) + 1
        if not apply:
            ssa.record_update(old, new, manager, res.api_version, subresource=sub or "", shape=self.catalog.shape(res))
        if old is not None and _comparable(old) == _comparable(new):
            return old  # a no-op write: nothing stored, resourceVersion unchanged
        meta["resourceVersion"] = self._next_rv()
        if dry_run:
            return new
        self.objects[self._key(res, namespace, name)] = new
        if res.plural == "customresourcedefinitions":
            self._crd_written(new)
        if sub != "status":
            self.workloads.observe(res, new, old)
        self.pods.written(res, new)
        self.waypoints.notify(res, manager, new, old)
        self.routes.notify(res, manager, new, old)
        return new

    @staticmethod
    def _validation_rules(res, name, new, old, schema_doc, causes):
        """x-kubernetes-validations, after the schema's own checks (customresource/strategy.go: not run
        when those found a type error or an unsupported value, hasBlockingErr)."""
        if any(m.startswith("Unsupported value") or "must be of type" in m for _f, m in causes):
            return [("", "some validation rules were not checked because the object was invalid; "
                         "correct the existing errors to complete validation")]
        try:
            return cel.validator(schema_doc).validate(new, old)
        except cel.RuleError as exc:
            raise _error(500, "InternalError", f"Internal error occurred: {res.group_resource} {name!r}: {exc}") from exc

    @staticmethod
    def _validate_metadata(res, obj):
        import re
        causes = []
        meta = obj["metadata"]
        pattern = _DNS_LABEL if res.plural in ("namespaces", "services") else _DNS_SUBDOMAIN
        limit = 63 if pattern == _DNS_LABEL else 253
        if not re.match(pattern, meta["name"]) or len(meta["name"]) > limit:
            causes.append(("metadata.name", f'Invalid value: "{meta["name"]}": a lowercase RFC 1123 '
                           f'{"label" if limit == 63 else "subdomain"} must consist of lower case alphanumeric '
                           "characters, '-' or '.', and must start and end with an alphanumeric character"))
        for key, val in (meta.get("labels") or {}).items():
            if not isinstance(val, str) or len(val) > 63 or not re.match(_LABEL_VALUE, val):
                causes.append(("metadata.labels", f'Invalid value: "{val}": a valid label must be an empty '
                               "string or consist of alphanumeric characters, '-', '_' or '.'"))
            if len(key.split("/")[-1]) > 63:
                causes.append(("metadata.labels", f'Invalid value: "{key}": name part must be no more than 63 characters'))
        for key, val in (meta.get("annotations") or {}).items():
            if not isinstance(val, str):
                causes.append(("metadata.annotations", f"Invalid value: annotation {key} must be a string"))
        return causes

    @staticmethod
    def _validate_crd(crd):
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        causes = []
        for field in ("group", "scope", "versions"):
            if not spec.get(field):
                causes.append((f"spec.{field}", "Required value"))
        if not names.get("plural") or not names.get("kind"):
            causes.append(("spec.names", "Required value: plural and kind are required"))
        elif crd["metadata"]["name"] != f"{names['plural']}.{spec.get('group')}":
            causes.append(("metadata.name", f'Invalid value: "{crd["metadata"]["name"]}": must be '
                           "spec.names.plural+\".\"+spec.group"))
        storage = [v for v in spec.get("versions") or [] if v.get("storage")]
        if spec.get("versions") and len(storage) != 1:
            causes.append(("spec.versions", "Invalid value: must have exactly one version marked as storage version"))
        return causes

    def _crd_written(self, crd):
        """The apiextensions controller: serve the CRD and mark it Established."""
        self.catalog.set_crd(crd)
        if self.hold_crd_establishment:
            return
        self.establish_crd(crd["metadata"]["name"])

    def establish_crd(self, crd_name):
        key = ("apiextensions.k8s.io", "customresourcedefinitions", "", crd_name)
        crd = self.objects[key]
        spec = crd["spec"]
        stamp = _now()
        crd["status"] = {
            "acceptedNames": dict(spec["names"]),
            "storedVersions": [v["name"] for v in spec["versions"] if v.get("storage")],
            "conditions": [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                 "message": "no conflicts found", "lastTransitionTime": stamp},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                 "message": "the initial names have been accepted", "lastTransitionTime": stamp},
            ],
        }
        crd["metadata"]["resourceVersion"] = self._next_rv()

    async def _do_delete(self, res, namespace, name, sub, params, body, request):
        key = self._key(res, namespace, name)
        obj = self.objects.get(key)
        if obj is None:
            raise _not_found(res, name)
        if self._dry_run(params):
            return self._out(res, obj)
        if obj["metadata"].get("deletionTimestamp"):
            return self._out(res, obj)  # already terminating
        delay = self.termination_delays.get(res.kind, self.termination_delays.get(None, 0))
        if params.get("propagationPolicy") == "Foreground" and delay > 0 and res.kind in self.workloads.KINDS \
                and res.group == "apps":
            # foreground deletion: the object stays, marked, until its pods are gone
            obj["metadata"].update(deletionTimestamp=_now(), finalizers=["foregroundDeletion"],
                                   resourceVersion=self._next_rv())
            self.pods.terminating(res, obj)
            asyncio.get_running_loop().call_later(delay, self._remove_if_same, res, key,
                                                  obj["metadata"]["uid"])
            return self._out(res, obj)
        if obj["metadata"].get("finalizers"):
            obj["metadata"].setdefault("deletionTimestamp", _now())
            obj["metadata"]["resourceVersion"] = self._next_rv()
            return self._out(res, obj)
        self._remove(res, key)
        return self._out(res, obj)

    async def _do_deletecollection(self, res, namespace, name, sub, params, body, request):
        dry_run = self._dry_run(params)
        victims = self.select(res, namespace, params)
        if not dry_run:
            for obj in victims:
                self._remove(res, self._key(res, obj["metadata"].get("namespace"), obj["metadata"]["name"]))
        return {"apiVersion": res.api_version, "kind": f"{res.kind}List", "metadata": {},
                "items": [self._out(res, o) for o in victims]}

    def _remove_if_same(self, res, key, uid):
        obj = self.objects.get(key)
        if obj is not None and obj["metadata"].get("uid") == uid:
            self._remove(res, key)

    def _remove(self, res, key):
        gone = self.objects.pop(key, None)
        if res.plural == "services" and not res.group:
            self.allocator.forget(gone)
        self.pods.removed(res, key, gone)
        self.waypoints.notify(res, None, None, gone)
        self.routes.notify(res, None, None, gone)
        if res.plural == "namespaces":  # the namespace controller, done at once
            for other in [k for kind in self.objects.kinds() if kind != ("", "namespaces")
                          for k in self.objects.of_kind(*kind, key[3])]:
                gone = self.objects.pop(other)
                if other[0:2] == ("", "services"):
                    self.allocator.forget(gone)
        if res.plural == "customresourcedefinitions":
            crd_group_plural = tuple(reversed(key[3].split(".", 1)))
            for other in list(self.objects.of_kind(*crd_group_plural)):
                del self.objects[other]
            self.catalog.drop_crd(key[3])


def _raise(exc):
    raise exc
