"""What the tests of the simulated istiod share: a test cluster with the Gateway API CRDs and a running
istiod, and reading a condition once the simulation wrote it."""

import time

import pytest

from conftest import GATEWAY_V151, seed_istio


@pytest.fixture
def mesh(cluster):
    cluster.load_crds(GATEWAY_V151)
    seed_istio(cluster)
    return cluster


def eventually(read, timeout=8.0):
    """read()'s first true value, or its last value once the timeout passed."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def condition(obj, cond_type):
    return next((c for c in ((obj or {}).get("status") or {}).get("conditions") or [] if c["type"] == cond_type), None)
