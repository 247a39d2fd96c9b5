# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One run of prometheus_query: plan every check, wait for traffic if asked, query, judge."""

import time

from ansible_collections.ambient.mesh.plugins.module_utils._metrics.checks import plan
from ansible_collections.ambient.mesh.plugins.module_utils._metrics.prometheus_api import PrometheusApi
from ansible_collections.ambient.mesh.plugins.module_utils._metrics.thresholds import clean, judge

POLL = 2.0  # seconds between looks while waiting for traffic


def _requests(api, check):
    if not check["requests_query"]:
        return None
    series = api.instant(check["requests_query"])
    return sum(v for _labels, v in series) if series else 0.0


def run_checks(params, sleep=time.sleep, clock=time.monotonic):
    checks = plan(params)
    api = PrometheusApi(params)
    start = clock()
    deadline = start + (params.get("wait_for_traffic") or 0)
    while True:
        counts = dict((c["name"], _requests(api, c)) for c in checks)
        short = [c for c in checks if c["min_requests"] and (counts[c["name"]] or 0) < c["min_requests"]]
        if not short or clock() >= deadline:
            break
        sleep(POLL)
    waited = round(clock() - start, 1)
    verdicts = []
    for check in checks:
        if check["range"]:
            series = api.range(check["query"], check["range"], check["step"])
        else:
            series = api.instant(check["query"])
        verdict = judge(check, series, counts[check["name"]])
        verdict["labels"] = [labels for labels, _v in series][:20]
        verdicts.append(verdict)
    return {
        "prometheus": api.url,
        "checks": verdicts,
        # the same verdicts in ambient.mesh.report's shapes: a gate each, and the step's metrics
        "gates": [{"name": "metric " + v["name"], "passed": v["passed"], "expected": v["expected"],
                   "measured": v["value"], "message": v["message"]} for v in verdicts],
        "metrics": [{"name": v["name"], "value": v["value"] if not isinstance(v["value"], list) else None,
                     "unit": c["unit"], "requests": v["requests"], "verdict": v["verdict"], "passed": v["passed"]}
                    for v, c in zip(verdicts, checks)],
        "passed": all(v["passed"] for v in verdicts),
        "waited_for_traffic": waited,
        "queries": api.queries,
        "measured": dict((v["name"], v["value"]) for v in verdicts),
        "requests": dict((v["name"], clean(v["requests"]) if v["requests"] is not None else None) for v in verdicts),
    }
