"""x-kubernetes-validations (CEL) in the test API server, against the bundled upstream CRDs."""

import copy

import pytest

from embedded_cluster.apiserver import cel
from embedded_cluster.apiserver.cluster import load_documents
from conftest import GATEWAY_V121, GATEWAY_V151, ISTIO_CRDS
from unit.embedded_cluster.test_apiserver import call

ROUTES = "/apis/gateway.networking.k8s.io/v1/namespaces/hello/httproutes"
GATEWAYS = "/apis/gateway.networking.k8s.io/v1/namespaces/hello/gateways"
BUNDLES = [GATEWAY_V121, GATEWAY_V151, ISTIO_CRDS]


def _crds(path):
    return [d for d in load_documents(path) if d.get("kind") == "CustomResourceDefinition"]


@pytest.mark.parametrize("bundle", BUNDLES, ids=lambda p: p.name)
def test_every_rule_of_the_bundled_crds_compiles(bundle):
    count = 0
    for crd in _crds(bundle):
        for version in crd["spec"]["versions"]:
            rules = cel.Validator(version["schema"]["openAPIV3Schema"]).rules()
            failing = [(crd["metadata"]["name"], version["name"], r.text, r.error) for r in rules if r.error]
            assert not failing, failing
            count += len(rules)
    assert count > 0


def _rule(bundle, kind, *path, containing):
    """The (rule, message) of `kind`'s storage schema at `path` whose rule holds `containing`: the
    messages the tests expect are read from the upstream files, not retyped."""
    crd = next(c for c in _crds(bundle) if c["spec"]["names"]["kind"] == kind)
    node = next(v for v in crd["spec"]["versions"] if v.get("storage"))["schema"]["openAPIV3Schema"]
    for part in path:
        node = node["items"] if part == "*" else node["properties"][part]
    found = [r for r in node["x-kubernetes-validations"] if containing in r["rule"]]
    assert len(found) == 1, found
    return found[0]["message"]


def lab_route(**changes):
    """The lab's split as the collection writes it: the Service itself as parent, one Service per version."""
    route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
             "metadata": {"name": "helloworld", "namespace": "hello"},
             "spec": {"parentRefs": [{"group": "", "kind": "Service", "name": "helloworld", "port": 5000}],
                      "rules": [{"backendRefs": [{"name": "helloworld-v1", "port": 5000, "weight": 95},
                                                 {"name": "helloworld-v2", "port": 5000, "weight": 5}]}]}}
    for mutate in changes.values():
        mutate(route["spec"])
    return route


def _gateway(listeners):
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway", "metadata": {"name": "gw", "namespace": "hello"},
            "spec": {"gatewayClassName": "istio-waypoint", "listeners": listeners}}


MESH = {"name": "mesh", "port": 15008, "protocol": "HBONE"}


@pytest.fixture(params=[GATEWAY_V121, GATEWAY_V151], ids=["v1.2.1", "v1.5.1"])
def gw(cluster, request):
    cluster.load_crds(request.param)
    cluster.seed_namespace("hello")
    cluster.bundle = request.param
    return cluster


@pytest.mark.parametrize("body", [
    lab_route(),
    lab_route(matches=lambda s: s["rules"].insert(0, {
        "matches": [{"headers": [{"name": "x-version", "value": "v2"}], "path": {"type": "PathPrefix", "value": "/hello"}}],
        "backendRefs": [{"name": "helloworld-v2", "port": 5000}]})),
    lab_route(sections=lambda s: s["parentRefs"].append({"group": "", "kind": "Service", "name": "reviews",
                                                         "port": 9080})),
], ids=["split", "header-match", "two-parents"])
def test_a_valid_lab_httproute_passes(gw, body):
    status, doc = call(gw, "POST", ROUTES, body)
    assert status == 201, doc


# (mutation of the lab route, the field, the kind, the path of the rule in the schema, a piece of the rule)
ROUTE_RULES = [
    (lambda s: s["parentRefs"].append(dict(s["parentRefs"][0])), "spec.parentRefs",
     ("HTTPRoute", "spec", "parentRefs"), "exists_one"),
    (lambda s: s["rules"][0]["backendRefs"][0].pop("port"), "spec.rules[0].backendRefs[0]",
     ("HTTPRoute", "spec", "rules", "*", "backendRefs", "*"), "has(self.port)"),
    (lambda s: s["rules"][0].update(matches=[{"path": {"type": "PathPrefix", "value": "hello"}}]),
     "spec.rules[0].matches[0].path", ("HTTPRoute", "spec", "rules", "*", "matches", "*", "path"), "startsWith('/')"),
    (lambda s: s["rules"][0].update(matches=[{"path": {"type": "Exact", "value": "/a//b"}}]),
     "spec.rules[0].matches[0].path", ("HTTPRoute", "spec", "rules", "*", "matches", "*", "path"), "contains('//')"),
]


@pytest.mark.parametrize("mutate, field, where, piece", ROUTE_RULES,
                         ids=["duplicate-parentRefs", "service-backend-without-port", "relative-path", "double-slash"])
def test_httproute_rules_are_enforced_with_the_bundles_message(gw, mutate, field, where, piece):
    message = _rule(gw.bundle, *where, containing=piece)
    body = lab_route(m=mutate)
    status, doc = call(gw, "POST", ROUTES, body)
    assert status == 422, doc
    assert doc["reason"] == "Invalid" and doc["details"]["kind"] == "HTTPRoute"
    kind = "array" if field == "spec.parentRefs" else "object"
    assert {"reason": "FieldValueInvalid", "field": field, "message": f'Invalid value: "{kind}": {message}'} \
        in doc["details"]["causes"], doc
    assert message in doc["message"]
    assert gw.get("gateway.networking.k8s.io/v1", "HTTPRoute", "helloworld", "hello") is None


@pytest.mark.parametrize("listeners, piece", [
    ([MESH, dict(MESH, port=15009)], "l1.name == l2.name"),
    ([MESH, dict(MESH, name="other")], "l1.port == l2.port"),
    ([{"name": "http", "port": 80, "protocol": "HTTP", "tls": {"mode": "Terminate"}}], "['HTTP', 'TCP', 'UDP'] ? !has(l.tls)"),
])
def test_gateway_listener_rules(gw, listeners, piece):
    message = _rule(gw.bundle, "Gateway", "spec", "listeners", containing=piece)
    status, doc = call(gw, "POST", GATEWAYS, _gateway(listeners))
    assert status == 422, doc
    assert {"reason": "FieldValueInvalid", "field": "spec.listeners", "message": f'Invalid value: "array": {message}'} \
        in doc["details"]["causes"], doc


def test_transition_rules_run_only_on_update(gw):
    body = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass", "metadata": {"name": "lab"},
            "spec": {"controllerName": "example.com/a"}}
    path = "/apis/gateway.networking.k8s.io/v1/gatewayclasses"
    status, doc = call(gw, "POST", path, body)
    assert status == 201, doc  # no oldSelf on create: the rule does not run
    body["spec"]["controllerName"] = "example.com/b"
    status, doc = call(gw, "PUT", f"{path}/lab", body)
    assert status == 422 and doc["details"]["causes"][0]["field"] == "spec.controllerName", doc
    assert _rule(gw.bundle, "GatewayClass", "spec", "controllerName", containing="oldSelf") in doc["message"]
    status, doc = call(gw, "PATCH", f"{path}/lab", {"metadata": {"labels": {"a": "b"}}}, "application/merge-patch+json")
    assert status == 200, doc


def _own_crd(rules, field_type="string"):
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "things.example.com"},
            "spec": {"group": "example.com", "scope": "Namespaced",
                     "names": {"plural": "things", "singular": "thing", "kind": "Thing"},
                     "versions": [{"name": "v1", "served": True, "storage": True, "subresources": {"status": {}},
                                   "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                                       "spec": {"type": "object", "x-kubernetes-validations": rules,
                                                "properties": {"size": {"type": field_type}, "note": {"type": "string"}}},
                                       "status": {"type": "object", "properties": {"seen": {"type": "string"}}}}}}}]}}


THINGS = "/apis/example.com/v1/namespaces/hello/things"


def _thing(size="big", note="n"):
    return {"apiVersion": "example.com/v1", "kind": "Thing", "metadata": {"name": "t", "namespace": "hello"},
            "spec": {"size": size, "note": note}}


@pytest.mark.parametrize("rule, expected_status, message", [
    ({"rule": "self.size == 'small'", "message": "  size must be small  "}, 422, 'Invalid value: "object": size must be small'),
    ({"rule": "self.size == 'small'"}, 422, "Invalid value: \"object\": failed rule: self.size == 'small'"),
    ({"rule": "self.size == 'small'", "messageExpression": "'size ' + self.size + ' is not small'"}, 422,
     'Invalid value: "object": size big is not small'),
    ({"rule": "self.missing == 'x'", "message": "m"}, 422, 'Invalid value: "object": no such key: missing evaluating rule: m'),
    ({"rule": "self.size.split('i')[0] == 'b' && self.size.substring(1) == 'ig'"}, 201, None),
    ({"rule": "isURL('https://example.com/x') && url('oci://r/x').getScheme() == 'oci' && !isURL('x')"}, 201, None),
])
def test_rule_outcomes_and_messages(cluster, rule, expected_status, message):
    cluster.put(_own_crd([rule]))
    cluster.seed_namespace("hello")
    status, doc = call(cluster, "POST", THINGS, _thing())
    assert status == expected_status, doc
    if message:
        assert doc["details"]["causes"] == [{"reason": "FieldValueInvalid", "field": "spec", "message": message}]


def test_a_rule_the_evaluator_cannot_run_is_a_500_naming_it(cluster):
    cluster.put(_own_crd([{"rule": "quantity(self.size).isGreaterThan(quantity('1'))"}]))
    cluster.seed_namespace("hello")
    status, doc = call(cluster, "POST", THINGS, _thing(size="2"))
    assert status == 500 and doc["reason"] == "InternalError", doc
    assert "quantity(self.size).isGreaterThan(quantity('1'))" in doc["message"] and "quantity" in doc["message"]


def test_ratcheting_keeps_stored_objects_writable(cluster):
    """An object stored before a rule existed: status and metadata writes pass (the unchanged spec is
    ratcheted), a spec change must satisfy the rule."""
    cluster.put(_own_crd([]))
    cluster.seed_namespace("hello")
    status, _ = call(cluster, "POST", THINGS, _thing(size="big"))
    assert status == 201
    crd = copy.deepcopy(cluster.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", "things.example.com"))
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["x-kubernetes-validations"] = [
        {"rule": "self.size == 'small'", "message": "size must be small"}]
    crd.pop("status")
    cluster.put(crd)
    status, doc = call(cluster, "PATCH", f"{THINGS}/t/status", {"status": {"seen": "yes"}}, "application/merge-patch+json")
    assert status == 200, doc
    status, doc = call(cluster, "PATCH", f"{THINGS}/t", {"metadata": {"labels": {"a": "b"}}}, "application/merge-patch+json")
    assert status == 200, doc
    status, doc = call(cluster, "PATCH", f"{THINGS}/t", {"spec": {"note": "changed"}}, "application/merge-patch+json")
    assert status == 422 and "size must be small" in doc["message"], doc
    status, doc = call(cluster, "PATCH", f"{THINGS}/t", {"spec": {"size": "small"}}, "application/merge-patch+json")
    assert status == 200, doc
