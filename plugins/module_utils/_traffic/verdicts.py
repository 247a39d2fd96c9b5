# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""traffic_probe's verdicts: is what the traffic did what was asked for?

Standard library only: modules run on managed hosts, which have no scipy.

The share and status-rate verdicts are exact binomial tests. Each request is a Bernoulli trial
("did backend b answer?", "was the status s?"); under the hypothesis "the split is enforced" the
count of a backend is Binomial(n, expected share). The exact test needs no large-sample
approximation, so it holds for the small counts that a 5% backend gives at N=200 (about 10), where a
chi-square test's "expected count >= 5 per cell" rule starts to fail, and a weight of 0 is tested
exactly (any response from that backend fails it). With k backends, each test runs at
(1 - confidence) / k (Bonferroni), so the chance that a correctly enforced split fails is at most
1 - confidence whatever k is; with two backends both tests are the same test, so the bound is
conservative by a factor of two.
"""


import math

# Relative tolerance when comparing probabilities of outcomes, as scipy.stats.binomtest does
# (scipy/stats/_binomtest.py: rerr = 1 + 1e-7), so that outcomes as likely as the observed one
# are not dropped by floating point noise.
_RERR = 1 + 1e-7


def _log_pmf(k, n, p):
    return (math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
            + k * math.log(p) + (n - k) * math.log1p(-p))


def binomial_p_value(k, n, p):
    """Two-sided p-value of the exact binomial test of k successes in n trials at probability p:
    the probability of every outcome no more likely than k ("minlike", as scipy's binomtest)."""
    if n == 0:
        return 1.0
    if p <= 0.0:
        return 1.0 if k == 0 else 0.0
    if p >= 1.0:
        return 1.0 if k == n else 0.0
    observed = _log_pmf(k, n, p) + math.log(_RERR)
    total = 0.0
    for i in range(n + 1):
        logp = _log_pmf(i, n, p)
        if logp <= observed:
            total += math.exp(logp)
    return min(1.0, total)


def _normal_quantile(q):
    """The standard normal quantile, by bisection on math.erf (no statistics.NormalDist on old Pythons)."""
    lo, hi = -40.0, 40.0
    for _step in range(200):
        mid = (lo + hi) / 2
        if 0.5 * (1 + math.erf(mid / math.sqrt(2))) < q:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def wilson_interval(k, n, confidence):
    """Wilson score interval of a proportion, to show how precisely a share was measured."""
    if n == 0:
        return [0.0, 1.0]
    z = _normal_quantile(1 - (1 - confidence) / 2)
    phat = k / n
    denom = 1 + z * z / n
    centre = (phat + z * z / (2 * n)) / denom
    half = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / denom
    return [round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)]


def normalise(weights):
    total = float(sum(weights.values()))
    if total <= 0:
        raise ValueError("expected_shares: the weights must add up to more than 0")
    return dict((str(b), w / total) for b, w in weights.items())


def _pct(x):
    return "%.1f%%" % (100.0 * x)


def _judge_shares(counts, shares, confidence):
    """(passed, per-backend measurements) for the Bonferroni-corrected exact binomial tests."""
    backends = sorted(set(shares) | set(counts))
    n = sum(counts.get(b, 0) for b in backends)
    level = (1 - confidence) / len(backends)
    measured = {}
    passed = True
    for b in backends:
        k = counts.get(b, 0)
        p_value = binomial_p_value(k, n, shares.get(b, 0.0))
        ok = p_value > level
        passed = passed and ok
        measured[b] = {"count": k, "share": round(k / n, 4) if n else 0.0, "p_value": p_value,
                       "interval": wilson_interval(k, n, confidence), "passed": ok}
    return passed, measured, level


def share_verdict(counts, expected_shares, confidence, reuse_connection=False, unidentified=0):
    """Are the measured counts per backend consistent with the expected weights?"""
    shares = normalise(expected_shares)
    counts = dict((str(b), c) for b, c in counts.items())
    n = sum(counts.values())
    expected = dict((b, round(s, 4)) for b, s in shares.items())
    if n == 0:
        return _verdict("shares", False, expected, {"identified": 0, "unidentified": unidentified},
                        "shares: expected %s, but no response named a backend (%d unidentified): check "
                        "backend_pattern or backend_header against a response (return_sample: true shows them)"
                        % (_describe(shares), unidentified))
    passed, measured, level = _judge_shares(counts, shares, confidence)
    text = "shares: expected %s; measured %s (%d%% Wilson intervals: %s; %d responses named a backend" % (
        _describe(shares), ", ".join("%s %s (%d/%d)" % (b, _pct(m["share"]), m["count"], n) for b, m in measured.items()),
        round(confidence * 100), ", ".join("%s %s-%s" % (b, _pct(m["interval"][0]), _pct(m["interval"][1]))
                                           for b, m in measured.items()), n)
    text += ", %d did not)" % unidentified if unidentified else ")"
    if passed:
        return _verdict("shares", True, expected, measured,
                        "%s: within chance of the weights (exact binomial test per backend at %.4g)" % (text, level))
    off = [b for b, m in measured.items() if not m["passed"]]
    text += ("; %s off beyond chance (exact binomial test per backend, p <= %.4g, Bonferroni over %d backends)"
             % (", ".join(off), level, len(measured)))
    return _verdict("shares", False, expected, measured, text + ". Likely cause: " +
                    _share_cause(counts, shares, confidence, reuse_connection))


def _share_cause(counts, shares, confidence, reuse_connection):
    unexpected = sorted(b for b, c in counts.items() if c and shares.get(b, 0) == 0)
    if unexpected:
        return ("backends %s answered although their weight is 0 or they are not in expected_shares: a route still "
                "sends traffic to them, or the Service's selector matches their pods (see mesh_info)"
                % ", ".join(unexpected))
    hit = [b for b, c in counts.items() if c]
    if reuse_connection and len(hit) == 1 and len(shares) > 1:
        return ("every request went to %s over one kept-alive connection (reuse_connection: true); without a "
                "waypoint ztunnel picks the pod per connection, so one connection stays on one pod: is a waypoint "
                "bound to the Service? see mesh_info" % hit[0])
    weighted = len(set(round(s, 6) for s in shares.values())) > 1
    uniform = dict((b, 1.0 / len(shares)) for b in shares)
    if weighted and _judge_shares(counts, uniform, confidence)[0]:
        return ("the split is not enforced: the shares are even, as when ztunnel balances connections across "
                "pods without a waypoint: is a waypoint bound to the Service? see mesh_info")
    pods = ("the ready pods per version (without a waypoint ztunnel balances per pod, so 3 pods of v1 and 1 of v2 "
            "give 75/25)")
    if not weighted:
        return ("the shares are uneven although the weights ask for an even spread: check the route's weights and "
                "status (mesh_info: a route still at its old weights?), and %s" % pods)
    return ("the shares match neither the weights nor an even spread: check the route's weights and status "
            "(mesh_info), and %s" % pods)


def status_rate_verdict(status_codes, total, status, percentage, confidence):
    """Is the share of responses with `status` the expected percentage (an injected abort's)?"""
    status = str(status)
    k = status_codes.get(status, 0)
    p = percentage / 100.0
    p_value = binomial_p_value(k, total, p)
    level = 1 - confidence
    measured = {"count": k, "requests": total, "percentage": round(100.0 * k / total, 2) if total else 0.0,
                "p_value": p_value, "interval": [round(100 * x, 2) for x in wilson_interval(k, total, confidence)]}
    expected = {"status": int(status), "percentage": percentage}
    text = "status %s rate: expected %s%%, measured %s%% (%d of %d; %d%% Wilson interval %s-%s%%)" % (
        status, percentage, measured["percentage"], k, total, round(confidence * 100), measured["interval"][0],
        measured["interval"][1])
    if p_value > level:
        return _verdict("status_rate", True, expected, measured,
                        "%s: within chance (exact binomial test at %.4g)" % (text, level))
    if k == 0 and p > 0:
        cause = ("the fault is not applied: is the fault's VirtualService applied through a waypoint bound to "
                 "the Service? Ambient applies L7 faults only at a waypoint, and a route for the same host that is "
                 "older than the fault shadows it (see mesh_info)")
    elif p == 0:
        cause = ("responses with %s although none were expected: is a fault VirtualService still in place (mesh_info "
                 "lists faults and their expiry), or is the backend failing?" % status)
    else:
        cause = ("the rate differs from the fault's percentage beyond chance: another fault or route for the same "
                 "host (a waypoint merges routes in creation order, see mesh_info), or the backend itself answering %s"
                 % status)
    return _verdict("status_rate", False, expected, measured,
                    "%s: off beyond chance (exact binomial test, p <= %.4g). Likely cause: %s" % (text, level, cause))


# curl's exit codes (curl docs/libcurl/libcurl-errors.md, CURLE_*), the ones a probe meets
CURL_EXIT = {
    6: "could not resolve the host (CURLE_COULDNT_RESOLVE_HOST): check the URL's Service name and namespace",
    7: "could not connect (CURLE_COULDNT_CONNECT): no ready endpoint, or the port is wrong",
    28: "timed out (CURLE_OPERATION_TIMEDOUT): slower than timeout, a delay fault?",
    52: "empty reply (CURLE_GOT_NOTHING)",
    56: "connection reset while receiving (CURLE_RECV_ERROR): a waypoint that has no pods resets connections",
}


def status_verdict(status_codes, transport_errors, allowed):
    allowed = sorted(set(str(s) for s in allowed))
    bad = dict((s, n) for s, n in status_codes.items() if s not in allowed)
    measured = dict(status_codes)
    text = "status codes: expected only %s, measured %s" % (
        ", ".join(allowed), ", ".join("%s x%d" % (s, n) for s, n in sorted(measured.items())))
    if not bad:
        return _verdict("status_codes", True, allowed, measured, text)
    causes = []
    for code, n in sorted(transport_errors.items()):
        causes.append("%d transfers failed with curl exit %s: %s" % (n, code, CURL_EXIT.get(int(code), "see curl's "
                                                                                            "exit codes")))
    if any(s.startswith("5") for s in bad):
        causes.append("5xx: an injected abort (a fault VirtualService, see mesh_info) or a failing backend")
    if any(s.startswith("4") for s in bad):
        causes.append("4xx: the URL, method or headers, or an authorization policy at the waypoint")
    return _verdict("status_codes", False, allowed, measured, "%s. Likely cause: %s" % (text, "; ".join(causes)))


def latency_verdict(latency, bounds):
    """latency: {p50, p90, p95, p99, max} seconds; bounds: {p50_min, p50_max, p90_max, p95_max, p99_max, max}."""
    checks = [("p50_min", "p50", lambda m, b: m >= b, "at least"), ("p50_max", "p50", lambda m, b: m <= b, "at most"),
              ("p90_max", "p90", lambda m, b: m <= b, "at most"), ("p95_max", "p95", lambda m, b: m <= b, "at most"),
              ("p99_max", "p99", lambda m, b: m <= b, "at most"),
              ("max", "max", lambda m, b: m <= b, "at most")]
    wanted = dict((k, v) for k, v in bounds.items() if v is not None)
    broken = []
    for bound, figure, ok, words in checks:
        if bound in wanted and not ok(latency[figure], wanted[bound]):
            broken.append((bound, "%s %.3fs, expected %s %gs" % (figure, latency[figure], words, wanted[bound])))
    text = "latency: measured p50 %.3fs, p90 %.3fs, p95 %.3fs, p99 %.3fs, max %.3fs" % (
        latency["p50"], latency["p90"], latency["p95"], latency["p99"], latency["max"])
    if not broken:
        return _verdict("latency", True, wanted, latency, text + ", within the bounds")
    names = [bound for bound, _text in broken]
    if names == ["p50_min"]:
        cause = ("faster than expected: an expected delay did not happen: is the fault's VirtualService applied "
                 "through a waypoint bound to the Service? (see mesh_info)")
    else:
        cause = "slower than allowed: a delay fault still injected (mesh_info lists faults), or a slow backend"
    return _verdict("latency", False, wanted, latency,
                    "%s: %s. Likely cause: %s" % (text, "; ".join(problem for _bound, problem in broken), cause))


def error_rate_verdict(error_rate, requests, status_codes, transport_errors, max_error_rate):
    """Is the fraction of failed requests (a status other than 2xx/3xx, or a curl error) at most max_error_rate?
    The canary role's error-rate gate; the figures are traffic_probe's RV(error_rate), RV(requests),
    RV(status_codes) and RV(transport_errors)."""
    error_rate = float(error_rate)
    max_error_rate = float(max_error_rate)
    failed = int(round(error_rate * requests))
    message = "error rate: expected at most %s%%, measured %s%% (%d of %d requests failed; status codes %s%s)" % (
        "%g" % (100 * max_error_rate), "%g" % (100 * error_rate), failed, requests, status_codes,
        ", transport errors by curl exit code %s" % (transport_errors,) if transport_errors else "")
    return _verdict("error_rate", error_rate <= max_error_rate, {"max": max_error_rate}, error_rate, message)


def upper_tail(k, n, p):
    """P(X >= k) for X ~ Binomial(n, p): the one-sided p-value of k failures when at most p fail."""
    if k <= 0:
        return 1.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    return min(1.0, sum(math.exp(_log_pmf(i, n, p)) for i in range(k, n + 1)))


def error_bound_verdict(error_rate, requests, status_codes, percentage, confidence):
    """Is the client's error rate (a status other than 2xx/3xx, or a curl error) at most `percentage`, beyond
    chance? A one-sided exact binomial test: it fails when as many failures as measured, or more, would happen
    at most 1 - confidence of the time if the true rate were the bound - what a retry drill asks ("with 2
    retries of a 20% 503, at most 0.8% fail")."""
    failed = int(round(float(error_rate) * requests))
    p = percentage / 100.0
    p_value = upper_tail(failed, requests, p)
    level = 1 - confidence
    measured = {"count": failed, "requests": requests, "percentage": round(100.0 * failed / requests, 2) if requests else 0.0,
                "p_value": p_value, "interval": [round(100 * x, 2) for x in wilson_interval(failed, requests, confidence)]}
    text = "error rate: expected at most %s%%, measured %s%% (%d of %d failed; status codes %s; %d%% Wilson interval %s-%s%%)" % (
        "%g" % percentage, measured["percentage"], failed, requests, dict(sorted(status_codes.items())),
        round(confidence * 100), measured["interval"][0], measured["interval"][1])
    if p_value > level:
        return _verdict("error_bound", True, {"percentage": percentage}, measured,
                        "%s: within the bound (one-sided exact binomial test at %.4g)" % (text, level))
    cause = ("more requests fail than the bound allows: does the route retry these statuses? Istio's default retry "
             "policy retries no status code (give the split retry.codes, and the experimental channel's HTTPRoute "
             "CRD); a fault injected at the waypoint is never retried; a timeout's 504 is not retried under Istio's "
             "conditions (mesh_info shows each route's timeouts and retry)")
    return _verdict("error_bound", False, {"percentage": percentage}, measured,
                    "%s: above the bound beyond chance (one-sided exact binomial test, p <= %.4g). Likely cause: %s"
                    % (text, level, cause))


def _describe(shares):
    return ", ".join("%s %s" % (b, _pct(s)) for b, s in sorted(shares.items()))


def _verdict(name, passed, expected, measured, message):
    return {"name": name, "passed": passed, "expected": expected, "measured": measured, "message": message}
