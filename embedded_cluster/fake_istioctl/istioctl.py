"""A fake istioctl for the tests: the subcommands the collection uses, as Istio 1.30.3's istioctl
behaves (the source is cited next to each behaviour; the objects come from embedded_cluster/data/istio-1.30.3).

    version [--remote=false] -o json      clientVersion (and meshVersion from the cluster)
    install [-y] [--set k=v]... [-f F]... [--revision R]
                                           prompts without -y (no answer: exit 1); applies the objects of
                                           rendered/*.golden.yaml with istioctl's owner labels, by
                                           server-side apply (field manager istio-operator), prunes, then
                                           creates the default revision tag when istioctl would
    manifest generate [--set ...]          the chart render (no owner labels), as YAML, without the cluster
    x precheck -o json                     Warning and above on stdout (nothing when clean), exit 1 on them
    uninstall [--purge] [--revision R] [-f F] [-y]
                                           prunes what istioctl prunes (operator/pkg/uninstall/prune.go),
                                           each object deleted in the foreground, as istioctl does, so
                                           workloads stay (terminating) for set_termination_delay
    tag set T --revision R [--overwrite] [-y]
                                           istioctl/pkg/tag: needs the revision's webhook or Service; a
                                           webhook overlap asks "Apply anyways? [y/N]" unless -y, and
                                           with no answer exits 0 without applying
    tag list -o json

Configured by FAKE_ISTIOCTL_HOME/config.json (version, failures, precheck messages, hangs); every
invocation is appended to FAKE_ISTIOCTL_HOME/invocations.jsonl, with the mode of the kubeconfig file
it was given and of that file's directory. `"hang": {"install": {"child": true, "ignore_term": true}}`
makes a subcommand (the first word: install, version, tag, ...) hang before it does anything, as an
istioctl waiting on a dead webhook does: it sleeps forever, optionally with a child process of its own
(`child`) and ignoring SIGTERM (`ignore_term`); the pids go to FAKE_ISTIOCTL_HOME/hung.jsonl so a test
can check that nothing of it survived.
"""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import yaml

import rendered  # embedded_cluster/fake_istioctl/rendered.py: the script's own directory is on sys.path

HOME = pathlib.Path(os.environ.get("FAKE_ISTIOCTL_HOME", "."))
CONFIG = json.loads((HOME / "config.json").read_text()) if (HOME / "config.json").exists() else {}
VERSION = CONFIG.get("version", "1.30.3")
MANAGER = "istio-operator"  # operator/pkg/install/install.go serverSideApply
TAG_MANAGER = "istio-ci"  # pkg/kube/client.go ssapplyYAML, used by istioctl tag set (generate.go Create)
# what `istioctl install` creates first (embedded_cluster/data/crds: upstream Istio 1.30.3, unmodified)
ISTIO_CRDS = pathlib.Path(__file__).resolve().parents[1] / "data" / "crds" / "istio-1.30.3-crds.yaml"
KNOWN_SET_ROOTS = ("profile", "revision", "values", "components", "meshConfig", "hub", "tag")
HOOKS = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"
VHOOKS = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"


class Fail(Exception):
    def __init__(self, message, rc=1):
        super().__init__(message)
        self.rc = rc


# ---- arguments ------------------------------------------------------------------------------
BOOL_FLAGS = {"-y": "yes", "--skip-confirmation": "yes", "--purge": "purge", "--overwrite": "overwrite",
              "--force": "force", "-v": "verbose", "--verbose": "verbose", "--dry-run": "dry_run"}
VALUE_FLAGS = {"-s": "set", "--set": "set", "-f": "files", "--filename": "files", "-o": "output", "--output": "output",
               "-c": "kubeconfig", "--kubeconfig": "kubeconfig", "--context": "context", "-r": "revision",
               "--revision": "revision", "-d": "manifests", "--manifests": "manifests", "--remote": "remote",
               "--readiness-timeout": "ignored", "--webhook-name": "webhook_name", "--output-threshold": "ignored",
               "-i": "istio_namespace", "--istioNamespace": "istio_namespace"}


def parse(argv):
    opts = {"set": [], "files": [], "yes": False, "output": None, "kubeconfig": None, "context": None,
            "revision": None, "purge": False, "overwrite": False, "force": False, "verbose": False,
            "dry_run": False, "remote": "true", "webhook_name": None, "positional": []}
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, has_value, inline = arg.partition("=")
        if arg == "--":  # pflag v1.0.10 flag.go parseArgs: "--" terminates the flags
            opts["positional"].extend(argv[i + 1:])
            break
        if name in BOOL_FLAGS:
            opts[BOOL_FLAGS[name]] = (inline.lower() != "false") if has_value else True
        elif name in VALUE_FLAGS:
            if not has_value:
                i += 1
                if i >= len(argv):
                    raise Fail(f"Error: flag needs an argument: {name}")
                inline = argv[i]
            key = VALUE_FLAGS[name]
            if key in ("set", "files"):
                opts[key].append(inline)
            else:
                opts[key] = inline
        elif arg.startswith("-"):
            raise Fail(f"Error: unknown flag: {name}")
        else:
            opts["positional"].append(arg)
        i += 1
    opts["remote"] = str(opts["remote"]).lower() != "false"
    for item in opts["set"]:
        key = item.split("=", 1)[0]
        if "=" not in item or key.split(".")[0] not in KNOWN_SET_ROOTS:
            raise Fail(f'Error: generate config: unknown field "{key}" in IstioOperator spec')
    return opts


def setting(opts, key, default=None):
    for item in opts["set"]:
        k, _, v = item.partition("=")
        if k == key:
            return v
    for path in opts["files"]:
        doc = yaml.safe_load(pathlib.Path(path).read_text()) or {}
        node = doc.get("spec", {})
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            return node
    return default


def install_revision(opts):
    """--revision, or --set revision= (operator/cmd/mesh/shared.go applyFlagAliases); "" is the default."""
    rev = setting(opts, "revision") or opts["revision"] or ""
    return "" if rev == "default" else rev


# ---- the cluster ----------------------------------------------------------------------------
# kind -> (group/version, plural, namespaced)
KINDS = {
    "Namespace": ("v1", "namespaces", False), "Deployment": ("apps/v1", "deployments", True),
    "DaemonSet": ("apps/v1", "daemonsets", True), "Service": ("v1", "services", True),
    "ConfigMap": ("v1", "configmaps", True), "Pod": ("v1", "pods", True), "Secret": ("v1", "secrets", True),
    "ServiceAccount": ("v1", "serviceaccounts", True),
    "RoleBinding": ("rbac.authorization.k8s.io/v1", "rolebindings", True),
    "Role": ("rbac.authorization.k8s.io/v1", "roles", True),
    "PodDisruptionBudget": ("policy/v1", "poddisruptionbudgets", True),
    "HorizontalPodAutoscaler": ("autoscaling/v2", "horizontalpodautoscalers", True),
    "EnvoyFilter": ("networking.istio.io/v1alpha3", "envoyfilters", True),
    "MutatingWebhookConfiguration": ("admissionregistration.k8s.io/v1", "mutatingwebhookconfigurations", False),
    "ValidatingWebhookConfiguration": ("admissionregistration.k8s.io/v1", "validatingwebhookconfigurations", False),
    "ClusterRole": ("rbac.authorization.k8s.io/v1", "clusterroles", False),
    "ClusterRoleBinding": ("rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    "CustomResourceDefinition": ("apiextensions.k8s.io/v1", "customresourcedefinitions", False),
    "NetworkAttachmentDefinition": ("k8s.cni.cncf.io/v1", "network-attachment-definitions", True),
}
# operator/pkg/uninstall/prune.go: NamespacedResources, ClusterCPResources, AllClusterResources
NAMESPACED_RESOURCES = ("Deployment", "DaemonSet", "Service", "ConfigMap", "Pod", "Secret", "ServiceAccount",
                        "RoleBinding", "Role", "PodDisruptionBudget", "HorizontalPodAutoscaler", "EnvoyFilter")
CLUSTER_CP_RESOURCES = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "ClusterRole",
                        "ClusterRoleBinding")
ALL_CLUSTER_RESOURCES = CLUSTER_CP_RESOURCES + ("CustomResourceDefinition", "NetworkAttachmentDefinition")
# operator/pkg/uninstall/prune.go GetPrunedResources: a revision's uninstall keeps base and unknown components
REVISION_PRUNED_COMPONENTS = ("Pilot", "IngressGateways", "EgressGateways", "Cni", "Ztunnel")


def collection_path(kind, namespace=None):
    group_version, plural, namespaced = KINDS[kind]
    base = f"/apis/{group_version}" if "/" in group_version else f"/api/{group_version}"
    return f"{base}/namespaces/{namespace}/{plural}" if namespaced and namespace else f"{base}/{plural}"


class Kube:
    def __init__(self, opts):
        path = opts["kubeconfig"] or os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
        try:
            config = yaml.safe_load(pathlib.Path(path).read_text())
        except OSError as exc:
            raise Fail(f"Error: failed to load kubeconfig {path}: {exc}") from exc
        context_name = opts["context"] or config.get("current-context")
        contexts = {c["name"]: c["context"] for c in config.get("contexts", [])}
        if context_name not in contexts:
            raise Fail(f'Error: context "{context_name}" does not exist')
        clusters = {c["name"]: c["cluster"] for c in config.get("clusters", [])}
        self.server = clusters[contexts[context_name]["cluster"]]["server"]

    def call(self, method, path, body=None, ctype="application/json", query=""):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.server + path + query, data=data, method=method,
                                     headers={"Content-Type": ctype})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as err:
            if err.code == 404 and method in ("GET", "DELETE"):
                return None  # a kind the cluster does not serve, or an object already gone
            raise Fail(f"Error: {method} {path}: {err.code} {err.read().decode()[:300]}") from err
        except urllib.error.URLError as exc:
            raise Fail(f"Error: failed to connect to the cluster {self.server}: {exc.reason}") from exc

    def path(self, obj):
        return f"{collection_path(obj['kind'], obj['metadata'].get('namespace'))}/{obj['metadata']['name']}"

    def apply(self, obj, manager=MANAGER):
        return self.call("PATCH", self.path(obj), obj, "application/apply-patch+yaml",
                         f"?fieldManager={manager}&force=true")

    def update(self, obj):
        return self.call("PUT", self.path(obj), obj)

    def get(self, kind, name, namespace=None):
        return self.call("GET", f"{collection_path(kind, namespace)}/{name}")

    def delete(self, obj):
        """operator/pkg/uninstall/prune.go DeleteResource: propagation Foreground, a missing object is fine."""
        return self.call("DELETE", self.path(obj), query="?propagationPolicy=Foreground")

    def items(self, path, selector=None):
        query = "?labelSelector=" + urllib.request.quote(selector) if selector else ""
        doc = self.call("GET", path, query=query)
        return (doc or {}).get("items", [])

    def of_kind(self, kind, selector=None, namespace=None):
        return [dict(o, kind=kind) for o in self.items(collection_path(kind, namespace), selector)]


# ---- what an install applies ------------------------------------------------------------------
def profile_of(opts):
    return setting(opts, "profile", "default")


def install_env(opts):
    return [(item.partition("=")[0].rsplit(".", 1)[1], item.partition("=")[2]) for item in opts["set"]
            if item.startswith("values.pilot.env.")]


def crds():
    crds_file = pathlib.Path(CONFIG.get("crds", ISTIO_CRDS))
    return [d for d in yaml.safe_load_all(crds_file.read_text()) if d and d.get("kind") == "CustomResourceDefinition"]


def manifests(opts, with_owner_labels):
    """(component, object) of an install. With owner labels: as `istioctl install` applies them
    (operator/pkg/install/install.go applyManifestSet); without: as `istioctl manifest generate` prints."""
    profile, revision = profile_of(opts), install_revision(opts)
    version = setting(opts, "tag", VERSION)
    hub = setting(opts, "hub", "docker.io/istio")
    try:
        objects = rendered.components(profile, version, revision, hub, install_env(opts))
    except NotImplementedError as exc:
        raise Fail(f"Error: {exc}") from exc
    out = [("Base", crd) for crd in crds()] + objects
    if with_owner_labels:
        for component, obj in out:
            obj["metadata"].setdefault("labels", {}).update(rendered.owner_labels(version, revision, component))
    return out


# ---- subcommands ------------------------------------------------------------------------------
def confirm(question):
    """operator/cmd/mesh/shared.go Confirm: prints the question, reads a line; no answer is no."""
    sys.stdout.write(question + " ")
    sys.stdout.flush()
    answer = sys.stdin.readline().strip().upper()
    return answer in ("Y", "YES")


def injected_failure(command):
    failure = CONFIG.get("fail", {}).get(command)
    if failure:
        raise Fail(failure.get("stderr", f"Error: {command} failed"), rc=failure.get("rc", 1))


def hang(command):
    """Sleep forever (see the module docstring), recording the pids of what hangs."""
    spec = CONFIG.get("hang", {}).get(command)
    if spec is None:
        return
    if spec.get("ignore_term"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    pids = [os.getpid()]
    if spec.get("child"):
        # a child of its own that ignores SIGTERM too when asked (preexec: signal dispositions survive exec)
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
        pids.append(child.pid)
    with open(HOME / "hung.jsonl", "a", encoding="utf-8") as log:
        log.write(json.dumps({"command": command, "pids": pids}) + "\n")
    while True:
        time.sleep(1)


def file_modes(opts):
    """The modes of the kubeconfig istioctl was given and of its directory, as octal strings."""
    path = opts["kubeconfig"]
    if not path or not os.path.exists(path):
        return {}
    return {"kubeconfig": path, "kubeconfig_mode": oct(os.stat(path).st_mode & 0o777),
            "kubeconfig_dir_mode": oct(os.stat(os.path.dirname(path)).st_mode & 0o777)}


def cmd_version(opts):
    client = {"version": VERSION, "revision": "fake", "golang_version": "go1.24.4", "status": "Clean", "tag": VERSION}
    doc = {"clientVersion": client}
    if opts["remote"]:
        kube = Kube(opts)
        doc["meshVersion"] = [
            {"Component": "istiod", "Revision": d["metadata"]["labels"].get("istio.io/rev", "default"),
             "Info": {"version": d["metadata"]["labels"].get(rendered.VERSION)}}
            for d in kube.of_kind("Deployment", "app=istiod")]
    if opts["output"] == "json":
        print(json.dumps(doc, indent=2))
    else:
        print(f"client version: {VERSION}")


def cmd_install(opts):
    docs = manifests(opts, with_owner_labels=True)  # validates --set before anything else
    kube = Kube(opts)
    profile = profile_of(opts)
    # operator/cmd/mesh/install.go: "This will install the Istio %s profile %q into the cluster. Proceed? (y/N)"
    if not opts["yes"] and not confirm(f'This will install the Istio {VERSION} profile "{profile}" into the cluster. '
                                       "Proceed? (y/N)"):
        print("Cancelled.")
        raise Fail("", rc=1)
    injected_failure("install")
    revision = install_revision(opts)
    version = setting(opts, "tag", VERSION)
    # install.go installSystemNamespace, then the components, then prune, then the default tag
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": rendered.NAMESPACE}})
    for _component, doc in docs:
        kube.apply(doc)
    prune_after_install(kube, docs, version, revision)
    for doc in webhooks_to_deploy(kube, revision, version):
        kube.apply(doc)
    print("✔ Istio core installed ⛵️")
    print("✔ Istiod installed 🧠")
    if profile == "ambient":
        print("✔ CNI installed 🪢")
        print("✔ Ztunnel installed 🔒")
    print("✔ Installation complete")


def prune_after_install(kube, docs, version, revision):
    """install.go prune: objects with this install's owner labels (version and revision included) and
    a component label that the install did not apply, unless marked owning-resource-not-pruned."""
    applied = {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]) for _c, d in docs}
    core = rendered.owner_labels(version, revision)
    selector = ",".join(f"{k}={v}" for k, v in sorted(core.items())) + f",{rendered.COMPONENT}"
    for kind in NAMESPACED_RESOURCES + CLUSTER_CP_RESOURCES:
        for obj in kube.of_kind(kind, selector):
            meta = obj["metadata"]
            if (kind, meta.get("namespace"), meta["name"]) in applied:
                continue
            if meta.get("labels", {}).get(rendered.NOT_PRUNED) == "true":
                continue
            kube.delete(obj)


def webhooks_to_deploy(kube, revision, version):
    """operator/pkg/webhook/webhook.go WebhooksToDeploy: the tag default for this revision when no
    default tag exists yet (PreviousInstallExists) or this is the default revision."""
    exists = bool(kube.of_kind("MutatingWebhookConfiguration", "app=sidecar-injector,istio.io/tag=default"))
    if exists and revision:
        return []
    labels = dict(rendered.owner_labels(version, revision), **{rendered.NOT_PRUNED: "true"})
    try:
        return generate_tag(kube, "default", revision or "default", overwrite=True, custom_labels=labels,
                            user_managed=False)
    except Fail:
        return []  # WebhooksToDeploy: an error of Generate means no webhooks


def cmd_manifest(opts):
    if opts["positional"][1:2] != ["generate"]:
        raise Fail("Error: unknown command for manifest")
    injected_failure("manifest")
    print(yaml.safe_dump_all([d for _c, d in manifests(opts, with_owner_labels=False)]))


def cmd_precheck(opts):
    """istioctl/pkg/precheck/precheck.go: messages at Warning and above go to stdout in the output
    format; none: a check mark on stderr only; exit 1 (an error) only when one is Warning or Error."""
    messages = CONFIG.get("precheck", [])
    shown = [m for m in messages if m.get("level") in ("Warning", "Error")]
    if not shown:
        sys.stderr.write("✔ No issues found when checking the cluster. Istio is safe to install or upgrade!\n"
                         "  To get started, check out https://istio.io/latest/docs/setup/getting-started/.\n")
        return
    if opts["output"] == "json":
        print(json.dumps(shown, indent=2))
    else:
        for m in shown:  # pkg/config/analysis/diag/message.go String
            print(f'{m["level"]} [{m["code"]}] ({m.get("origin", "")}) {m["message"]}')
    raise Fail("Error: Issues found when checking the cluster. Istio may not be safe to install or upgrade.\n"
               "See https://istio.io/v1.30/docs/reference/config/analysis for more information about causes and "
               "resolutions.")


def cmd_uninstall(opts):
    """operator/cmd/mesh/uninstall.go UninstallCmd/runUninstall and operator/pkg/uninstall/prune.go."""
    if not opts["revision"] and not setting(opts, "revision") and not opts["files"] and not opts["purge"]:
        raise Fail("Error: at least one of the --revision (or --set revision=<revision>), --filename or --purge "
                   "flags must be set")
    if len(opts["positional"]) > 1:
        raise Fail("Error: istioctl uninstall does not take arguments")
    kube = Kube(opts)
    revision = opts["revision"] or ""
    if revision:
        # tag.ListRevisionDescriptions: the revisions named by MutatingWebhookConfigurations (no label: default)
        revisions = {(h["metadata"].get("labels") or {}).get("istio.io/rev") or "default"
                     for h in kube.of_kind("MutatingWebhookConfiguration")}
        if revision not in revisions:
            raise Fail("Error: could not find target revision")
    if opts["purge"] and (revision or opts["files"]):
        print("Purge uninstall will remove all Istio resources, ignoring the specified revision or operator file")
    doomed = pruned_resources(kube, revision, opts["purge"])
    if not opts["purge"] and not doomed:
        print("No resources will be pruned from the cluster. Please double check the input configs")
        return
    # preCheckWarnings: a purge always asks; a revision asks only about proxies and gateways (the fake
    # has no proxies: it asks when a gateway Deployment would go)
    gateways = [o["metadata"]["name"] for o in doomed if o["kind"] == "Deployment" and "gateway" in o["metadata"]["name"]]
    message = "All Istio resources will be pruned from the cluster\n" if opts["purge"] else ""
    if gateways:
        message += (f"You are about to remove the following gateways: {', '.join(gateways)}. To avoid downtime, please "
                    "quit this command and reinstall the gateway(s) with a revision that is not being removed from the "
                    "cluster.\n")
    if message and not opts["yes"]:
        if not confirm(message + "Proceed? (y/N)"):
            print("Cancelled.")
            raise Fail("", rc=1)
    elif message:
        print(message, end="")
    injected_failure("uninstall")
    for obj in doomed:
        kube.delete(obj)
        print(f"  Removed {obj['kind']}/{obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}.")
    print("✔ Uninstall complete")


def pruned_resources(kube, revision, purge):
    """prune.go GetPrunedResources. A purge: every object of the listed kinds with a component label.
    A revision: istio.io/rev=<revision> and the IstioOperator's namespace (istio-system, from
    manifests/profiles/default.yaml, as no file is given) and a component of REVISION_PRUNED_COMPONENTS."""
    out = []
    if purge:
        kinds, selector = NAMESPACED_RESOURCES + ALL_CLUSTER_RESOURCES, rendered.COMPONENT
    else:
        labels = {rendered.REV: revision, rendered.OWNER_NAMESPACE: rendered.NAMESPACE} if revision else \
            {rendered.OWNER_NAMESPACE: rendered.NAMESPACE}
        kinds = NAMESPACED_RESOURCES + CLUSTER_CP_RESOURCES
        selector = ",".join(f"{k}={v}" for k, v in labels.items()) + \
            f",{rendered.COMPONENT} in ({','.join(REVISION_PRUNED_COMPONENTS)}),{rendered.COMPONENT}"
    for kind in kinds:
        out += kube.of_kind(kind, selector)
    return out


# ---- revision tags ------------------------------------------------------------------------------
def generate_tag(kube, tag, revision, overwrite, custom_labels=None, user_managed=True, deactivate=True):
    """istioctl/pkg/tag/generate.go Generate: the checks, in its order, then the objects to apply."""
    ns = rendered.NAMESPACE

    def services(selector):
        return kube.of_kind("Service", selector, ns)

    def hooks(selector):
        return kube.of_kind("MutatingWebhookConfiguration", selector)

    if not overwrite and tag != "default":  # checkTagNameCollidesWithRevisionName
        if hooks(f"istio.io/rev={tag},!istio.io/tag") or services(f"istio.io/rev={tag},!istio.io/tag,app=istiod"):
            raise Fail(f'Error: cannot create revision tag "{tag}": found existing control plane revision with same name')
    # checkControlPlaneExistenceOrDuplicate
    rev_services = services(f"istio.io/rev={revision},!istio.io/tag,app=istiod")
    rev_hooks = hooks(f"istio.io/rev={revision},!istio.io/tag")
    if len(rev_services) > 1:
        raise Fail(f'Error: cannot modify tag: found multiple canonical services with revision "{revision}" in '
                   f'namespace "{ns}"')
    if not rev_hooks and not rev_services:
        raise Fail(f'Error: cannot modify tag: cannot find MutatingWebhookConfiguration or Service with revision '
                   f'"{revision}"')
    if len(rev_hooks) > 1:
        raise Fail(f'Error: cannot modify tag: found multiple canonical webhooks or services with revision "{revision}"')
    if not rev_hooks:
        # generate.go returns &revWebhooks[0] here: istioctl 1.30.3 panics (index out of range)
        raise Fail("panic: runtime error: index out of range [0] with length 0", rc=2)
    if not overwrite and (services(f"istio.io/tag={tag}") or hooks(f"istio.io/tag={tag}")):  # checkTagDuplicate
        raise Fail(f'Error: revision tag "{tag}" already exists, and --overwrite is false')
    if tag == "default" and deactivate:
        deactivate_default_injection(kube)
    return rendered.tag_objects(tag, revision, VERSION, custom_labels, user_managed)


def deactivate_default_injection(kube):
    """istioctl/pkg/tag/util.go DeactivateIstioInjectionWebhook: the default revision's own webhook
    gets never-matching selectors (kept, so one can switch back)."""
    whs = kube.of_kind("MutatingWebhookConfiguration", "istio.io/rev=default,!istio.io/tag")
    if not whs:
        return
    if len(whs) > 1:
        raise Fail("Error: failed deactivating existing default revision: expected a single webhook for default revision")
    hook = whs[0]
    for w in hook.get("webhooks") or []:
        w["namespaceSelector"] = dict(rendered.NEVER_MATCH)
        w["objectSelector"] = dict(rendered.NEVER_MATCH)
    kube.update(hook)


def webhook_conflicts(kube, new_hook):
    """pkg/config/analysis/analyzers/webhook/webhook.go Analyzer, as istioctl tag set runs it
    (tag.go analyzeWebhook): the new tag webhook with the cluster's, Error messages on the new one."""
    name = new_hook["metadata"]["name"]
    configs = {h["metadata"]["name"]: h for h in kube.of_kind("MutatingWebhookConfiguration")}
    configs[name] = new_hook  # the file's version stands for the cluster's
    webhooks, revisions = {}, set()
    for cname, hook in configs.items():
        revs = webhook_revisions(hook)
        if not revs and not any(w["name"].endswith("istio.io") for w in hook.get("webhooks") or []):
            continue
        webhooks[cname] = hook.get("webhooks") or []
        revisions |= revs
    ns_labels = [{}, {"istio-injection": "enabled"}, {"istio-injection": "disabled"}]
    obj_labels = [{}, {"sidecar.istio.io/inject": "true"}, {"sidecar.istio.io/inject": "false"}]
    ns_labels += [dict(b, **{"istio.io/rev": r}) for r in sorted(revisions) for b in ns_labels[:3]]
    obj_labels += [dict(b, **{"istio.io/rev": r}) for r in sorted(revisions) for b in obj_labels[:3]]
    messages = set()
    for nl in ns_labels:
        for ol in obj_labels:
            matches = sorted(f"{c}/{w['name']}" for c, whs in webhooks.items() for w in whs
                             if selector_matches(w.get("namespaceSelector"), nl)
                             and selector_matches(w.get("objectSelector"), ol))
            if len(matches) > 1:
                for match in matches:
                    if match.startswith(name + "/"):
                        others = [m for m in matches if m != match]
                        messages.add(f"Error [IST0139] (MutatingWebhookConfiguration {name}) Webhook overlaps with "
                                     f"others: [{' '.join(others)}]. This may cause injection to occur twice.")
    for w in new_hook.get("webhooks") or []:
        svc = (w.get("clientConfig") or {}).get("service")
        if svc and kube.get("Service", svc["name"], svc["namespace"]) is None:
            messages.add(f"Error [IST0139] (MutatingWebhookConfiguration {name}) Injector refers to a control plane "
                         f"service that does not exist: {svc['namespace']}/{svc['name']}.")
    return sorted(messages)


def webhook_revisions(hook):
    revs = set()
    if "istio.io/rev" in (hook["metadata"].get("labels") or {}):
        revs.add(hook["metadata"]["labels"]["istio.io/rev"])
    for w in hook.get("webhooks") or []:
        for sel in (w.get("namespaceSelector"), w.get("objectSelector")):
            sel = sel or {}
            if "istio.io/rev" in (sel.get("matchLabels") or {}):
                revs.add(sel["matchLabels"]["istio.io/rev"])
            for expr in sel.get("matchExpressions") or []:
                if expr["key"] == "istio.io/rev":
                    revs.update(expr.get("values") or [])
    return revs


def selector_matches(selector, labels):
    """metav1.LabelSelectorAsSelector(...).Matches; a missing selector matches everything."""
    if selector is None:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def cmd_tag(opts):
    kube = Kube(opts)
    action = opts["positional"][1] if len(opts["positional"]) > 1 else None
    if action in ("list", "show"):
        tags = []
        for hook in kube.of_kind("MutatingWebhookConfiguration", "istio.io/tag"):
            tag = hook["metadata"]["labels"]["istio.io/tag"]
            namespaces = [n["metadata"]["name"] for n in kube.of_kind("Namespace", f"istio.io/rev={tag}")]
            tags.append({"tag": tag, "revision": hook["metadata"]["labels"].get("istio.io/rev"), "namespaces": namespaces})
        print(json.dumps(tags, indent=2) if opts["output"] == "json" else "\n".join(f"{t['tag']} {t['revision']}" for t in tags))
        return
    if action != "set":
        raise Fail("Error: unknown tag command")
    if len(opts["positional"]) < 3:
        raise Fail("Error: must provide a tag for modification")
    if len(opts["positional"]) > 3:
        raise Fail("Error: must provide a single tag for creation")
    tag, revision = opts["positional"][2], opts["revision"]
    if not revision:
        raise Fail('Error: required flag(s) "revision" not set')
    injected_failure("tag")
    objects = generate_tag(kube, tag, revision, opts["overwrite"])
    hook = objects[0]
    conflicts = webhook_conflicts(kube, hook)
    if conflicts and not opts["yes"]:  # tag.go setTag
        sys.stderr.write("creating tag would conflict, pass --skip-confirmation to proceed:\n"
                         + "\n".join(conflicts) + "\n\n")
        if not confirm("Apply anyways? [y/N]"):
            return
    for obj in objects:
        kube.apply(obj, manager=TAG_MANAGER)
    print(f'Revision tag "{tag}" created, referencing control plane revision "{revision}". To enable injection '
          f"using this\nrevision tag, use 'kubectl label namespace <NAMESPACE> istio.io/rev={tag}'")


def main(argv):
    HOME.mkdir(parents=True, exist_ok=True)
    try:
        opts = parse(argv)
    except Fail:
        opts = None
    with open(HOME / "invocations.jsonl", "a", encoding="utf-8") as log:
        log.write(json.dumps(dict({"argv": argv}, **(file_modes(opts) if opts else {}))) + "\n")
    try:
        opts = parse(argv)
        words = opts["positional"]
        if not words:
            raise Fail("Error: no command given")
        hang(words[0])
        if words[0] == "version":
            cmd_version(opts)
        elif words[0] == "install":
            cmd_install(opts)
        elif words[0] == "manifest":
            cmd_manifest(opts)
        elif words[:2] in (["x", "precheck"], ["experimental", "precheck"]) or words[0] == "precheck":
            cmd_precheck(opts)
        elif words[0] == "uninstall":
            cmd_uninstall(opts)
        elif words[0] == "tag":
            cmd_tag(opts)
        else:
            raise Fail(f'Error: unknown command "{words[0]}" for "istioctl"')
    except Fail as exc:
        if str(exc):
            sys.stderr.write(str(exc) + "\n")
        return exc.rc
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
