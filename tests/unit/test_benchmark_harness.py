"""benchmarks/compare.py's own logic: the playbooks it generates and the table's maths (no timing)."""

import importlib.util
import os
import pathlib
import subprocess
import sys

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("bench_compare", ROOT / "benchmarks" / "compare.py")
compare = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compare)

from ansible_collections.ambient.mesh.plugins.module_utils._waypoints.waypoint import gateway_for, normalize  # noqa: E402


def run(workload, side, n, rnd, phase, wall, **extra):
    return dict({"workload": workload, "side": side, "n": n, "round": rnd, "phase": phase, "wall_s": wall,
                 "module_s": 1.0, "peak_mb": 50.0, "requests": 1, "writes": 0, "by_verb": {"list": 1}}, **extra)


def test_generated_playbooks_pass_ansible_playbook_syntax_check(tmp_path):
    """Every workload and side, as one book: ansible-playbook resolves each module and checks each task."""
    plays = [p for w in compare.WORKLOADS for s in compare.SIDES for p in compare.play(w, s, 3, tmp_path / "kubeconfig")]
    book = tmp_path / "all.yml"
    book.write_text(yaml.safe_dump(plays, width=1000))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(compare.COLLECTIONS))
    proc = subprocess.run([str(pathlib.Path(sys.executable).parent / "ansible-playbook"), "-i", "bench,", "--syntax-check",
                           str(book)], capture_output=True, text=True, env=env, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("workload, side, definitions", [
    ("enroll", "k8s-list", [1]),          # one task, N Namespaces
    ("waypoint", "k8s-list", [2]),        # one task, N Gateways + N Namespaces
    ("waypoint-wait", "k8s-list", [1, 1]),  # Gateways waiting for Programmed, then the Namespaces
])
def test_k8s_list_side_writes_every_object_in_as_few_tasks_as_it_can(workload, side, definitions):
    n = 4
    tasks = compare.tasks(workload, side, n)
    assert [len(t["kubernetes.core.k8s"]["definition"]) // n for t in tasks] == definitions
    assert all("loop" not in t for t in tasks)
    waits = [("wait_condition" in t["kubernetes.core.k8s"]) for t in tasks]
    assert waits == [workload == "waypoint-wait"] + [False] * (len(tasks) - 1)


def test_k8s_writes_the_same_gateway_as_the_waypoint_module():
    [spec] = normalize([{"name": "waypoint", "namespace": "bench-0001", "waypoint_for": "service", "enroll_namespace": True}])
    assert compare.waypoint_gateway("bench-0001") == gateway_for(spec)


def test_k8s_loop_templates_one_item_per_namespace_and_apply_mode():
    [task] = compare.tasks("enroll", "k8s-loop", 3, k8s_apply="ssa")
    assert task["loop"] == ["bench-0000", "bench-0001", "bench-0002"]
    assert task["kubernetes.core.k8s"]["definition"]["metadata"]["name"] == "{{ item }}"
    assert task["kubernetes.core.k8s"]["server_side_apply"] == {"field_manager": "bench-k8s"}
    [task] = compare.tasks("enroll", "k8s-list", 3, k8s_apply="patch")
    assert "apply" not in task["kubernetes.core.k8s"]
    with pytest.raises(ValueError):
        compare.tasks("enroll", "k8s-list", 3, k8s_apply="replace")


def test_module_side_is_one_task_with_defaults_but_wait():
    [enroll] = compare.tasks("enroll", "module", 2)
    assert enroll["ambient.mesh.ambient_namespace"] == {"namespaces": [{"name": "bench-0000"}, {"name": "bench-0001"}]}
    [nowait] = compare.tasks("waypoint", "module", 2)
    [wait] = compare.tasks("waypoint-wait", "module", 2)
    assert (nowait["ambient.mesh.waypoint"]["wait"], wait["ambient.mesh.waypoint"]["wait"]) == (False, True)


def test_ratios_pair_sides_of_the_same_round():
    runs = [run("enroll", "module", 10, 0, "first", 2.0), run("enroll", "k8s-list", 10, 0, "first", 5.0),
            run("enroll", "module", 10, 1, "first", 4.0), run("enroll", "k8s-list", 10, 1, "first", 6.0),
            run("enroll", "module", 10, 2, "first", 1.0),  # its k8s side never ran: no ratio
            run("enroll", "k8s-list", 10, 0, "noop", 9.0)]
    assert compare.ratios(runs, "enroll", 10, "k8s-list", "first") == [2.5, 1.5]
    assert compare.spread([2.5, 1.5, 3.0]) == (1.5, 2.5, 3.0)
    assert compare.fmt_spread([2.5, 1.5], "x") == "2.00x (1.50-2.50)"
    assert compare.ratios(runs, "enroll", 10, "k8s-list", "noop") == []


def test_table_has_one_row_per_side_and_phase_with_its_ratio():
    runs = [run("enroll", "module", 10, r, p, 1.0) for r in range(3) for p in ("first", "noop")]
    runs += [run("enroll", "k8s-list", 10, r, p, w) for r, w in enumerate((2.0, 3.0, 4.0)) for p in ("first", "noop")]
    lines = compare.table(runs).splitlines()
    assert len(lines) == 2 + 4
    assert len({line.count("|") for line in lines}) == 1
    row = [c.strip() for c in lines[3].split("|")[1:-1]]
    assert row[:7] == ["enroll", "10", "first", "k8s-list", "3", "3.00 (2.00-4.00)", "3.00x (2.00-4.00)"]


def test_goals_say_met_or_missed_by_how_much():
    runs = []
    for n, module_noop in ((10, 1.0), (2000, 1.8)):
        for rnd in range(3):
            runs += [run("enroll", "module", n, rnd, "first", 2.0, writes=n, requests=n + 1, by_verb={"list": 1, "patch": n}),
                     run("enroll", "module", n, rnd, "noop", 1.0, module_s=module_noop),
                     run("enroll", "k8s-list", n, rnd, "first", 6.0), run("enroll", "k8s-list", n, rnd, "noop", 3.0)]
    lines = compare.goals(runs)
    assert "enroll: first run vs one k8s task with a list >= 2.5x (N=2000): met (3.00x)" in lines
    assert "enroll: noop run vs one k8s task with a list >= 4.0x (N=2000): missed by 1.00x (3.00x)" in lines
    assert "enroll: module's own no-op cost grows <= 0.5 s from N=10 to N=2000: missed by 0.30 s (0.80 s)" in lines
    assert "enroll: peak module memory <= 100 MB (N=2000): met (50.00 MB)" in lines
    assert lines[-1].endswith("requests at the minimum (first: one write per object plus LISTs; no-op: LISTs only): met")


def test_request_goal_names_dry_runs_and_extra_verbs():
    first = run("waypoint", "module", 10, 0, "first", 1.0, writes=20, by_verb={"list": 3, "patch": 30})
    noop = run("waypoint", "module", 10, 0, "noop", 1.0, writes=0, by_verb={"list": 3, "get": 2})
    assert compare.request_verdict([first, noop]) == "missed: dry runs (first): up to 10, get (noop): up to 2"
    short = run("enroll", "module", 10, 0, "first", 1.0, writes=9, by_verb={"list": 1, "patch": 9})
    assert compare.request_verdict([short]) == "missed: 9 writes for 10 objects (N=10 first)"


def test_render_heads_the_table_with_the_machine_and_what_was_measured():
    import argparse

    runs = [run("enroll", "module", 10, 0, p, 1.0) for p in ("first", "noop")]
    mach = {"cpu": "Test CPU", "cores": 2, "python": "3.11.7", "ansible_core": "2.19.14", "kubernetes_core": "6.2.0",
            "os": "Linux", "measured": "commit abc1234 (--ref HEAD)"}
    text = compare.render(runs, mach, argparse.Namespace(k8s_apply="ssa", loop_max=0), 90)
    assert "Test CPU, 2 cores, Python 3.11.7, ansible-core 2.19.14, kubernetes.core 6.2.0" in text
    assert "Measured: commit abc1234 (--ref HEAD)." in text
    assert "server-side apply; no k8s loop." in text
    assert "| enroll | 10 | first | module | 1 |" in text


def test_cells_whose_server_logged_errors_are_named_under_the_table():
    import argparse

    mach = {"cpu": "Test CPU", "cores": 2, "python": "3.11.7", "ansible_core": "2.19.14", "kubernetes_core": "6.2.0",
            "os": "Linux", "measured": "the work tree"}
    clean = [run("enroll", "module", 10, 0, p, 1.0, server_errors=0, server_error=None) for p in ("first", "noop")]
    text = compare.render(clean, mach, argparse.Namespace(k8s_apply="ssa", loop_max=0), 90)
    assert "logged errors" not in text
    full = "RuntimeError: node kind-worker has no free pod IP in 10.244.1.0/24"
    broken = [run("waypoint", "module", 2000, 0, p, 1.0, server_errors=3, server_error=full) for p in ("first", "noop")]
    text = compare.render(clean + broken, mach, argparse.Namespace(k8s_apply="ssa", loop_max=0), 90)
    assert "- waypoint N=2000 module: 3 errors, first: " + full in text


def test_server_errors_are_the_last_line_of_each_traceback(tmp_path):
    server = compare.Server.__new__(compare.Server)  # only its log: no process
    server.workdir = tmp_path
    server.log = open(tmp_path / "apiserver.log", "w")  # noqa: SIM115 - closed below
    server.log.write("listening\nTraceback (most recent call last):\n  File \"pods.py\", line 1\n"
                     "RuntimeError: node kind-worker has no free pod IP\nok\n")
    try:
        assert server.errors() == ["RuntimeError: node kind-worker has no free pod IP"]
    finally:
        server.log.close()


def test_the_server_and_the_fake_istioctl_come_from_the_measured_trees_embedded_cluster(tmp_path, monkeypatch):
    """embedded_cluster/ at the root; a --ref from before the move has the same in tests/ (apiserver, data)."""
    monkeypatch.setattr(compare, "SOURCE", ROOT)
    home, module, data = compare.embedded_cluster()
    assert (home, module) == (ROOT, "embedded_cluster")
    assert (data / "crds" / "gateway-api-v1.5.1-standard.yaml").is_file()
    monkeypatch.setattr(compare, "SOURCE", tmp_path)
    assert compare.embedded_cluster() == (tmp_path / "tests", "apiserver", tmp_path / "tests" / "data")
