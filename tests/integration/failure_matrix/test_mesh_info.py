"""mesh_info: bad inputs refused before any request that writes, and each bad reference of issue 11 (items 2 and 10)
reported on a live cluster - with fail_on_findings the run fails naming it, and writes nothing (mesh_info is read-only)."""

import pytest

from builders import ambient_namespace, namespace, service, waypoint
from conftest import GATEWAY_V151, seed_istio
from failure_matrix.conftest import Case

pytestmark = pytest.mark.integration
MODULE = "ambient.mesh.mesh_info"


def refused(case_id, args, fragment, setup=None):
    return Case(case_id, MODULE, args, fragment, setup=setup)


def mesh(*objects):
    """setup: Gateway API CRDs, Istio (default revision), then the objects."""
    def setup(m):
        m.cluster.load_crds(GATEWAY_V151)
        seed_istio(m.cluster)
        for obj in objects:
            m.cluster.put(obj)
    return setup


def pod(ns, name, annotations=None, containers=("app",), labels=None):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": dict(labels or {"app": name}),
                         "annotations": dict(annotations or {})},
            "spec": {"containers": [{"name": c, "image": "example/%s" % c} for c in containers]},
            "status": {"phase": "Running"}}


def gateway_of_revision(ns, revision):
    gw = waypoint(ns)
    gw["metadata"]["labels"]["istio.io/rev"] = revision
    return gw


def kubeconfig_file(m, name, text):
    path = m.tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


BAD_INPUTS = [
    refused("fail-on-findings-unknown", {"fail_on_findings": "critical"},
            "value of fail_on_findings must be one of: never, warning, error, got: critical"),
    refused("unknown-option", {"fail_on": "error"}, "Unsupported parameters for (ambient.mesh.mesh_info) module: fail_on"),
    refused("kubeconfig-missing", {"kubeconfig": "/nonexistent/kubeconfig"}, "/nonexistent/"),
    refused("concurrency-not-a-number", {"concurrency": "many"},
            "argument 'concurrency' is of type str and we were unable to convert to int"),
    refused("request-budget-not-a-number", {"request_budget": "soon"}, "argument 'request_budget' is of type str"),
    refused("concurrency-zero", {"concurrency": 0}, "concurrency must be 1 or more (requests at once); got 0"),
    refused("request-budget-negative", {"request_budget": -5}, "request_budget must be 0 or more seconds (0: no retries); got -5"),
    refused("fail-on-findings-a-boolean", {"fail_on_findings": True},
            "value of fail_on_findings must be one of: never, warning, error, got: True"),
    refused("fail-on-findings-capitalised", {"fail_on_findings": "Error"},
            "value of fail_on_findings must be one of: never, warning, error, got: Error"),
    refused("validate-certs-not-a-boolean", {"validate_certs": "maybe"},
            "argument 'validate_certs' is of type str and we were unable to convert to bool"),
    refused("context-not-in-the-kubeconfig", {"context": "kind-prod"},
            ["cannot connect to Kubernetes", "Expected object with name kind-prod in kubeconfig in /"]),
    # these used to end in "Module failed: [Errno 21] Is a directory", "Module failed: while parsing a flow sequence"
    # (a traceback, the path masked as no_log) and "[Errno 2] No such file or directory" without the option
    refused("kubeconfig-a-directory", lambda m: {"kubeconfig": str(m.tmp_path)},
            "cannot be read (the kubeconfig option): Is a directory; give the path of a kubeconfig file"),
    refused("kubeconfig-not-yaml", lambda m: {"kubeconfig": kubeconfig_file(m, "garbage", "this: [is not a kubeconfig\n")},
            ["kubeconfig garbage in /", "cannot be read (the kubeconfig option): it is not a kubeconfig file (YAML): "
             "while parsing a flow sequence expected ',' or ']', but got '<stream end>' at line 2, column 1"]),
    refused("kubeconfig-empty", lambda m: {"kubeconfig": kubeconfig_file(m, "empty", "")},
            "Invalid kube-config. empty in /"),
    refused("ca-cert-missing", {"ca_cert": "/nonexistent/ca.crt"},
            "ca_cert /nonexistent/ca.crt cannot be read: No such file or directory: give the path of a readable PEM file"),
    # each bad reference, reported by name on a live cluster
    refused("use-waypoint-names-a-missing-gateway", {"fail_on_findings": "error"},
            "Namespace hello has istio.io/use-waypoint=ghost but namespace hello has no waypoint named ghost",
            setup=mesh(ambient_namespace("hello", waypoint="ghost"))),
    refused("use-waypoint-namespace-names-a-missing-namespace", {"fail_on_findings": "error"},
            "Namespace hello has istio.io/use-waypoint-namespace=mesh-infra, a namespace that does not exist",
            setup=mesh(ambient_namespace("hello", waypoint="shared", **{"istio.io/use-waypoint-namespace": "mesh-infra"}))),
    refused("waypoint-of-a-revision-no-istiod-serves", {"fail_on_findings": "error"},
            "waypoint hello/waypoint is for revision canary, which no istiod serves (istiod revisions: default)",
            setup=mesh(ambient_namespace("hello"), gateway_of_revision("hello", "canary"))),
    refused("waypoint-of-a-namespace-revision-no-istiod-serves", {"fail_on_findings": "error"},
            "is for revision old (namespace hello's istio.io/rev), which no istiod serves",
            setup=mesh(ambient_namespace("hello", **{"istio.io/rev": "old"}), waypoint("hello"))),
    refused("waypoint-bound-to-a-namespace-not-in-ambient-mode", {"fail_on_findings": "warning"},
            "namespace legacy uses waypoint legacy/waypoint but is not in ambient mode (no istio.io/dataplane-mode label)",
            setup=mesh(namespace("legacy", **{"istio.io/use-waypoint": "waypoint"}), waypoint("legacy"))),
    refused("restart-pending", {"fail_on_findings": "warning"},
            "namespace hello has workloads to restart since 2026-11-23T10:00:00Z",
            setup=mesh(dict(ambient_namespace("hello"), metadata={
                "name": "hello", "labels": {"istio.io/dataplane-mode": "ambient"},
                "annotations": {"ambient.mesh/restart-pending": "2026-11-23T10:00:00Z"}}))),
    refused("sidecar-in-an-ambient-namespace", {"fail_on_findings": "error"},
            "namespace hello is in ambient mode but 1 pod(s) still run a sidecar (helloworld-v1-abc)",
            setup=mesh(ambient_namespace("hello"), service("hello", "helloworld"),
                       pod("hello", "helloworld-v1-abc", {"sidecar.istio.io/status": "{}"}, ("app", "istio-proxy")))),
    refused("still-redirected-after-leaving-ambient", {"fail_on_findings": "error"},
            "namespace old is not in ambient mode but 1 pod(s) are still redirected to ztunnel",
            setup=mesh(namespace("old"), pod("old", "api-1", {"ambient.istio.io/redirection": "enabled"}))),
]


@pytest.mark.parametrize("case", BAD_INPUTS, ids=lambda c: c.id)
def test_bad_input_or_bad_reference_fails_without_a_write(matrix, case):
    failed = matrix.check(case)
    assert "Traceback" not in failed["msg"]


def test_a_pod_that_chose_for_itself_is_no_mismatch(cluster, playbook):
    """A pod labelled istio.io/dataplane-mode=none in an ambient namespace, or a finished pod with a sidecar, is as
    its labels say: no CAPTURE_MISMATCH (the check cannot fire on anything in an ambient namespace)."""
    mesh(ambient_namespace("hello"),
         pod("hello", "opted-out", {"sidecar.istio.io/status": "{}"}, ("app", "istio-proxy"),
             labels={"istio.io/dataplane-mode": "none"}),
         dict(pod("hello", "done", {"sidecar.istio.io/status": "{}"}), status={"phase": "Succeeded"}))(
        type("M", (), {"cluster": cluster})())
    codes = [f["code"] for f in playbook.run(MODULE, {})["findings"]]
    assert "CAPTURE_MISMATCH" not in codes
    cluster.put(pod("hello", "kept-its-sidecar", {"sidecar.istio.io/status": "{}"}))
    assert [f["code"] for f in playbook.run(MODULE, {})["findings"]].count("CAPTURE_MISMATCH") == 1


def outage(m):
    m.cluster.fail("list", "pods", status=503, times=1000)


FAULTS = [
    # reads refused for a while: the run fails naming the read, and a re-run once the server answers reports
    Case("pods-unreadable", MODULE, {"request_budget": 3}, "503", setup=outage, expect="converges",
         changed=False, fix=lambda m: m.cluster.api.faults.clear()),
]


@pytest.mark.parametrize("case", FAULTS, ids=lambda c: c.id)
def test_fault_then_a_rerun_converges(matrix, case):
    matrix.check(case)
