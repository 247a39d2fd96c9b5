"""gateway_api_crds through ansible-playbook against the test API server."""

import pytest

from conftest import GATEWAY_V121, GATEWAY_V151

pytestmark = pytest.mark.integration
CRD = ("apiextensions.k8s.io/v1", "CustomResourceDefinition")
V151 = {"version": "v1.5.1", "src": str(GATEWAY_V151)}
V121 = {"version": "v1.2.1", "src": str(GATEWAY_V121)}


def gateway_crds(cluster):
    return {c["metadata"]["name"]: c for c in cluster.list(*CRD) if c["spec"]["group"] == "gateway.networking.k8s.io"}


def test_four_step_idempotence(cluster, playbook):
    mark = cluster.mark()
    check = playbook.run("ambient.mesh.gateway_api_crds", V151, check=True, diff=True)
    assert check["changed"] is True and not check.get("failed"), check
    assert gateway_crds(cluster) == {}
    assert cluster.writes(mark) == []  # only dry runs
    assert len(check["diff"]) == 10 and check["diff"][0]["before"] == {}
    assert {o["action"] for o in check["objects"]} == {"created"}

    real = playbook.run("ambient.mesh.gateway_api_crds", V151)
    assert real["changed"] is True and not real.get("failed"), real
    assert real["version"] == {"before": None, "after": "v1.5.1"}
    crds = gateway_crds(cluster)
    assert len(crds) == 8
    for crd in crds.values():
        assert crd["metadata"]["annotations"]["gateway.networking.k8s.io/bundle-version"] == "v1.5.1"
        assert any(c["type"] == "Established" and c["status"] == "True" for c in crd["status"]["conditions"])
        assert [m["manager"] for m in crd["metadata"]["managedFields"]][0] == "ambient.mesh"
    assert cluster.get("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy",
                       "safe-upgrades.gateway.networking.k8s.io") is not None

    mark = cluster.mark()
    again_check = playbook.run("ambient.mesh.gateway_api_crds", V151, check=True)
    again = playbook.run("ambient.mesh.gateway_api_crds", V151)
    assert again_check["changed"] is False and again["changed"] is False
    assert cluster.writes(mark) == []
    # a no-op run reads by LIST, with no GET or dry run per object
    verbs = sorted({e["verb"] for e in cluster.requests(mark)})
    assert verbs == ["list"], cluster.requests(mark)


def test_upgrade_from_v121_to_v151(cluster, playbook):
    first = playbook.run("ambient.mesh.gateway_api_crds", V121)
    assert first["changed"] and len(gateway_crds(cluster)) == 5
    upgrade = playbook.run("ambient.mesh.gateway_api_crds", V151, diff=True)
    assert upgrade["changed"] is True, upgrade
    assert upgrade["version"] == {"before": "v1.2.1", "after": "v1.5.1"}
    actions = {o["name"]: o["action"] for o in upgrade["objects"]}
    assert actions["httproutes.gateway.networking.k8s.io"] == "updated"
    assert actions["listenersets.gateway.networking.k8s.io"] == "created"
    assert {c["metadata"]["annotations"]["gateway.networking.k8s.io/bundle-version"]
            for c in gateway_crds(cluster).values()} == {"v1.5.1"}


def test_downgrade_is_refused_and_changes_nothing(cluster, playbook):
    playbook.run("ambient.mesh.gateway_api_crds", V151)
    before = gateway_crds(cluster)
    mark = cluster.mark()
    result = playbook.run("ambient.mesh.gateway_api_crds", V121, fails="from v1.5.1 to v1.2.1")
    assert result["failed"] is True
    assert "from v1.5.1 to v1.2.1" in result["msg"] and "allow_downgrade" in result["msg"]
    assert cluster.writes(mark) == []
    assert gateway_crds(cluster) == before


def test_channel_switch_is_refused(cluster, playbook, tmp_path):
    experimental = GATEWAY_V151.read_text().replace("channel: standard", "channel: experimental")
    path = tmp_path / "experimental.yaml"
    path.write_text(experimental)
    playbook.run("ambient.mesh.gateway_api_crds", {"version": "v1.5.1", "channel": "experimental", "src": str(path)})
    result = playbook.run("ambient.mesh.gateway_api_crds", V151, fails="from the experimental channel to standard")
    assert result["failed"] is True and "from the experimental channel to standard" in result["msg"]


@pytest.mark.parametrize("args, fragment", [
    ({"version": "v1.5.1", "src": "/nonexistent/bundle.yaml"}, "cannot read src /nonexistent/bundle.yaml"),
    ({"version": "v1.5.1", "url": "http://127.0.0.1:9/standard-install.yaml", "url_timeout": 5},
     "cannot download the Gateway API bundle from http://127.0.0.1:9/standard-install.yaml"),
    ({"version": "v1.2.1", "src": str(GATEWAY_V151)}, "holds Gateway API v1.5.1, but version v1.2.1 was asked for"),
    ({"version": "latest", "src": str(GATEWAY_V151)}, "version must look like v1.5.1"),
])
def test_bad_sources_fail_clearly_and_change_nothing(cluster, playbook, args, fragment):
    mark = cluster.mark()
    result = playbook.run("ambient.mesh.gateway_api_crds", args, fails=fragment)
    assert result["failed"] is True and fragment in result["msg"], result["msg"]
    assert cluster.writes(mark) == []


def test_malformed_file_fails_and_changes_nothing(cluster, playbook, tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text(GATEWAY_V151.read_text()[:50000] + "\n  bad: [unclosed\n")
    mark = cluster.mark()
    result = playbook.run("ambient.mesh.gateway_api_crds", {"version": "v1.5.1", "src": str(broken)}, fails="is not valid YAML")
    assert result["failed"] is True and "is not valid YAML" in result["msg"]
    assert cluster.writes(mark) == []


def test_foreign_labels_and_annotations_survive(cluster, playbook):
    playbook.run("ambient.mesh.gateway_api_crds", V151)
    crd = cluster.get(*CRD, "httproutes.gateway.networking.k8s.io")
    crd["metadata"].setdefault("labels", {})["team"] = "platform"
    crd["metadata"]["annotations"]["note"] = "keep me"
    cluster.put(crd, manager="kubectl-edit")
    result = playbook.run("ambient.mesh.gateway_api_crds", V151)
    assert result["changed"] is False
    crd = cluster.get(*CRD, "httproutes.gateway.networking.k8s.io")
    assert crd["metadata"]["labels"]["team"] == "platform"
    assert crd["metadata"]["annotations"]["note"] == "keep me"


def test_conflict_names_the_other_manager_then_force_takes_over(cluster, playbook):
    # v1.2.1 installed earlier by someone else (manager "test-seed", as kubectl create would)
    cluster.load_crds(GATEWAY_V121)
    result = playbook.run("ambient.mesh.gateway_api_crds", V151, fails="test-seed")
    assert result["failed"] is True
    assert "test-seed" in result["msg"] and "force_conflicts: true" in result["msg"]
    forced = playbook.run("ambient.mesh.gateway_api_crds", dict(V151, force_conflicts=True))
    assert forced["changed"] is True and not forced.get("failed"), forced.get("msg")
    assert playbook.run("ambient.mesh.gateway_api_crds", V151)["changed"] is False


def test_retries_on_throttling_and_unavailability(cluster, playbook):
    cluster.fail("list", "customresourcedefinitions.apiextensions.k8s.io", status=429, times=2, retry_after=1)
    cluster.fail("patch", "customresourcedefinitions.apiextensions.k8s.io", status=503, times=2)
    result = playbook.run("ambient.mesh.gateway_api_crds", V151)
    assert result["changed"] is True and not result.get("failed"), result.get("msg")
    injected = [e for e in cluster.requests() if e.get("injected")]
    assert [e["injected"] for e in injected] == [429, 429, 503, 503]
    assert len(gateway_crds(cluster)) == 8


def test_wait_times_out_naming_the_crd(cluster, playbook):
    cluster.api.hold_crd_establishment = True
    result = playbook.run("ambient.mesh.gateway_api_crds", dict(V151, wait_timeout=2),
                          fails="timed out after 2s waiting for CustomResourceDefinition")
    assert result["failed"] is True
    assert "timed out after 2s waiting for CustomResourceDefinition" in result["msg"]
    assert "Established" in result["msg"]


def test_absent_refuses_while_routes_exist_then_force(cluster, playbook):
    from builders import split_route
    playbook.run("ambient.mesh.gateway_api_crds", V151)
    cluster.seed_namespace("hello")
    cluster.put(split_route())
    refused = playbook.run("ambient.mesh.gateway_api_crds", {"version": "v1.5.1", "state": "absent"}, fails="1 HTTPRoute")
    assert refused["failed"] is True and "1 HTTPRoute" in refused["msg"]
    assert len(gateway_crds(cluster)) == 8
    check = playbook.run("ambient.mesh.gateway_api_crds", {"version": "v1.5.1", "state": "absent", "force": True},
                         check=True)
    assert check["changed"] is True and len(gateway_crds(cluster)) == 8
    gone = playbook.run("ambient.mesh.gateway_api_crds", {"version": "v1.5.1", "state": "absent", "force": True})
    assert gone["changed"] is True and gateway_crds(cluster) == {}
    again = playbook.run("ambient.mesh.gateway_api_crds", {"version": "v1.5.1", "state": "absent", "force": True})
    assert again["changed"] is False


def test_crds_installed_earlier_in_the_same_play_are_seen(cluster, kubeconfig, tmp_path):
    import json

    import yaml

    from builders import ambient_namespace, service, split_route
    from conftest import run_playbook

    cluster.put(ambient_namespace("hello"))
    cluster.put(service("hello", "helloworld"))
    out = tmp_path / "out.json"
    play = [{"hosts": "localhost", "gather_facts": False,
             "module_defaults": {"group/ambient.mesh.k8s": {"kubeconfig": kubeconfig}},
             "tasks": [
                 {"name": "before", "ambient.mesh.mesh_info": {}, "register": "before"},
                 {"name": "install", "ambient.mesh.gateway_api_crds": V151},
                 {"name": "a route appears (another tool creates it)", "ansible.builtin.wait_for":
                  {"path": str(tmp_path / "route-created"), "timeout": 60}},
                 {"name": "after", "ambient.mesh.mesh_info": {}, "register": "after"},
                 {"ansible.builtin.copy": {"content": "{{ {'before': before, 'after': after} | to_json }}",
                                           "dest": str(out)}},
             ]}]
    book = tmp_path / "play.yml"
    book.write_text(yaml.safe_dump(play))
    # the route is created by the test once the CRDs exist: wait for the install task by polling
    import threading
    import time

    def create_route():
        deadline = time.time() + 60
        while time.time() < deadline:
            if cluster.get("apiextensions.k8s.io/v1", "CustomResourceDefinition",
                           "httproutes.gateway.networking.k8s.io"):
                cluster.put(split_route())
                (tmp_path / "route-created").write_text("yes")
                return
            time.sleep(0.05)

    creator = threading.Thread(target=create_route)
    creator.start()
    proc = run_playbook(book)
    creator.join()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(out.read_text())
    assert result["before"]["gateway_api"]["installed"] is False and result["before"]["routes"] == []
    assert result["after"]["gateway_api"]["version"] == "v1.5.1"
    assert [r["name"] for r in result["after"]["routes"]] == ["helloworld"]
    assert [f["code"] for f in result["after"]["findings"]] == ["HTTPROUTE_WITHOUT_WAYPOINT"]
