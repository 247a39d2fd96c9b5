# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether an API server has answered from this host before: what tells "stopped answering" (an outage, ridden
out) from "never reachable" (a wrong URL or port: fail at once) when the first request of a task is refused.

Every task is a module process of its own, so a fact kept in memory dies with the task that learnt it; an outage
that starts between two tasks would otherwise look to the second one like a server that was never there. The fact
is therefore kept on the host that runs the modules: one small JSON file per API server (scheme, host and port,
hashed), {"server": ..., "answered_at": <epoch seconds>}, written once per module process, on the server's first
answer. Its directory is $AMBIENT_MESH_CACHE_DIR, else $XDG_CACHE_HOME/ambient.mesh, else ~/.cache/ambient.mesh
(then /api-servers). A directory that cannot be read or written only loses the fact: the task then behaves as
if the server had never answered (fail fast), it never fails because of the record.
"""


import hashlib
import json
import os
import tempfile
import time
from urllib.parse import urlsplit

ENV = "AMBIENT_MESH_CACHE_DIR"
# An answer older than this says little about the server now (a lab torn down, a port given to something else):
# a refusal is then treated as a server that never answered.
WINDOW = 24 * 3600
_DEFAULT_PORTS = {"http": 80, "https": 443}


def server_key(url):
    """'scheme://host:port' of a server URL (what refuses or answers a connection), or None when it has no host."""
    try:
        parts = urlsplit(url or "")
        port = parts.port
    except ValueError:
        return None
    scheme = (parts.scheme or "https").lower()
    if not parts.hostname:
        return None
    return "%s://%s:%s" % (scheme, parts.hostname.lower(), port or _DEFAULT_PORTS.get(scheme, 443))


def record_dir(environ=None):
    """Where the records are kept; None when there is no place (no home directory)."""
    environ = os.environ if environ is None else environ
    base = environ.get(ENV)
    if not base:
        cache = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        if cache.startswith("~"):  # no home directory to expand it to
            return None
        base = os.path.join(cache, "ambient.mesh")
    return os.path.join(base, "api-servers")


def when(epoch):
    """An answer's time as an operator reads it in a log: UTC, to the second."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def ago(seconds):
    seconds = max(0, int(seconds))
    if seconds < 120:
        return "%ds" % seconds
    if seconds < 7200:
        return "%dmin" % (seconds // 60)
    return "%dh" % (seconds // 3600)


class AnswerRecord(object):
    """The record of one API server: read when its first request in a task is refused, written on its first answer."""

    def __init__(self, url, environ=None, clock=time.time):
        self.server = server_key(url)
        directory = record_dir(environ)
        self.path = None
        if self.server and directory:
            digest = hashlib.sha256(self.server.encode("utf-8")).hexdigest()[:32]
            self.path = os.path.join(directory, digest + ".json")
        self._clock = clock

    def answered_at(self):
        """Epoch seconds of the last answer recorded from this host; None when there is none (or it is unreadable)."""
        if not self.path:
            return None
        try:
            with open(self.path) as handle:
                doc = json.load(handle)
        except (OSError, ValueError):
            return None
        if not isinstance(doc, dict) or doc.get("server") != self.server:
            return None
        at = doc.get("answered_at")
        return float(at) if isinstance(at, (int, float)) and not isinstance(at, bool) else None

    def note_answer(self):
        """Record that the server answered now; True when written. Never raises: without a record, a later task
        fails fast on a refusal, as it did before records were kept."""
        if not self.path:
            return False
        directory = os.path.dirname(self.path)
        tmp = None
        try:
            if not os.path.isdir(directory):
                os.makedirs(directory, 0o700)
            fd, tmp = tempfile.mkstemp(dir=directory, prefix=".answered-", suffix=".tmp")
            with os.fdopen(fd, "w") as handle:
                json.dump({"server": self.server, "answered_at": round(self._clock(), 3)}, handle)
            os.replace(tmp, self.path)  # atomic: a reader sees the old record or the new one
            return True
        except (OSError, TypeError, ValueError):
            if tmp is not None:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass
            return False


class Verdict(object):
    """What the first refused request of a task means: ride it out (an outage) or fail at once, and why."""

    def __init__(self, ride_out, note, warning=None):
        self.ride_out = ride_out
        self.note = note  # the end of the failure message, after the cause
        self.warning = warning  # what a ride-out says while it starts (a module warning)


def judge_refusal(answered_at, now, budget_seconds, window=WINDOW):
    """The verdict on a connection refused before the server answered in this task, from the record's time."""
    if answered_at is None:
        return Verdict(False, "it has never answered from this host, so this was not retried: check that the API "
                              "server runs and that kubeconfig, context or host point at it")
    if now - answered_at > window or answered_at - now > 300:
        return Verdict(False, "it last answered from this host at %s, more than %dh ago, so this was not retried: "
                              "check that the API server runs and that kubeconfig, context or host point at it"
                       % (when(answered_at), window // 3600))
    return Verdict(True, "it answered from this host at %s, before this task (an outage): retried for up to %ss"
                   % (when(answered_at), budget_seconds),
                   "it answered from this host at %s (%s ago): riding out the outage for up to %ss (request_budget)"
                   % (when(answered_at), ago(now - answered_at), budget_seconds))


def unresolved_verdict(name_text):
    """A host name that does not resolve: never retried, whatever the record says (a typo, or a name that is gone)."""
    return Verdict(False, "%s, so this was not retried: check the server URL of kubeconfig, context or host"
                   % name_text)
