# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter canary_position: where a canary stands, from the routes ambient.mesh.mesh_info read."""


DOCUMENTATION = r"""
name: canary_position
version_added: 0.1.0
short_description: Where a canary stands - from the route's weights now, the steps still to run
description:
  - Takes the C(routes) that M(ambient.mesh.mesh_info) returns and works out where a canary of the Service
    stands - the percent of the traffic its route gives the canary now, whether the canary is finished, the
    steps still to run and the weights the first write sets.
  - A run interrupted in the middle left the route at the weights of the step it was in; the remaining steps
    start with the first step at or above those weights, so that step is measured again. A route of 100% to the
    canary is finished (with O(promote=collapse) only once the route has the canary alone); without a route
    (or with weights that add up to 0) every step remains.
  - A backend without a weight has weight 1 (Gateway API); a backend listed in two rules counts twice.
  - The C(ambient.mesh.canary) role uses it (its C(tasks/state.yml)); it is pure (reads nothing).
author:
  - ambient.mesh maintainers (@ambient-mesh)
positional: _input
options:
  _input:
    description: The routes as M(ambient.mesh.mesh_info) returns them (C(name), C(namespace), C(backends)).
    type: list
    elements: dict
    required: true
  namespace:
    description: The Service's namespace.
    type: str
    required: true
  route:
    description: The HTTPRoute's name.
    type: str
    required: true
  service:
    description: The Service; each version's backend is the Service C(<service>-<version>).
    type: str
    required: true
  stable:
    description: The stable version's name.
    type: str
    required: true
  canary:
    description: The canary version's name.
    type: str
    required: true
  steps:
    description: Percent of the traffic to the canary at each step, ascending.
    type: list
    elements: int
    required: true
  action:
    description: V(run) moves forward; V(rollback) sends all traffic to the stable version.
    type: str
    choices: [run, rollback]
    default: run
  promote:
    description: How 100% ends (V(collapse) is finished only once the route has one backend, the canary).
    type: str
    choices: [route, collapse, scale_down_stable]
    default: route
"""

EXAMPLES = r"""
- name: Read the HTTPRoutes of the mesh
  ambient.mesh.mesh_info:
  register: info

- name: Where the canary of hello/helloworld stands
  ansible.builtin.debug:
    msg: >-
      {{ info.routes | ambient.mesh.canary_position(namespace='hello', route='helloworld', service='helloworld',
                                                    stable='v1', canary='v2', steps=[5, 25, 50, 100]) }}
  # a route at helloworld-v1 75, helloworld-v2 25 gives
  # {"now": 25.0, "backends": {"helloworld-v1": 75, "helloworld-v2": 25}, "collapsed": false, "finished": false,
  #  "remaining": [25, 50, 100], "first_versions": [{"name": "v1", "weight": 75}, {"name": "v2", "weight": 25}],
  #  "needed_versions": ["v1", "v2"]}
"""

RETURN = r"""
_value:
  description: Where the canary stands.
  type: dict
  contains:
    now:
      description: Percent of the traffic the route gives the canary now; -1 without a route (or without weights).
      type: float
    backends:
      description: The route's weights now, backend Service to weight.
      type: dict
    collapsed:
      description: Whether the route has one backend, the canary's.
      type: bool
    finished:
      description: Whether there is nothing left to do (O(action=run) and the canary at 100%, collapsed if asked).
      type: bool
    remaining:
      description: The steps still to run; the first is at or above C(now).
      type: list
      elements: int
    first_versions:
      description: The versions and weights the first write sets (100/0 for a rollback or when nothing remains).
      type: list
      elements: dict
    needed_versions:
      description: The versions that must have Ready pods (the stable one alone for a rollback).
      type: list
      elements: str
"""

from ansible.errors import AnsibleFilterError
from ansible_collections.ambient.mesh.plugins.module_utils._traffic.canary_position import canary_position as _position


def canary_position(routes, namespace, route, service, stable, canary, steps, action="run", promote="route"):
    try:
        return _position(routes, namespace, route, service, stable, canary, steps, action, promote)
    except (ValueError, TypeError, KeyError) as exc:
        raise AnsibleFilterError("canary_position: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"canary_position": canary_position}
