# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a canary stands: from the route's weights as the cluster has them now, the percent the canary
gets, whether it is finished, the steps still to run and the weights of the first write.

A run interrupted in the middle (Ctrl-C, a killed controller) left the route at the weights of the step
it was in; the next run resumes from them instead of from the first step. Pure: no I/O, the routes come
from ambient.mesh.mesh_info (the canary role's state.yml reads them, the filter canary_position calls this).
"""


ACTIONS = ("run", "rollback")
PROMOTIONS = ("route", "collapse", "scale_down_stable")


def route_weights(routes, namespace, route_name):
    """Backend Service -> weight of the first route named route_name in namespace ({} without one).
    A backendRef without a weight has weight 1 (Gateway API); a backend listed twice adds up."""
    for route in routes or []:
        if route.get("namespace") == namespace and route.get("name") == route_name:
            weights = {}
            for backend in route.get("backends") or []:
                weight = backend.get("weight")
                weights[backend["name"]] = weights.get(backend["name"], 0) + (1 if weight is None else int(weight))
            return weights
    return {}


def canary_position(routes, namespace, route_name, service, stable, canary, steps, action="run", promote="route"):
    """The canary's position: now (percent to the canary, -1 without a route or weights), backends (the
    route's weights), collapsed, finished, remaining (the steps still to run: a step at the weight the
    route has now is measured again), first_versions (what the first write sets) and needed_versions."""
    if action not in ACTIONS:
        raise ValueError("action must be one of %s, not %r" % (", ".join(ACTIONS), action))
    if promote not in PROMOTIONS:
        raise ValueError("promote must be one of %s, not %r" % (", ".join(PROMOTIONS), promote))
    steps = [int(step) for step in steps]
    weights = route_weights(routes, namespace, route_name)
    canary_backend = "%s-%s" % (service, canary)
    total = sum(weights.values())
    now = -1.0 if total == 0 else 100.0 * weights.get(canary_backend, 0) / total
    collapsed = list(weights) == [canary_backend]
    finished = action == "run" and now >= 100 and (promote != "collapse" or collapsed)
    if finished:
        remaining = []
    elif now <= 0:
        remaining = steps
    else:
        remaining = [step for step in steps if step >= now]
    if action == "rollback" or not remaining:
        first = [{"name": stable, "weight": 100}, {"name": canary, "weight": 0}]
    else:
        first = [{"name": stable, "weight": 100 - remaining[0]}, {"name": canary, "weight": remaining[0]}]
    return {
        "now": now,
        "backends": weights,
        "collapsed": collapsed,
        "finished": finished,
        "remaining": remaining,
        "first_versions": first,
        "needed_versions": [stable] if action == "rollback" else [stable, canary],
    }
