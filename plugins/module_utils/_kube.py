# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Kubernetes API client of the collection.

Built on kubernetes.core's client creation (auth options, K8S_AUTH_* variables, kubeconfig,
impersonation, proxies). On top of it: discovery that sees CRDs created a moment ago, server-side
apply with the field manager ``ambient.mesh``, dryRun=All for check mode, LIST with selectors,
and retries with backoff on 429/5xx/connection errors within a time budget per request.

How a run meets a dead or failing API server (what an operator on call wants to see):
- connection refused on the first request of a run, from a server that never answered in this run:
  fail at once, naming the server URL (a wrong kubeconfig or a server that is down: retrying for a
  minute helps neither);
- a server that answered and then refuses or drops connections is an outage: retried with backoff,
  but all requests of the run share one outage budget (`request_budget` seconds from the first
  refused request), so a batch of 500 requests gives up together, not 500 times in a row;
- every retry is counted (`retries` in the result, by reason);
- a 403 names the permission that is missing, from the Status the API server sends.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import threading
import time

from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError
from ansible_collections.ambient.mesh.plugins.module_utils._retry import (
    RETRYABLE_STATUS,
    Budget,
    call_with_retries,
    retry_after_seconds,
)

try:
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.exceptions import CoreException
    from kubernetes.dynamic.exceptions import DynamicApiError
    import urllib3.exceptions
    import yaml

    HAS_KUBERNETES = True
    CONNECTION_ERRORS = (urllib3.exceptions.HTTPError, ConnectionError)
    # what the kubernetes client lets through while it reads the kubeconfig (yaml.safe_load in
    # kubernetes/config/kube_config.py) and the certificate files (ssl, on the first request)
    FILE_ERRORS = (OSError, yaml.YAMLError)
except ImportError:
    HAS_KUBERNETES = False
    CONNECTION_ERRORS = (ConnectionError,)
    FILE_ERRORS = (OSError,)

    class DynamicApiError(Exception):
        pass

    class CoreException(Exception):
        pass


FIELD_MANAGER = "ambient.mesh"
APPLY_PATCH = "application/apply-patch+yaml"
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


class ResourceType(object):
    """What discovery says about one kind at one group/version."""

    def __init__(self, group, version, plural, kind, namespaced, subresources=()):
        self.group = group
        self.version = version
        self.plural = plural
        self.kind = kind
        self.namespaced = namespaced
        self.subresources = frozenset(subresources)

    @property
    def api_version(self):
        return "%s/%s" % (self.group, self.version) if self.group else self.version

    def path(self, namespace=None, name=None, subresource=None):
        base = "/apis/%s/%s" % (self.group, self.version) if self.group else "/api/%s" % self.version
        if self.namespaced and namespace:
            base += "/namespaces/%s" % namespace
        base += "/" + self.plural
        if name:
            base += "/" + name
        if subresource:
            base += "/" + subresource
        return base


def split_api_version(api_version):
    if "/" in api_version:
        group, version = api_version.split("/", 1)
        return group, version
    return "", api_version


def status_of(exc):
    return getattr(exc, "status", None)


def _status_body(exc):
    try:
        return json.loads(exc.body)
    except (TypeError, ValueError, AttributeError):
        return {}


# kube-apiserver's authorization denial (k8s.io/apiserver pkg/endpoints/handlers/responsewriters/errors.go,
# forbiddenMessage), inside apierrors.NewForbidden's '<resource> "<name>" is forbidden: <that>'.
_FORBIDDEN = re.compile(r'User "(?P<user>[^"]*)" cannot (?P<verb>\S+) resource "(?P<resource>[^"]*)" in API group '
                        r'"(?P<group>[^"]*)"(?: in the namespace "(?P<namespace>[^"]*)"| at the cluster scope)')


def forbidden_text(message):
    """What a 403 says is missing, as an operator grants it; None when the message is not kube-apiserver's."""
    match = _FORBIDDEN.search(message or "")
    if not match:
        return None
    where = 'in namespace %s (a Role there, or a ClusterRole)' % match.group("namespace") if match.group("namespace") \
        else "at the cluster scope (a ClusterRole)"
    return ('permission denied: user %s may not %s %s (API group "%s") %s; grant it a rule '
            '{apiGroups: ["%s"], resources: ["%s"], verbs: ["%s"]}: running again will not help until then'
            % (match.group("user"), match.group("verb"), match.group("resource"), match.group("group"), where,
               match.group("group"), match.group("resource"), match.group("verb")))


def api_error(exc, action):
    """An AmbientMeshError carrying the API server's own Status message."""
    body = _status_body(exc)
    status = status_of(exc)
    message = body.get("message") or getattr(exc, "summary", lambda: str(exc))()
    details = body.get("details") or {}
    causes = details.get("causes") or []
    cause = "%s %s: %s" % (status, body.get("reason") or getattr(exc, "reason", ""), message)
    if status == 403:
        cause = forbidden_text(message) or ("403 Forbidden: %s: the credentials lack a permission (RBAC); "
                                            "running again will not help until it is granted" % message)
    if status == 409 and any(c.get("reason") == "FieldManagerConflict" for c in causes):
        owners = sorted(set(c.get("message", "") for c in causes))
        fields = [c.get("field") for c in causes]
        cause = ("fields %s are owned by another field manager (%s); set force_conflicts: true to "
                 "take them over, or leave them to their owner" % (", ".join(fields), "; ".join(owners)))
    return AmbientMeshError("%s failed: %s" % (action, cause), cause=cause,
                            transient=status in RETRYABLE_STATUS, status=status, reason=body.get("reason"),
                            causes=causes)


def _chain(exc):
    seen = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        reason = getattr(exc, "reason", None)  # urllib3's MaxRetryError keeps the error it gave up on here
        exc = exc.__cause__ or exc.__context__ or (reason if isinstance(reason, BaseException) else None)
    return seen


def is_refused(exc):
    """A connection the server's host refused (nothing listens there): ECONNREFUSED anywhere in the chain."""
    return any(isinstance(e, ConnectionRefusedError) for e in _chain(exc)) or "Connection refused" in str(exc)


def connection_text(exc, url):
    """One line for a connection failure, the same for every object it hit (so that a batch groups it):
    urllib3's own text holds the address of a connection object, different per request."""
    if is_refused(exc):
        return "connection refused to %s" % url
    text = re.sub(r"<[^<>]* object at 0x[0-9a-fA-F]+>:?\s*", "", str(exc)).strip(" :") or type(exc).__name__
    return "connection to %s failed: %s" % (url, text)


def _url_of(exc):
    pool = getattr(exc, "pool", None)  # urllib3's MaxRetryError names the pool it tried
    if pool is not None and getattr(pool, "host", None):
        return "%s://%s:%s" % (getattr(pool, "scheme", "https"), pool.host, pool.port)
    return "the API server"


def kubeconfig_problem(params, environ=None):
    """Which kubeconfig file was looked for and is missing, as a message; None when that is not the problem.

    The order is kubernetes.core's (the kubeconfig option, then K8S_AUTH_KUBECONFIG) and then the kubernetes
    client's default (KUBECONFIG, else ~/.kube/config: kubernetes/config/kube_config.py).
    """
    paths, source = _kubeconfig_paths(params, environ)
    if paths is None:
        return None
    missing = [p for p in paths if not os.path.isfile(p)]
    if not paths or len(missing) < len(paths):
        return None
    return ("kubeconfig %s does not exist (%s): give the path of a kubeconfig file (the kubeconfig option or "
            "K8S_AUTH_KUBECONFIG), or host with api_key" % (", ".join(_unmasked(p) for p in missing), source))


def _kubeconfig_paths(params, environ=None):
    """(the kubeconfig files the client reads, where that came from); (None, None) for an inline kubeconfig."""
    environ = os.environ if environ is None else environ
    given = params.get("kubeconfig")
    if isinstance(given, dict):
        return None, None
    if given:
        source = "the kubeconfig option"
    elif environ.get("K8S_AUTH_KUBECONFIG"):
        given, source = environ["K8S_AUTH_KUBECONFIG"], "K8S_AUTH_KUBECONFIG"
    elif environ.get("KUBECONFIG"):
        given, source = environ["KUBECONFIG"], "KUBECONFIG"
    else:
        given, source = "~/.kube/config", "the default, as neither kubeconfig nor K8S_AUTH_KUBECONFIG is set"
    return [os.path.expanduser(p) for p in str(given).split(os.pathsep) if p], source


def file_problem(params, exc, environ=None):
    """A file given to the client that it cannot read or parse (a directory, a file that is not YAML, a missing
    certificate), as a message naming the option and the path."""
    reason = _reason(exc)
    filename = getattr(exc, "filename", None)
    for option in ("ca_cert", "client_cert", "client_key"):
        value = params.get(option)
        if filename and value and os.path.abspath(os.path.expanduser(value)) == os.path.abspath(filename):
            return "%s %s cannot be read: %s: give the path of a readable PEM file" % (option, value, reason)
    paths, source = _kubeconfig_paths(params, environ)
    if paths and (not isinstance(exc, OSError) or (filename and os.path.abspath(filename) in map(os.path.abspath, paths))):
        where = _unmasked(filename) if filename else ", ".join(_unmasked(p) for p in paths)
        what = reason if isinstance(exc, OSError) else "it is not a kubeconfig file (YAML): %s" % reason
        return "kubeconfig %s cannot be read (%s): %s; give the path of a kubeconfig file" % (where, source, what)
    return "cannot connect to Kubernetes: %s (check kubeconfig, ca_cert, client_cert and client_key)" % reason


def _reason(exc):
    """The error without the file's path (a kubeconfig path would be masked as no_log): a YAML error's problem and
    where it is (PyYAML's MarkedYAMLError), an OSError's strerror."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if problem and mark is not None:
        return "%s %s at line %d, column %d" % (getattr(exc, "context", None) or "", problem, mark.line + 1, mark.column + 1)
    return " ".join(str(exc).split())[:300] or type(exc).__name__


def unmask_paths(text, params, environ=None):
    """text with each kubeconfig path as _unmasked gives it, so that Ansible's no_log masking leaves it readable
    (the kubernetes client names the file: "Invalid kube-config. <path> file is empty")."""
    paths = _kubeconfig_paths(params, environ)[0] or []
    for path in sorted(paths, key=len, reverse=True):
        text = text.replace(path, _unmasked(path))
    return text


def _unmasked(path):
    """The path as "<name> in <directory>": kubernetes.core declares kubeconfig no_log (it may be an inline
    config with credentials), so Ansible would print the path itself as ********; a path is no secret."""
    directory, name = os.path.split(path)
    return "%s in %s/" % (name, directory) if directory and name else path


class KubeApi(object):
    """One module run's view of the API server."""

    def __init__(self, module, budget_seconds=60, field_manager=FIELD_MANAGER, sleep=time.sleep,
                 clock=time.monotonic):
        if not HAS_KUBERNETES:
            raise AmbientMeshError("the kubernetes Python library is required on the host that runs this module: "
                                   "pip install kubernetes")
        try:
            self._client = get_api_client(module=module).client
        except CoreException as exc:
            raise AmbientMeshError(kubeconfig_problem(module.params) or "cannot connect to Kubernetes: %s"
                                   % unmask_paths(str(exc), module.params))
        except CONNECTION_ERRORS as exc:
            # kubernetes.core asks for /version while it creates the client: this is the run's first request
            raise AmbientMeshError("cannot reach the Kubernetes API server: %s; it has not answered once in this run, "
                                   "so this was not retried: check that it runs and that kubeconfig, context or host "
                                   "point at it" % connection_text(exc, _url_of(exc)))
        except FILE_ERRORS as exc:
            raise AmbientMeshError(file_problem(module.params, exc))
        self.url = getattr(getattr(self._client, "configuration", None), "host", None) or "the API server"
        self.field_manager = field_manager
        # Each request gets its own retry budget: a module that waits for minutes must still ride
        # out a 503 that comes late in its run.
        self.budget_seconds = budget_seconds
        self._sleep = sleep
        self._clock = clock
        self._discovered = {}
        self._lock = threading.Lock()
        self._answered = False  # the server answered (any HTTP status) at least once in this run
        self._outage_deadline = None  # while it refuses after having answered: when to give up
        self._retries = {}  # reason -> count
        self._retry_seconds = 0.0
        self._own_the_retries()

    def _own_the_retries(self):
        """Leave every retry to request(): urllib3 under the kubernetes client would otherwise retry a
        429/503 that carries Retry-After by itself, up to three times, sleeping outside the budget
        and out of sight (and a dropped connection, before request() could count it)."""
        rest = getattr(getattr(self._client, "client", None), "rest_client", None)
        pools = getattr(rest, "pool_manager", None)
        if pools is not None and hasattr(pools, "connection_pool_kw"):
            pools.connection_pool_kw["retries"] = False
            pools.clear()

    # ---- transport ---------------------------------------------------------------------
    def _classify(self, exc):
        if isinstance(exc, DynamicApiError) and status_of(exc) in RETRYABLE_STATUS:
            return retry_after_seconds(getattr(exc, "headers", None), _status_body(exc)) or 0
        if isinstance(exc, CONNECTION_ERRORS):
            with self._lock:
                if not self._answered and is_refused(exc):
                    return None  # fail fast: nothing listens there, and nothing did in this run
                if self._outage_deadline is None:
                    self._outage_deadline = self._clock() + self.budget_seconds
            return 0
        return None

    def _on_retry(self, exc, delay):
        reason = str(status_of(exc)) if isinstance(exc, DynamicApiError) else (
            "connection refused" if is_refused(exc) else "connection error")
        with self._lock:
            self._retries[reason] = self._retries.get(reason, 0) + 1
            self._retry_seconds += delay

    def _answer(self):
        with self._lock:
            self._answered = True
            self._outage_deadline = None

    @property
    def retries(self):
        """Retries taken in this run: {count, by_reason: {"503": 2, "connection refused": 4}, seconds}."""
        with self._lock:
            return {"count": sum(self._retries.values()), "by_reason": dict(self._retries),
                    "seconds": round(self._retry_seconds, 3)}

    def request(self, method, path, body=None, content_type=None, query=None, action=None):
        """The decoded JSON answer; DynamicApiError for an error status after retries."""
        params = {"serializer": lambda _client, data: data, "query_params": list((query or {}).items())}
        if content_type:
            params["content_type"] = content_type

        def send():
            try:
                answer = self._client.request(method, path, body=body, **params)
            except DynamicApiError:
                self._answer()
                raise
            self._answer()
            return answer

        try:
            return call_with_retries(send, self._classify, _RequestBudget(self, self.budget_seconds),
                                     sleep=self._sleep, on_retry=self._on_retry)
        except CONNECTION_ERRORS as exc:
            cause = connection_text(exc, self.url)
            with self._lock:
                answered = self._answered
            if answered:
                note = "; it answered earlier in this run (an outage): retried for up to %ss" % self.budget_seconds
            elif is_refused(exc):
                note = ("; it has not answered once in this run, so this was not retried: check that the API "
                        "server runs and that kubeconfig, context or host point at it")
            else:
                note = ""
            raise AmbientMeshError("%s failed: cannot reach the Kubernetes API server: %s%s"
                                   % (action or "%s %s" % (method, path), cause, note), cause=cause, transient=True)

    # ---- discovery ---------------------------------------------------------------------
    def _group_version(self, group, version, refresh=False):
        key = (group, version)
        with self._lock:
            if key in self._discovered and not refresh:
                return self._discovered[key]
        path = "/apis/%s/%s" % (group, version) if group else "/api/%s" % version
        try:
            doc = self.request("GET", path, action="discovery of %s" % path)
        except DynamicApiError as exc:
            if status_of(exc) != 404:
                raise api_error(exc, "discovery of %s" % path)
            doc = {"resources": []}
        found = {}
        subresources = {}
        for entry in doc.get("resources", []):
            name = entry["name"]
            if "/" in name:
                base, sub = name.split("/", 1)
                subresources.setdefault(base, set()).add(sub)
                continue
            found[entry["kind"]] = (name, entry.get("namespaced", False))
        types = dict(
            (kind, ResourceType(group, version, plural, kind, namespaced, subresources.get(plural, ())))
            for kind, (plural, namespaced) in found.items()
        )
        with self._lock:
            self._discovered[key] = types
        return types

    def resource(self, api_version, kind, required=True):
        """The ResourceType of a kind; asks the server again before saying it is not served."""
        group, version = split_api_version(api_version)
        types = self._group_version(group, version)
        if kind not in types:
            types = self._group_version(group, version, refresh=True)
        if kind not in types:
            if not required:
                return None
            raise AmbientMeshError(
                "%s %s is not served by this cluster: install its CustomResourceDefinition first "
                "(for Gateway API kinds, the ambient.mesh.gateway_api_crds module)" % (api_version, kind))
        return types[kind]

    # ---- reads -------------------------------------------------------------------------
    def get(self, api_version, kind, name, namespace=None):
        res = self.resource(api_version, kind)
        try:
            return self.request("GET", res.path(namespace, name))
        except DynamicApiError as exc:
            if status_of(exc) == 404:
                return None
            raise api_error(exc, "get %s %s" % (kind, _ref(namespace, name)))

    def list(self, api_version, kind, namespace=None, label_selector=None, field_selector=None, required=True):
        """Every object of a kind (in a namespace, or all), following pagination."""
        res = self.resource(api_version, kind, required=required)
        if res is None:
            return []
        items = []
        query = {"limit": 500}
        if label_selector:
            query["labelSelector"] = label_selector
        if field_selector:
            query["fieldSelector"] = field_selector
        while True:
            try:
                doc = self.request("GET", res.path(namespace), query=query)
            except DynamicApiError as exc:
                raise api_error(exc, "list %s" % kind)
            for item in doc.get("items") or []:
                item.setdefault("apiVersion", res.api_version)
                item.setdefault("kind", kind)
                items.append(item)
            token = (doc.get("metadata") or {}).get("continue")
            if not token:
                return items
            query["continue"] = token

    # ---- writes ------------------------------------------------------------------------
    def apply(self, obj, dry_run=False, force=False, subresource=None):
        """Server-side apply of obj as field manager ambient.mesh; the object the server returns."""
        res = self.resource(obj["apiVersion"], obj["kind"])
        meta = obj.get("metadata") or {}
        query = {"fieldManager": self.field_manager}
        if force:
            query["force"] = "true"
        if dry_run:
            query["dryRun"] = "All"
        action = "apply %s %s" % (obj["kind"], _ref(meta.get("namespace"), meta.get("name")))
        try:
            return self.request("PATCH", res.path(meta.get("namespace"), meta.get("name"), subresource),
                                body=json.dumps(obj), content_type=APPLY_PATCH, query=query, action=action)
        except DynamicApiError as exc:
            raise api_error(exc, action)

    def patch(self, api_version, kind, name, patch, namespace=None, patch_type=MERGE_PATCH, dry_run=False):
        res = self.resource(api_version, kind)
        query = {"fieldManager": self.field_manager}
        if dry_run:
            query["dryRun"] = "All"
        action = "patch %s %s" % (kind, _ref(namespace, name))
        try:
            return self.request("PATCH", res.path(namespace, name), body=patch, content_type=patch_type,
                                query=query, action=action)
        except DynamicApiError as exc:
            raise api_error(exc, action)

    def delete(self, api_version, kind, name, namespace=None, dry_run=False):
        """The deleted object, or None when it was already gone."""
        res = self.resource(api_version, kind)
        query = {"dryRun": "All"} if dry_run else {}
        action = "delete %s %s" % (kind, _ref(namespace, name))
        try:
            return self.request("DELETE", res.path(namespace, name), query=query, action=action)
        except DynamicApiError as exc:
            if status_of(exc) == 404:
                return None
            raise api_error(exc, action)

    def server_version(self):
        try:
            return self.request("GET", "/version", action="GET /version")
        except DynamicApiError as exc:
            raise api_error(exc, "GET /version")


class _RequestBudget(Budget):
    """A request's own budget, cut short by the run's outage budget while the server refuses."""

    def __init__(self, api, seconds):
        super(_RequestBudget, self).__init__(seconds, clock=api._clock)
        self._api = api

    def left(self):
        left = super(_RequestBudget, self).left()
        outage = self._api._outage_deadline
        return left if outage is None else min(left, outage - self._clock())


def run_concurrently(func, items, workers):
    """[(item, result, error)] in the order of items, at most `workers` calls at a time."""
    items = list(items)
    if not items:
        return []
    # imported here: a run with nothing to do in parallel (a no-op) does not pay for concurrent.futures
    from concurrent.futures import ThreadPoolExecutor

    def call(item):
        try:
            return item, func(item), None
        except AmbientMeshError as exc:
            return item, None, exc

    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(items)))) as pool:
        return list(pool.map(call, items))


def _ref(namespace, name):
    return "%s/%s" % (namespace, name) if namespace else str(name)
