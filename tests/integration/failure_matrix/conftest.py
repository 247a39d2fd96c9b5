"""The table runner of the fault and bad-input matrix.

A row is a `Case`: the module, its arguments, the text its failure message must hold, and what the
failure must leave behind:

- `expect="refused"` (bad input, or a refusal): the run fails, the API server saw no write, the result
  does not say `changed: true` (unless the row says what `changed` must be), and istioctl ran nothing
  that changes the cluster (`no_istioctl=True`: istioctl did not run at all).
- `expect="converges"` (a fault part way): the run fails; `changed` says what its result must report;
  then `fix` runs (what the operator does: the fault goes away), the same task runs again and succeeds,
  and a third run reports no change.

`args` and `setup` may be callables taking the `Matrix` (for paths of the test: `m.istioctl.path`,
`m.tmp_path`, `m.cluster`). A new module's file adds `CASES = [Case(...), ...]` and one test:

    @pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
    def test_bad_input(matrix, case):
        matrix.check(case)
"""

import dataclasses
from typing import Any, Callable, Optional

import pytest

# istioctl subcommands that change the cluster (the fake logs every call: embedded_cluster/fake_istioctl)
MUTATING = ("install", "uninstall", "tag set")


@dataclasses.dataclass
class Case:
    id: str
    module: str
    args: Any  # dict, or callable(Matrix) -> dict
    fragment: Any  # text (or list of texts) the failure message must hold
    setup: Optional[Callable] = None  # callable(Matrix), before the run
    expect: str = "refused"  # or "converges"
    no_istioctl: bool = False  # refused before any istioctl call
    check_mode: bool = False
    changed: Optional[bool] = None  # what the failed result must say, when it matters
    fix: Optional[Callable] = None  # callable(Matrix), before the re-run of a "converges" case
    then: Optional[Callable] = None  # callable(Matrix, failed result): more assertions


class Matrix:
    def __init__(self, cluster, playbook, istioctl, tmp_path):
        self.cluster, self.playbook, self.istioctl, self.tmp_path = cluster, playbook, istioctl, tmp_path

    def args(self, case):
        return case.args(self) if callable(case.args) else dict(case.args)

    def check(self, case):
        """Run one row; returns the failed result."""
        if case.setup:
            case.setup(self)
        args = self.args(case)
        mark, imark = self.cluster.mark(), self.istioctl.mark()
        failed = self.playbook.run(case.module, args, check=case.check_mode, fails=case.fragment)
        assert failed["failed"] is True
        assert "Traceback" not in failed.get("msg", "") and "MODULE FAILURE" not in failed.get("msg", "")
        ran = self.istioctl.subcommands(imark)
        if case.changed is not None:
            assert failed.get("changed") is case.changed, failed
        if case.expect == "refused":
            if case.changed is None:  # nothing was written, so the result must not claim a change
                assert failed.get("changed") is not True, failed
            assert self.cluster.writes(mark) == [], [(w["verb"], w["resource"], w["name"]) for w in self.cluster.writes(mark)]
            assert not [s for s in ran if s in MUTATING], ran
            if case.no_istioctl:
                assert ran == [], ran
        elif case.expect == "converges":
            if case.fix:
                case.fix(self)
            again = self.playbook.run(case.module, args)
            assert not again.get("failed"), again.get("msg")
            settled = self.playbook.run(case.module, args)
            assert settled["changed"] is False, settled
        else:
            raise ValueError("expect is refused or converges, not %r" % case.expect)
        if case.then:
            case.then(self, failed)
        return failed


@pytest.fixture
def matrix(cluster, playbook, istioctl, tmp_path):
    return Matrix(cluster, playbook, istioctl, tmp_path)
