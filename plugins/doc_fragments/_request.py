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
"""
