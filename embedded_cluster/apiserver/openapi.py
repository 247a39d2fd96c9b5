"""The least of /openapi/v3 that kubectl needs to create and apply objects with validation on.

kubectl (k8s.io/kubectl) asks /openapi/v3 for the index of group-versions, then the group-version's
document, and looks for the PATCH operation whose x-kubernetes-group-version-kind is the object's
kind (k8s.io/cli-runtime/pkg/resource/query_param_verifier_v3.go, supportsQueryParamV3). When that
operation takes the `fieldValidation` query parameter, kubectl leaves validation to the server
(`?fieldValidation=Strict`, see server.py) instead of validating against the schemas itself; without
the document it refuses to run ("failed to download openapi") unless told --validate=false.

No component schemas are served: kubectl then builds client-side apply patches from its compiled-in
types (a strategic merge patch for built-in kinds, a JSON merge patch for custom resources), as it
does against any server whose OpenAPI lacks a kind. /openapi/v2 stays 404; kubectl 1.37 does not
need it once v3 answers.
"""

import hashlib
import json

_PARAMS = [{"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
           for name in ("dryRun", "fieldManager", "fieldValidation")]


def _gv_path(group, version):
    return f"api/{version}" if not group else f"apis/{group}/{version}"


def document(catalog, group, version, kubernetes_version):
    """The OpenAPI v3 document of one group-version: its resources' paths and operations."""
    paths = {}
    for res in sorted(catalog.in_group_version(group, version), key=lambda r: r.plural):
        gvk = {"group": group, "version": version, "kind": res.kind}
        base = f"/{_gv_path(group, version)}/" + ("namespaces/{namespace}/" if res.namespaced else "")
        collection, item = base + res.plural, base + res.plural + "/{name}"
        operation = {"x-kubernetes-group-version-kind": gvk, "parameters": _PARAMS,
                     "responses": {"200": {"description": "OK"}}}
        paths[collection] = {"post": dict(operation, operationId=f"create{res.kind}", **{"x-kubernetes-action": "post"}),
                             "get": dict(operation, operationId=f"list{res.kind}", **{"x-kubernetes-action": "list"})}
        paths[item] = {verb: dict(operation, operationId=f"{verb}{res.kind}", **{"x-kubernetes-action": action})
                       for verb, action in (("get", "get"), ("put", "put"), ("patch", "patch"), ("delete", "delete"))}
        if res.status_subresource:
            paths[item + "/status"] = {verb: dict(operation, operationId=f"{verb}{res.kind}Status",
                                                  **{"x-kubernetes-action": action})
                                       for verb, action in (("get", "get"), ("put", "put"), ("patch", "patch"))}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": kubernetes_version},
            "paths": paths, "components": {"schemas": {}}}


def index(catalog, kubernetes_version):
    """/openapi/v3: each group-version and where its document is (with a hash, as kube-apiserver
    gives one so that clients may cache the document)."""
    out = {}
    for group, versions in catalog.groups().items():
        for version in versions:
            doc = document(catalog, group, version, kubernetes_version)
            digest = hashlib.sha512(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:128].upper()
            out[_gv_path(group, version)] = {"serverRelativeURL": f"/openapi/v3/{_gv_path(group, version)}?hash={digest}"}
    return {"paths": out}
