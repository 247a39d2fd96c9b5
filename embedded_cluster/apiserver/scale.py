"""The scale subresource of Deployments, ReplicaSets and StatefulSets (`.../deployments/<name>/scale`), as
kube-apiserver serves it (Kubernetes 1.34, k8s.io/kubernetes):

- pkg/registry/apps/deployment/storage/storage.go (the same in replicaset/ and statefulset/): GET answers
  scaleFromDeployment - an autoscaling/v1 Scale with the workload's name, namespace, uid, resourceVersion and
  creationTimestamp, spec.replicas, status.replicas and status.selector (the label selector as a string,
  metav1.LabelSelectorAsSelector(...).String()). PATCH and PUT go through scaleUpdatedObjectInfo: the old
  Scale, the request applied to it, ValidateScale (pkg/apis/autoscaling/validation: replicas >= 0), a uid in
  the request must be the workload's (a Conflict otherwise), then spec.replicas and the resourceVersion
  move to the workload, which is stored as any update (its own resourceVersion precondition, its generation,
  its controller). The answer is the Scale of the stored workload.
- k8s.io/api autoscaling/v1 types.go: spec.replicas is omitempty (0 is left out), status.replicas is not.
- Discovery lists `<plural>/scale` with group autoscaling, version v1, kind Scale and verbs get, patch, update.
"""

SCALED = {("apps", "deployments"), ("apps", "replicasets"), ("apps", "statefulsets")}
VERBS = ("get", "patch", "update")


def discovery_entry(res):
    return {"name": f"{res.plural}/scale", "singularName": "", "namespaced": True, "group": "autoscaling",
            "version": "v1", "kind": "Scale", "verbs": list(VERBS)}


def served(res):
    return not res.crd_name and (res.group, res.plural) in SCALED


def selector_string(selector):
    """apimachinery labels: LabelSelectorAsSelector(...).String() - requirements sorted by key, joined by ","
    (matchLabels as `k=v`; In/NotIn as `k in (a,b)` with sorted values; Exists `k`; DoesNotExist `!k`)."""
    requirements = [(k, f"{k}={v}") for k, v in ((selector or {}).get("matchLabels") or {}).items()]
    for expr in (selector or {}).get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], sorted(expr.get("values") or [])
        text = {"In": f"{key} in ({','.join(values)})", "NotIn": f"{key} notin ({','.join(values)})",
                "Exists": key, "DoesNotExist": f"!{key}"}[op]
        requirements.append((key, text))
    return ",".join(text for _key, text in sorted(requirements, key=lambda r: r[0]))


def scale_of(obj):
    """scaleFromDeployment: the Scale a workload shows."""
    meta = obj["metadata"]
    spec = {}
    replicas = (obj.get("spec") or {}).get("replicas")
    if replicas:
        spec["replicas"] = replicas
    status = {"replicas": (obj.get("status") or {}).get("replicas", 0)}
    selector = selector_string((obj.get("spec") or {}).get("selector"))
    if selector:
        status["selector"] = selector
    return {"kind": "Scale", "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                         if k in meta},
            "spec": spec, "status": status}


def problems(scale):
    """ValidateScale's check of the replicas: [(field, message)]."""
    replicas = (scale.get("spec") or {}).get("replicas", 0)
    if not isinstance(replicas, int) or isinstance(replicas, bool):
        # kube-apiserver refuses it earlier, when it decodes the request (an int32 field); its decoder's words are
        # not reproduced here, and this says so rather than imitate them
        return [("spec.replicas", f"{replicas!r} is not an integer (not simulated: kube-apiserver's decoding error)")]
    if replicas < 0:
        return [("spec.replicas", f"Invalid value: {replicas}: must be greater than or equal to 0")]
    return []


def updated_workload(obj, scale):
    """scaleUpdatedObjectInfo.UpdatedObject: the workload with the Scale's replicas and resourceVersion (the
    store then checks that resourceVersion against the stored one)."""
    new = {**obj, "metadata": dict(obj["metadata"]), "spec": dict(obj.get("spec") or {})}
    new["spec"]["replicas"] = (scale.get("spec") or {}).get("replicas", 0)
    rv = (scale.get("metadata") or {}).get("resourceVersion")
    if rv:
        new["metadata"]["resourceVersion"] = rv
    return new
