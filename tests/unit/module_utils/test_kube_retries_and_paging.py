"""The Kubernetes layer's retries (Retry-After, a budget per request) and LIST pagination, in-process
against the test API server."""

import time

import pytest

from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError
from ansible_collections.ambient.mesh.plugins.module_utils._kube.client import KubeApi
from ansible_collections.ambient.mesh.plugins.module_utils._kube.retry import retry_after_seconds
from standins import FakeTime, ModuleStandIn


def api_with(kubeconfig, fake, budget_seconds=20):
    return KubeApi(ModuleStandIn(kubeconfig), budget_seconds=budget_seconds, sleep=fake.sleep, clock=fake.clock)


@pytest.mark.parametrize("where", [("header", "body"), ("header",), ("body",)])
def test_a_429_waits_as_long_as_the_server_asks(cluster, kubeconfig, where):
    fake = FakeTime()
    api = api_with(kubeconfig, fake)
    cluster.fail("list", "namespaces", status=429, times=1, retry_after=3, retry_after_in=where)
    mark = cluster.mark()
    assert {n["metadata"]["name"] for n in api.list("v1", "Namespace")} == {"default", "kube-system"}
    assert [e.get("injected") for e in cluster.requests(mark, "list")] == [429, None]
    assert fake.sleeps == [3.0]  # not the 0-0.2 s of the first backoff step


def test_the_retry_really_waits_the_retry_after_seconds(cluster, kubeconfig):
    api = KubeApi(ModuleStandIn(kubeconfig), budget_seconds=20)
    cluster.fail("get", "configmaps", status=429, times=1, retry_after=1)
    started = time.monotonic()
    assert api.get("v1", "ConfigMap", "missing", "default") is None
    assert time.monotonic() - started >= 0.95


def test_the_server_sends_retry_after_both_ways_as_kube_apiserver_does(cluster, kubeconfig):
    import urllib.error
    import urllib.request
    cluster.fail("get", "namespaces", status=429, times=1, retry_after=2)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(cluster.url + "/api/v1/namespaces/default", timeout=10)
    assert err.value.code == 429 and err.value.headers["Retry-After"] == "2"
    import json
    assert json.loads(err.value.read())["details"]["retryAfterSeconds"] == 2


@pytest.mark.parametrize("headers, body, expected", [
    ({"Retry-After": "2"}, None, 2.0),
    ({"retry-after": "2"}, {"details": {"retryAfterSeconds": 5}}, 2.0),  # the header wins
    (None, {"details": {"retryAfterSeconds": 5}}, 5.0),  # a proxy dropped the header
    ({}, {"details": {"retryAfterSeconds": 0}}, None),
    ({"Retry-After": "soon"}, {"details": {"retryAfterSeconds": 4}}, 4.0),
    ({"Retry-After": "soon"}, None, None),
    ({"Retry-After": "-1"}, None, None),
    (None, {"details": {"retryAfterSeconds": "x"}}, None),
    (None, {"details": None}, None),
    (None, None, None),
])
def test_retry_after_seconds(headers, body, expected):
    assert retry_after_seconds(headers, body) == expected


def test_each_request_gets_its_own_retry_budget(cluster, kubeconfig):
    fake = FakeTime()
    api = api_with(kubeconfig, fake, budget_seconds=5)
    api.list("v1", "Namespace")
    fake.now += 300  # a long wait of the module: far beyond request_budget
    cluster.fail("list", "namespaces", status=503, times=1)
    mark = cluster.mark()
    assert len(api.list("v1", "Namespace")) == 2
    assert [e.get("injected") for e in cluster.requests(mark, "list")] == [503, None]

    cluster.fail("list", "namespaces", status=503, times=1000)  # still bounded, per request
    with pytest.raises(AmbientMeshError) as err:
        api.list("v1", "Namespace")
    assert "503" in err.value.msg
    assert 0 < sum(fake.sleeps[1:]) <= 5


def configmap(i):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm-%04d" % i, "namespace": "apps"},
            "data": {"i": str(i)}}


def test_list_follows_continue_across_pages(cluster, kubeconfig):
    cluster.seed_namespace("apps")
    for i in range(1203):
        cluster.put(configmap(i))
    api = KubeApi(ModuleStandIn(kubeconfig), budget_seconds=20)
    mark = cluster.mark()
    items = api.list("v1", "ConfigMap", namespace="apps")
    assert sorted(i["metadata"]["name"] for i in items) == ["cm-%04d" % i for i in range(1203)]
    lists = cluster.requests(mark, "list")
    assert [e["params"].get("limit") for e in lists] == ["500"] * 3
    assert [bool(e["params"].get("continue")) for e in lists] == [False, True, True]


def test_the_server_pages_as_kube_apiserver_does(cluster):
    import json
    import urllib.error
    import urllib.request
    cluster.seed_namespace("apps")
    for i in range(5):
        cluster.put(configmap(i))

    def get(query):
        with urllib.request.urlopen(cluster.url + "/api/v1/namespaces/apps/configmaps?" + query, timeout=10) as r:
            return json.loads(r.read())

    first = get("limit=2")
    assert [i["metadata"]["name"] for i in first["items"]] == ["cm-0000", "cm-0001"]
    assert first["metadata"]["remainingItemCount"] == 3 and first["metadata"]["continue"]
    second = get("limit=2&continue=" + first["metadata"]["continue"])
    assert [i["metadata"]["name"] for i in second["items"]] == ["cm-0002", "cm-0003"]
    last = get("limit=2&continue=" + second["metadata"]["continue"])
    assert [i["metadata"]["name"] for i in last["items"]] == ["cm-0004"]
    assert "continue" not in last["metadata"] and "remainingItemCount" not in last["metadata"]
    assert len(get("")["items"]) == 5
    with pytest.raises(urllib.error.HTTPError) as err:
        get("limit=2&continue=bogus")
    assert err.value.code == 400
