#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)


DOCUMENTATION = r"""
module: traffic_probe
short_description: Send requests from a pod in the mesh and judge what the traffic really did
version_added: 0.1.0
description:
  - Measures instead of trusting - runs C(curl) in a client pod inside the mesh, the way
    C(kubectl exec deploy/curl -n test -- curl helloworld.hello.svc.cluster.local:5000/hello) does, sends
    O(requests) requests, and returns counts per backend, status codes, the error rate and latency
    percentiles. Optional verdicts judge them against expected shares, status codes, an abort rate or latency
    bounds; a failed verdict fails the task with what was expected, what was measured and the likely cause.
  - One C(pods/exec) request per probe - the kubernetes client's C(stream) over a WebSocket (as
    C(kubernetes.core.k8s_exec) does) runs the pod's C(curl) directly with an argument list, no shell. All
    O(requests) requests are one curl run - the URL becomes the glob C(url#[1-N]), which curl expands into N
    transfers of the same request (the fragment is never sent); a URL that has C([]{}) itself is repeated N
    times under C(--globoff). C(--write-out) prints a record per transfer between random markers that no
    response body can contain, with C(%{http_code}), C(%{time_total}), C(%{num_connects}), C(%{exitcode}),
    C(%{errormsg}) and C(%header{name}) for the headers asked for. The client needs curl 7.84.0 or later
    (C(curlimages/curl)).
  - >-
    B(A new connection per request) by default (C(Connection: close)). Without a waypoint, ztunnel picks the
    destination pod per TCP connection, so one kept-alive connection would pin every request to one pod and
    hide what many clients see; with a waypoint the split is per request either way. O(reuse_connection=true)
    keeps one connection, to see what one client with keep-alive sees.
  - B(The share verdict) is an exact binomial test per backend - the count of each backend against
    Binomial(identified responses, its normalised weight), two-sided (outcomes no more likely than the observed
    one, as scipy's C(binomtest)), each at (1 - O(confidence)) / number of backends (Bonferroni). The exact test
    holds for the small counts a 5% backend gives (about 10 of 200), where a chi-square test's approximation does
    not, and tests a weight of 0 exactly (any response from that backend fails). A correctly enforced split fails
    at most 1 - O(confidence) of the time; at N=200 a 50/50 outcome against an expected 95/5 fails practically
    always (a unit test shows both over 2,000 seeds). The message shows each share with its Wilson interval.
  - B(The abort-rate verdict) (O(expected_status_rate)) is the same exact binomial test for the count of one
    status among all requests.
  - B(The error-bound verdict) (O(max_error_percentage)) is its one-sided form for the client's failures (a status other
    than 2xx/3xx, or a curl error) - it fails when that many failures or more would come at most 1 - O(confidence)
    of the time at the bound - a retry drill's "at most 0.8% fail".
  - Latency figures are nearest-rank percentiles of curl's C(time_total) over all requests, failed ones
    included (a timed-out request counts with the time it took).
  - Read-only - it changes no object in the cluster and never reports C(changed). It runs in check mode too,
    the same way - the requests are what it measures, so use a method that changes nothing in the application
    (the default GET).
author:
  - ambient.mesh maintainers (@ambient-mesh)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - ambient.mesh._request
attributes:
  check_mode:
    description: Read-only; sends the requests and judges them in check mode too, and reports no change.
    support: full
  diff_mode:
    description: Changes nothing, so there is no diff.
    support: none
  idempotent:
    description: Never changes anything.
    support: full
options:
  namespace:
    description: The client pod's namespace.
    type: str
    required: true
  pod:
    description: The client pod's name. Exactly one of O(pod) and O(pod_selector).
    type: str
  pod_selector:
    description:
      - A label selector (C(app=curl)); the first Ready pod by name among the pods it matches is the client.
    type: str
  container:
    description:
      - The container that runs curl. Default - the pod's C(kubectl.kubernetes.io/default-container)
        annotation, else its first container, as C(kubectl exec) picks. It must be running.
    type: str
  url:
    description: The URL to request, e.g. C(http://helloworld.hello.svc.cluster.local:5000/hello).
    type: str
    required: true
  requests:
    description: How many requests (1 to 10000), all in one curl run.
    type: int
    default: 100
  reuse_connection:
    description:
      - >-
        V(false) sends each request on a new connection (C(Connection: close)), so that ztunnel's per-connection
        balancing shows. V(true) keeps one connection for all requests (one client's view).
    type: bool
    default: false
  method:
    description: The HTTP method. V(HEAD) uses curl's C(--head).
    type: str
    default: GET
  headers:
    description: Request headers, name to value.
    type: dict
  timeout:
    description: Seconds each request may take (curl's C(--max-time)); a request that takes longer fails with curl exit code 28.
    type: float
    default: 10
  backend_pattern:
    description:
      - >-
        A regular expression (Python C(re)) over each response body whose first group names the backend that
        answered, e.g. C(version: (v\d+)) for the lab's helloworld.
    type: str
  backend_header:
    description: A response header whose value names the backend that answered.
    type: str
  capture_headers:
    description: Response headers whose values are counted (RV(headers)), e.g. C(server).
    type: list
    elements: str
  expected_shares:
    description:
      - Backend name to weight; weights are normalised (95 and 5, or 0.95 and 0.05). Turns on the share verdict
        over the responses that named a backend. A backend that answers but is not listed counts as weight 0.
    type: dict
  confidence:
    description:
      - The confidence of the share and abort-rate verdicts - a correct outcome fails at most 1 - confidence of
        the time. Higher fails fewer correct outcomes and needs more requests to catch a wrong one.
    type: float
    default: 0.99
  expected_status:
    description: HTTP status codes every response must have; a failed transfer (no response, status 000) never has one.
    type: list
    elements: int
  expected_status_rate:
    description: The share of responses that must have one status - the percentage of an injected abort, judged by an exact binomial test.
    type: dict
    suboptions:
      status:
        description: The HTTP status.
        type: int
        required: true
      percentage:
        description: Its expected percentage, 0 to 100.
        type: float
        required: true
  direct_to_pod:
    description:
      - Send the requests to one ready endpoint of the URL's Service (a pod IP and the target port, from its
        EndpointSlices) instead of the Service - the app alone, past the Service's waypoint, its routes, timeouts,
        retries and faults (a namespace waypoint serves Service traffic only). The URL's host must name the Service.
      - A resilience drill probes once this way (the raw effect) and once through the Service (the client's view).
    type: bool
    default: false
  max_error_percentage:
    description:
      - The highest percentage of failed requests the client may see, 0 to 100, judged by a one-sided exact binomial
        test (a resilience drill - what retries leave of an upstream's errors).
    type: float
  latency:
    description: Latency bounds in seconds; each given bound is a verdict.
    type: dict
    suboptions:
      p50_min:
        description: The median must be at least this (an injected delay happened).
        type: float
      p50_max:
        description: The median must be at most this.
        type: float
      p90_max:
        description: The 90th percentile must be at most this.
        type: float
      p95_max:
        description: The 95th percentile must be at most this (the canary role's latency gate).
        type: float
      p99_max:
        description: The 99th percentile must be at most this.
        type: float
      max:
        description: No request may take longer.
        type: float
  return_sample:
    description: Return every request's figures in RV(sample).
    type: bool
    default: false
seealso:
  - module: ambient.mesh.mesh_info
  - module: ambient.mesh.traffic_split
  - module: kubernetes.core.k8s_exec
requirements:
  - kubernetes >= 24.2.0
  - curl 7.84.0 or later in the client container
"""

EXAMPLES = r"""
- name: The lab's split, measured from the curl pod (fails with the likely cause when it is not 95/5)
  ambient.mesh.traffic_probe:
    namespace: test
    pod_selector: app=curl
    url: http://helloworld.hello.svc.cluster.local:5000/hello
    requests: 200
    backend_pattern: 'version: (v\d+)'
    expected_shares: {v1: 95, v2: 5}
  register: split

- name: An injected abort of 50% with HTTP 500, and what answered it
  ambient.mesh.traffic_probe:
    namespace: test
    pod_selector: app=curl
    url: http://httpbin.httpbin.svc.cluster.local:8000/get
    requests: 200
    capture_headers: [server]
    expected_status_rate: {status: 500, percentage: 50}

- name: A retry drill - httpbin answers 20% of requests with 503, the route retries 503 twice, the client sees at most 0.8%
  ambient.mesh.traffic_probe:
    namespace: test
    pod_selector: app=curl
    url: http://httpbin.httpbin.svc.cluster.local:8000/status/200:0.8,503:0.2
    requests: 500
    max_error_percentage: 0.8

- name: A 3 s delay shows in the median, and nothing takes longer than 4 s
  ambient.mesh.traffic_probe:
    namespace: test
    pod: curl-5b7f8d9c4-x2x7q
    container: curl
    url: http://httpbin.httpbin.svc.cluster.local:8000/get
    requests: 20
    latency: {p50_min: 2.9, p50_max: 3.5, max: 4}

- name: No more than 5% of the requests slower than 1 s
  ambient.mesh.traffic_probe:
    namespace: test
    pod_selector: app=curl
    url: http://helloworld.hello.svc.cluster.local:5000/hello
    requests: 200
    latency: {p95_max: 1.0}
"""

RETURN = r"""
requests:
  description: How many requests were made.
  returned: always
  type: int
  sample: 200
counts:
  description: Responses per backend, for the responses that named one.
  returned: always
  type: dict
  sample: {"v1": 191, "v2": 9}
shares:
  description: Each backend's fraction of the responses that named a backend.
  returned: always
  type: dict
  sample: {"v1": 0.955, "v2": 0.045}
unidentified:
  description: Responses that named no backend (the pattern or header did not match; failed transfers).
  returned: always
  type: int
  sample: 0
status_codes:
  description: Responses per HTTP status; C(000) is a transfer that got no response.
  returned: always
  type: dict
  sample: {"200": 190, "503": 10}
error_rate:
  description: The fraction of requests that failed - a status other than 2xx/3xx, or a curl error.
  returned: always
  type: float
  sample: 0.05
transport_errors:
  description: Failed transfers per curl exit code (6 host not resolved, 7 no connection, 28 timeout, 56 reset).
  returned: always
  type: dict
  sample: {"28": 2}
connections:
  description: New connections curl opened (C(%{num_connects}) summed); equals RV(requests) unless O(reuse_connection).
  returned: always
  type: int
  sample: 200
latency:
  description: Nearest-rank percentiles C(p50), C(p90), C(p95), C(p99) and C(max) of the requests' total time, in seconds.
  returned: always
  type: dict
  sample: {"p50": 0.004, "p90": 0.007, "p95": 0.009, "p99": 0.012, "max": 0.013}
headers:
  description: For each O(capture_headers) name, its values and how many responses had each.
  returned: always
  type: dict
  sample: {"server": {"istio-envoy": 50}}
verdicts:
  description:
    - One per verdict asked for - C(name) (C(shares), C(status_codes), C(status_rate), C(latency)), C(passed),
      C(expected), C(measured) and a C(message) with the likely cause when it failed.
  returned: always
  type: list
  elements: dict
  sample: [{"name": "shares", "passed": false, "expected": {"v1": 0.95, "v2": 0.05},
            "measured": {"v1": {"count": 103, "share": 0.515, "p_value": 1.2e-50, "interval": [0.424, 0.605],
                                "passed": false}},
            "message": "shares: expected v1 95.0%, v2 5.0%; measured v1 51.5% (103/200), ... Likely cause: the split
                        is not enforced ... is a waypoint bound to the Service? see mesh_info"}]
passed:
  description: Whether every verdict passed (true when none was asked for).
  returned: always
  type: bool
  sample: true
sample:
  description: Per request - C(status), C(time_total), C(backend), C(exitcode), C(connects), C(headers), C(error).
  returned: when O(return_sample=true)
  type: list
  elements: dict
  sample: [{"status": "200", "time_total": 0.004, "backend": "v1", "exitcode": 0, "connects": 1, "headers": {}, "error": ""}]
pod:
  description: The client pod the requests came from.
  returned: always
  type: str
  sample: curl-5b7f8d9c4-x2x7q
container:
  description: The container curl ran in.
  returned: always
  type: str
  sample: curl
command:
  description: The argument list run in the container.
  returned: always
  type: list
  elements: str
rc:
  description: curl's exit code (of its last failed transfer, 0 when none failed).
  returned: always
  type: int
  sample: 0
stderr:
  description: The end of curl's standard error (its C(-S) error messages).
  returned: always
  type: str
  sample: ""
target:
  description: With O(direct_to_pod), the endpoint the requests went to, in words.
  returned: when O(direct_to_pod=true)
  type: str
  sample: "pod httpbin/httpbin-7d4b9c8f6-x2x7q at 10.244.0.12:8080, a ready endpoint of Service httpbin/httpbin port 8000,
    past its waypoint and routes"
"""

from ansible_collections.ambient.mesh.plugins.module_utils._args import REQUEST_ARG_SPEC, argument_spec
from ansible_collections.ambient.mesh.plugins.module_utils._kube.pod_exec import core_api_for
from ansible_collections.ambient.mesh.plugins.module_utils._module import AmbientModule, run_with_api
from ansible_collections.ambient.mesh.plugins.module_utils._traffic.probe import run_probe
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule

LATENCY = dict((name, dict(type="float")) for name in ("p50_min", "p50_max", "p90_max", "p95_max", "p99_max", "max"))


def main():
    spec = argument_spec(REQUEST_ARG_SPEC, dict(
        namespace=dict(type="str", required=True),
        pod=dict(type="str"),
        pod_selector=dict(type="str"),
        container=dict(type="str"),
        url=dict(type="str", required=True),
        requests=dict(type="int", default=100),
        reuse_connection=dict(type="bool", default=False),
        method=dict(type="str", default="GET"),
        headers=dict(type="dict"),
        timeout=dict(type="float", default=10),
        backend_pattern=dict(type="str"),
        backend_header=dict(type="str"),
        capture_headers=dict(type="list", elements="str"),
        expected_shares=dict(type="dict"),
        confidence=dict(type="float", default=0.99),
        expected_status=dict(type="list", elements="int"),
        expected_status_rate=dict(type="dict", options=dict(status=dict(type="int", required=True),
                                                            percentage=dict(type="float", required=True))),
        max_error_percentage=dict(type="float"),
        direct_to_pod=dict(type="bool", default=False),
        latency=dict(type="dict", options=LATENCY),
        return_sample=dict(type="bool", default=False),
    ))
    module = AnsibleK8SModule(module_class=AmbientModule, argument_spec=spec, supports_check_mode=True,
                              mutually_exclusive=[("pod", "pod_selector"), ("backend_pattern", "backend_header")],
                              required_one_of=[("pod", "pod_selector")])
    result = run_with_api(module, lambda api: run_probe(api, core_api_for(module), module.params))
    failed = [v["message"] for v in result["verdicts"] if not v["passed"]]
    if failed:
        module.fail_json(msg="; ".join(failed), **result)
    # failed=false said outright: without it ansible-core takes a non-zero `rc` (curl's, of a failed transfer) as the
    # task's failure, "Unknown error" (executor/task_executor.py: "rc is here for backwards compatibility")
    module.exit_json(failed=False, **result)


if __name__ == "__main__":
    main()
