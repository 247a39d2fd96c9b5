"""The canary's error-rate gate (verdicts.error_rate_verdict, through the filter ambient.mesh.error_rate_verdict):
passes at or below the maximum, says how many requests failed and how, shaped like traffic_probe's verdicts."""

import random

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.ambient.mesh.plugins.filter.error_rate_verdict import FilterModule
from ansible_collections.ambient.mesh.plugins.module_utils._traffic.verdicts import error_bound_verdict, error_rate_verdict, upper_tail


@pytest.mark.parametrize("error_rate, requests, status_codes, transport_errors, max_error_rate, passed, message", [
    (0.0, 200, {"200": 200}, {}, 0.01, True,
     "error rate: expected at most 1%, measured 0% (0 of 200 requests failed; status codes {'200': 200})"),
    # at the maximum passes: "at or below"
    (0.01, 200, {"200": 198, "500": 2}, {}, 0.01, True,
     "error rate: expected at most 1%, measured 1% (2 of 200 requests failed; status codes {'200': 198, '500': 2})"),
    (0.015, 200, {"200": 197, "500": 3}, {}, 0.01, False,
     "error rate: expected at most 1%, measured 1.5% (3 of 200 requests failed; status codes {'200': 197, '500': 3})"),
    (0.03, 200, {"200": 194, "500": 6}, {}, 0.01, False,
     "error rate: expected at most 1%, measured 3% (6 of 200 requests failed; status codes {'200': 194, '500': 6})"),
    (0.02, 100, {"200": 98, "000": 2}, {"28": 2}, 0.05, True,
     "error rate: expected at most 5%, measured 2% (2 of 100 requests failed; status codes {'200': 98, '000': 2}, "
     "transport errors by curl exit code {'28': 2})"),
    # a maximum of 0 allows no failed request at all
    (0.0, 50, {"200": 50}, {}, 0, True,
     "error rate: expected at most 0%, measured 0% (0 of 50 requests failed; status codes {'200': 50})"),
    (0.02, 50, {"200": 49, "503": 1}, {}, 0, False,
     "error rate: expected at most 0%, measured 2% (1 of 50 requests failed; status codes {'200': 49, '503': 1})"),
    # 0.29 * 100 is 28.999999999999996 in floating point: the count is rounded, not cut
    (0.29, 100, {"200": 71, "500": 29}, {}, 0.3, True,
     "error rate: expected at most 30%, measured 29% (29 of 100 requests failed; status codes {'200': 71, '500': 29})"),
    (1.0, 10, {"503": 10}, {}, 1, True,
     "error rate: expected at most 100%, measured 100% (10 of 10 requests failed; status codes {'503': 10})"),
])
def test_error_rate_verdict(error_rate, requests, status_codes, transport_errors, max_error_rate, passed, message):
    verdict = error_rate_verdict(error_rate, requests, status_codes, transport_errors, max_error_rate)
    assert verdict == {"name": "error_rate", "passed": passed, "expected": {"max": float(max_error_rate)},
                       "measured": error_rate, "message": message}


def test_figures_as_strings_from_a_template_are_numbers():
    verdict = error_rate_verdict("0.01", 200, {"200": 198, "500": 2}, {}, "0.01")
    assert verdict["passed"] is True and verdict["measured"] == 0.01 and verdict["expected"] == {"max": 0.01}


def test_the_filter_takes_a_traffic_probe_result():
    fn = FilterModule().filters()["error_rate_verdict"]
    probe = {"error_rate": 0.03, "requests": 200, "status_codes": {"200": 194, "500": 6}, "transport_errors": {},
             "verdicts": [], "shares": {"v1": 1.0}}
    assert fn(probe, 0.01) == error_rate_verdict(0.03, 200, {"200": 194, "500": 6}, {}, 0.01)
    with pytest.raises(AnsibleFilterError, match="needs a traffic_probe result"):
        fn({"msg": "curl in test/curl made 0 of 200 requests"}, 0.01)


# ---- the one-sided error bound of a retry drill (traffic_probe max_error_percentage, issue 26) ----------------
def test_two_retries_of_a_20_percent_503_pass_the_0_8_percent_bound_and_no_retries_fail_it():
    ok = error_bound_verdict(6 / 500, 500, {"200": 494, "503": 6}, 0.8, 0.99)
    assert ok["passed"] and ok["measured"]["count"] == 6, ok["message"]
    bad = error_bound_verdict(98 / 500, 500, {"200": 402, "503": 98}, 0.8, 0.99)
    assert not bad["passed"]
    assert bad["message"].startswith("error rate: expected at most 0.8%, measured 19.6% (98 of 500 failed")
    assert "Istio's default retry policy retries no status code" in bad["message"]


def test_the_bound_fails_a_true_rate_at_the_bound_at_most_1_minus_confidence_of_the_time():
    rng = random.Random(7)
    fails = 0
    for _ in range(2000):
        k = sum(rng.random() < 0.008 for _ in range(500))
        fails += not error_bound_verdict(k / 500, 500, {}, 0.8, 0.99)["passed"]
    assert fails / 2000 <= 0.01, fails


def test_upper_tail_edges():
    assert upper_tail(0, 10, 0.5) == 1.0 and upper_tail(1, 10, 0.0) == 0.0 and upper_tail(10, 10, 1.0) == 1.0
    assert abs(upper_tail(10, 10, 0.5) - 0.5 ** 10) < 1e-12
