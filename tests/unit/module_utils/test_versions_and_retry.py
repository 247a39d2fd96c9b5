import pytest

from ansible_collections.ambient.mesh.plugins.module_utils._kube.retry import (
    Budget,
    backoff_delay,
    call_with_retries,
    retry_after_seconds,
)
from ansible_collections.ambient.mesh.plugins.module_utils._versions import compare_versions, parse_version


@pytest.mark.parametrize("a, b, expected", [
    ("v1.5.1", "v1.2.1", 1),
    ("v1.2.1", "v1.5.1", -1),
    ("v1.5.0-dev", "v1.5.0", -1),
    ("1.30.3", "v1.30.3", 0),
    ("v1.10.0", "v1.9.9", 1),
])
def test_compare_versions(a, b, expected):
    assert compare_versions(a, b) == expected


@pytest.mark.parametrize("bad", ["", "latest", "v1", "1.2.3.4", None])
def test_parse_version_rejects(bad):
    with pytest.raises(ValueError):
        parse_version(bad)


@pytest.mark.parametrize("attempt, retry_after, rand, expected", [
    (1, None, lambda: 1.0, 0.2),
    (3, None, lambda: 1.0, 0.8),
    (3, None, lambda: 0.5, 0.4),
    (20, None, lambda: 1.0, 10.0),  # capped
    (1, 3, lambda: 0.0, 3.0),  # Retry-After wins
    (1, 60, lambda: 0.0, 10.0),
])
def test_backoff_delay(attempt, retry_after, rand, expected):
    assert backoff_delay(attempt, retry_after, rand=rand) == pytest.approx(expected)


def test_retry_after_header():
    assert retry_after_seconds({"Retry-After": "2"}) == 2.0
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds(None) is None


class Flaky(Exception):
    pass


def test_call_with_retries_until_success_then_gives_up_on_budget():
    calls, sleeps = [], []

    def func():
        calls.append(1)
        if len(calls) < 3:
            raise Flaky()
        return "ok"

    budget = Budget(100, clock=lambda: 0.0)
    assert call_with_retries(func, lambda e: 0 if isinstance(e, Flaky) else None, budget, sleeps.append) == "ok"
    assert len(calls) == 3 and len(sleeps) == 2

    def always():
        raise Flaky()

    with pytest.raises(Flaky):
        call_with_retries(always, lambda e: 5, Budget(1, clock=lambda: 0.0), sleeps.append)


def test_non_retryable_errors_are_raised_at_once():
    calls = []

    def func():
        calls.append(1)
        raise KeyError("no")

    with pytest.raises(KeyError):
        call_with_retries(func, lambda e: None, Budget(100), lambda s: None)
    assert len(calls) == 1
