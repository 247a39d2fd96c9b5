"""What `istioctl install` (and a Helm install) puts in a cluster, built from Istio 1.30.3's own
rendered files in embedded_cluster/data/istio-1.30.3/rendered/ (`istioctl manifest generate` output, unmodified),
changed only where a real install differs from that test rendering: version, image, revision names.

Shared by the fake istioctl and by the tests' seed_istio, so both show a cluster the real labels.
Every change is cited next to it; where the truth is not known the code raises instead of guessing.
"""

import copy
import pathlib

import yaml

RENDERED = pathlib.Path(__file__).resolve().parents[1] / "data" / "istio-1.30.3" / "rendered"
NAMESPACE = "istio-system"

# operator/pkg/manifest/name.go
MANAGED = "operator.istio.io/managed"
VERSION = "operator.istio.io/version"
COMPONENT = "operator.istio.io/component"
OWNER_NAME = "install.operator.istio.io/owning-resource"
OWNER_NAMESPACE = "install.operator.istio.io/owning-resource-namespace"
NOT_PRUNED = "install.operator.istio.io/owning-resource-not-pruned"
REV = "istio.io/rev"
TAG = "istio.io/tag"

# The objects of the istiod chart the fake applies (the rest of pilot_default: RBAC, ConfigMaps, HPA,
# are not read by the collection). operator/pkg/component/component.go: Pilot, Cni, Ztunnel.
PILOT_KINDS = ("ServiceAccount", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "Deployment",
               "Service")


def golden(name):
    """The documents of rendered/<name>.golden.yaml, read at each call (never a cached copy)."""
    return [d for d in yaml.safe_load_all((RENDERED / f"{name}.golden.yaml").read_text()) if d]


def owner_labels(version, revision, component=None):
    """operator/pkg/install/install.go getOwnerLabels: what istioctl install sets on every object it
    applies. The IstioOperator of `istioctl install --set profile=...` has no metadata.name (so no
    owning-resource label) and metadata.namespace istio-system (manifests/profiles/default.yaml)."""
    labels = {MANAGED: "Reconcile", VERSION: version, OWNER_NAMESPACE: NAMESPACE, REV: revision or "default"}
    if component:
        labels[COMPONENT] = component
    return labels


def suffix(revision):
    """Chart names: `istiod{{- if not (eq .Values.revision "") }}-{{ .Values.revision }}{{- end }}`
    (manifests/charts/istio-control/istio-discovery/templates/*.yaml); istioctl passes no revision
    value for the default revision."""
    return "" if revision in (None, "", "default") else f"-{revision}"


def _release_labels(obj, chart, version):
    """The golden files come from test charts of version 1.0.0; a release's charts carry the Istio
    version (manifests/charts/*/Chart.yaml: "istio/release-builder will replace it at build-time")."""
    for labels in (obj["metadata"].get("labels") or {},
                   ((obj.get("spec") or {}).get("template") or {}).get("metadata", {}).get("labels") or {}):
        if "app.kubernetes.io/version" in labels:
            labels["app.kubernetes.io/version"] = version
        if "helm.sh/chart" in labels:
            labels["helm.sh/chart"] = f"{chart}-{version}"


def _image(obj, hub, name, version, variant):
    """`{{ hub }}/{{ image }}:{{ tag }}{{with variant}}-{{.}}{{end}}` (the three charts' templates);
    the ambient profile sets global.variant: distroless (manifests/helm-profiles/ambient.yaml)."""
    containers = obj["spec"]["template"]["spec"]["containers"]
    if len(containers) != 1:
        raise AssertionError(f"{obj['metadata']['name']}: expected one container in the golden file")
    containers[0]["image"] = f"{hub}/{name}:{version}" + (f"-{variant}" if variant else "")
    return containers[0]


def _set_env(container, name, value):
    env = container.setdefault("env", [])
    for item in env:
        if item.get("name") == name:
            item.clear()
            item.update({"name": name, "value": value})
            return
    env.append({"name": name, "value": value})


def _rev_values(selector, old, new):
    for expr in (selector or {}).get("matchExpressions") or []:
        if expr.get("key") == REV and expr.get("values") == [old]:
            expr["values"] = [new]


def _one(docs, kind, name=None):
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    if len(found) != 1:
        raise AssertionError(f"expected one {kind} {name or ''} in the golden file, found {len(found)}")
    return copy.deepcopy(found[0])


def pilot(version, revision, hub, variant, env=()):
    """istiod's Deployment, Service, ServiceAccount and webhooks from pilot_default.golden.yaml (the
    unrevisioned chart render), renamed for a revision as the istio-discovery templates name them."""
    docs = golden("pilot_default")
    rev = revision or "default"
    sfx = suffix(revision)
    out = []
    for kind in PILOT_KINDS:
        obj = _one(docs, kind)
        _release_labels(obj, "istiod", version)
        meta = obj["metadata"]
        if meta.get("labels", {}).get(REV) is not None:
            meta["labels"][REV] = rev  # `istio.io/rev: {{ .Values.revision | default "default" }}`
        if kind in ("ServiceAccount", "Deployment", "Service"):
            meta["name"] = f"istiod{sfx}"
        if kind == "Deployment":
            spec = obj["spec"]
            if sfx:  # templates/deployment.yaml: selector and pod labels of a revision
                spec["selector"]["matchLabels"] = {"app": "istiod", REV: rev}
                spec["template"]["metadata"]["labels"].update({REV: rev, "istio": "istiod"})
            spec["template"]["spec"]["serviceAccountName"] = f"istiod{sfx}"
            container = _image(obj, hub, "pilot", version, variant)
            _set_env(container, "REVISION", rev)
            for name, value in env:
                _set_env(container, name, value)
        if kind == "Service" and sfx:  # templates/service.yaml
            obj["spec"]["selector"] = {"app": "istiod", REV: rev}
        if kind == "MutatingWebhookConfiguration":  # templates/mutatingwebhook.yaml
            meta["name"] = f"istio-sidecar-injector{sfx}"
            if sfx:  # the namespace./object. webhooks exist only for the default revision
                obj["webhooks"] = [w for w in obj["webhooks"] if w["name"].startswith("rev.")]
        if kind == "ValidatingWebhookConfiguration":  # templates/validatingwebhookconfiguration.yaml
            meta["name"] = f"istio-validator{sfx}-{NAMESPACE}"
        for hook in obj.get("webhooks") or []:
            if "service" in hook["clientConfig"]:
                hook["clientConfig"]["service"]["name"] = f"istiod{sfx}"
            _rev_values(hook.get("namespaceSelector"), "default", rev)
            _rev_values(hook.get("objectSelector"), "default", rev)
        out.append(obj)
    return out


def ztunnel(version, revision, hub, variant):
    """ztunnel.golden.yaml. templates/daemonset.yaml: a revision is an *annotation* istio.io/rev and
    the istiod address istiod-<revision> (values.yaml caAddress/xdsAddress defaults)."""
    obj = _one(golden("ztunnel"), "DaemonSet")
    _release_labels(obj, "ztunnel", version)
    container = _image(obj, hub, "ztunnel", version, variant)
    if suffix(revision):
        obj["metadata"].setdefault("annotations", {})[REV] = revision
        obj["spec"]["template"]["metadata"].setdefault("annotations", {})[REV] = revision
        for name in ("CA_ADDRESS", "XDS_ADDRESS"):
            _set_env(container, name, f"istiod{suffix(revision)}.{NAMESPACE}.svc:15012")
    return obj


def cni(version, revision, hub, variant):
    """istio-cni.golden.yaml; templates/daemonset.yaml labels istio.io/rev (default "default")."""
    obj = _one(golden("istio-cni"), "DaemonSet")
    _release_labels(obj, "cni", version)
    obj["metadata"]["labels"][REV] = revision or "default"
    _image(obj, hub, "install-cni", version, variant)
    return obj


def components(profile, version, revision, hub="docker.io/istio", env=()):
    """[(component, object)] of an install: Pilot, and for the ambient profile Cni and Ztunnel
    (manifests/profiles/ambient.yaml enables them; helm-profiles/ambient.yaml sets the distroless
    variant and PILOT_ENABLE_AMBIENT)."""
    if profile not in ("ambient", "default", "minimal"):
        raise NotImplementedError(f"the fake knows the ambient, default and minimal profiles, not {profile!r}")
    variant = "distroless" if profile == "ambient" else ""
    env = list(env)
    if profile == "ambient":
        env.insert(0, ("PILOT_ENABLE_AMBIENT", "true"))
    out = [("Pilot", o) for o in pilot(version, revision, hub, variant, env)]
    if profile == "ambient":
        out += [("Cni", cni(version, revision, hub, variant)), ("Ztunnel", ztunnel(version, revision, hub, variant))]
    return out


def istioctl_install(profile, version, revision, hub="docker.io/istio", env=()):
    """The objects as istioctl install applies them: the chart render plus the owner labels
    (operator/pkg/install/install.go applyManifestSet -> applyLabelsAndAnnotations)."""
    out = []
    for component, obj in components(profile, version, revision, hub, env):
        obj["metadata"].setdefault("labels", {}).update(owner_labels(version, revision, component))
        out.append(obj)
    return out


def helm_install(profile, version, revision, hub="docker.io/istio"):
    """The same objects as the charts render them through Helm: no istioctl owner labels."""
    return [obj for _component, obj in components(profile, version, revision, hub)]


# ---- revision tags (istioctl/pkg/tag/generate.go) ------------------------------------------------
def tag_webhook(tag, revision, version):
    """MutatingWebhookConfiguration istio-revision-tag-<tag>, as templates/revision-tags-mwc.yaml
    renders it ("Adapted from istio-discovery/templates/mutatingwebhook.yaml"): built from the golden
    sidecar-injector, selectors on the tag, the namespace./object. webhooks only for the tag default."""
    hook = _one(golden("pilot_default"), "MutatingWebhookConfiguration")
    _release_labels(hook, "istiod", version)
    hook["metadata"]["name"] = f"istio-revision-tag-{tag}"
    hook["metadata"]["labels"].update({TAG: tag, REV: revision})
    if tag != "default":
        hook["webhooks"] = [w for w in hook["webhooks"] if w["name"].startswith("rev.")]
    for w in hook["webhooks"]:
        w["clientConfig"]["service"]["name"] = f"istiod{suffix(revision)}"
        _rev_values(w.get("namespaceSelector"), "default", tag)
        _rev_values(w.get("objectSelector"), "default", tag)
    return hook


def tag_service(tag, revision, version):
    """Service istiod-revision-tag-<tag> (templates/revision-tags-svc.yaml, "Adapted from
    istio-discovery/templates/service.yaml"); tag generation always passes a revision, so the
    selector is app + istio.io/rev."""
    svc = _one(golden("pilot_default"), "Service")
    _release_labels(svc, "istiod", version)
    svc["metadata"]["name"] = f"istiod-revision-tag-{tag}"
    svc["metadata"]["labels"].update({TAG: tag, REV: revision})
    svc["spec"]["selector"] = {"app": "istiod", REV: revision}
    return svc


def default_validator(revision, version):
    """ValidatingWebhookConfiguration istiod-default-validator (manifests/charts/default/templates/
    validatingwebhook.yaml): created for the tag default only; built from the golden validator."""
    vwh = _one(golden("pilot_default"), "ValidatingWebhookConfiguration")
    _release_labels(vwh, "istiod", version)
    vwh["metadata"]["name"] = "istiod-default-validator"
    vwh["metadata"]["labels"].update({TAG: "default", REV: revision, COMPONENT: "Pilot"})
    for w in vwh["webhooks"]:
        w["name"] = "validation.istio.io"
        w["clientConfig"]["service"]["name"] = f"istiod{suffix(revision)}"
        w["objectSelector"] = {"matchExpressions": [{"key": REV, "operator": "DoesNotExist"}]}
    return vwh


def tag_objects(tag, revision, version, custom_labels=None, user_managed=True):
    """What `istioctl tag set` applies (generate.go Generate): the tag webhook, for the tag default the
    default validator, and the tag Service; generateLabels drops operator.istio.io labels when the tag
    is user managed (tag set) and adds the custom labels (install's own default tag)."""
    objs = [tag_webhook(tag, revision, version)]
    if tag == "default":
        objs.append(default_validator(revision, version))
    objs.append(tag_service(tag, revision, version))
    for obj in objs:
        labels = dict(obj["metadata"]["labels"], **(custom_labels or {}))
        if user_managed:
            labels = {k: v for k, v in labels.items() if "operator.istio.io" not in k}
        obj["metadata"]["labels"] = labels
    return objs


NEVER_MATCH = {"matchLabels": {"istio.io/deactivated": "never-match"}}  # istioctl/pkg/util NeverMatch
