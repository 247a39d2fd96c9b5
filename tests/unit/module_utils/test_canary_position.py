"""Where a canary stands (the canary role's state.yml through the filter ambient.mesh.canary_position): the
route's weights now, finished or not, the steps still to run and the first write's weights, table-driven."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ambient.mesh.plugins.filter.canary_position import FilterModule
from ansible_collections.ambient.mesh.plugins.module_utils._traffic.canary_position import canary_position

STEPS = [5, 25, 50, 100]


def route(*backends, name="helloworld", namespace="hello"):
    """A route as ambient.mesh.mesh_info returns it; a backend is (name, weight), weight None when not given."""
    return {"name": name, "namespace": namespace, "services": ["%s/helloworld" % namespace], "parents": [],
            "backends": [{"name": b, "port": 5000, "weight": w} for b, w in backends]}


def position(routes, action="run", promote="route", steps=STEPS):
    return canary_position(routes, "hello", "helloworld", "helloworld", "v1", "v2", steps, action, promote)


def versions(stable, canary):
    return [{"name": "v1", "weight": stable}, {"name": "v2", "weight": canary}]


CASES = [
    # (id, routes, action, promote, now, backends, finished, remaining, first write)
    ("no route", [], "run", "route", -1.0, {}, False, STEPS, versions(95, 5)),
    ("another route only", [route(("helloworld-v1", 50), ("helloworld-v2", 50), name="other"),
                            route(("helloworld-v1", 50), ("helloworld-v2", 50), namespace="elsewhere")],
     "run", "route", -1.0, {}, False, STEPS, versions(95, 5)),
    ("all weights 0", [route(("helloworld-v1", 0), ("helloworld-v2", 0))], "run", "route", -1.0,
     {"helloworld-v1": 0, "helloworld-v2": 0}, False, STEPS, versions(95, 5)),
    ("a split not started: stable 100", [route(("helloworld-v1", 100), ("helloworld-v2", 0))], "run", "route", 0.0,
     {"helloworld-v1": 100, "helloworld-v2": 0}, False, STEPS, versions(95, 5)),
    # Gateway API: a backendRef without weight has weight 1, so two of them are 50/50
    ("weights without weight", [route(("helloworld-v1", None), ("helloworld-v2", None))], "run", "route", 50.0,
     {"helloworld-v1": 1, "helloworld-v2": 1}, False, [50, 100], versions(50, 50)),
    ("one backend without weight beside weight 3", [route(("helloworld-v1", 3), ("helloworld-v2", None))],
     "run", "route", 25.0, {"helloworld-v1": 3, "helloworld-v2": 1}, False, [25, 50, 100], versions(75, 25)),
    ("a backend in two rules adds up", [route(("helloworld-v1", 40), ("helloworld-v2", 10), ("helloworld-v2", 50))],
     "run", "route", 60.0, {"helloworld-v1": 40, "helloworld-v2": 60}, False, [100], versions(0, 100)),
    ("resume mid-way at a step: measured again", [route(("helloworld-v1", 75), ("helloworld-v2", 25))], "run", "route",
     25.0, {"helloworld-v1": 75, "helloworld-v2": 25}, False, [25, 50, 100], versions(75, 25)),
    ("resume between steps", [route(("helloworld-v1", 70), ("helloworld-v2", 30))], "run", "route", 30.0,
     {"helloworld-v1": 70, "helloworld-v2": 30}, False, [50, 100], versions(50, 50)),
    ("resume from weights that do not add up to 100", [route(("helloworld-v1", 3), ("helloworld-v2", 1))], "run",
     "route", 25.0, {"helloworld-v1": 3, "helloworld-v2": 1}, False, [25, 50, 100], versions(75, 25)),
    ("just above the last step but one", [route(("helloworld-v1", 499), ("helloworld-v2", 501))], "run", "route", 50.1,
     {"helloworld-v1": 499, "helloworld-v2": 501}, False, [100], versions(0, 100)),
    ("finished at 0/100", [route(("helloworld-v1", 0), ("helloworld-v2", 100))], "run", "route", 100.0,
     {"helloworld-v1": 0, "helloworld-v2": 100}, True, [], versions(100, 0)),
    ("finished at 0/100, scaled down", [route(("helloworld-v1", 0), ("helloworld-v2", 100))], "run",
     "scale_down_stable", 100.0, {"helloworld-v1": 0, "helloworld-v2": 100}, True, [], versions(100, 0)),
    ("finished with collapse", [route(("helloworld-v2", None))], "run", "collapse", 100.0, {"helloworld-v2": 1}, True,
     [], versions(100, 0)),
    ("collapse asked, 0/100 not collapsed yet: the 100 step again", [route(("helloworld-v1", 0), ("helloworld-v2", 100))],
     "run", "collapse", 100.0, {"helloworld-v1": 0, "helloworld-v2": 100}, False, [100], versions(0, 100)),
    ("rollback mid-way", [route(("helloworld-v1", 75), ("helloworld-v2", 25))], "rollback", "route", 25.0,
     {"helloworld-v1": 75, "helloworld-v2": 25}, False, [25, 50, 100], versions(100, 0)),
    ("rollback of a finished canary", [route(("helloworld-v1", 0), ("helloworld-v2", 100))], "rollback", "route", 100.0,
     {"helloworld-v1": 0, "helloworld-v2": 100}, False, [100], versions(100, 0)),
    ("rollback without a route", [], "rollback", "route", -1.0, {}, False, STEPS, versions(100, 0)),
]


@pytest.mark.parametrize("routes, action, promote, now, backends, finished, remaining, first",
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_position(routes, action, promote, now, backends, finished, remaining, first):
    got = position(routes, action, promote)
    assert got["now"] == pytest.approx(now)
    assert got["backends"] == backends
    assert got["finished"] is finished
    assert got["remaining"] == remaining
    assert got["first_versions"] == first
    assert got["needed_versions"] == (["v1"] if action == "rollback" else ["v1", "v2"])


@pytest.mark.parametrize("backends, collapsed", [
    ([("helloworld-v2", None)], True),
    ([("helloworld-v2", 100)], True),
    ([("helloworld-v1", 0), ("helloworld-v2", 100)], False),
    ([("helloworld-v1", 100)], False),
])
def test_collapsed_is_the_canary_alone(backends, collapsed):
    assert position([route(*backends)])["collapsed"] is collapsed


def test_the_first_matching_route_counts():
    routes = [route(("helloworld-v1", 75), ("helloworld-v2", 25)), route(("helloworld-v1", 0), ("helloworld-v2", 100))]
    assert position(routes)["now"] == 25.0


def test_steps_as_strings_are_whole_percents():
    assert position([route(("helloworld-v1", 75), ("helloworld-v2", 25))], steps=["5", "25", "50", "100"])["remaining"] \
        == [25, 50, 100]


def test_the_filter_is_the_function_and_names_itself_on_bad_input():
    fn = FilterModule().filters()["canary_position"]
    routes = [route(("helloworld-v1", 75), ("helloworld-v2", 25))]
    assert fn(routes, namespace="hello", route="helloworld", service="helloworld", stable="v1", canary="v2",
              steps=STEPS) == position(routes)
    with pytest.raises(AnsibleFilterError, match="canary_position: action must be one of run, rollback"):
        fn(routes, namespace="hello", route="helloworld", service="helloworld", stable="v1", canary="v2", steps=STEPS,
           action="forward")
