#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r"""
module: prometheus_query
short_description: Judge real traffic by Istio's metrics in Prometheus - success rate, latency, your PromQL
version_added: 0.2.0
description:
  - Runs PromQL against a Prometheus server and judges each result against thresholds - the way Flagger and Argo
    Rollouts judge a canary by the traffic the service really gets, without a controller in the cluster. It only
    reads; check mode runs the queries too.
  - B(Built-in checks) named as Flagger names them - C(request-success-rate) (percent of requests not answered
    5xx, from C(istio_requests_total)) and C(request-duration) (a quantile of
    C(istio_request_duration_milliseconds), p99 by default), of a workload (O(checks[].workload), a regex as
    Flagger's target) or of a Service (O(checks[].service)) in O(checks[].namespace).
  - >-
    B(Ambient mode reports request metrics at the waypoint.) The built-ins select C(reporter="waypoint") - Flagger's
    own select C(reporter="destination"), the sidecar's, and find nothing in an ambient mesh. A request that reached
    no pod (a fault abort, no healthy upstream) has C(destination_workload="unknown") at the waypoint: it counts in
    a Service's check, not a workload's.
  - B(Free PromQL) in O(checks[].query), with the placeholders C($namespace), C($service), C($workload),
    C($version), C($interval) and C($reporter) (C($$) for a dollar sign; Jinja2 leaves them alone).
  - >-
    B(Not enough traffic is its own verdict.) Each built-in counts the requests in its interval (a free query
    with O(checks[].requests_query)); below O(checks[].min_requests) the check is not judged and does not pass.
    O(wait_for_traffic) waits for enough traffic first.
  - Fails the task when a check fails, unless O(fail_on_verdicts=false); the result has every check's verdict, value,
    request count and query either way.
  - Works against the embedded cluster's Prometheus (C(make demo) starts Debian's C(prometheus) scraping the
    simulated waypoints) and a real cluster's - Istio's sample Prometheus C(http://prometheus.istio-system:9090),
    kube-prometheus-stack's C(http://kube-prometheus-stack-prometheus.monitoring:9090) (or
    C(http://prometheus-operated.monitoring:9090)), reached through C(kubectl port-forward) or an ingress, or a managed
    Prometheus with its token.
options:
  url:
    description:
      - The Prometheus server's base URL; the module adds C(/api/v1/query) and C(/api/v1/query_range). A path prefix
        (C(https://example.com/prometheus)) is kept.
    type: str
    required: true
  bearer_token:
    description: "A token sent as C(Authorization: Bearer <token>) (managed Prometheus, an OAuth proxy)."
    type: str
  username:
    description: Basic auth user name.
    type: str
  password:
    description: Basic auth password.
    type: str
  ca_path:
    description: A CA bundle (PEM) to verify the server's certificate with.
    type: path
  client_cert:
    description: A client certificate (PEM) for mutual TLS.
    type: path
  client_key:
    description: The client certificate's key (PEM).
    type: path
  validate_certs:
    description: Verify the server's TLS certificate.
    type: bool
    default: true
  headers:
    description: More HTTP headers, for example C(X-Scope-OrgID) of a multi-tenant Prometheus (Cortex, Mimir, Thanos).
    type: dict
  timeout:
    description: Seconds each HTTP request may take.
    type: float
    default: 30
  namespace:
    description: The default C($namespace) of every check.
    type: str
  workload:
    description: The default C($workload) of every check (a regex, as Flagger's target, for example C(helloworld-v2)).
    type: str
  service:
    description: The default C($service) of every check.
    type: str
  version:
    description: The default C($version); a built-in given one also selects C(destination_version).
    type: str
  interval:
    description: The default window (C($interval)), a Prometheus duration. Keep it at least 4 scrape intervals.
    type: str
    default: 1m
  reporter:
    description: The C(reporter) the built-ins select - C(waypoint) in ambient mode, C(destination) for sidecars.
    type: str
    default: waypoint
  wait_for_traffic:
    description:
      - Seconds to wait until every check has at least its O(checks[].min_requests) (polling every 2 s); then the
        checks are judged, a short one as C(not enough traffic). 0 judges at once.
    type: int
    default: 0
  fail_on_verdicts:
    description: Fail the task when a check does not pass. With C(false) the verdicts are only returned.
    type: bool
    default: true
  checks:
    description: What to judge; each check gives either O(checks[].metric) or O(checks[].query).
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: The check's name in the result; a built-in's metric name when not given.
        type: str
      metric:
        description: A built-in check.
        type: str
        choices: [request-success-rate, request-duration]
      query:
        description: Your PromQL (an instant query, or a range query with O(checks[].range)), with placeholders.
        type: str
      requests_query:
        description: PromQL counting the requests behind O(checks[].query), for O(checks[].min_requests).
        type: str
      min:
        description: The lowest passing value (a success rate in percent, a duration in milliseconds).
        type: float
      max:
        description: The highest passing value.
        type: float
      min_requests:
        description:
          - Below this many requests in the interval the verdict is C(not enough traffic). 1 for a built-in when not
            given (no traffic at all is never a pass); a free query needs O(checks[].requests_query) for it.
        type: int
      quantile:
        description: The quantile of C(request-duration), 0 to 1.
        type: float
      range:
        description: Run as a range query over this last span (a Prometheus duration); every point is judged.
        type: str
      step:
        description: The range query's resolution.
        type: str
        default: 15s
      unit:
        description: The unit a free query's value is shown with.
        type: str
      namespace:
        description: This check's C($namespace).
        type: str
      workload:
        description: This check's C($workload).
        type: str
      service:
        description: This check's C($service).
        type: str
      version:
        description: This check's C($version).
        type: str
      interval:
        description: This check's window.
        type: str
      reporter:
        description: This check's reporter.
        type: str
notes:
  - Prometheus rates need two samples in the window; with a 15 s scrape interval use an O(interval) of 1m or more.
    The embedded cluster's Prometheus scrapes every second.
seealso:
  - module: ambient.mesh.traffic_probe
  - name: Flagger's Istio metrics
    description: The queries the built-ins follow (with C(reporter="destination")).
    link: https://docs.flagger.app/usage/metrics
author:
  - ambient.mesh maintainers (@ambient-mesh)
"""

EXAMPLES = r"""
- name: Is helloworld v2 healthy? (success rate and p99 over the last minute, at least 50 requests)
  ambient.mesh.prometheus_query:
    url: http://prometheus.istio-system:9090
    namespace: hello
    workload: helloworld-v2
    wait_for_traffic: 60
    checks:
      - metric: request-success-rate
        min: 99
        min_requests: 50
      - metric: request-duration
        max: 500

- name: Your own PromQL, with placeholders (kube-prometheus-stack behind a token)
  ambient.mesh.prometheus_query:
    url: https://prometheus.example.com
    bearer_token: "{{ lookup('ansible.builtin.env', 'PROM_TOKEN') }}"
    namespace: hello
    service: helloworld
    checks:
      - name: 5xx per second
        query: sum(rate(istio_requests_total{reporter="$reporter", destination_service_name="$service", response_code=~"5.."}[$interval]))
        max: 0.5
        unit: /s
  register: health

- name: The success rate of every minute of the last 10 (a range query)
  ambient.mesh.prometheus_query:
    url: http://127.0.0.1:9090
    namespace: hello
    service: helloworld
    checks:
      - metric: request-success-rate
        range: 10m
        step: 1m
        min: 99
"""

RETURN = r"""
passed:
  description: Every check passed.
  returned: always
  type: bool
checks:
  description: One verdict per check, in order.
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The check's name.
      type: str
    verdict:
      description: C(pass), C(fail), C(not enough traffic), C(no data), or C(measured) (no threshold).
      type: str
    passed:
      description: Whether it passed.
      type: bool
    value:
      description: The value (one series), or every value (several series, a range query); null for NaN.
      type: raw
    requests:
      description: The requests counted in the interval (null without a request count).
      type: float
    expected:
      description: The thresholds, as text (C(>= 99%)).
      type: str
    message:
      description: What was measured against what was expected.
      type: str
    query:
      description: The PromQL run.
      type: str
    labels:
      description: The labels of the series found (20 at most).
      type: list
  sample:
    - name: request-success-rate
      verdict: fail
      passed: false
      value: 95.1
      requests: 612
      expected: ">= 99%"
      message: "request-success-rate: 95.1%, expected >= 99% (over 1m, 612 requests)"
gates:
  description:
    - The verdicts as M(ambient.mesh.report) takes gates - C(name) (C(metric <check>)), C(passed), C(expected),
      C(measured) (the value) and C(message); the canary role adds them to each step's gates.
  returned: always
  type: list
  elements: dict
metrics:
  description:
    - The values as M(ambient.mesh.report) takes a step's metrics - C(name), C(value) (null for several series),
      C(unit), C(requests), C(verdict) and C(passed).
  returned: always
  type: list
  elements: dict
measured:
  description: The value of each check by name.
  returned: always
  type: dict
requests:
  description: The request count of each check by name.
  returned: always
  type: dict
waited_for_traffic:
  description: Seconds spent waiting for enough traffic.
  returned: always
  type: float
queries:
  description: HTTP requests made to Prometheus.
  returned: always
  type: int
prometheus:
  description: The URL queried.
  returned: always
  type: str
"""

from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError
from ansible_collections.ambient.mesh.plugins.module_utils._metrics.run import run_checks
from ansible_collections.ambient.mesh.plugins.module_utils._module import AmbientModule

CHECK = dict(
    name=dict(type="str"),
    metric=dict(type="str", choices=["request-success-rate", "request-duration"]),
    query=dict(type="str"),
    requests_query=dict(type="str"),
    min=dict(type="float"),
    max=dict(type="float"),
    min_requests=dict(type="int"),
    quantile=dict(type="float"),
    range=dict(type="str"),
    step=dict(type="str", default="15s"),
    unit=dict(type="str"),
    namespace=dict(type="str"),
    workload=dict(type="str"),
    service=dict(type="str"),
    version=dict(type="str"),
    interval=dict(type="str"),
    reporter=dict(type="str"),
)


def main():
    module = AmbientModule(argument_spec=dict(
        url=dict(type="str", required=True),
        bearer_token=dict(type="str", no_log=True),
        username=dict(type="str"),
        password=dict(type="str", no_log=True),
        ca_path=dict(type="path"),
        client_cert=dict(type="path"),
        client_key=dict(type="path"),
        validate_certs=dict(type="bool", default=True),
        headers=dict(type="dict"),
        timeout=dict(type="float", default=30),
        namespace=dict(type="str"),
        workload=dict(type="str"),
        service=dict(type="str"),
        version=dict(type="str"),
        interval=dict(type="str", default="1m"),
        reporter=dict(type="str", default="waypoint"),
        wait_for_traffic=dict(type="int", default=0),
        fail_on_verdicts=dict(type="bool", default=True),
        checks=dict(type="list", elements="dict", required=True, options=CHECK),
    ), supports_check_mode=True, mutually_exclusive=[("bearer_token", "username")],
        required_together=[("username", "password"), ("client_cert", "client_key")])
    if module.params["wait_for_traffic"] < 0:
        module.fail_json(msg="wait_for_traffic must be 0 or more seconds, not %d" % module.params["wait_for_traffic"])
    try:
        result = run_checks(module.params)
    except AmbientMeshError as exc:
        module.fail_json(msg=exc.msg, **exc.details)
    failed = [c["message"] for c in result["checks"] if not c["passed"]]
    if failed and module.params["fail_on_verdicts"]:
        module.fail_json(msg="; ".join(failed), **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
