"""traffic_probe's verdicts, judged by simulation over many seeds: how often a correct split passes
and a wrong one fails with the default confidence (what issue 9 promises), plus the exact test itself."""

import math
import random
from fractions import Fraction

import pytest

from ansible_collections.ambient.mesh.plugins.module_utils._traffic.verdicts import (
    binomial_p_value,
    latency_verdict,
    share_verdict,
    status_rate_verdict,
    status_verdict,
    wilson_interval,
)

SEEDS = 2000
DEFAULT_CONFIDENCE = 0.99  # traffic_probe's documented default


def draw(rng, shares, n):
    """n requests, each answered by a backend picked with the given probabilities."""
    names = sorted(shares)
    weights = [shares[b] for b in names]
    counts = dict.fromkeys(names, 0)
    for b in rng.choices(names, weights=weights, k=n):
        counts[b] += 1
    return counts


def pass_rate(true_shares, expected, n, confidence=DEFAULT_CONFIDENCE):
    verdicts = [share_verdict(draw(random.Random(seed), true_shares, n), expected, confidence) for seed in range(SEEDS)]
    return sum(v["passed"] for v in verdicts) / SEEDS, verdicts


def test_a_correct_95_5_split_at_200_requests_passes_at_least_99_percent_of_the_time():
    rate, _ = pass_rate({"v1": 0.95, "v2": 0.05}, {"v1": 95, "v2": 5}, 200)
    print("correct 95/5 at N=200: passed %.2f%% of %d seeds" % (100 * rate, SEEDS))
    assert rate >= 0.99


def test_a_50_50_outcome_against_an_expected_95_5_fails_at_least_99_9_percent_of_the_time_with_the_waypoint_hint():
    rate, verdicts = pass_rate({"v1": 0.5, "v2": 0.5}, {"v1": 95, "v2": 5}, 200)
    failed = [v for v in verdicts if not v["passed"]]
    print("50/50 against 95/5 at N=200: failed %.2f%% of %d seeds" % (100 * (1 - rate), SEEDS))
    assert 1 - rate >= 0.999
    hinted = sum("is a waypoint bound to the Service? see mesh_info" in v["message"] for v in failed) / len(failed)
    print("... with the waypoint hint in %.2f%% of the failures" % (100 * hinted))
    assert hinted >= 0.98
    assert "the split is not enforced" in failed[0]["message"]


def test_a_correct_three_way_split_passes_and_an_even_spread_against_it_fails():
    weights = {"v1": 60, "v2": 30, "v3": 10}
    rate, _ = pass_rate({"v1": 0.6, "v2": 0.3, "v3": 0.1}, weights, 300)
    print("correct 60/30/10 at N=300: passed %.2f%%" % (100 * rate))
    assert rate >= 0.99
    rate, verdicts = pass_rate({"v1": 1 / 3, "v2": 1 / 3, "v3": 1 / 3}, weights, 300)
    print("even spread against 60/30/10 at N=300: failed %.2f%%" % (100 * (1 - rate)))
    assert 1 - rate >= 0.999


def test_a_lower_confidence_fails_more_correct_splits():
    strict, _ = pass_rate({"v1": 0.9, "v2": 0.1}, {"v1": 90, "v2": 10}, 200, confidence=0.999)
    loose, _ = pass_rate({"v1": 0.9, "v2": 0.1}, {"v1": 90, "v2": 10}, 200, confidence=0.8)
    print("90/10 at N=200: passed %.2f%% at confidence 0.999, %.2f%% at 0.8" % (100 * strict, 100 * loose))
    assert strict > loose
    # the exact test with Bonferroni over 2 backends fails a correct split at most 1 - confidence of the time
    assert 1 - loose <= 0.2


@pytest.mark.parametrize("true_rate, expected_percentage, n, at_least", [
    (0.5, 50, 200, 0.99),   # the fault does what was asked
    (0.1, 10, 200, 0.99),
    (0.0, 0, 200, 1.0),     # no fault, none expected: 0 of 200 is certain
])
def test_the_abort_rate_verdict_passes_a_correct_rate(true_rate, expected_percentage, n, at_least):
    passed = 0
    for seed in range(SEEDS):
        rng = random.Random(seed)
        k = sum(rng.random() < true_rate for _ in range(n))
        passed += status_rate_verdict({"500": k, "200": n - k}, n, 500, expected_percentage, DEFAULT_CONFIDENCE)["passed"]
    print("abort %s%% at N=%d: passed %.2f%%" % (expected_percentage, n, 100.0 * passed / SEEDS))
    assert passed / SEEDS >= at_least


@pytest.mark.parametrize("true_rate, expected_percentage, hint", [
    (0.0, 50, "is the fault's VirtualService applied through a waypoint"),
    (0.3, 10, "differs from the fault's percentage"),
    (0.05, 0, "none were expected"),
])
def test_the_abort_rate_verdict_fails_a_wrong_rate_with_its_likely_cause(true_rate, expected_percentage, hint):
    failed = []
    for seed in range(SEEDS):
        rng = random.Random(seed)
        k = sum(rng.random() < true_rate for _ in range(200))
        v = status_rate_verdict({"500": k, "200": 200 - k}, 200, 500, expected_percentage, DEFAULT_CONFIDENCE)
        if not v["passed"]:
            failed.append(v)
    print("abort expected %s%%, true %s%%: failed %.2f%%" % (expected_percentage, 100 * true_rate,
                                                            100.0 * len(failed) / SEEDS))
    assert len(failed) / SEEDS >= 0.999
    assert hint in failed[0]["message"]
    assert "expected %s%%" % expected_percentage in failed[0]["message"]


def exact_p_value(k, n, p):
    """An independent oracle: exact rationals, every outcome no more likely than k."""
    p = Fraction(p)
    pmf = [math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(n + 1)]
    return float(sum(x for x in pmf if x <= pmf[k]))


@pytest.mark.parametrize("k, n, p", [(3, 10, 0.5), (10, 200, 0.05), (3, 200, 0.05), (17, 200, 0.05), (0, 50, 0.2),
                                     (50, 50, 0.9), (100, 200, 0.95), (150, 300, 0.6)])
def test_the_exact_binomial_p_value(k, n, p):
    assert binomial_p_value(k, n, p) == pytest.approx(exact_p_value(k, n, Fraction(p).limit_denominator(1000)),
                                                      rel=1e-6, abs=1e-300)


def test_the_p_value_of_a_known_case():
    # P(X <= 3) + P(X >= 7) for Binomial(10, 1/2) = 2 * (1 + 10 + 45 + 120) / 1024
    assert binomial_p_value(3, 10, 0.5) == pytest.approx(352 / 1024)


def test_a_weight_of_zero_fails_on_a_single_response_and_names_the_backend():
    v = share_verdict({"v1": 199, "v2": 1}, {"v1": 100, "v2": 0}, DEFAULT_CONFIDENCE)
    assert not v["passed"]
    assert "v2 answered although their weight is 0" in v["message"]
    assert share_verdict({"v1": 200}, {"v1": 100, "v2": 0}, DEFAULT_CONFIDENCE)["passed"]


def test_a_backend_not_asked_for_fails():
    v = share_verdict({"v1": 190, "v3": 10}, {"v1": 95, "v2": 5}, DEFAULT_CONFIDENCE)
    assert not v["passed"]
    assert "v3" in v["message"] and v["measured"]["v2"]["count"] == 0


def test_one_kept_alive_connection_on_one_pod_gets_its_own_hint():
    v = share_verdict({"v1": 200}, {"v1": 50, "v2": 50}, DEFAULT_CONFIDENCE, reuse_connection=True)
    assert not v["passed"]
    assert "reuse_connection: true" in v["message"] and "per connection" in v["message"]


def test_a_verdict_says_expected_and_measured():
    v = share_verdict({"v1": 103, "v2": 97}, {"v1": 95, "v2": 5}, DEFAULT_CONFIDENCE, unidentified=3)
    assert v["expected"] == {"v1": 0.95, "v2": 0.05}
    assert v["measured"]["v1"]["count"] == 103 and v["measured"]["v1"]["share"] == 0.515
    assert "expected v1 95.0%, v2 5.0%" in v["message"]
    assert "measured v1 51.5% (103/200), v2 48.5% (97/200)" in v["message"]
    assert "3 did not" in v["message"]


def test_no_identified_backend_points_at_the_pattern():
    v = share_verdict({}, {"v1": 1}, DEFAULT_CONFIDENCE, unidentified=200)
    assert not v["passed"] and "backend_pattern" in v["message"]


def test_weights_that_add_up_to_nothing_are_refused():
    with pytest.raises(ValueError, match="more than 0"):
        share_verdict({"v1": 1}, {"v1": 0}, DEFAULT_CONFIDENCE)


def test_the_wilson_interval_by_hand():
    # Wilson score interval (phat + z^2/2n -+ z sqrt(phat(1-phat)/n + z^2/4n^2)) / (1 + z^2/n), with the
    # normal table's z(0.975) = 1.959964: for 10/200 that is 0.05848 -+ 0.03110
    z, n, phat = 1.959964, 200, 0.05
    centre = (phat + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert wilson_interval(10, 200, 0.95) == pytest.approx([centre - half, centre + half], abs=1e-4)
    assert wilson_interval(10, 200, 0.95) == pytest.approx([0.0274, 0.0896], abs=1e-4)


def test_status_codes_verdict_names_transport_failures():
    v = status_verdict({"200": 190, "000": 10}, {"28": 10}, [200])
    assert not v["passed"]
    assert "10 transfers failed with curl exit 28" in v["message"] and "timed out" in v["message"]
    assert status_verdict({"200": 200}, {}, [200, 204])["passed"]
    assert "injected abort" in status_verdict({"200": 100, "503": 100}, {}, [200])["message"]


@pytest.mark.parametrize("bounds, passed, words", [
    ({"p50_min": 2.5, "p50_max": 3.5}, True, "within the bounds"),
    ({"p50_min": 4.0}, False, "an expected delay did not happen"),
    ({"p99_max": 1.0}, False, "p99 3.200s, expected at most 1s"),
    ({"max": 5.0, "p90_max": None}, True, "within"),
    ({"p95_max": 3.1}, False, "p95 3.150s, expected at most 3.1s"),
    ({"p95_max": 3.15}, True, "p95 3.150s"),
])
def test_latency_verdict(bounds, passed, words):
    v = latency_verdict({"p50": 3.01, "p90": 3.1, "p95": 3.15, "p99": 3.2, "max": 3.3}, bounds)
    assert v["passed"] is passed
    assert words in v["message"]


def test_a_failed_even_split_does_not_say_the_shares_match_no_even_spread():
    """50/50 asked: 'match neither the weights nor an even spread' contradicts itself (issue 28)."""
    v = share_verdict({"v1": 180, "v2": 20}, {"v1": 50, "v2": 50}, DEFAULT_CONFIDENCE)
    assert not v["passed"]
    assert "nor an even spread" not in v["message"]
    assert "the shares are uneven although the weights ask for an even spread" in v["message"]
    assert "3 pods of v1 and 1 of v2 give 75/25" in v["message"]
    uneven = share_verdict({"v1": 100, "v2": 20, "v3": 80}, {"v1": 60, "v2": 30, "v3": 10}, DEFAULT_CONFIDENCE)
    assert "match neither the weights nor an even spread" in uneven["message"]


@pytest.mark.parametrize("counts, weights", [
    ({"v1": 190, "v2": 9, "v3": 1}, {"v1": 95, "v2": 5}),  # one response from a version nobody named
    ({"v1": 9990, "v3": 10}, {"v1": 100}),  # a tiny share at a large N is still a share that should be none
    ({"v1": 50, "v2": 50, "v3": 1}, {"v1": 50, "v2": 50}),
    ({"v1": 100, "v2": 1}, {"v1": 100, "v2": 0}),  # named with weight 0: the same as not named
])
def test_a_backend_that_should_get_nothing_and_gets_traffic_fails_the_verdict(counts, weights):
    """Backends not named in expected_shares are judged too (expected share 0): any response from one fails."""
    v = share_verdict(counts, weights, DEFAULT_CONFIDENCE)
    unexpected = [b for b in counts if not weights.get(b)]
    assert not v["passed"], v["message"]
    assert all(v["measured"][b]["passed"] is False for b in unexpected), v["measured"]
    assert "answered although their weight is 0 or they are not in expected_shares" in v["message"]
