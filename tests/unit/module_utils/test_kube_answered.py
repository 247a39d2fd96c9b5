"""A refused first request: an outage that started between two tasks, or a server that was never there (issue 28,
item 1). Each task is a module process of its own, so "this server answered before" is a record on the host that
runs the modules (module_utils/_kube/answered.py), not a flag in memory: never seen -> fail fast, seen within 24 h
-> ridden out within the request budget, a host name that does not resolve -> fail fast, no place for the record
-> as before records were kept (fail fast, never a crash)."""

import json
import socket
import tempfile
import time

import pytest

import embedded_cluster.apiserver.faults as faults
from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError
from ansible_collections.ambient.mesh.plugins.module_utils._kube import answered
from ansible_collections.ambient.mesh.plugins.module_utils._kube.answered import AnswerRecord, judge_refusal, server_key
from ansible_collections.ambient.mesh.plugins.module_utils._kube.client import KubeApi
from standins import FakeTime, ModuleStandIn

NOW = 1767225600.0  # 2026-01-01T00:00:00Z


class Warned(ModuleStandIn):
    def __init__(self, kubeconfig):
        super().__init__(kubeconfig)
        self.warnings = []

    def warn(self, text):
        self.warnings.append(text)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def kubeconfig_for(tmp_path, server):
    path = tmp_path / ("kubeconfig-%d" % len(list(tmp_path.glob("kubeconfig-*"))))
    path.write_text("apiVersion: v1\nkind: Config\nclusters: [{name: x, cluster: {server: '%s'}}]\n"
                    "users: [{name: x, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: x, user: x}}]\n"
                    "current-context: x\n" % server)
    return str(path)


@pytest.fixture
def records(tmp_path, monkeypatch):
    """The records of this test only: a port of an earlier test's server must not count as answered here."""
    directory = tmp_path / "cache"
    monkeypatch.setenv(answered.ENV, str(directory))
    # and the kubernetes client's discovery cache (osrcp-*.json in the temp dir) of this test only: without it,
    # creating the client asks for /version, the first request of a task in the tests below
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return directory / "api-servers"


# ---- the decision --------------------------------------------------------------------------------------------
def test_never_seen_fails_fast_and_says_so():
    verdict = judge_refusal(None, NOW, 60)
    assert verdict.ride_out is False and verdict.warning is None
    assert verdict.note.startswith("it has never answered from this host, so this was not retried")


def test_seen_a_moment_ago_is_an_outage_ridden_out_within_the_budget():
    verdict = judge_refusal(NOW - 4, NOW, 60)
    assert verdict.ride_out is True
    assert verdict.warning == ("it answered from this host at 2025-12-31T23:59:56Z (4s ago): riding out the outage "
                               "for up to 60s (request_budget)")
    assert verdict.note == "it answered from this host at 2025-12-31T23:59:56Z, before this task (an outage): retried for up to 60s"


@pytest.mark.parametrize("answered_at", [NOW - 25 * 3600, NOW + 3600], ids=["more-than-a-day-ago", "in-the-future"])
def test_an_answer_too_old_or_from_a_wrong_clock_counts_as_never(answered_at):
    verdict = judge_refusal(answered_at, NOW, 60)
    assert verdict.ride_out is False and "so this was not retried" in verdict.note


@pytest.mark.parametrize("url, key", [
    ("https://Kube.Example.com", "https://kube.example.com:443"),
    ("https://10.0.0.1:6443/", "https://10.0.0.1:6443"),
    ("http://127.0.0.1:8080/k8s/clusters/c-1", "http://127.0.0.1:8080"),
    ("https://[::1]:6443", "https://::1:6443"),
    ("the API server", None),
    ("https://host:notaport", None),
])
def test_a_server_is_its_scheme_host_and_port(url, key):
    assert server_key(url) == key


def test_the_record_survives_the_process_and_is_found_by_the_servers_url_as_urllib3_names_it(records):
    written = AnswerRecord("https://kube.example.com:6443/", clock=lambda: NOW)
    assert written.note_answer() is True
    [path] = records.glob("*.json")
    assert json.loads(path.read_text()) == {"server": "https://kube.example.com:6443", "answered_at": NOW}
    assert AnswerRecord("https://KUBE.example.com:6443").answered_at() == NOW  # a new process, the same server
    assert AnswerRecord("https://kube.example.com:6444").answered_at() is None  # another port: another server
    assert [p.name for p in records.iterdir()] == [path.name]  # no temporary file left behind


@pytest.mark.parametrize("content", ["{not json", "[]", '{"server": "https://other:443", "answered_at": 1}',
                                     '{"server": "https://kube.example.com:443", "answered_at": "yesterday"}'])
def test_a_damaged_record_counts_as_none(records, content):
    record = AnswerRecord("https://kube.example.com")
    records.mkdir(parents=True)
    with open(record.path, "w") as handle:
        handle.write(content)
    assert record.answered_at() is None


def test_where_records_are_kept():
    assert answered.record_dir({answered.ENV: "/srv/am"}) == "/srv/am/api-servers"
    assert answered.record_dir({"XDG_CACHE_HOME": "/xdg"}) == "/xdg/ambient.mesh/api-servers"
    assert answered.record_dir({}).endswith("/.cache/ambient.mesh/api-servers")


def test_no_place_for_the_record_loses_the_fact_and_nothing_else(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(answered.ENV, str(blocker))  # its "api-servers" directory can never be made
    record = AnswerRecord("https://kube.example.com")
    assert record.note_answer() is False and record.answered_at() is None
    monkeypatch.setenv("HOME", "")
    monkeypatch.delenv(answered.ENV)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setattr(answered.os.path, "expanduser", lambda p: p)  # no home directory at all
    homeless = AnswerRecord("https://kube.example.com")
    assert homeless.path is None and homeless.note_answer() is False and homeless.answered_at() is None


# ---- KubeApi, in-process: each KubeApi stands for one task (module process) --------------------------------------
def test_never_seen_fails_at_once_naming_the_url(tmp_path, records):
    port = free_port()
    start = time.monotonic()
    with pytest.raises(AmbientMeshError) as err:
        KubeApi(ModuleStandIn(kubeconfig_for(tmp_path, "http://127.0.0.1:%d" % port)), budget_seconds=60)
    assert time.monotonic() - start < 3
    assert err.value.msg == ("cannot reach the Kubernetes API server: connection refused to http://127.0.0.1:%d; it has "
                             "never answered from this host, so this was not retried: check that the API server runs "
                             "and that kubeconfig, context or host point at it" % port)


def test_seen_before_is_retried_for_the_whole_budget_then_says_what_it_judged(tmp_path, records):
    port = free_port()
    AnswerRecord("http://127.0.0.1:%d" % port).note_answer()  # an earlier task's answer, seconds ago
    module = Warned(kubeconfig_for(tmp_path, "http://127.0.0.1:%d" % port))
    fake = FakeTime()
    with pytest.raises(AmbientMeshError) as err:  # nothing ever listens again: the budget runs out
        KubeApi(module, budget_seconds=60, sleep=fake.sleep, clock=fake.clock)
    assert len(fake.sleeps) >= 5 and 50 < sum(fake.sleeps) <= 60, fake.sleeps
    assert err.value.msg.startswith("cannot reach the Kubernetes API server: connection refused to http://127.0.0.1:%d; "
                                    "it answered from this host at " % port)
    assert err.value.msg.endswith(", before this task (an outage): retried for up to 60s")
    [warning] = module.warnings
    assert warning.startswith("the Kubernetes API server http://127.0.0.1:%d refused the first request of this task, but "
                              "it answered from this host at " % port)
    assert warning.endswith("riding out the outage for up to 60s (request_budget)")


def test_an_outage_between_two_tasks_is_ridden_out_by_the_second(cluster, kubeconfig, records):
    first = KubeApi(ModuleStandIn(kubeconfig), budget_seconds=20)
    assert first.list("v1", "Namespace")
    assert len(list(records.glob("*.json"))) == 1  # written on the first answer
    back = faults.begin_outage(cluster, 1.5)
    module = Warned(kubeconfig)
    second = KubeApi(module, budget_seconds=20)  # a new task: nothing in its memory says the server answered
    start = time.monotonic()
    assert {n["metadata"]["name"] for n in second.list("v1", "Namespace")} >= {"default"}
    assert time.monotonic() - start >= 1.0
    back.result(10)
    assert second.retries["by_reason"].get("connection refused", 0) >= 1, second.retries
    assert len(module.warnings) == 1 and "riding out the outage for up to 20s" in module.warnings[0]


def test_a_host_name_that_does_not_resolve_fails_at_once_whatever_the_record_says(tmp_path, records):
    url = "http://no-such-api-server.invalid:6443"
    AnswerRecord(url).note_answer()
    fake = FakeTime()
    start = time.monotonic()
    with pytest.raises(AmbientMeshError) as err:
        KubeApi(ModuleStandIn(kubeconfig_for(tmp_path, url)), budget_seconds=60, sleep=fake.sleep, clock=fake.clock)
    assert time.monotonic() - start < 10 and fake.sleeps == []
    assert err.value.msg.startswith("cannot reach the Kubernetes API server: connection to %s failed: " % url)
    assert "; the host name no-such-api-server.invalid does not resolve (" in err.value.msg
    assert err.value.msg.endswith("), so this was not retried: check the server URL of kubeconfig, context or host")


def test_without_a_place_for_records_an_outage_between_tasks_fails_fast_as_before(cluster, kubeconfig, tmp_path,
                                                                                 monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv(answered.ENV, str(blocker))
    first = KubeApi(ModuleStandIn(kubeconfig), budget_seconds=20)
    assert first.list("v1", "Namespace")  # answers, and the record cannot be written: no crash
    back = faults.begin_outage(cluster, 30)
    try:
        start = time.monotonic()
        with pytest.raises(AmbientMeshError) as err:
            KubeApi(ModuleStandIn(kubeconfig), budget_seconds=20).list("v1", "Namespace")
        assert time.monotonic() - start < 3
    finally:
        back.cancel()
    assert "it has never answered from this host, so this was not retried" in err.value.msg


@pytest.mark.parametrize("status, tries", [(503, "several"), (401, "one")])
def test_an_error_status_while_the_client_is_created_is_retried_when_transient_and_named(monkeypatch, status, tries):
    """kubernetes.core asks for /version and /apis while it creates the client: an answer there with an error status
    is retried like any request's (a 5xx) and reported with the server's message, never a traceback."""
    from kubernetes.client.exceptions import ApiException
    from kubernetes.dynamic.exceptions import DynamicApiError

    from ansible_collections.ambient.mesh.plugins.module_utils._kube import client

    calls = []

    def answers_with_an_error(module=None):
        calls.append(module)
        raise DynamicApiError(ApiException(status=status, reason="Status %d" % status))

    monkeypatch.setattr(client, "get_api_client", answers_with_an_error)
    fake = FakeTime()
    with pytest.raises(AmbientMeshError) as err:
        KubeApi(ModuleStandIn(None), budget_seconds=5, sleep=fake.sleep, clock=fake.clock)
    assert err.value.msg.startswith("discovery of the API server's groups failed: %d " % status), err.value.msg
    assert (len(calls) > 2) if tries == "several" else (len(calls) == 1), len(calls)
