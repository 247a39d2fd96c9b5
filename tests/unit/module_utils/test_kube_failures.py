"""How the API layer fails (issue 11 items 3, 5, 8, 9): fail fast on a server that never answered, one shared
budget for an outage, grouped and capped batch errors with what was written before them, retries counted,
a 403 that names the missing permission, a missing kubeconfig named by its path."""

import socket
import time

import pytest

import embedded_cluster.apiserver.faults as faults
from ansible_collections.ambient.mesh.plugins.module_utils._objects.apply import apply_objects
from ansible_collections.ambient.mesh.plugins.module_utils._errors import (
    AmbientMeshError,
    batch_error,
    cap,
    group_failures,
)
from ansible_collections.ambient.mesh.plugins.module_utils._kube.client import KubeApi
from ansible_collections.ambient.mesh.plugins.module_utils._kube.concurrency import run_concurrently
from ansible_collections.ambient.mesh.plugins.module_utils._kube.kubeconfig import kubeconfig_problem
from ansible_collections.ambient.mesh.plugins.module_utils._kube.api_errors import forbidden_text
from standins import ModuleStandIn


def configmap(name, namespace="apps"):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace},
            "data": {"k": name}}


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dead_kubeconfig(tmp_path, port):
    path = tmp_path / "dead"
    path.write_text("apiVersion: v1\nkind: Config\nclusters: [{name: x, cluster: {server: 'http://127.0.0.1:%d'}}]\n"
                    "users: [{name: x, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: x, user: x}}]\n"
                    "current-context: x\n" % port)
    return str(path)


# ---- the messages -----------------------------------------------------------------------------
@pytest.mark.parametrize("message, expected", [
    ('namespaces "hello" is forbidden: User "system:serviceaccount:awx:runner" cannot patch resource "namespaces" '
     'in API group "" in the namespace "hello"',
     'user system:serviceaccount:awx:runner may not patch namespaces (API group "") in namespace hello'),
    ('customresourcedefinitions.apiextensions.k8s.io is forbidden: User "bob" cannot list resource '
     '"customresourcedefinitions" in API group "apiextensions.k8s.io" at the cluster scope',
     'user bob may not list customresourcedefinitions (API group "apiextensions.k8s.io") at the cluster scope'),
    ('gateways.gateway.networking.k8s.io "waypoint" is forbidden: User "bob" cannot update resource '
     '"gateways/status" in API group "gateway.networking.k8s.io" in the namespace "hello"',
     "verbs: [\"update\"]"),
    ("admission webhook denied the request", None),
])
def test_a_403_names_the_missing_permission(message, expected):
    text = forbidden_text(message)
    if expected is None:
        assert text is None
    else:
        assert expected in text and "grant it a rule" in text and "run again to" not in text


@pytest.mark.parametrize("params, env, files, expected", [
    ({"kubeconfig": "{tmp}/nope"}, {}, [], "kubeconfig nope in {tmp}/ does not exist (the kubeconfig option)"),
    ({}, {"K8S_AUTH_KUBECONFIG": "{tmp}/env"}, [], "kubeconfig env in {tmp}/ does not exist (K8S_AUTH_KUBECONFIG)"),
    ({}, {"KUBECONFIG": "{tmp}/a:{tmp}/b"}, [], "kubeconfig a in {tmp}/, b in {tmp}/ does not exist (KUBECONFIG)"),
    ({}, {"KUBECONFIG": "{tmp}/a:{tmp}/b"}, ["b"], None),  # one of them is there: something else is wrong
    ({"kubeconfig": "{tmp}/there"}, {}, ["there"], None),
    ({"kubeconfig": {"apiVersion": "v1"}}, {}, [], None),  # given inline
])
def test_a_missing_kubeconfig_is_named_by_its_path(tmp_path, params, env, files, expected):
    for name in files:
        (tmp_path / name).write_text("{}")
    fill = lambda v: v.replace("{tmp}", str(tmp_path)) if isinstance(v, str) else v  # noqa: E731
    got = kubeconfig_problem({k: fill(v) for k, v in params.items()}, {k: fill(v) for k, v in env.items()})
    assert got == (None if expected is None else got) and (expected is None or got.startswith(fill(expected)))


def test_the_default_kubeconfig_is_named_when_nothing_is_set(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert kubeconfig_problem({}, {}).startswith("kubeconfig config in %s/.kube/ does not exist (the default" % tmp_path)


def test_identical_errors_are_grouped_and_the_message_capped():
    failures = [("Namespace ns-%03d" % i, AmbientMeshError("x", cause="connection refused to http://127.0.0.1:1",
                                                            transient=True)) for i in range(500)]
    failures.append(("Namespace odd", AmbientMeshError("x", cause="409 Conflict: the object has been modified")))
    err = batch_error("501 of 700 writes failed", failures, done=["Namespace a", "Namespace b"])
    assert err.msg.startswith("501 of 700 writes failed: 500 objects: connection refused to http://127.0.0.1:1 "
                              "(Namespace ns-000, Namespace ns-001, Namespace ns-002, ...); 1 object: 409 Conflict")
    assert "2 objects written before the failure stay written" in err.msg
    assert "fix the cause above first" in err.msg  # the conflict will not go away by itself
    assert len(err.msg) < 1000 and err.msg.count("connection refused") == 1
    assert err.details["changed"] is True and err.details["done"] == ["Namespace a", "Namespace b"]
    [big, small] = err.details["errors"]
    assert (big["count"], len(big["objects"]), big["more"]) == (500, 20, 480)
    assert small == {"error": "409 Conflict: the object has been modified", "count": 1, "objects": ["Namespace odd"],
                     "more": 0}
    assert len(err.details["failed"]) == 501
    assert group_failures([]) == []
    assert len(cap("x" * 10000)) == 4000 and cap("short") == "short"


# ---- against the test API server ----------------------------------------------------------------
def test_connection_refused_before_any_answer_fails_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv("AMBIENT_MESH_CACHE_DIR", str(tmp_path / "cache"))  # no earlier test's server on that port
    port = free_port()
    start = time.monotonic()
    with pytest.raises(AmbientMeshError) as err:  # kubernetes.core asks for /version as it creates the client
        KubeApi(ModuleStandIn(dead_kubeconfig(tmp_path, port)), budget_seconds=60).list("v1", "Namespace")
    assert time.monotonic() - start < 3  # not the 60 s budget
    assert "cannot reach the Kubernetes API server: connection refused to http://127.0.0.1:%d;" % port in err.value.msg
    assert "it has never answered from this host" in err.value.msg and "HTTPConnectionPool" not in err.value.msg


def test_an_outage_after_an_answer_is_ridden_out_and_the_retries_reported(cluster, kubeconfig):
    api = KubeApi(ModuleStandIn(kubeconfig), budget_seconds=20)
    assert api.list("v1", "Namespace")
    back = faults.begin_outage(cluster, 1.5)
    start = time.monotonic()
    assert {n["metadata"]["name"] for n in api.list("v1", "Namespace")} >= {"default"}
    assert time.monotonic() - start >= 1.0
    back.result(10)
    retries = api.retries
    assert retries["count"] >= 1 and retries["by_reason"].get("connection refused", 0) >= 1, retries
    assert retries["seconds"] > 0


def test_an_outage_longer_than_the_budget_fails_every_request_together(cluster, kubeconfig):
    cluster.seed_namespace("apps")
    api = KubeApi(ModuleStandIn(kubeconfig), budget_seconds=2)
    assert api.list("v1", "Namespace")
    back = faults.begin_outage(cluster, 30)
    try:
        start = time.monotonic()
        answers = run_concurrently(lambda i: api.get("v1", "ConfigMap", "cm-%d" % i, "apps"), range(100), 8)
        elapsed = time.monotonic() - start
    finally:
        back.cancel()
    errors = [error for _i, _answer, error in answers]
    assert all(errors) and elapsed < 8, elapsed  # one 2 s outage budget, not 100 x 2 s
    err = batch_error("100 of 100 reads failed", [("cm-%d" % i, e) for i, e in enumerate(errors)])
    assert [g["count"] for g in err.details["errors"]] == [100], err.details["errors"]
    assert err.details["errors"][0]["error"] == "connection refused to %s" % cluster.url
    assert "run the task again once the API server answers" in err.msg


def test_a_batch_cut_by_an_outage_reports_what_it_wrote(cluster, kubeconfig):
    cluster.seed_namespace("apps")
    api = KubeApi(ModuleStandIn(kubeconfig), budget_seconds=2)
    # the 31st real (not dry-run) write takes the server down for longer than the budget
    cluster.fail("patch", "configmaps", dry_run=False, after=30, outage=20)
    mark = cluster.mark()
    with pytest.raises(AmbientMeshError) as err:
        apply_objects(api, [configmap("cm-%03d" % i) for i in range(100)], concurrency=4)
    stored = {cm["metadata"]["name"] for cm in cluster.list("v1", "ConfigMap", "apps")}
    details = err.value.details
    done = set(r.split("/")[-1] for r in details["done"])
    # 30 writes went through; of the (at most 3) others in flight when the server went down, the client
    # cannot know whether they were applied: it reports only what it saw answered
    assert details["changed"] is True and done <= stored and 27 <= len(done) <= 30 and len(stored - done) <= 3
    assert len(cluster.writes(mark)) >= 30
    assert [r["action"] for r in details["results"]] == ["created"] * len(done)
    assert len(details["failed"]) == 100 - len(done) and "%d of 100 writes failed" % (100 - len(done)) in err.value.msg
    assert "%d objects written before the failure stay written" % len(done) in err.value.msg
    assert len(err.value.msg) < 2000


def test_a_403_from_the_server_names_the_permission(cluster, kubeconfig):
    cluster.seed_namespace("hello")
    api = KubeApi(ModuleStandIn(kubeconfig), budget_seconds=5)
    cluster.fail("patch", "namespaces", status=403, times=10)
    mark = cluster.mark()
    with pytest.raises(AmbientMeshError) as err:
        apply_objects(api, [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "hello",
                                                                                  "labels": {"a": "b"}}}])
    assert ('permission denied: user test may not patch namespaces (API group "") in namespace hello'
            in err.value.msg), err.value.msg
    assert "verbs: [\"patch\"]" in err.value.msg and "run again to" not in err.value.msg
    assert len(cluster.requests(mark, "patch")) == 1  # a 403 is not retried


# ---- argument errors and waits ------------------------------------------------------------------
def module_failure(capsys, args):
    """The failure message of AmbientModule built with a list-of-mappings option, as AnsiballZ runs it."""
    import json

    from ansible.module_utils.testing import patch_module_args

    from ansible_collections.ambient.mesh.plugins.module_utils._module import AmbientModule

    spec = {"namespaces": {"type": "list", "elements": "dict", "required": True,
                           "options": {"name": {"type": "str", "required": True}}}}
    with patch_module_args(args), pytest.raises(SystemExit):
        AmbientModule(argument_spec=spec)
    return json.loads(capsys.readouterr().out)["msg"]


@pytest.mark.parametrize("value", ["hello", ["hello"], "hello,world"])
def test_a_list_given_as_a_string_names_the_option(capsys, value):
    msg = module_failure(capsys, {"namespaces": value})
    assert msg.startswith("Elements value for option 'namespaces' is of type str and we were unable to convert to dict")
    assert "'- name: hello'" in msg


def test_other_argument_errors_are_left_as_ansible_words_them(capsys):
    assert module_failure(capsys, {}) == "missing required arguments: namespaces"


def test_a_failure_after_valid_arguments_keeps_the_modules_own_message(capsys):
    """fail_json of the module's own (arguments valid): the message as given, no IndexError from an empty
    list of argument errors."""
    import json

    from ansible.module_utils.testing import patch_module_args

    from ansible_collections.ambient.mesh.plugins.module_utils._module import AmbientModule

    spec = {"namespaces": {"type": "list", "elements": "dict", "required": True,
                           "options": {"name": {"type": "str", "required": True}}}}
    with patch_module_args({"namespaces": [{"name": "hello"}]}), pytest.raises(SystemExit):
        AmbientModule(argument_spec=spec).fail_json(msg="refusing: the waypoint does not exist", changed=True)
    result = json.loads(capsys.readouterr().out)
    assert result["msg"] == "refusing: the waypoint does not exist" and result["changed"] is True


def test_slow_waits_become_warnings():
    from ansible_collections.ambient.mesh.plugins.module_utils._objects.wait import slow_waits

    waits = [{"what": "the waypoints to be Programmed", "seconds": 47.2, "polls": 12, "met": True},
             {"what": "istiod", "seconds": 3.0, "polls": 4, "met": True},
             {"what": "the rollout", "seconds": 120.4, "polls": 60, "met": False}]
    assert slow_waits(waits) == ["waited 47s (12 polls) for the waypoints to be Programmed",
                                 "waited 120s (60 polls) for the rollout, in vain"]
