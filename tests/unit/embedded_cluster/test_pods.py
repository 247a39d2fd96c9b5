"""Pods, ReplicaSets and EndpointSlices of the test cluster (embedded_cluster/apiserver/pods.py), seeded with Istio's own
samples (embedded_cluster/data/istio-1.30.3/samples), as kube-controller-manager would make them. The expected names,
labels and conditions are Kubernetes' (kubernetes/kubernetes: pkg/controller/deployment sync.go,
controller_utils.go, statefulset/stateful_set_utils.go, staging/src/k8s.io/endpointslice/utils.go)."""

import copy
import ipaddress
import json
import re
import time
import urllib.request

import pytest

from embedded_cluster.apiserver.cluster import load_documents
from conftest import DATA

SAMPLES = DATA / "istio-1.30.3" / "samples"
# apimachinery pkg/util/rand/rand.go alphanums: generated name suffixes and SafeEncodeString'ed hashes
ALPHANUMS = "bcdfghjklmnpqrstvwxz2456789"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"  # what kubectl rollout restart (and _restart.py) sets
RS, POD, EPS, DEPLOY = ("apps/v1", "ReplicaSet"), ("v1", "Pod"), ("discovery.k8s.io/v1", "EndpointSlice"), \
    ("apps/v1", "Deployment")


def sample(cluster, name, namespace, only=None):
    """The objects of samples/<name>.yaml, put into `namespace` as they are; returns them by (kind, name)."""
    cluster.seed_namespace(namespace)
    out = {}
    for doc in load_documents(SAMPLES / name):
        if only and doc["kind"] not in only:
            continue
        doc["metadata"]["namespace"] = namespace
        out[(doc["kind"], doc["metadata"]["name"])] = cluster.put(doc)
    return out


def settle(seconds=0.05):
    time.sleep(seconds)  # the EndpointSlice controller runs on the server's loop, right after a write


def pods_of(cluster, namespace, prefix=""):
    return sorted((p for p in cluster.list(*POD, namespace) if p["metadata"]["name"].startswith(prefix)),
                  key=lambda p: p["metadata"]["name"])


def ready(pod):
    return {c["type"]: c["status"] for c in pod["status"]["conditions"]}["Ready"] == "True"


def slices(cluster, namespace, service):
    return [s for s in cluster.list(*EPS, namespace)
            if s["metadata"]["labels"].get("kubernetes.io/service-name") == service]


def endpoints(cluster, namespace, service):
    """{pod name: (address, ready, serving, terminating)} over the Service's slices."""
    out = {}
    for eps in slices(cluster, namespace, service):
        for ep in eps["endpoints"] or []:
            cond = ep["conditions"]
            out[ep["targetRef"]["name"]] = (ep["addresses"][0], cond["ready"], cond["serving"], cond["terminating"])
    return out


def test_deployment_replicaset_and_pods_as_the_controllers_make_them(cluster):
    objs = sample(cluster, "helloworld.yaml", "hello")
    for version in ("v1", "v2"):
        dep = objs[("Deployment", f"helloworld-{version}")]
        template = dep["spec"]["template"]
        [rs] = [r for r in cluster.list(*RS, "hello") if r["metadata"]["name"].startswith(dep["metadata"]["name"] + "-")]
        pod_hash = rs["metadata"]["labels"]["pod-template-hash"]
        # sync.go: Name d.Name + "-" + hash; ComputeHash = SafeEncodeString(decimal uint32): <= 10 characters
        assert rs["metadata"]["name"] == f"helloworld-{version}-{pod_hash}"
        assert re.fullmatch(f"[{ALPHANUMS}]{{1,10}}", pod_hash)
        assert rs["metadata"]["ownerReferences"] == [{"apiVersion": "apps/v1", "kind": "Deployment",
                                                      "name": dep["metadata"]["name"], "uid": dep["metadata"]["uid"],
                                                      "controller": True, "blockOwnerDeletion": True}]
        assert rs["spec"]["selector"]["matchLabels"] == dict(dep["spec"]["selector"]["matchLabels"],
                                                             **{"pod-template-hash": pod_hash})
        assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
        [pod] = pods_of(cluster, "hello", rs["metadata"]["name"])
        # controller_utils.go: GenerateName "<rs>-" and the apiserver's 5 random characters
        assert re.fullmatch(re.escape(rs["metadata"]["name"]) + f"-[{ALPHANUMS}]{{5}}", pod["metadata"]["name"])
        assert pod["metadata"]["generateName"] == rs["metadata"]["name"] + "-"
        assert pod["metadata"]["labels"] == dict(template["metadata"]["labels"], **{"pod-template-hash": pod_hash})
        assert pod["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
        assert pod["metadata"]["ownerReferences"][0]["uid"] == rs["metadata"]["uid"]
        assert [(c["name"], c["image"]) for c in pod["spec"]["containers"]] == \
            [(c["name"], c["image"]) for c in template["spec"]["containers"]]
        assert pod["spec"]["containers"][0]["ports"] == [{"containerPort": 5000, "protocol": "TCP"}]
        assert pod["spec"]["nodeName"].startswith("kind-worker")
        assert pod["status"]["phase"] == "Running" and ready(pod)
        assert pod["status"]["containerStatuses"][0]["ready"] is True
        assert ipaddress.ip_address(pod["status"]["podIP"]) in ipaddress.ip_network("10.244.0.0/16")
        assert cluster.get(*DEPLOY, dep["metadata"]["name"], "hello")["status"]["readyReplicas"] == 1
    ips = [p["status"]["podIP"] for p in pods_of(cluster, "hello")]
    assert len(set(ips)) == len(ips) == 2
    assert [p["metadata"]["labels"]["version"] for p in cluster.pods("hello", "app=helloworld,version in (v2)")] == ["v2"]


def test_scaling_spreads_pods_with_unique_ips_and_zero_means_none(cluster):
    objs = sample(cluster, "helloworld.yaml", "hello")
    dep = copy.deepcopy(objs[("Deployment", "helloworld-v1")])
    dep["spec"]["replicas"] = 3
    cluster.put(dep)
    pods = pods_of(cluster, "hello", "helloworld-v1-")
    assert len(pods) == 3 and all(ready(p) for p in pods)
    assert {p["spec"]["nodeName"] for p in pods} == {"kind-worker", "kind-worker2", "kind-worker3"}
    assert cluster.get(*DEPLOY, "helloworld-v1", "hello")["status"]["readyReplicas"] == 3
    settle()
    assert len(endpoints(cluster, "hello", "helloworld")) == 4

    dep["spec"]["replicas"] = 0
    cluster.put(dep)
    assert pods_of(cluster, "hello", "helloworld-v1-") == []
    [rs] = [r for r in cluster.list(*RS, "hello") if r["metadata"]["name"].startswith("helloworld-v1-")]
    assert rs["spec"]["replicas"] == 0 and rs["status"]["replicas"] == 0
    settle()
    assert [n.split("-")[1] for n in endpoints(cluster, "hello", "helloworld")] == ["v2"]


def test_readiness_follows_the_workload_controllers_delay(cluster):
    cluster.seed_namespace("hello")
    cluster.set_readiness("Deployment", "hello", "helloworld-v1", 0.6)
    sample(cluster, "helloworld.yaml", "hello")
    [pod] = pods_of(cluster, "hello", "helloworld-v1-")
    conditions = {c["type"]: c for c in pod["status"]["conditions"]}
    # pkg/kubelet/status/generate.go: ContainersNotReady, "containers with unready status: [<names>]"
    assert conditions["Ready"]["status"] == conditions["ContainersReady"]["status"] == "False"
    assert conditions["Ready"]["reason"] == "ContainersNotReady"
    assert conditions["Ready"]["message"] == "containers with unready status: [helloworld]"
    assert pod["status"]["phase"] == "Running" and pod["status"]["podIP"]
    assert not cluster.get(*DEPLOY, "helloworld-v1", "hello")["status"].get("readyReplicas")
    settle()
    assert endpoints(cluster, "hello", "helloworld")[pod["metadata"]["name"]][1:] == (False, False, False)
    time.sleep(0.9)
    [pod] = pods_of(cluster, "hello", "helloworld-v1-")
    assert ready(pod) and "reason" not in {c["type"]: c for c in pod["status"]["conditions"]}["Ready"]
    assert cluster.get(*DEPLOY, "helloworld-v1", "hello")["status"]["readyReplicas"] == 1
    assert endpoints(cluster, "hello", "helloworld")[pod["metadata"]["name"]][1:] == (True, True, False)


def test_a_workload_that_never_becomes_ready_has_unready_pods(cluster):
    cluster.seed_namespace("hello")
    cluster.set_readiness("Deployment", "hello", "helloworld-v2", None)
    sample(cluster, "helloworld.yaml", "hello")
    time.sleep(0.3)
    assert [ready(p) for p in pods_of(cluster, "hello", "helloworld-v2-")] == [False]
    assert [ready(p) for p in pods_of(cluster, "hello", "helloworld-v1-")] == [True]
    assert sorted(e[1] for e in endpoints(cluster, "hello", "helloworld").values()) == [False, True]


def test_restart_annotation_gives_a_new_replicaset_and_new_pods(cluster):
    objs = sample(cluster, "helloworld.yaml", "hello")
    [before] = pods_of(cluster, "hello", "helloworld-v1-")
    old_rs = before["metadata"]["ownerReferences"][0]["name"]
    dep = copy.deepcopy(objs[("Deployment", "helloworld-v1")])
    dep["spec"]["template"].setdefault("metadata", {}).setdefault("annotations", {})[RESTARTED_AT] = "2026-01-01T00:00:00Z"
    cluster.put(dep)
    [after] = pods_of(cluster, "hello", "helloworld-v1-")
    new_rs = after["metadata"]["ownerReferences"][0]["name"]
    assert new_rs != old_rs and after["metadata"]["name"].startswith(new_rs + "-")
    assert after["metadata"]["annotations"] == {RESTARTED_AT: "2026-01-01T00:00:00Z"}
    assert after["metadata"]["uid"] != before["metadata"]["uid"]
    assert cluster.get(*POD, before["metadata"]["name"], "hello") is None
    # the old template's ReplicaSet stays, scaled to 0, as revision history; the new one is revision 2
    rsets = {r["metadata"]["name"]: r for r in cluster.list(*RS, "hello") if r["metadata"]["name"].startswith("helloworld-v1-")}
    assert rsets[old_rs]["spec"]["replicas"] == 0
    assert rsets[new_rs]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "2"
    settle()
    assert after["metadata"]["name"] in endpoints(cluster, "hello", "helloworld")
    assert before["metadata"]["name"] not in endpoints(cluster, "hello", "helloworld")


def test_a_deleted_pod_is_replaced(cluster):
    sample(cluster, "helloworld.yaml", "hello")
    [before] = pods_of(cluster, "hello", "helloworld-v1-")
    cluster.delete(*POD, before["metadata"]["name"], "hello")
    settle()
    [after] = pods_of(cluster, "hello", "helloworld-v1-")
    assert after["metadata"]["name"] != before["metadata"]["name"]
    assert after["metadata"]["ownerReferences"] == before["metadata"]["ownerReferences"]


def test_deleting_the_deployment_deletes_replicasets_pods_and_endpoints(cluster):
    sample(cluster, "helloworld.yaml", "hello")
    cluster.delete(*DEPLOY, "helloworld-v1", "hello")
    settle()
    assert pods_of(cluster, "hello", "helloworld-v1-") == []
    assert not [r for r in cluster.list(*RS, "hello") if r["metadata"]["name"].startswith("helloworld-v1-")]
    assert [n.split("-")[1] for n in endpoints(cluster, "hello", "helloworld")] == ["v2"]


def test_foreground_deletion_with_a_termination_delay_keeps_terminating_pods(cluster, kubeconfig):
    from kubernetes import client, config

    sample(cluster, "helloworld.yaml", "hello")
    cluster.set_termination_delay(0.6, kind="Deployment")
    api = client.AppsV1Api(config.new_client_from_config(kubeconfig))
    api.delete_namespaced_deployment("helloworld-v1", "hello", propagation_policy="Foreground")
    settle()
    [pod] = pods_of(cluster, "hello", "helloworld-v1-")
    assert pod["metadata"]["deletionTimestamp"]
    # utils.go podToEndpoint: a terminating pod is not ready, still serving, terminating
    assert endpoints(cluster, "hello", "helloworld")[pod["metadata"]["name"]][1:] == (False, True, True)
    time.sleep(0.9)
    assert pods_of(cluster, "hello", "helloworld-v1-") == []
    assert [n.split("-")[1] for n in endpoints(cluster, "hello", "helloworld")] == ["v2"]


def test_statefulset_pods_by_ordinal(cluster):
    cluster.seed_namespace("db")
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web", "namespace": "db"},
           "spec": {"replicas": 2, "serviceName": "web", "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}, "annotations": {"team": "a"}},
                                 "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27",
                                                          "ports": [{"name": "web", "containerPort": 80}]}]}}}}
    cluster.put(sts)
    cluster.put({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "db"},
                 "spec": {"clusterIP": "None", "selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "web"}]}})
    stored = cluster.get("apps/v1", "StatefulSet", "web", "db")
    pods = pods_of(cluster, "db")
    assert [p["metadata"]["name"] for p in pods] == ["web-0", "web-1"]
    for ordinal, pod in enumerate(pods):
        labels = pod["metadata"]["labels"]
        assert labels["statefulset.kubernetes.io/pod-name"] == pod["metadata"]["name"]
        assert labels["apps.kubernetes.io/pod-index"] == str(ordinal)
        assert re.fullmatch(f"web-[{ALPHANUMS}]{{1,10}}", labels["controller-revision-hash"])
        assert pod["metadata"]["annotations"] == {"team": "a"}
        assert (pod["spec"]["hostname"], pod["spec"]["subdomain"]) == (pod["metadata"]["name"], "web")
        assert pod["metadata"]["ownerReferences"][0]["uid"] == stored["metadata"]["uid"] and ready(pod)
    settle()
    [eps] = slices(cluster, "db", "web")
    # a headless Service's slices carry service.kubernetes.io/headless; the named targetPort resolves to 80;
    # ShouldSetHostname: the pods' subdomain is the Service
    assert eps["metadata"]["labels"]["service.kubernetes.io/headless"] == ""
    assert eps["ports"] == [{"name": "", "port": 80, "protocol": "TCP"}]
    assert sorted(e["hostname"] for e in eps["endpoints"]) == ["web-0", "web-1"]

    sts["spec"]["replicas"] = 1
    cluster.put(sts)
    assert [p["metadata"]["name"] for p in pods_of(cluster, "db")] == ["web-0"]


def test_endpointslices_as_the_controller_writes_them(cluster):
    objs = sample(cluster, "helloworld.yaml", "hello")
    settle()
    svc = objs[("Service", "helloworld")]
    [eps] = slices(cluster, "hello", "helloworld")
    assert re.fullmatch(f"helloworld-[{ALPHANUMS}]{{5}}", eps["metadata"]["name"])
    assert eps["metadata"]["labels"] == {"app": "helloworld", "service": "helloworld",
                                         "kubernetes.io/service-name": "helloworld",
                                         "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}
    assert eps["metadata"]["ownerReferences"] == [{"apiVersion": "v1", "kind": "Service", "name": "helloworld",
                                                   "uid": svc["metadata"]["uid"], "controller": True,
                                                   "blockOwnerDeletion": True}]
    assert eps["addressType"] == "IPv4"
    assert eps["ports"] == [{"name": "http", "port": 5000, "protocol": "TCP"}]
    pods = {p["metadata"]["name"]: p for p in pods_of(cluster, "hello")}
    assert sorted(eps["endpoints"], key=lambda e: e["targetRef"]["name"]) == [
        {"addresses": [p["status"]["podIP"]], "conditions": {"ready": True, "serving": True, "terminating": False},
         "targetRef": {"kind": "Pod", "namespace": "hello", "name": n, "uid": p["metadata"]["uid"]},
         "nodeName": p["spec"]["nodeName"]} for n, p in sorted(pods.items())]

    # the Service narrowed to v1: the same slice (name kept) now holds v1's pod only
    narrowed = copy.deepcopy(svc)
    narrowed["spec"]["selector"] = {"app": "helloworld", "version": "v1"}
    cluster.put(narrowed)
    settle()
    [after] = slices(cluster, "hello", "helloworld")
    assert after["metadata"]["name"] == eps["metadata"]["name"]
    assert [e["targetRef"]["name"].split("-")[1] for e in after["endpoints"]] == ["v1"]

    # a selector nothing matches: one placeholder slice without endpoints or ports (reconciler.go)
    narrowed["spec"]["selector"] = {"app": "nothing"}
    cluster.put(narrowed)
    settle()
    [placeholder] = slices(cluster, "hello", "helloworld")
    assert placeholder["endpoints"] is None and placeholder["ports"] is None

    # no selector: the controller manages no slice; deleting the Service takes its slices
    cluster.put(dict(narrowed, spec={k: v for k, v in narrowed["spec"].items() if k != "selector"}))
    settle()
    assert slices(cluster, "hello", "helloworld") == []
    cluster.put(svc)
    settle()
    assert len(slices(cluster, "hello", "helloworld")) == 1
    cluster.delete("v1", "Service", "helloworld", "hello")
    settle()
    assert slices(cluster, "hello", "helloworld") == []


def test_named_target_ports_resolve_per_pod(cluster):
    objs = sample(cluster, "httpbin.yaml", "hello")
    svc = copy.deepcopy(objs[("Service", "httpbin")])
    settle()
    [eps] = slices(cluster, "hello", "httpbin")
    assert eps["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]  # targetPort 8080
    dep = copy.deepcopy(objs[("Deployment", "httpbin")])
    dep["spec"]["template"]["spec"]["containers"][0]["ports"][0]["name"] = "web"
    cluster.put(dep)
    svc["spec"]["ports"] = [{"name": "http", "port": 8000, "targetPort": "web"},
                            {"name": "metrics", "port": 9090, "targetPort": "metrics"}]  # no such container port
    cluster.put(svc)
    settle()
    [eps] = slices(cluster, "hello", "httpbin")
    # utils.go getEndpointPorts: the named port found in the container, the unresolvable one left out
    assert eps["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert len(eps["endpoints"]) == 1


@pytest.mark.parametrize("path, name, entry", [
    ("/api/v1", "pods", {"singularName": "pod", "namespaced": True, "kind": "Pod", "shortNames": ["po"]}),
    ("/api/v1", "pods/exec", {"singularName": "", "namespaced": True, "kind": "PodExecOptions", "verbs": ["create", "get"]}),
    ("/api/v1", "pods/status", {"kind": "Pod", "verbs": ["get", "patch", "update"]}),
    ("/apis/apps/v1", "replicasets", {"kind": "ReplicaSet", "shortNames": ["rs"]}),
    ("/apis/discovery.k8s.io/v1", "endpointslices", {"singularName": "endpointslice", "namespaced": True,
                                                     "kind": "EndpointSlice"}),
])
def test_discovery_lists_the_resources(cluster, path, name, entry):
    with urllib.request.urlopen(cluster.url + path) as answer:
        resources = {r["name"]: r for r in json.load(answer)["resources"]}
    assert {k: resources[name][k] for k in entry} == entry
