"""The checks every module and every role gets, once for all, over the modules and roles found in the tree.

For each: check mode makes zero writes at the API server (dry runs only) and runs no mutating
istioctl subcommand; the four steps (check, run, check, run) each succeed, the first two report a
change and the last two none; a no-op re-run makes zero writes; diff mode shows each object as it
was read from the server before and as it is on the server after; and labels and annotations that
the collection does not own (Istio's sidecar labels included) survive `present` and `absent`.

A module or role added to the tree without a scenario here fails test_every_module_and_role_has_a_scenario.
"""

import dataclasses
import pathlib
import time
from typing import Callable

import pytest
import yaml

from builders import namespace, service
from conftest import DATA, GATEWAY_V121, GATEWAY_V151, ISTIO_CRDS, ROOT, run_role, seed_istio

pytestmark = [pytest.mark.integration, pytest.mark.core_compat]

MODULES = sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("*.py") if not p.stem.startswith("_"))
# a private role (roles/_probe) is a task file the public roles share: their scenarios run it
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir()
               if (p / "tasks" / "main.yml").is_file() and not p.name.startswith("_"))

# What the collection never owns, put on the objects it touches before it runs.
FOREIGN_LABELS = {"example.com/team": "payments", "app.kubernetes.io/part-of": "shop"}
FOREIGN_ANNOTATIONS = {"example.com/owner": "someone", "example.com/ticket": "OPS-1234"}
# Istio's sidecar-injection labels: foreign to every module except ambient_namespace's migration,
# which refuses them on `present` and must keep them on `absent`.
# The revision is one an istiod serves: the waypoint module rightly refuses a revision none serves.
SIDECAR_LABELS = {"istio-injection": "enabled", "istio.io/rev": "default"}
# Mutating istioctl subcommands, which check mode must never run.
ISTIOCTL_WRITES = {"install", "uninstall", "tag set", "tag remove", "waypoint apply", "waypoint delete"}

API_VERSIONS = {"VirtualService": "networking.istio.io/v1", "Namespace": "v1", "Service": "v1", "ConfigMap": "v1",
                "Deployment": "apps/v1", "DaemonSet": "apps/v1", "StatefulSet": "apps/v1",
                "Gateway": "gateway.networking.k8s.io/v1", "HTTPRoute": "gateway.networking.k8s.io/v1",
                "CustomResourceDefinition": "apiextensions.k8s.io/v1",
                "ValidatingAdmissionPolicy": "admissionregistration.k8s.io/v1",
                "ValidatingAdmissionPolicyBinding": "admissionregistration.k8s.io/v1"}
NS, SVC, DEPLOY = ("v1", "Namespace"), ("v1", "Service"), ("apps/v1", "Deployment")


@dataclasses.dataclass
class Ctx:
    cluster: object
    istioctl: object
    tmp_path: pathlib.Path
    playbook: object = None
    kubeconfig: str = ""
    cleanup: list = dataclasses.field(default_factory=list)  # called after the test, last first
    prometheus_url: str = ""


@dataclasses.dataclass
class Scenario:
    setup: Callable          # Ctx -> None: a cluster on which `present` has something to do
    present: Callable        # Ctx -> module args or role variables
    absent: Callable = None  # Ctx -> args that undo `present`; None for read-only modules
    # (apiVersion, kind, namespace, name) of objects that exist after setup and that the run touches
    foreign: tuple = ()
    sidecar_labels_on_present: bool = True
    sidecar_labels_on_absent: bool = True  # false where those labels mean "enrolled" and absent rightly refuses
    read_only: bool = False
    object_diff: bool = True  # the diff is one entry per object (istio_install shows its install view)
    # a drill (fault_check) writes on every real run, and says so (changed), but leaves the cluster as it found it:
    # a run again may only write objects that did not exist before it and do not exist after it
    transient_writes: bool = False
    # a controller-only action plugin (report) writes new files on the controller on every run and never the cluster:
    # all four steps report a change (check mode: what it would write) and none writes to the API server
    controller_files: bool = False


# ---- setups ------------------------------------------------------------------------------------
def mesh(ctx):
    ctx.cluster.load_crds(GATEWAY_V151)
    seed_istio(ctx.cluster)


def lab_namespace(ctx):
    mesh(ctx)
    ctx.cluster.put(namespace("hello", **{"istio.io/dataplane-mode": "ambient"}))
    ctx.cluster.put(service("hello", "helloworld"))


def with_workload(ctx):
    mesh(ctx)
    ctx.cluster.put(namespace("hello"))
    ctx.cluster.put({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "hello"},
                     "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                              "template": {"metadata": {"labels": {"app": "web"}},
                                           "spec": {"containers": [{"name": "web", "image": "web:1"}]}}}})


def older_gateway_api(ctx):
    """Gateway API v1.2.1 installed by this collection earlier: `present` upgrades it."""
    ctx.playbook.run("ambient.mesh.gateway_api_crds", {"version": "v1.2.1", "src": str(GATEWAY_V121)})


def istio_system(ctx):
    ctx.cluster.put(namespace("istio-system"))


def real_prometheus(ctx):
    """A real Prometheus (Debian's package, as scripts/bootstrap.sh installs it) with nothing to scrape: the queries
    prometheus_query runs need no Istio metrics to be judged."""
    from embedded_cluster.apiserver.prometheus import Prometheus
    (ctx.tmp_path / "targets.json").write_text("[]", encoding="utf-8")
    server = Prometheus(str(ctx.tmp_path / "prometheus"), str(ctx.tmp_path / "targets.json")).start()
    ctx.cleanup.append(server.stop)
    ctx.prometheus_url = server.url


def correct_lab(ctx):
    mesh(ctx)
    for ns in ("hello", "httpbin"):
        ctx.cluster.put(namespace(ns, **{"istio.io/dataplane-mode": "ambient", "istio.io/use-waypoint": "waypoint"}))


def bound_lab(ctx):
    """The lab's hello namespace with a namespace waypoint, bound and proven (what a split needs)."""
    lab_namespace(ctx)
    ctx.playbook.run("ambient.mesh.waypoint", {"waypoints": [{"namespace": "hello", "enroll_namespace": True}],
                                               "wait_timeout": 30})


def fault_lab(ctx):
    """The bound lab with Istio's CRDs (VirtualService), where a fault applies."""
    ctx.cluster.load_crds(ISTIO_CRDS)
    bound_lab(ctx)


def lab_apps(ctx):
    """Istio's helloworld (v1, v2) in hello and its curl client in test, both ambient, pods Ready: what
    traffic_probe measures on the simulated data plane."""
    mesh(ctx)
    for ns, sample in (("hello", "helloworld.yaml"), ("test", "curl.yaml")):
        ctx.cluster.put(namespace(ns, **{"istio.io/dataplane-mode": "ambient"}))
        for doc in yaml.safe_load_all((DATA / "istio-1.30.3" / "samples" / sample).read_text(encoding="utf-8")):
            if doc:
                doc["metadata"]["namespace"] = ns
                ctx.cluster.put(doc)
    deadline = time.monotonic() + 20
    while len([p for ns in ("hello", "test") for p in ctx.cluster.list("v1", "Pod", ns) if any(
            c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or [])]) < 3:
        assert time.monotonic() < deadline, "scenario error: the lab's pods never became Ready"
        time.sleep(0.05)


def fault_drill_lab(ctx):
    """The lab's apps with a waypoint bound to hello, and a fault an interrupted fault_check run left, expired."""
    ctx.cluster.load_crds(ISTIO_CRDS)
    lab_apps(ctx)
    ctx.playbook.run("ambient.mesh.waypoint", {"waypoints": [{"namespace": "hello", "enroll_namespace": True}],
                                               "wait_timeout": 30})
    ctx.playbook.run("ambient.mesh.fault_injection", {"faults": [{
        "service": "helloworld", "namespace": "hello", "abort": {"http_status": 500}, "expires_after": "1s"}]})
    time.sleep(2.1)


def canary_lab(ctx):
    """The lab's apps with a waypoint bound to hello: where a canary moves helloworld from v1 to v2."""
    lab_apps(ctx)
    ctx.playbook.run("ambient.mesh.waypoint", {"waypoints": [{"namespace": "hello", "enroll_namespace": True}],
                                               "wait_timeout": 30})


SPLIT = {"service": "helloworld", "namespace": "hello", "versions": [{"name": "v1", "weight": 95},
                                                                     {"name": "v2", "weight": 5}]}

HTTPROUTES_CRD = ("apiextensions.k8s.io/v1", "CustomResourceDefinition", None, "httproutes.gateway.networking.k8s.io")

MODULE_SCENARIOS = {
    "ambient_namespace": Scenario(
        setup=with_workload,
        present=lambda ctx: {"namespaces": [{"name": "hello", "use_waypoint": "waypoint"}], "restart_workloads": True,
                             "allow_missing_waypoint": True},  # the waypoint would come later
        absent=lambda ctx: {"namespaces": [{"name": "hello", "state": "absent"}], "restart_workloads": True},
        foreign=(NS + (None, "hello"), DEPLOY + ("hello", "web")),
        sidecar_labels_on_present=False),
    "fault_injection": Scenario(
        setup=fault_lab,
        present=lambda ctx: {"faults": [{"service": "helloworld", "namespace": "hello", "expires_after": "15m",
                                         "delay": {"fixed_delay": "3s"}, "abort": {"http_status": 500, "percentage": 50}}]},
        absent=lambda ctx: {"faults": [{"service": "helloworld", "namespace": "hello", "state": "absent"}]},
        foreign=(SVC + ("hello", "helloworld"),)),
    "gateway_api_crds": Scenario(
        setup=older_gateway_api,
        present=lambda ctx: {"version": "v1.5.1", "src": str(GATEWAY_V151), "wait_timeout": 30},
        absent=lambda ctx: {"state": "absent"},
        foreign=(HTTPROUTES_CRD,)),
    "istio_install": Scenario(
        setup=istio_system,
        present=lambda ctx: {"version": "1.30.3", "istioctl_path": ctx.istioctl.path, "wait_timeout": 30},
        absent=lambda ctx: {"version": "1.30.3", "istioctl_path": ctx.istioctl.path, "state": "absent",
                            "wait_timeout": 30},
        foreign=(NS + (None, "istio-system"),),
        sidecar_labels_on_present=False, sidecar_labels_on_absent=False,
        object_diff=False),
    "mesh_info": Scenario(setup=correct_lab, present=lambda ctx: {}, read_only=True,
                          foreign=(NS + (None, "hello"),)),
    "prometheus_query": Scenario(
        setup=real_prometheus, read_only=True,
        present=lambda ctx: {"url": ctx.prometheus_url, "checks": [
            {"name": "one", "query": "vector(1)", "min": 1, "max": 1},
            {"name": "up", "query": "count(up) or vector(0)"}]}),
    "report": Scenario(
        setup=lambda ctx: None, controller_files=True,
        present=lambda ctx: {"directory": str(ctx.tmp_path / "reports"), "kind": "canary", "name": "hello/helloworld",
                             "outcome": "promoted", "steps": [{"step": 1, "label": "100%", "asked": {"v2": 100},
                                                               "measured": {"v2": 1.0}, "passed": True}]}),
    "traffic_probe": Scenario(
        setup=lab_apps, read_only=True, foreign=(SVC + ("hello", "helloworld"),), sidecar_labels_on_present=False,
        present=lambda ctx: {"namespace": "test", "pod_selector": "app=curl", "requests": 20,
                             "url": "http://helloworld.hello.svc.cluster.local:5000/hello",
                             "backend_pattern": r"version: (v\d+)", "expected_status": [200]}),
    "traffic_split": Scenario(
        setup=bound_lab,
        present=lambda ctx: {"splits": [SPLIT], "wait_timeout": 30},
        absent=lambda ctx: {"splits": [{"service": "helloworld", "namespace": "hello", "state": "absent"}]},
        foreign=(SVC + ("hello", "helloworld"),)),
    "waypoint": Scenario(
        setup=lab_namespace,
        present=lambda ctx: {"waypoints": [{"namespace": "hello", "enroll_namespace": True}], "wait_timeout": 30},
        absent=lambda ctx: {"waypoints": [{"namespace": "hello", "state": "absent"}], "wait_timeout": 30},
        foreign=(NS + (None, "hello"), SVC + ("hello", "helloworld"))),
}

ROLE_SCENARIOS = {
    "canary": Scenario(
        setup=canary_lab,
        present=lambda ctx: {"canary_service": "helloworld", "canary_namespace": "hello", "canary_steps": [50, 100],
                             "canary_probe": {"url": "http://helloworld.hello.svc.cluster.local:5000/hello",
                                              "requests": 50},
                             "canary_report_dir": str(ctx.tmp_path / "reports"), "canary_wait_timeout": 30,
                             "canary_kubernetes_auth": {"kubeconfig": ctx.kubeconfig}},
        foreign=(SVC + ("hello", "helloworld"),)),
    "fault_check": Scenario(
        setup=fault_drill_lab,
        present=lambda ctx: {"fault_check_checks": [{
            "service": "helloworld", "namespace": "hello", "delay": {"fixed_delay": "2s"},
            "probe": {"url": "http://helloworld.hello.svc.cluster.local:5000/hello", "requests": 10}}],
            "fault_check_baseline_requests": 10},
        foreign=(SVC + ("hello", "helloworld"),), transient_writes=True),
    "enroll": Scenario(
        setup=with_workload,
        present=lambda ctx: {"enroll_namespaces": [{"name": "hello", "use_waypoint": "waypoint"}],
                             "enroll_wait_timeout": 30, "enroll_allow_missing_waypoint": True},
        absent=lambda ctx: {"enroll_namespaces": [{"name": "hello", "state": "absent"}], "enroll_wait_timeout": 30},
        foreign=(NS + (None, "hello"), DEPLOY + ("hello", "web")),
        sidecar_labels_on_present=False),
    "install": Scenario(
        setup=istio_system,
        present=lambda ctx: {"install_istioctl_path": ctx.istioctl.path, "install_gateway_api_src": str(GATEWAY_V151),
                             "install_wait_timeout": 30},
        absent=lambda ctx: {"install_istioctl_path": ctx.istioctl.path, "install_state": "absent",
                            "install_wait_timeout": 30},
        foreign=(NS + (None, "istio-system"),),
        sidecar_labels_on_present=False, sidecar_labels_on_absent=False),
    "traffic_split": Scenario(
        setup=bound_lab,
        present=lambda ctx: {"traffic_split_splits": [SPLIT], "traffic_split_wait_timeout": 30},
        absent=lambda ctx: {"traffic_split_splits": [{"service": "helloworld", "namespace": "hello", "state": "absent"}]},
        foreign=(SVC + ("hello", "helloworld"),)),
    "waypoint": Scenario(
        setup=lab_namespace,
        present=lambda ctx: {"waypoint_namespaces": ["hello"], "waypoint_wait_timeout": 30},
        absent=lambda ctx: {"waypoint_extra": [{"namespace": "hello", "state": "absent"}],
                            "waypoint_wait_timeout": 30},
        foreign=(NS + (None, "hello"), SVC + ("hello", "helloworld"))),
}


def test_every_module_and_role_has_a_scenario():
    assert sorted(MODULE_SCENARIOS) == MODULES, "a module without the universal checks (add a Scenario)"
    assert sorted(ROLE_SCENARIOS) == ROLES, "a role without the universal checks (add a Scenario)"


# ---- helpers -----------------------------------------------------------------------------------
SERVER_METADATA = ("resourceVersion", "managedFields", "uid", "creationTimestamp", "generation")


def stripped(obj):
    """An object as a diff shows it: no status, no server-managed metadata, no config-hash annotation.
    Written here, apart from the collection's own _diff.strip_server_fields, so one checks the other."""
    if obj is None:
        return {}
    out = {k: v for k, v in obj.items() if k != "status"}
    meta = {k: v for k, v in out.get("metadata", {}).items() if k not in SERVER_METADATA}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != "ambient.mesh/config-hash"}
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    out["metadata"] = meta
    return out


def read(cluster, header):
    """The object a diff header ("Kind ns/name" or "Kind name") names, as the server has it now."""
    kind, _, ref = header.partition(" ")
    assert kind in API_VERSIONS, f"diff header {header!r} names no known kind"
    ns, _, name = ref.rpartition("/")
    return cluster.get(API_VERSIONS[kind], kind, name, ns or None)


def mark_foreign(cluster, refs, sidecar):
    """Put foreign labels and annotations on each object, as another tool (kubectl) would."""
    labels = dict(FOREIGN_LABELS, **(SIDECAR_LABELS if sidecar else {}))
    for api_version, kind, ns, name in refs:
        obj = cluster.get(api_version, kind, name, ns)
        assert obj is not None, f"scenario error: {kind} {ns}/{name} does not exist after setup"
        obj["metadata"].setdefault("labels", {}).update(labels)
        obj["metadata"].setdefault("annotations", {}).update(FOREIGN_ANNOTATIONS)
        obj.pop("status", None)  # a label edit is an update of the object, never of its status
        cluster.put(obj, manager="kubectl-label")
    return labels


def assert_foreign_kept(cluster, refs, labels, when):
    for api_version, kind, ns, name in refs:
        obj = cluster.get(api_version, kind, name, ns)
        if obj is None:
            continue  # deleted on purpose (absent removes what the collection made)
        meta = obj["metadata"]
        lost = {k: v for k, v in labels.items() if (meta.get("labels") or {}).get(k) != v}
        lost.update({k: v for k, v in FOREIGN_ANNOTATIONS.items() if (meta.get("annotations") or {}).get(k) != v})
        assert not lost, f"{when}: {kind} {ns}/{name} lost foreign labels/annotations {lost}"


def objects_named(cluster, result, scenario):
    """{diff header: the object it names, as the server has it now} (istio_install's diff is not per object)."""
    if not scenario.object_diff:
        return {}
    return {entry["before_header"]: read(cluster, entry["before_header"]) for entry in result.get("diff") or []}


def assert_diff_matches_server(result, before, after, when):
    """Each diff entry: before == the object read before the run, after == the object read after it."""
    entries = result.get("diff")
    assert isinstance(entries, list) and entries, f"{when}: diff mode returned no diff: {entries!r}"
    for entry in entries:
        header = entry["before_header"]
        assert entry["after_header"] == header, entry
        assert entry["before"] == stripped(before[header]), f"{when}: diff 'before' of {header} is not what was on the server"
        now = without_controller_metadata(after[header], before[header])
        assert entry["after"] == stripped(now), f"{when}: diff 'after' of {header} is not what is on the server"


def without_controller_metadata(obj, before):
    """obj without the labels and annotations that appeared during the run and that another manager owns:
    a controller wrote them after the module's write (istiod's gateway.istio.io/controller-version on a
    waypoint), so the module's diff cannot show them. Everything else must match."""
    if obj is None:
        return None
    out = {k: v for k, v in obj.items()}
    meta = dict(out["metadata"])
    old = (before or {}).get("metadata") or {}
    for field in ("labels", "annotations"):
        theirs = set()
        for entry in meta.get("managedFields") or []:
            if entry.get("manager") != "ambient.mesh":
                theirs |= {k[2:] for k in ((entry.get("fieldsV1") or {}).get("f:metadata") or {}).get(f"f:{field}", {})}
        kept = {k: v for k, v in (meta.get(field) or {}).items() if k in (old.get(field) or {}) or k not in theirs}
        if field in meta:
            meta[field] = kept
    out["metadata"] = meta
    return out


def assert_every_write_in_diff(cluster, result, mark, when):
    """Each object the run wrote has its diff entry (an entry dropped as 'unchanged' hides a write)."""
    written = {(e["resource"], e["namespace"], e["name"]) for e in cluster.writes(mark) if not e["subresource"]}
    shown = set()
    for entry in result.get("diff") or []:
        kind, _, ref = entry["before_header"].partition(" ")
        ns, _, name = ref.rpartition("/")
        res = cluster.api.catalog.by_kind(API_VERSIONS[kind], kind)
        shown.add((res.group_resource, ns or None, name))
    assert written <= shown, f"{when}: wrote {sorted(written - shown, key=str)} without a diff entry"


def assert_wrote_nothing(ctx, mark, imark, when):
    """No non-dry-run write at the API server and no mutating istioctl subcommand since the marks."""
    assert ctx.cluster.writes(mark) == [], f"{when}: wrote to the API server"
    ran = [s for s in ctx.istioctl.subcommands(imark) if s in ISTIOCTL_WRITES]
    assert ran == [], f"{when}: ran mutating istioctl subcommands {ran}"


# ---- modules -----------------------------------------------------------------------------------
@pytest.fixture
def ctx(cluster, istioctl, tmp_path, playbook, kubeconfig):
    context = Ctx(cluster, istioctl, tmp_path, playbook, kubeconfig)
    yield context
    for undo in reversed(context.cleanup):
        undo()


def module_step(ctx, module, args, check, changed, when, diff=True):
    """One run: it must succeed, report `changed` as expected; check mode and no-ops write nothing."""
    mark, imark = ctx.cluster.mark(), ctx.istioctl.mark()
    result = ctx.playbook.run(f"ambient.mesh.{module}", args, check=check, diff=diff)
    assert result["changed"] is changed, f"{when}: changed={result['changed']}, expected {changed}"
    if check or not changed:
        assert_wrote_nothing(ctx, mark, imark, when)
    return result


@pytest.mark.parametrize("module", MODULES)
def test_module_four_steps_diff_and_foreign_labels(ctx, module):
    scenario = MODULE_SCENARIOS[module]
    scenario.setup(ctx)
    labels = mark_foreign(ctx.cluster, scenario.foreign, scenario.sidecar_labels_on_present)
    args = scenario.present(ctx)
    changes = not scenario.read_only
    if scenario.controller_files:
        mark, imark = ctx.cluster.mark(), ctx.istioctl.mark()
        for when, check in (("check run", True), ("first run", False), ("check run again", True), ("run again", False)):
            result = ctx.playbook.run(f"ambient.mesh.{module}", args, check=check, diff=True)
            assert result["changed"] is True, f"{when}: changed={result['changed']}, expected True (a new report)"
        assert_wrote_nothing(ctx, mark, imark, "a controller-only action")
        return

    check = module_step(ctx, module, args, check=True, changed=changes, when="check run")
    before = objects_named(ctx.cluster, check, scenario)
    if scenario.object_diff and changes:
        # check mode changed nothing: what the check run calls 'before' is what the server still has
        assert check.get("diff"), "check run: diff mode returned no diff"
        for entry in check["diff"]:
            assert entry["before"] == stripped(before[entry["before_header"]]), \
                f"check run: diff 'before' of {entry['before_header']} is not what is on the server"
    mark = ctx.cluster.mark()
    run = module_step(ctx, module, args, check=False, changed=changes, when="first run")
    if scenario.object_diff and changes:
        assert_every_write_in_diff(ctx.cluster, run, mark, "first run")
        assert [e["before_header"] for e in run["diff"]] == [e["before_header"] for e in check["diff"]], \
            "check mode's diff names other objects than the real run's"
        assert_diff_matches_server(run, before, objects_named(ctx.cluster, run, scenario), "first run")
    elif changes:
        assert run.get("diff"), "first run: diff mode returned no diff"
    assert_foreign_kept(ctx.cluster, scenario.foreign, labels, "present")

    module_step(ctx, module, args, check=True, changed=False, when="check run again")
    again = module_step(ctx, module, args, check=False, changed=False, when="run again")
    assert not again.get("diff"), f"a run that changed nothing returned a diff: {again.get('diff')}"
    assert_foreign_kept(ctx.cluster, scenario.foreign, labels, "present again")


@pytest.mark.parametrize("module", [m for m in MODULES if MODULE_SCENARIOS[m].absent])
def test_module_absent_check_mode_and_foreign_labels(ctx, module):
    scenario = MODULE_SCENARIOS[module]
    scenario.setup(ctx)
    labels = mark_foreign(ctx.cluster, scenario.foreign, scenario.sidecar_labels_on_present)
    module_step(ctx, module, scenario.present(ctx), check=False, changed=True, when="present")
    labels = mark_foreign(ctx.cluster, scenario.foreign, scenario.sidecar_labels_on_absent)
    args = scenario.absent(ctx)

    check = module_step(ctx, module, args, check=True, changed=True, when="absent in check mode")
    before = objects_named(ctx.cluster, check, scenario)
    mark = ctx.cluster.mark()
    run = module_step(ctx, module, args, check=False, changed=True, when="absent")
    if scenario.object_diff:
        assert_every_write_in_diff(ctx.cluster, run, mark, "absent")
        assert_diff_matches_server(run, before, objects_named(ctx.cluster, run, scenario), "absent")
    assert_foreign_kept(ctx.cluster, scenario.foreign, labels, "absent")
    module_step(ctx, module, args, check=True, changed=False, when="absent in check mode again")
    module_step(ctx, module, args, check=False, changed=False, when="absent again")
    assert_foreign_kept(ctx.cluster, scenario.foreign, labels, "absent again")


# ---- roles -------------------------------------------------------------------------------------
def role_step(ctx, role, variables, check, changed, when):
    mark, imark = ctx.cluster.mark(), ctx.istioctl.mark()
    result = run_role(ctx.kubeconfig, ctx.tmp_path, f"ambient.mesh.{role}", variables, check=check)
    assert (result.changed > 0) is changed, f"{when}: changed={result.changed}, expected {changed}\n{result.stdout[-3000:]}"
    if not check and ROLE_SCENARIOS[role].transient_writes and when == "run again":
        assert_left_as_found(ctx, mark, when)
    elif check or not changed:
        assert_wrote_nothing(ctx, mark, imark, when)
    return result


def assert_left_as_found(ctx, mark, when):
    """Every object the run wrote was created by it and is gone again (a drill's injected fault)."""
    written = {(e["resource"], e["namespace"], e["name"]) for e in ctx.cluster.writes(mark)}
    first = {}
    for entry in ctx.cluster.writes(mark):
        first.setdefault((entry["resource"], entry["namespace"], entry["name"]), entry["verb"])
    assert written, f"{when}: a drill that wrote nothing (scenario error)"
    for (resource, ns, name), verb in first.items():
        assert verb == "patch", f"{when}: {resource} {ns}/{name} was first {verb}d, not created by the run"
        kind = next(k for k, v in API_VERSIONS.items() if resource.split(".", 1)[0] == k.lower() + "s")
        assert ctx.cluster.get(API_VERSIONS[kind], kind, name, ns) is None, f"{when}: left {kind} {ns}/{name} behind"


@pytest.mark.parametrize("role", ROLES)
def test_role_four_steps_absent_and_foreign_labels(ctx, role):
    scenario = ROLE_SCENARIOS[role]
    scenario.setup(ctx)
    labels = mark_foreign(ctx.cluster, scenario.foreign, scenario.sidecar_labels_on_present)
    variables = scenario.present(ctx)
    role_step(ctx, role, variables, check=True, changed=True, when="check run")
    role_step(ctx, role, variables, check=False, changed=True, when="first run")
    # a drill is an act, not a state: every run (and check run) reports the injection and removal it makes, and
    # leaves the cluster as it found it (transient_writes)
    again = scenario.transient_writes
    role_step(ctx, role, variables, check=True, changed=again, when="check run again")
    role_step(ctx, role, variables, check=False, changed=again, when="run again")
    assert_foreign_kept(ctx.cluster, scenario.foreign, labels, "present")
    if scenario.absent is None:
        return  # a drill leaves nothing to remove

    labels = mark_foreign(ctx.cluster, scenario.foreign, scenario.sidecar_labels_on_absent)
    absent = scenario.absent(ctx)
    role_step(ctx, role, absent, check=True, changed=True, when="absent in check mode")
    role_step(ctx, role, absent, check=False, changed=True, when="absent")
    role_step(ctx, role, absent, check=False, changed=False, when="absent again")
    assert_foreign_kept(ctx.cluster, scenario.foreign, labels, "absent")
