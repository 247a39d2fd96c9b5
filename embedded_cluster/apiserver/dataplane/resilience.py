"""A route's timeout and retry policy (Istio 1.30.3), and how Envoy's router applies them.

What istiod writes, each from the file named:
- pilot/pkg/config/kube/gateway/conversion.go convertHTTPRoute: an HTTPRoute rule's `retry` becomes a retry policy
  of `attempts` (2 when unset) retrying on connect-failure, refused-stream, unavailable, cancelled and each of
  `codes`; attempts 0 leaves retryOn empty; `backoff` is the policy's base interval. `timeouts.request` (not 0)
  is the route timeout; `timeouts.backendRequest` (not 0) is the per-try timeout when the rule has a retry, and
  otherwise the route timeout (in place of `request`).
- A VirtualService http rule's `timeout` and `retries` (attempts, perTryTimeout, retryOn, backoff) are taken as
  written (networking/v1alpha3 HTTPRoute).
- pilot/pkg/networking/core/route/route.go applyHTTPRouteDestination: no retry policy on the rule means the mesh's
  default (MeshConfig defaultHttpRetryPolicy, unset); route/route.go setTimeout: no timeout is 0 (none).
- pilot/pkg/networking/core/route/retry/retry.go ConvertPolicy: no policy is the default - 2 retries on
  "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes" with no status code, so no
  answer of an app is retried; attempts <= 0 is no retry policy at all; parseRetryOn moves the numbers of
  retryOn into retriable_status_codes and adds retriable-status-codes; retry_host_predicate previous_hosts.

What Envoy's router does with them (source/common/router/router.cc, retry_state_impl.cc,
source/common/common/backoff_strategy.cc):
- The route timeout starts when the router has the whole request (Filter::onRequestComplete), so a fault filter's
  delay, which runs before the router, does not count; it covers every attempt and the waits between them. When it
  fires the client gets the router's local reply 504 `upstream request timeout` (response flag UT).
- A retriable answer (its status in retriable_status_codes) is retried while attempts are left, after a jittered
  exponential back-off (base 25 ms unless set, at most 10 times the base; RetryStateImpl); the previous_hosts predicate picks
  another host when there is one. When no attempt is left the last answer goes to the client as the app sent it.
- A per-try timeout ends the attempt (its timer, like the route's, starts once the request is complete,
  upstream_request.cc onPoolReady); it is retried only under retry_on 5xx, gateway-error or reset
  (retry_state_impl.cc wouldRetryFromReset, LocalReset; none of which the conversion above sets), else the client
  gets the 504 `upstream request timeout`. A per-try timeout not shorter than the route timeout is dropped
  (router.cc finalTimeout).
- x-envoy-upstream-service-time covers every attempt; nothing else tells the client that retries happened
  (x-envoy-attempt-count only with include_attempt_count_in_response, which Istio does not set).
- A fault filter's abort is a local reply before the router: never retried.
"""

import re

from .messages import NotSimulated

# retry.go defaultRetryOn / DefaultPolicy
DEFAULT_RETRY_ON = ("connect-failure", "refused-stream", "unavailable", "cancelled", "retriable-status-codes")
DEFAULT_ATTEMPTS = 2
# conversion.go convertHTTPRoute: the conditions of a Gateway API retry
GATEWAY_RETRY_ON = ("connect-failure", "refused-stream", "unavailable", "cancelled")
# Envoy RetryPolicy.retry_back_off: base_interval default 25 ms, max_interval default 10 x base
DEFAULT_BACKOFF = 0.025
# retry_state_impl.cc: the retry_on flags under which a per-try timeout is retried
TIMEOUT_RETRY_ON = ("5xx", "gateway-error", "reset")
KNOWN_RETRY_ON = set(DEFAULT_RETRY_ON) | set(TIMEOUT_RETRY_ON)
TIMEOUT_BODY = b"upstream request timeout"  # router.cc onResponseTimeout: sendLocalReply(GatewayTimeout, ...)


class RetryPolicy:
    def __init__(self, attempts, retry_on, codes, per_try=None, backoff=None):
        if backoff is not None and backoff <= 0:
            # route_components.proto RetryBackOff.base_interval gt {}: Envoy rejects the route (a NACK)
            raise NotSimulated("a retry back-off of 0 (Envoy rejects the route configuration)")
        self.attempts = attempts  # retries after the first try
        self.retry_on = frozenset(retry_on)
        self.codes = frozenset(codes)
        self.per_try = per_try  # seconds, None: none
        self.backoff = backoff if backoff else DEFAULT_BACKOFF

    def retries_status(self, status):
        """retry_state_impl.cc wouldRetryFromHeaders: 5xx any 5xx, gateway-error 502/503/504, retriable-status-codes
        the listed ones (retriable-4xx, 409, is not simulated: convert_policy refuses it)."""
        return ("retriable-status-codes" in self.retry_on and status in self.codes) \
            or ("5xx" in self.retry_on and 500 <= status <= 599) \
            or ("gateway-error" in self.retry_on and status in (502, 503, 504))

    def retries_timeout(self):
        return bool(self.retry_on & set(TIMEOUT_RETRY_ON))

    def backoff_wait(self, rng, retry):
        """backoff_strategy.cc JitteredExponentialBackOffStrategy::nextBackOffMs for retry 1, 2, ...: a random
        whole number of milliseconds below the interval, which starts at the base and doubles while under half
        the maximum (doubling_limit_), then is the maximum (10 x base, RetryStateImpl)."""
        base_ms = int(round(self.backoff * 1000))
        interval, most = base_ms, 10 * base_ms
        for _ in range(retry - 1):
            interval = interval * 2 if interval < most // 2 else most
        return (rng.randrange(interval) if interval else 0) / 1000.0


class Policy:
    """The route timeout (seconds, 0 for none) and the retry policy (None for no retries)."""

    def __init__(self, timeout=0.0, retry="default"):
        self.timeout = timeout
        self.retry = convert_policy(None) if retry == "default" else retry


def convert_policy(attempts, retry_on=None, per_try=None, backoff=None):
    """retry.go ConvertPolicy: attempts None is no policy given (the default one); attempts <= 0 none at all."""
    if attempts is None:
        return RetryPolicy(DEFAULT_ATTEMPTS, DEFAULT_RETRY_ON, ())
    if attempts <= 0:
        return None
    conditions, codes = list(DEFAULT_RETRY_ON), []
    if retry_on:
        conditions, codes = [], []
        for part in (p.strip() for p in retry_on.split(",")):
            if not part:
                continue
            if part.isdigit() and 100 <= int(part) <= 599:  # parseRetryOn: http.StatusText(i) != ""
                codes.append(int(part))
            elif part in KNOWN_RETRY_ON:
                conditions.append(part)
            else:
                raise NotSimulated(f"retry condition {part!r}")
        if codes and "retriable-status-codes" not in conditions:
            conditions.append("retriable-status-codes")
    return RetryPolicy(attempts, conditions, codes, per_try=per_try, backoff=backoff)


def gateway_duration(text, what):
    """A Gateway API Duration (GEP-2257, the CRD's pattern) as Go's time.ParseDuration reads it, in seconds."""
    if not isinstance(text, str) or not re.fullmatch(r"([0-9]{1,5}(h|m|s|ms)){1,4}", text):
        raise NotSimulated(f"{what} {text!r} (not a GEP-2257 duration: the CRD refuses it)")
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(int(n) * units[u] for n, u in re.findall(r"([0-9]+)(ms|h|m|s)", text))


def from_httproute_rule(rule):
    """conversion.go convertHTTPRoute: the rule's retry and timeouts as istiod writes them."""
    retry = rule.get("retry")
    timeouts = rule.get("timeouts") or {}
    if set(timeouts) - {"request", "backendRequest"} or (retry is not None and set(retry) - {"attempts", "codes", "backoff"}):
        raise NotSimulated(f"HTTPRoute timeouts/retry fields {sorted(set(timeouts) | set(retry or {}))}")
    attempts, retry_on, backoff = None, None, None
    if retry is not None:
        attempts = int(retry.get("attempts", DEFAULT_ATTEMPTS))
        retry_on = ",".join(list(GATEWAY_RETRY_ON) + [str(int(c)) for c in retry.get("codes") or []])
        if attempts == 0:
            retry_on = ""
        if retry.get("backoff") is not None:
            backoff = gateway_duration(retry["backoff"], "retry.backoff")
    timeout, per_try = 0.0, None
    if timeouts.get("request") is not None:
        request = gateway_duration(timeouts["request"], "timeouts.request")
        if request:
            timeout = request
    if timeouts.get("backendRequest") is not None:
        backend = gateway_duration(timeouts["backendRequest"], "timeouts.backendRequest")
        if backend:
            if retry is not None:
                per_try = backend
            else:
                timeout = backend
    if retry is None:
        return Policy(timeout)
    return Policy(timeout, convert_policy(attempts, retry_on, per_try=per_try, backoff=backoff))


def from_virtualservice_http(http, seconds):
    """A VirtualService http rule's timeout and retries; `seconds` reads a protobuf Duration."""
    timeout = seconds(http["timeout"]) if http.get("timeout") else 0.0
    retries = http.get("retries")
    if retries is None:
        return Policy(timeout)
    unknown = set(retries) - {"attempts", "perTryTimeout", "retryOn", "backoff"}
    if unknown:
        raise NotSimulated(f"VirtualService retries fields {sorted(unknown)}")
    per_try = seconds(retries["perTryTimeout"]) if retries.get("perTryTimeout") else None
    backoff = seconds(retries["backoff"]) if retries.get("backoff") else None
    return Policy(timeout, convert_policy(int(retries.get("attempts", 0)), retries.get("retryOn") or "",
                                          per_try=per_try, backoff=backoff))
