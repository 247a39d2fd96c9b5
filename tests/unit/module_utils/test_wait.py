import pytest

from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError
from ansible_collections.ambient.mesh.plugins.module_utils._objects.wait import condition_state, describe, wait_for


def obj(generation, conditions=None, parents=None):
    status = {}
    if conditions is not None:
        status["conditions"] = conditions
    if parents is not None:
        status["parents"] = parents
    return {"metadata": {"generation": generation}, "status": status}


PROGRAMMED = {"type": "Programmed", "status": "True", "observedGeneration": 2}


@pytest.mark.parametrize("o, kwargs, met", [
    (obj(2, [PROGRAMMED]), {}, True),
    (obj(3, [PROGRAMMED]), {}, False),  # stale: observedGeneration behind
    (obj(3, [{"type": "Programmed", "status": "True"}]), {}, True),  # no observedGeneration given
    (obj(2, [dict(PROGRAMMED, status="False")]), {}, False),
    (obj(2, []), {}, False),
    (obj(1, parents=[{"parentRef": {"name": "svc", "kind": "Service"},
                      "conditions": [{"type": "Programmed", "status": "True", "observedGeneration": 1}]}]),
     {"parent": {"name": "svc"}}, True),
    (obj(1, parents=[{"parentRef": {"name": "other"},
                      "conditions": [{"type": "Programmed", "status": "True"}]}]),
     {"parent": {"name": "svc"}}, False),
])
def test_condition_state(o, kwargs, met):
    assert condition_state(o, "Programmed", **kwargs)[0] is met


def test_wait_for_times_out_with_the_last_condition():
    now = [0.0]

    def clock():
        return now[0]

    def sleep(seconds):
        now[0] += seconds

    current = obj(1, [{"type": "Programmed", "status": "False", "reason": "Pending", "message": "no address"}])

    def predicate(o):
        met, cond = condition_state(o, "Programmed")
        return met, describe(cond)

    with pytest.raises(AmbientMeshError) as err:
        wait_for(lambda: current, predicate, 5, "Gateway hello/waypoint", sleep=sleep, clock=clock)
    assert "Programmed=False (Pending): no address" in err.value.msg
    assert now[0] >= 5
