# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Shared argument specs, each documented by the doc fragment of the same name."""


from copy import deepcopy

from ansible_collections.kubernetes.core.plugins.module_utils.args_common import (
    AUTH_ARG_SPEC,
)

# Documented by ambient.mesh._wait.
WAIT_ARG_SPEC = dict(
    wait=dict(type="bool", default=True),
    wait_timeout=dict(type="int", default=120),
)

# Documented by ambient.mesh._apply; for modules that write objects by server-side apply.
APPLY_ARG_SPEC = dict(
    force_conflicts=dict(type="bool", default=False),
)

# Documented by ambient.mesh._request; for every module that talks to the API server.
REQUEST_ARG_SPEC = dict(
    concurrency=dict(type="int", default=8),
    request_budget=dict(type="int", default=60),
)


def argument_spec(*specs):
    """The kubernetes.core auth options plus the given specs, each deep-copied."""
    out = deepcopy(AUTH_ARG_SPEC)
    for spec in specs:
        out.update(deepcopy(spec))
    return out
