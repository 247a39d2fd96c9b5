"""The simulated istiod (embedded_cluster/apiserver/controllers.py) against Istio 1.30.3.

The waypoint objects are compared with the upstream template, read here at test time
(embedded_cluster/data/istio-1.30.3/templates/waypoint.yaml) by plain text matching, independently of the
simulation's own renderer. The expected messages are istiod's, copied from the Istio 1.30.3 source
file and line named next to each (the Istio repository is not available where the tests run).
"""

import re
import time

import pytest
import yaml

from builders import external_service, istiod, namespace, service, waypoint
from conftest import DATA
import istiod_lab
from istiod_lab import condition, eventually

mesh = istiod_lab.mesh  # the fixture

TEMPLATE = DATA / "istio-1.30.3" / "templates" / "waypoint.yaml"
GW = ("gateway.networking.k8s.io/v1", "Gateway")
BOUND = "istio.io/WaypointBound"

# pilot/pkg/serviceregistry/ambient/status.go:23-42 (fmt %q quoting), pilot/pkg/model/service.go:1309-1315
ATTACHED = "Successfully attached to waypoint {ref}"
INGRESS_NOT_USING = (". Ingress traffic is not using the waypoint, set the istio.io/ingress-use-waypoint label "
                     "to true if desired.")
INGRESS_USING = ". Ingress traffic will traverse the waypoint"
NOT_READY = 'waypoint "{ref}" is not ready'
DENIED = 'we are not permitted to attach to waypoint "{ref}" (missing allowedRoutes?)'
UNSUPPORTED = 'attempting to bind to traffic type "service" which the waypoint "{ref}" does not support'
# pilot/pkg/config/kube/gateway/conversion.go:1902,1918-1921 with gatewaycommon/context.go:121
PROGRAMMED = "Resource programmed, assigned to service(s) {host}:15008"
NOT_PROGRAMMED = 'Failed to assign to any requested addresses: no instances found for hostname "{host}"'





def programmed(cluster, ns, name="waypoint"):
    cond = condition(cluster.get(*GW, name, ns), "Programmed")
    return cond if cond and cond["status"] == "True" else None


def bound_condition(cluster, ns, name):
    return eventually(lambda: condition(cluster.get("v1", "Service", name, ns), BOUND))


def template_documents():
    """{kind: text} of the objects istiod renders for a waypoint (HPA and PDB need a class overlay:
    pilot/pkg/config/kube/gatewaycommon/deploymentcontroller.go requiredOverlays)."""
    docs = {}
    for doc in TEMPLATE.read_text(encoding="utf-8").split("\n---\n"):
        kind = re.search(r"^kind: (\S+)", doc, re.M).group(1)
        if kind in ("ServiceAccount", "Deployment", "Service"):
            docs[kind] = doc
    return docs


def test_waypoint_objects_are_the_templates(mesh):
    mesh.put(namespace("hello"))
    gw = mesh.put(waypoint("hello", programmed=None))
    assert eventually(lambda: programmed(mesh, "hello"))
    # what the template fills in from the Gateway and istiod's ClassInfo for istio-waypoint
    # (gatewaycommon/classinfo.go: ControllerLabel istio.io-mesh-controller, DefaultServiceType ClusterIP)
    values = {".Name": "waypoint", ".GatewayClass": "istio-waypoint", ".ControllerLabel": "istio.io-mesh-controller"}
    docs = template_documents()
    assert sorted(docs) == ["Deployment", "Service", "ServiceAccount"]
    for kind, doc in docs.items():
        obj = mesh.get("apps/v1" if kind == "Deployment" else "v1", kind, "waypoint", "hello")
        assert obj is not None, kind
        labels_block = doc[doc.index("  labels:"):]
        labels_block = labels_block[:labels_block.index(") | nindent 4")]
        wanted = {key: values[expr] for key, expr in re.findall(r'"([\w./-]+)" (\.\w+)', labels_block)}
        # deploymentcontroller.go apply() puts the managed-by label on every object it applies
        wanted["gateway.istio.io/managed"] = "istio.io-mesh-controller"
        assert {k: obj["metadata"]["labels"].get(k) for k in wanted} == wanted, kind
        owner = re.search(r"  ownerReferences:\n  - apiVersion: (\S+)\n    kind: (\S+)\n", doc)
        assert [(r["apiVersion"], r["kind"], r["name"], r["uid"]) for r in obj["metadata"]["ownerReferences"]] == [
            (owner.group(1), owner.group(2), "waypoint", gw["metadata"]["uid"])], kind
    deployment = mesh.get("apps/v1", "Deployment", "waypoint", "hello")
    selector = re.search(r'matchLabels:\n\s+"{{\.GatewayNameLabel}}": "{{\.Name}}"', docs["Deployment"])
    assert selector and deployment["spec"]["selector"] == {"matchLabels": {"gateway.networking.k8s.io/gateway-name": "waypoint"}}
    container = re.search(r"containers:\n\s+- name: (\S+)", docs["Deployment"]).group(1)
    assert [c["name"] for c in deployment["spec"]["template"]["spec"]["containers"]] == [container]
    assert deployment["spec"]["template"]["metadata"]["annotations"]["istio.io/rev"] == "default"

    svc = mesh.get("v1", "Service", "waypoint", "hello")
    assert "type: {{ .ServiceType | quote }}" in docs["Service"] and svc["spec"]["type"] == "ClusterIP"
    assert "protocol: TCP" in docs["Service"]
    # gatewaycommon/deploymentcontroller.go extractServicePorts: status-port 15021, then each listener
    assert [(p["name"], p["port"], p["protocol"], p["appProtocol"]) for p in svc["spec"]["ports"]] == [
        ("status-port", 15021, "TCP", "tcp"), ("mesh", 15008, "TCP", "hbone")]
    assert svc["spec"]["selector"] == {"gateway.networking.k8s.io/gateway-name": "waypoint"}


def test_programmed_false_until_ready_then_addresses_ip_then_hostname(mesh):
    mesh.put(namespace("hello"))
    mesh.set_readiness("Deployment", "hello", "waypoint", 2.0)
    mesh.put(waypoint("hello", programmed=None))
    host = "waypoint.hello.svc.cluster.local"
    pending = eventually(lambda: condition(mesh.get(*GW, "waypoint", "hello"), "Programmed"))
    assert (pending["status"], pending["reason"], pending["message"]) == (
        "False", "AddressNotAssigned", NOT_PROGRAMMED.format(host=host))
    assert "addresses" not in mesh.get(*GW, "waypoint", "hello")["status"]
    done = eventually(lambda: programmed(mesh, "hello"))
    assert (done["reason"], done["message"]) == ("Programmed", PROGRAMMED.format(host=host))
    gw = mesh.get(*GW, "waypoint", "hello")
    assert [a["type"] for a in gw["status"]["addresses"]] == ["IPAddress", "Hostname"]
    assert gw["status"]["addresses"][1]["value"] == host
    # deploymentcontroller.go ControllerVersionAnnotation / ControllerVersion
    assert gw["metadata"]["annotations"]["gateway.istio.io/controller-version"] == "5"


GOLDEN = DATA / "istio-1.30.3" / "testdata"


def test_listener_status_is_istiods_golden(mesh):
    """status.listeners of istiod's own test Gateways (pilot/pkg/config/kube/gateway/testdata/waypoint.yaml, a valid
    waypoint and one on port 1234/HTTP) against the status istiod's test expects (waypoint.status.yaml.golden),
    both upstream files; only the timestamps are left out, and observedGeneration, which the golden's Gateways
    (generation 0) do not show."""
    inputs = [d for d in yaml.safe_load_all((GOLDEN / "waypoint.yaml").read_text(encoding="utf-8")) if d]
    golden = {d["metadata"]["name"]: d for d in yaml.safe_load_all(
        (GOLDEN / "waypoint.status.yaml.golden").read_text(encoding="utf-8")) if d}
    mesh.put(namespace("ns"))
    for gateway in inputs:
        mesh.put(gateway)
    for gateway in inputs:
        name = gateway["metadata"]["name"]
        got = eventually(lambda name=name: (mesh.get(*GW, name, "ns").get("status") or {}).get("listeners"))
        for listener in got:
            for cond in listener["conditions"]:
                assert cond.pop("observedGeneration") == mesh.get(*GW, name, "ns")["metadata"]["generation"]
                del cond["lastTransitionTime"]
        wanted = golden[name]["status"]["listeners"]
        for listener in wanted:
            for cond in listener["conditions"]:
                del cond["lastTransitionTime"]
        assert got == wanted, name


@pytest.mark.parametrize("objects, status, reason, message", [
    ([namespace("hello", **{"istio.io/use-waypoint": "waypoint"}), waypoint("hello", programmed=None)],
     "True", "WaypointAccepted", ATTACHED.format(ref="hello/waypoint")),
    ([namespace("hello", **{"istio.io/use-waypoint": "waypoint", "istio.io/ingress-use-waypoint": "false"}),
      waypoint("hello", programmed=None)],
     "True", "WaypointAccepted", ATTACHED.format(ref="hello/waypoint") + INGRESS_NOT_USING),
    ([namespace("hello", **{"istio.io/use-waypoint": "waypoint", "istio.io/ingress-use-waypoint": "true"}),
      waypoint("hello", programmed=None)],
     "True", "WaypointAccepted", ATTACHED.format(ref="hello/waypoint") + INGRESS_USING),
    ([namespace("hello", **{"istio.io/use-waypoint": "missing"})],
     "False", "WaypointIsNotReady", NOT_READY.format(ref="hello/missing")),
    ([namespace("mesh"), waypoint("mesh", "shared", programmed=None),
      namespace("hello", **{"istio.io/use-waypoint": "shared", "istio.io/use-waypoint-namespace": "mesh"})],
     "False", "AttachmentDenied", DENIED.format(ref="mesh/shared")),
    ([namespace("hello", **{"istio.io/use-waypoint": "waypoint"}),
      waypoint("hello", waypoint_for="workload", programmed=None)],
     "False", "UnsupportedTrafficType", UNSUPPORTED.format(ref="hello/waypoint")),
])
def test_waypoint_bound_in_istiods_words(mesh, objects, status, reason, message):
    for obj in objects:
        mesh.put(obj)
    mesh.put(service("hello", "helloworld"))
    cond = eventually(lambda: (c := condition(mesh.get("v1", "Service", "helloworld", "hello"), BOUND))
                      and c["reason"] == reason and c)
    assert (cond["status"], cond["reason"], cond["message"]) == (status, reason, message)
    managers = [(m["manager"], m.get("subresource")) for m in mesh.get("v1", "Service", "helloworld", "hello")[
        "metadata"]["managedFields"]]
    # pilot/pkg/serviceregistry/ambient/ambientindex.go:274 statusqueue.Register(..., "istio-ambient-service", ...)
    assert ("istio-ambient-service", "status") in managers


@pytest.mark.parametrize("team_labels, reason", [({"mesh": "yes"}, "WaypointAccepted"), ({"mesh": "no"}, "AttachmentDenied")])
def test_cross_namespace_attachment_honours_the_hbone_listeners_selector(mesh, team_labels, reason):
    shared = waypoint("mesh", "shared", programmed=None)
    shared["spec"]["listeners"][0]["allowedRoutes"] = {"namespaces": {"from": "Selector",
                                                                      "selector": {"matchLabels": {"mesh": "yes"}}}}
    mesh.put(namespace("mesh"))
    mesh.put(shared)
    mesh.put(namespace("team", **team_labels, **{"istio.io/use-waypoint": "shared", "istio.io/use-waypoint-namespace": "mesh"}))
    mesh.put(service("team", "api"))
    cond = eventually(lambda: (c := condition(mesh.get("v1", "Service", "api", "team"), BOUND)) and c["reason"] == reason and c)
    assert cond and cond["reason"] == reason


def test_which_services_get_waypoint_bound(mesh):
    mesh.put(namespace("hello", **{"istio.io/use-waypoint": "waypoint"}))
    mesh.put(waypoint("hello", programmed=None))
    # an ingress gateway's Service (pilot/pkg/serviceregistry/ambient/waypoints.go:151-162 skips only
    # the mesh- and east-west-controller ones)
    mesh.put(service("hello", "ingress", labels={"gateway.istio.io/managed": "istio.io-gateway-controller",
                                                 "gateway.networking.k8s.io/gateway-name": "ingress"}))
    mesh.put(external_service("hello", "payments"))  # services.go:255: ExternalName is skipped
    assert bound_condition(mesh, "hello", "ingress")["reason"] == "WaypointAccepted"
    assert eventually(lambda: programmed(mesh, "hello"))
    time.sleep(0.5)
    assert condition(mesh.get("v1", "Service", "waypoint", "hello"), BOUND) is None
    assert condition(mesh.get("v1", "Service", "payments", "hello"), BOUND) is None


def test_each_istiod_programs_only_its_own_revisions_waypoints(mesh):
    mesh.put(namespace("hello"))
    gw = waypoint("hello", programmed=None)
    gw["metadata"]["labels"]["istio.io/rev"] = "canary"
    mesh.put(gw)
    time.sleep(1.0)
    assert mesh.get("apps/v1", "Deployment", "waypoint", "hello") is None  # the default istiod skips it
    assert "status" not in mesh.get(*GW, "waypoint", "hello") or not mesh.get(*GW, "waypoint", "hello")["status"].get(
        "addresses")
    mesh.put(istiod("canary"))
    assert eventually(lambda: programmed(mesh, "hello"))
    deployment = mesh.get("apps/v1", "Deployment", "waypoint", "hello")
    assert deployment["spec"]["template"]["metadata"]["annotations"]["istio.io/rev"] == "canary"
