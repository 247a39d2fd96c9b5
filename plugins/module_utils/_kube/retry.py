# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Retries with exponential backoff and full jitter, within a time budget."""


import random
import time

RETRYABLE_STATUS = frozenset((429, 500, 503, 504))


def backoff_delay(attempt, retry_after=None, base=0.2, cap=10.0, rand=random.random):
    """Seconds to wait before retry number `attempt` (1-based).

    A server's Retry-After wins; otherwise full jitter over an exponential window.
    """
    if retry_after is not None and retry_after >= 0:
        return min(float(retry_after), cap)
    return rand() * min(cap, base * (2 ** (attempt - 1)))


def retry_after_seconds(headers, status=None):
    """Seconds the server asked to wait, or None.

    kube-apiserver sends both the Retry-After header and the Status body's
    details.retryAfterSeconds with a 429 (and a 503 or 504 that asks for a wait); the header
    wins, the body stands in for it when a proxy on the way dropped the header.
    """
    for key, value in dict(headers or {}).items():
        if key.lower() == "retry-after":
            seconds = _seconds(value)
            if seconds is not None:
                return seconds
    details = (status or {}).get("details") if isinstance(status, dict) else None
    seconds = _seconds((details or {}).get("retryAfterSeconds")) if isinstance(details, dict) else None
    return seconds if seconds else None


def _seconds(value):
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return None
    return seconds if seconds >= 0 else None


class Budget(object):
    """A deadline for the retries of one request."""

    def __init__(self, seconds, clock=time.monotonic):
        self._clock = clock
        self.deadline = clock() + seconds

    def left(self):
        return self.deadline - self._clock()


def call_with_retries(func, classify, budget, sleep=time.sleep, on_retry=None):
    """Call func() until it succeeds, classify(exc) says "no retry", or the budget runs out.

    classify(exc) returns None (do not retry) or the Retry-After seconds (0 for none given).
    on_retry(exc, delay) is told of each retry before its sleep, so that the caller can report them.
    """
    attempt = 0
    while True:
        try:
            return func()
        except Exception as exc:  # classify() decides what is retryable
            retry_after = classify(exc)
            if retry_after is None:
                raise
            attempt += 1
            delay = backoff_delay(attempt, retry_after if retry_after > 0 else None)
            if budget.left() <= delay:
                raise
            if on_retry is not None:
                on_retry(exc, delay)
            sleep(delay)
