# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


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
  - A connection refused by an API server that has not answered once in the task fails the task at once,
    naming the server's URL (a wrong kubeconfig or a server that is down); retrying would only delay the
    message.
  - An API server that answered and then refuses or drops connections is an outage. Requests are retried,
    but all of the task's requests share one budget of O(request_budget) seconds from the first refused
    request, so a batch of many objects gives up after about that long, not once per object.
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
