"""ansible-doc renders every module completely."""

import pathlib
import subprocess
import sys

import pytest

from conftest import ansible_env

pytestmark = [pytest.mark.integration, pytest.mark.core_compat]


@pytest.mark.parametrize("module, must_show", [
    ("ambient.mesh.gateway_api_crds", ["allow_downgrade", "kubeconfig", "force_conflicts", "wait_timeout",
                                       "EXAMPLES", "RETURN VALUES", "check_mode"]),
    ("ambient.mesh.istio_install", ["istioctl_path", "precheck", "purge", "kubeconfig", "tag", "EXAMPLES",
                                    "RETURN VALUES", "istioctl_calls"]),
    ("ambient.mesh.mesh_info", ["fail_on_findings", "kubeconfig", "VS_SPLIT_WITHOUT_WAYPOINT", "EXAMPLES",
                                "RETURN VALUES", "findings", "VS_IN_THIRD_NAMESPACE", "VS_SOURCE_LABELS_AT_WAYPOINT",
                                "creation order", "FAULT_EXPIRED"]),
    ("ambient.mesh.traffic_probe", ["backend_pattern", "expected_shares", "reuse_connection", "kubeconfig",
                                    "exact binomial test", "Bonferroni", "check mode", "EXAMPLES", "RETURN VALUES",
                                    "verdicts"]),
    ("ambient.mesh.prometheus_query", ["request-success-rate", "request-duration", "reporter=\"waypoint\"",
                                       "not enough traffic", "wait_for_traffic", "bearer_token", "$interval",
                                       "kube-prometheus-stack", "EXAMPLES", "RETURN VALUES", "min_requests"]),
    ("ambient.mesh.report", ["directory", "fault_check", "matplotlib", "a file in the way", "schema_version",
                             "group/ambient.mesh.k8s", "EXAMPLES", "RETURN VALUES", "summary", "html_path"]),
])
def test_ansible_doc_renders(module, must_show):
    binary = pathlib.Path(sys.executable).parent / "ansible-doc"
    proc = subprocess.run([str(binary), module], capture_output=True, text=True, env=ansible_env(), check=False)
    assert proc.returncode == 0, proc.stderr
    # Ansible's own warnings about the docs ("[WARNING]: ...", "[DEPRECATION WARNING]: ...") fail the test.
    # Python warnings raised while ansible-core imports its dependencies are not about the docs: cryptography
    # 51 deprecates DSA, which ansible/_internal/_ssh/_ssh_agent.py imports, and prints a
    # CryptographyDeprecationWarning on every ansible command.
    assert "WARNING]" not in proc.stderr.upper(), proc.stderr
    shown = " ".join(proc.stdout.split())  # ansible-doc wraps its text to the terminal's width
    for text in must_show:
        assert text in shown, text


@pytest.mark.parametrize("module, must_show", [
    ("ambient.mesh.ambient_namespace", ["migrate_sidecars", "restart_workloads", "check_dataplane", "EXAMPLES",
                                        "RETURN VALUES", "use_waypoint_namespace"]),
    ("ambient.mesh.waypoint", ["waypoint_for", "enroll_services", "enroll_namespaces", "overwrite", "EXAMPLES",
                               "RETURN VALUES", "allowed_namespaces"]),
    ("ambient.mesh.fault_injection", ["prune_expired", "expires_after", "destinations", "PathPrefix", "force_conflicts",
                                      "EXAMPLES", "RETURN VALUES", "WaypointBound", "before public VirtualServices", "FAULT_EXPIRED"]),
    ("ambient.mesh.traffic_split", ["require_waypoint", "remove_conflicts", "unmatched_version", "route_name",
                                    "hello-http-split-traffic", "EXAMPLES", "RETURN VALUES", "ResolvedWaypoints"]),
])
def test_ansible_doc_renders_enrollment_modules(module, must_show):
    test_ansible_doc_renders(module, must_show)


FILTERS = sorted(p.stem for p in (pathlib.Path(__file__).resolve().parents[2] / "plugins" / "filter").glob("*.py")
                 if not p.stem.startswith("_"))


@pytest.mark.parametrize("name", FILTERS)
def test_ansible_doc_renders_every_filter(name):
    """Each filter plugin documents itself (DOCUMENTATION, EXAMPLES, RETURN in its file), as ansible-doc -t filter shows."""
    binary = pathlib.Path(sys.executable).parent / "ansible-doc"
    proc = subprocess.run([str(binary), "-t", "filter", f"ambient.mesh.{name}"], capture_output=True, text=True,
                          env=ansible_env(), check=False)
    assert proc.returncode == 0, proc.stderr
    assert "WARNING]" not in proc.stderr.upper(), proc.stderr
    for text in ["_input", "EXAMPLES", "RETURN VALUES", f"ambient.mesh.{name}"]:
        assert text in proc.stdout, text
