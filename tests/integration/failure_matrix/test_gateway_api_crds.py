"""gateway_api_crds: bad inputs refused before any write, and faults that end with a re-run converging."""

import pytest

from builders import split_route
from conftest import GATEWAY_V121, GATEWAY_V151, ISTIO_CRDS
from failure_matrix.conftest import Case

pytestmark = pytest.mark.integration
MODULE = "ambient.mesh.gateway_api_crds"
V151 = {"version": "v1.5.1", "src": str(GATEWAY_V151)}


def refused(case_id, args, fragment, setup=None):
    return Case(case_id, MODULE, args, fragment, setup=setup)


def write(name, text):
    """args naming a file of the test's own, written at run time."""
    def args(m):
        path = m.tmp_path / name
        path.write_text(text)
        return {"version": "v1.5.1", "src": str(path)}
    return args


BAD_INPUTS = [
    refused("version-not-a-version", dict(V151, version="latest"), "version must look like v1.5.1, got 'latest'"),
    refused("version-empty", dict(V151, version=""), "version must look like v1.5.1"),
    refused("src-missing", dict(V151, src="/nonexistent/bundle.yaml"), "cannot read src /nonexistent/bundle.yaml"),
    refused("src-is-a-directory", lambda m: dict(V151, src=str(m.tmp_path)), "cannot read src"),
    refused("url-unreachable", {"version": "v1.5.1", "url": "http://127.0.0.1:9/standard-install.yaml", "url_timeout": 5},
            "cannot download the Gateway API bundle from http://127.0.0.1:9/standard-install.yaml"),
    refused("bundle-of-another-version", dict(V151, version="v1.2.1"),
            "holds Gateway API v1.5.1, but version v1.2.1 was asked for"),
    refused("bundle-of-another-channel", dict(V151, channel="experimental"),
            "holds the standard channel, but channel experimental was asked for"),
    refused("channel-unknown", dict(V151, channel="beta"), "value of channel must be one of: standard, experimental"),
    refused("malformed-yaml", write("broken.yaml", GATEWAY_V151.read_text()[:50000] + "\n  bad: [unclosed\n"),
            "is not valid YAML"),
    refused("not-gateway-api-crds", lambda m: dict(V151, src=str(ISTIO_CRDS)), "is not a Gateway API CRD bundle"),
    refused("empty-file", write("empty.yaml", ""), "it holds no CustomResourceDefinition"),
    refused("not-kubernetes-objects", write("list.yaml", "- a\n- b\n"), "is not a Gateway API CRD bundle"),
    refused("downgrade", {"version": "v1.2.1", "src": str(GATEWAY_V121)}, "from v1.5.1 to v1.2.1",
            setup=lambda m: m.playbook.run(MODULE, V151)),
    refused("absent-while-routes-exist", {"version": "v1.5.1", "state": "absent"}, "1 HTTPRoute",
            setup=lambda m: (m.playbook.run(MODULE, V151), m.cluster.seed_namespace("hello"), m.cluster.put(split_route()))),
]


@pytest.mark.parametrize("case", BAD_INPUTS, ids=lambda c: c.id)
def test_bad_input_is_refused_before_any_write(matrix, case):
    matrix.check(case)


def release_establishment(m):
    """The apiextensions controller catches up: the held CRDs become Established (as it does on its own,
    without another write)."""
    names = [crd["metadata"]["name"] for crd in m.cluster.list("apiextensions.k8s.io/v1", "CustomResourceDefinition")]

    def catch_up():  # on the server's own loop, as its writes are
        m.cluster.api.hold_crd_establishment = False
        for name in names:
            m.cluster.api.establish_crd(name)
    m.cluster._call(catch_up)


FAULTS = [
    # the CRDs (8) and the safe-upgrades policy and binding were written, then the wait for Established ran out:
    # the run must say it changed them
    pytest.param(Case("established-never-comes", MODULE, dict(V151, wait_timeout=2),
         ["timed out after 2s waiting for CustomResourceDefinition", "before this failure: 10 objects written"],
         setup=lambda m: setattr(m.cluster.api, "hold_crd_establishment", True),
         expect="converges", changed=True, fix=release_establishment),
        id="established-never-comes"),
    # the API server refuses every write for a while (an outage mid-batch): a re-run finishes the job
    Case("writes-refused", MODULE, dict(V151, request_budget=5),
         ["the API server rejected 8 of 10 objects", "8 objects: 500 InternalError: injected failure",
          "run the task again once the API server answers"],
         setup=lambda m: m.cluster.fail("patch", "customresourcedefinitions.apiextensions.k8s.io", status=500, times=1000),
         expect="converges", fix=lambda m: m.cluster.api.faults.clear()),
]


@pytest.mark.parametrize("case", FAULTS, ids=lambda c: getattr(c, "id", None))
def test_fault_then_a_rerun_converges(matrix, case):
    matrix.check(case)
