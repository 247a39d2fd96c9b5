# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every module's main() does around its one call into module_utils."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError
from ansible_collections.ambient.mesh.plugins.module_utils._kube import KubeApi


def run_with_api(module, work):
    """work(api) with a connected KubeApi; an AmbientMeshError becomes fail_json(msg, **details)."""
    try:
        api = KubeApi(module, budget_seconds=module.params["request_budget"])
        return work(api)
    except AmbientMeshError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
