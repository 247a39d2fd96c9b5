# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What an API server's errors say, in words an operator can act on: the Status of a refused request,
the permission a 403 lacks, a connection that failed."""


import json
import re
import socket

from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError
from ansible_collections.ambient.mesh.plugins.module_utils._kube.retry import RETRYABLE_STATUS


def status_of(exc):
    return getattr(exc, "status", None)


def status_body(exc):
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
    body = status_body(exc)
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


def unresolved_text(exc):
    """'the host name X does not resolve (why)' when the failure is a name resolution (DNS) error, else None."""
    for err in _chain(exc):
        if isinstance(err, socket.gaierror) or type(err).__name__ == "NameResolutionError":
            host = getattr(err, "_host", None)  # urllib3's NameResolutionError keeps the name it failed on
            why = getattr(err, "_reason", None) if not isinstance(err, socket.gaierror) else err
            why = getattr(why, "strerror", None) or str(why or err)
            return "the host name %sdoes not resolve (%s)" % ("%s " % host if host else "", why)
    return None


def connection_text(exc, url):
    """One line for a connection failure, the same for every object it hit (so that a batch groups it):
    urllib3's own text holds the address of a connection object, different per request."""
    if is_refused(exc):
        return "connection refused to %s" % url
    text = re.sub(r"<[^<>]* object at 0x[0-9a-fA-F]+>:?\s*", "", str(exc)).strip(" :") or type(exc).__name__
    return "connection to %s failed: %s" % (url, text)


def url_of(exc):
    pool = getattr(exc, "pool", None)  # urllib3's MaxRetryError names the pool it tried
    if pool is not None and getattr(pool, "host", None):
        return "%s://%s:%s" % (getattr(pool, "scheme", "https"), pool.host, pool.port)
    return "the API server"
