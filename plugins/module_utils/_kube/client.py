# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The Kubernetes API client of the collection.

Built on kubernetes.core's client creation (auth options, K8S_AUTH_* variables, kubeconfig,
impersonation, proxies). On top of it: discovery that sees CRDs created a moment ago, server-side
apply with the field manager ``ambient.mesh``, dryRun=All for check mode, LIST with selectors,
and retries with backoff on 429/5xx/connection errors within a time budget per request.

How a run meets a dead or failing API server (what an operator on call wants to see):
- connection refused on the first request of a run (a task: one module process), from a server that has
  never answered from this host (or not within 24 h): fail at once, naming the server URL (a wrong
  kubeconfig or port: retrying for a minute helps neither); a host name that does not resolve, the same;
- a server that answered, in this run or in an earlier task on this host (answered.py keeps that fact
  across module processes), and now refuses or drops connections is an outage: retried with backoff, but
  all requests of the run share one outage budget (`request_budget` seconds from the first refused
  request), so a batch of 500 requests gives up together, not 500 times in a row;
- every retry is counted (`retries` in the result, by reason);
- a 403 names the permission that is missing, from the Status the API server sends.
"""


import json
import threading
import time

from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError
from ansible_collections.ambient.mesh.plugins.module_utils._kube.answered import AnswerRecord, judge_refusal, unresolved_verdict
from ansible_collections.ambient.mesh.plugins.module_utils._kube.api_errors import (
    status_body,
    url_of,
    api_error,
    connection_text,
    is_refused,
    status_of,
    unresolved_text,
)
from ansible_collections.ambient.mesh.plugins.module_utils._kube.kubeconfig import file_problem, kubeconfig_problem, unmask_paths
from ansible_collections.ambient.mesh.plugins.module_utils._kube.retry import (
    RETRYABLE_STATUS,
    Budget,
    call_with_retries,
    retry_after_seconds,
)

from ansible_collections.ambient.mesh.plugins.module_utils._kube.imports import (
    CONNECTION_ERRORS,
    FILE_ERRORS,
    HAS_KUBERNETES,
    CoreException,
    DynamicApiError,
    get_api_client,
)


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


class KubeApi(object):
    """One module run's view of the API server."""

    def __init__(self, module, budget_seconds=60, field_manager=FIELD_MANAGER, sleep=time.sleep,
                 clock=time.monotonic, wall_clock=time.time, environ=None):
        if not HAS_KUBERNETES:
            raise AmbientMeshError("the kubernetes Python library is required on the host that runs this module: "
                                   "pip install kubernetes")
        self.url = "the API server"
        self.field_manager = field_manager
        # Each request gets its own retry budget: a module that waits for minutes must still ride
        # out a 503 that comes late in its run.
        self.budget_seconds = budget_seconds
        self._sleep = sleep
        self._clock = clock
        self._wall_clock = wall_clock  # the records' time (answered.py): it outlives the process
        self._environ = environ  # where the records are kept (answered.record_dir); None: os.environ
        self._warn = getattr(module, "warn", None)
        self._discovered = {}
        self._lock = threading.Lock()
        self._answered = False  # the server answered (any HTTP status) at least once in this run
        self._refusal = None  # answered.Verdict on the first refusal before any answer in this run
        self._outage_deadline = None  # while it refuses after having answered: when to give up
        self._retries = {}  # reason -> count
        self._retry_seconds = 0.0
        self._client = self._connect(module)
        self.url = getattr(getattr(self._client, "configuration", None), "host", None) or self.url
        self._own_the_retries()

    def _connect(self, module):
        """kubernetes.core's client. Creating it asks the server for /version and the API groups unless the
        kubernetes client's discovery cache (a file in the temp dir) has them: then that is the run's first
        request, judged as any other (_classify)."""
        def create():
            return get_api_client(module=module).client

        try:
            return call_with_retries(create, lambda exc: self._classify(exc, url_of(exc)),
                                     _RequestBudget(self, self.budget_seconds), sleep=self._sleep,
                                     on_retry=self._on_retry)
        except CoreException as exc:
            raise AmbientMeshError(kubeconfig_problem(module.params) or "cannot connect to Kubernetes: %s"
                                   % unmask_paths(str(exc), module.params))
        except CONNECTION_ERRORS as exc:
            raise AmbientMeshError("cannot reach the Kubernetes API server: %s%s"
                                   % (connection_text(exc, url_of(exc)), self._not_retried(exc)))
        except FILE_ERRORS as exc:
            raise AmbientMeshError(file_problem(module.params, exc))
        except DynamicApiError as exc:  # a 5xx to discovery, retried until the budget ran out
            raise api_error(exc, "discovery of the API server's groups")

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
    def _classify(self, exc, url=None):
        if isinstance(exc, DynamicApiError) and status_of(exc) in RETRYABLE_STATUS:
            return retry_after_seconds(getattr(exc, "headers", None), status_body(exc)) or 0
        if isinstance(exc, CONNECTION_ERRORS):
            warning = None
            with self._lock:
                if not self._answered:
                    if unresolved_text(exc):
                        return None  # fail fast: the name does not resolve (a typo, or a name that is gone)
                    if is_refused(exc):
                        if self._refusal is None:
                            self._refusal = self._judge_refusal(url or self.url)
                            warning = self._refusal.warning
                        if not self._refusal.ride_out:
                            return None  # fail fast: nothing listens there, and nothing answered from this host
                if self._outage_deadline is None:
                    self._outage_deadline = self._clock() + self.budget_seconds
            if warning and self._warn is not None:
                self._warn("the Kubernetes API server %s refused the first request of this task, but %s"
                           % (url or self.url, warning))
            return 0
        return None

    def _record(self, url):
        return AnswerRecord(url, environ=self._environ, clock=self._wall_clock)

    def _judge_refusal(self, url):
        """Read once per run, on the first refusal before any answer: did the server answer from this host before?"""
        return judge_refusal(self._record(url).answered_at(), self._wall_clock(), self.budget_seconds)

    def _not_retried(self, exc):
        """Why a connection failure is final: the end of its message."""
        with self._lock:
            answered, refusal = self._answered, self._refusal
        if answered:
            return "; it answered earlier in this run (an outage): retried for up to %ss" % self.budget_seconds
        unresolved = unresolved_text(exc)
        if unresolved:
            return "; " + unresolved_verdict(unresolved).note
        if refusal is not None and is_refused(exc):
            return "; " + refusal.note
        return ""

    def _on_retry(self, exc, delay):
        reason = str(status_of(exc)) if isinstance(exc, DynamicApiError) else (
            "connection refused" if is_refused(exc) else "connection error")
        with self._lock:
            self._retries[reason] = self._retries.get(reason, 0) + 1
            self._retry_seconds += delay

    def _answer(self):
        with self._lock:
            first = not self._answered
            self._answered = True
            self._outage_deadline = None
        if first:  # once per run: what tells a later task's refusal from a server that was never there
            self._record(self.url).note_answer()

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
            raise AmbientMeshError("%s failed: cannot reach the Kubernetes API server: %s%s"
                                   % (action or "%s %s" % (method, path), cause, self._not_retried(exc)),
                                   cause=cause, transient=True)

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


def _ref(namespace, name):
    return "%s/%s" % (namespace, name) if namespace else str(name)
