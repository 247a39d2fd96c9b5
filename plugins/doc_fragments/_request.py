# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


class ModuleDocFragment(object):
    # The options of REQUEST_ARG_SPEC in module_utils/_args.py; private to the collection.
    DOCUMENTATION = r"""
options:
  concurrency:
    description:
      - How many API requests run at once when many objects are read, written or waited on.
    type: int
    default: 8
  request_budget:
    description:
      - Seconds that one API request may spend on retries. A request that fails with 429, 500, 503,
        504 or a connection error is sent again, with exponential backoff and jitter (a server's
        C(Retry-After) is honoured), until it succeeds or this many seconds have passed; then the task
        fails with the last error.
      - Each request has a budget of its own. Waiting for what a module changed to become ready is
        bounded separately, by the module's C(wait_timeout) where it has one.
    type: int
    default: 60
notes:
  - A connection refused by an API server that has never answered from the host that runs the module (or not
    within the last 24 hours) fails the task at once, naming the server's URL and saying
    C(it has never answered from this host) (a wrong kubeconfig, context or port); retrying would only delay
    the message. A server host name that does not resolve fails the task at once too.
  - An API server that answered, in this task or in an earlier task on the same host within 24 hours, and now
    refuses or drops connections is in an outage, also when the outage began between two tasks. Requests are
    retried, but all of the task's requests share one budget of O(request_budget) seconds from the first
    refused request, so a batch of many objects gives up after about that long, not once per object. A task
    that starts during an outage says so in a warning, with the time the server last answered from this host
    and for how long the outage is ridden out.
  - Each task is a module process of its own, so that the server answered is kept in a small file per API
    server (scheme, host and port) on the host that runs the module, written once per task on the server's
    first answer, in C($AMBIENT_MESH_CACHE_DIR/api-servers), else C($XDG_CACHE_HOME/ambient.mesh/api-servers),
    else C(~/.cache/ambient.mesh/api-servers). When that directory cannot be written, nothing fails; a refused
    first request then fails the task at once.
  - Every result, failed or not, holds C(retries) (C(count), C(by_reason) such as C(503) or
    C(connection refused), and C(seconds) slept) and C(waits), one entry per wait for a condition
    (C(what), C(seconds), C(polls), C(met)). Modules cannot print while they run, so a wait longer than
    30 seconds is also reported as a warning.
  - When some requests of a batch fail, identical errors are reported once with the number of objects
    they hit (C(errors), a list of C(error), C(count), the first 20 C(objects) and C(more)); the
    message is capped at 4000 characters; C(failed_objects) lists every object that failed and C(done)
    the objects written before the failure, in which case the result says C(changed=true).
  - A 403 names the permission the credentials lack (verb, resource, API group, namespace) as
    kube-apiserver reports it.
"""
