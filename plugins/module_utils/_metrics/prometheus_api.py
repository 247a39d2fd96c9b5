# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Prometheus's HTTP API (https://prometheus.io/docs/prometheus/latest/querying/api/): instant and range queries,
with the credentials a real Prometheus asks for (a bearer token, basic auth, a CA, a client certificate), through
ansible-core's open_url (proxy settings, TLS and certificate handling as every Ansible HTTP module has them)."""

import json
import time

from ansible.module_utils.six.moves.urllib.error import HTTPError, URLError
from ansible.module_utils.six.moves.urllib.parse import urlencode
from ansible.module_utils.urls import open_url

from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError


class PrometheusApi(object):
    def __init__(self, params):
        self.url = params["url"].rstrip("/")
        self.params = params
        self.queries = 0

    def instant(self, query):
        """[(labels, value)] of an instant query at the server's now (a scalar as one series without labels)."""
        data = self._get("/api/v1/query", {"query": query})
        if data["resultType"] == "scalar":
            return [({}, _number(data["result"][1]))]
        if data["resultType"] != "vector":
            raise AmbientMeshError("Prometheus answered %s to %r; a check needs a vector or a scalar"
                                   % (data["resultType"], query))
        return [(r["metric"], _number(r["value"][1])) for r in data["result"]]

    def range(self, query, seconds, step):
        """[(labels, [(timestamp, value)])] of a range query over the last `seconds`."""
        end = time.time()
        data = self._get("/api/v1/query_range", {"query": query, "start": "%.3f" % (end - seconds),
                                                 "end": "%.3f" % end, "step": step})
        return [(r["metric"], [(float(t), _number(v)) for t, v in r["values"]]) for r in data["result"]]

    def _get(self, path, args):
        p = self.params
        headers = dict(p.get("headers") or {})
        if p.get("bearer_token"):
            headers["Authorization"] = "Bearer %s" % p["bearer_token"]
        url = "%s%s?%s" % (self.url, path, urlencode(args))
        self.queries += 1
        try:
            resp = open_url(url, method="GET", headers=headers, timeout=p["timeout"],
                            validate_certs=p["validate_certs"], ca_path=p.get("ca_path"),
                            client_cert=p.get("client_cert"), client_key=p.get("client_key"),
                            url_username=p.get("username"), url_password=p.get("password"),
                            force_basic_auth=bool(p.get("username")))
            body = resp.read()
        except HTTPError as exc:
            body = exc.read() if hasattr(exc, "read") else b""
            error = _error_of(body)
            if exc.code in (401, 403):
                raise AmbientMeshError("Prometheus at %s refused the credentials (HTTP %d%s): set bearer_token, or "
                                       "username and password, as your Prometheus expects"
                                       % (self.url, exc.code, ": " + error if error else ""), http_status=exc.code)
            if exc.code in (400, 422):
                raise AmbientMeshError("Prometheus refused the query %r: %s" % (args["query"], error or exc.reason),
                                       http_status=exc.code, query=args["query"])
            raise AmbientMeshError("Prometheus at %s answered HTTP %d to %s%s" % (
                self.url, exc.code, path, ": " + error if error else ""), http_status=exc.code, transient=exc.code >= 500)
        except URLError as exc:
            raise AmbientMeshError("cannot reach Prometheus at %s: %s (is url right, and reachable from where the "
                                   "module runs?)" % (self.url, exc.reason), transient=True)
        except (OSError, ValueError) as exc:  # timeouts, TLS errors, a malformed URL
            raise AmbientMeshError("cannot query Prometheus at %s: %s" % (self.url, exc), transient=True)
        try:
            answer = json.loads(body)
        except ValueError:
            raise AmbientMeshError("%s%s did not answer JSON; is url the Prometheus server (for example "
                                   "http://prometheus.istio-system:9090) and not a UI or a proxy's login page?"
                                   % (self.url, path))
        if answer.get("status") != "success":
            raise AmbientMeshError("Prometheus refused the query %r: %s" % (args["query"], answer.get("error")))
        return answer["data"]


def _number(text):
    return float(text)  # Prometheus writes NaN, +Inf and -Inf as strings float() reads


def _error_of(body):
    try:
        answer = json.loads(body)
        return "%s: %s" % (answer.get("errorType"), answer.get("error"))
    except (ValueError, AttributeError):
        return (body or b"")[:200].decode("utf-8", "replace").strip()
