"""A fake istioctl for the tests: the documented contract of the subcommands the collection uses.

    version [--remote=false] -o json      clientVersion (and meshVersion from the cluster)
    install [-y] [--set k=v]... [-f F]... [--revision R]
                                           prompts without -y (reads stdin; no answer: exit 1);
                                           creates what the ambient profile creates, by server-side
                                           apply with field manager istio-operator
    manifest generate [--set ...]          the manifests, as YAML, without touching the cluster
    x precheck -o json                     analyzer messages; non-zero exit when there are any
    uninstall [--purge] [--revision R] -y  removes them (prompts without -y); Deployments and DaemonSets
                                           are deleted in the foreground, as istioctl does, so they stay
                                           (terminating) for the test cluster's set_termination_delay
    tag set T --revision R [--overwrite]   a revision tag (MutatingWebhookConfiguration)
    tag list -o json

Configured by FAKE_ISTIOCTL_HOME/config.json (version, failures, precheck messages); every
invocation is appended to FAKE_ISTIOCTL_HOME/invocations.jsonl.
"""

import json
import os
import pathlib
import sys
import urllib.error
import urllib.request

import yaml

HOME = pathlib.Path(os.environ.get("FAKE_ISTIOCTL_HOME", "."))
CONFIG = json.loads((HOME / "config.json").read_text()) if (HOME / "config.json").exists() else {}
VERSION = CONFIG.get("version", "1.30.3")
MANAGER = "istio-operator"
# what `istioctl install` creates first (tests/data/crds: upstream Istio 1.30.3, unmodified)
ISTIO_CRDS = pathlib.Path(__file__).resolve().parents[1] / "data" / "crds" / "istio-1.30.3-crds.yaml"
KNOWN_SET_ROOTS = ("profile", "revision", "values", "components", "meshConfig", "hub", "tag")


class Fail(Exception):
    def __init__(self, message, rc=1):
        super().__init__(message)
        self.rc = rc


# ---- arguments ------------------------------------------------------------------------------
def parse(argv):
    opts = {"set": [], "files": [], "yes": False, "output": None, "kubeconfig": None, "context": None,
            "revision": None, "purge": False, "overwrite": False, "remote": True, "positional": []}
    i = 0

    def value(arg):
        nonlocal i
        if "=" in arg and arg.startswith("--"):
            return arg.split("=", 1)[1]
        i += 1
        if i >= len(argv):
            raise Fail(f"Error: flag needs an argument: {arg}")
        return argv[i]

    while i < len(argv):
        arg = argv[i]
        name = arg.split("=", 1)[0]
        if name in ("-y", "--skip-confirmation"):
            opts["yes"] = True
        elif name in ("--set", "-s"):
            opts["set"].append(value(arg))
        elif name in ("-f", "--filename"):
            opts["files"].append(value(arg))
        elif name in ("-o", "--output"):
            opts["output"] = value(arg)
        elif name in ("-c", "--kubeconfig"):
            opts["kubeconfig"] = value(arg)
        elif name == "--context":
            opts["context"] = value(arg)
        elif name in ("-r", "--revision"):
            opts["revision"] = value(arg)
        elif name == "--purge":
            opts["purge"] = True
        elif name == "--overwrite":
            opts["overwrite"] = True
        elif name == "--remote":
            opts["remote"] = value(arg).lower() != "false"
        elif name in ("--readiness-timeout", "--verify"):
            if "=" not in arg and name == "--readiness-timeout":
                i += 1
        elif arg.startswith("-"):
            raise Fail(f"Error: unknown flag: {name}")
        else:
            opts["positional"].append(arg)
        i += 1
    for item in opts["set"]:
        key = item.split("=", 1)[0]
        if "=" not in item or key.split(".")[0] not in KNOWN_SET_ROOTS:
            raise Fail(f'Error: generate config: unknown field "{key}" in IstioOperator spec')
        if key == "revision":
            opts["revision"] = item.split("=", 1)[1]
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


# ---- the cluster ----------------------------------------------------------------------------
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
                return None
            raise Fail(f"Error: {method} {path}: {err.code} {err.read().decode()[:300]}") from err
        except urllib.error.URLError as exc:
            raise Fail(f"Error: failed to connect to the cluster {self.server}: {exc.reason}") from exc

    def apply(self, obj):
        group_version = obj["apiVersion"]
        base = f"/apis/{group_version}" if "/" in group_version else f"/api/{group_version}"
        plural = PLURALS[obj["kind"]]
        ns = obj["metadata"].get("namespace")
        path = f"{base}/namespaces/{ns}/{plural}/{obj['metadata']['name']}" if ns else f"{base}/{plural}/{obj['metadata']['name']}"
        return self.call("PATCH", path, obj, "application/apply-patch+yaml", f"?fieldManager={MANAGER}&force=true")

    def items(self, path, selector=None):
        query = "?labelSelector=" + urllib.request.quote(selector) if selector else ""
        doc = self.call("GET", path, query=query)
        return (doc or {}).get("items", [])


PLURALS = {"Namespace": "namespaces", "Deployment": "deployments", "DaemonSet": "daemonsets",
           "CustomResourceDefinition": "customresourcedefinitions", "ServiceAccount": "serviceaccounts",
           "MutatingWebhookConfiguration": "mutatingwebhookconfigurations", "ConfigMap": "configmaps"}


# ---- what the ambient profile installs --------------------------------------------------------
def manifests(opts):
    profile = setting(opts, "profile", "default")
    revision = opts["revision"] or "default"
    version = setting(opts, "tag", VERSION)
    hub = setting(opts, "hub", "docker.io/istio")
    common = {"operator.istio.io/version": version, "istio.io/rev": revision,
              "install.operator.istio.io/owning-resource": "installed-state"}
    crds_file = pathlib.Path(CONFIG.get("crds", ISTIO_CRDS))
    out = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "istio-system"}}]
    out += [d for d in yaml.safe_load_all(crds_file.read_text()) if d and d.get("kind") == "CustomResourceDefinition"]
    istiod = "istiod" if revision == "default" else f"istiod-{revision}"
    env = [{"name": "REVISION", "value": revision}]
    if profile == "ambient":
        env.append({"name": "PILOT_ENABLE_AMBIENT", "value": "true"})
    for item in opts["set"]:
        key, _, val = item.partition("=")
        if key.startswith("values.pilot.env."):
            env.append({"name": key.rsplit(".", 1)[1], "value": val})
    out.append(_workload("Deployment", istiod, {"app": "istiod", "istio": "pilot"},
                         dict(common, **{"operator.istio.io/component": "Pilot"}), f"{hub}/pilot:{version}", env))
    if profile == "ambient":
        out.append(_workload("DaemonSet", "ztunnel", {"app": "ztunnel"},
                             dict(common, **{"operator.istio.io/component": "Ztunnel"}), f"{hub}/ztunnel:{version}", []))
        out.append(_workload("DaemonSet", "istio-cni-node", {"k8s-app": "istio-cni-node"},
                             dict(common, **{"operator.istio.io/component": "Cni"}), f"{hub}/install-cni:{version}", []))
    return out


def _workload(kind, name, selector, labels, image, env):
    spec = {"selector": {"matchLabels": selector},
            "template": {"metadata": {"labels": dict(selector, **{"istio.io/rev": labels["istio.io/rev"]})},
                         "spec": {"containers": [{"name": name, "image": image, "env": env}]}}}
    if kind == "Deployment":
        spec["replicas"] = 1
    return {"apiVersion": "apps/v1", "kind": kind,
            "metadata": {"name": name, "namespace": "istio-system", "labels": dict(labels, **selector)}, "spec": spec}


# ---- subcommands ------------------------------------------------------------------------------
def confirm(question):
    sys.stdout.write(question + " Proceed? (y/N) ")
    sys.stdout.flush()
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        print("Cancelled.")
        raise Fail("", rc=1)


def injected_failure(command):
    failure = CONFIG.get("fail", {}).get(command)
    if failure:
        raise Fail(failure.get("stderr", f"Error: {command} failed"), rc=failure.get("rc", 1))


def cmd_version(opts):
    client = {"version": VERSION, "revision": "fake", "golang_version": "go1.24.4", "status": "Clean", "tag": VERSION}
    doc = {"clientVersion": client}
    if opts["remote"]:
        kube = Kube(opts)
        doc["meshVersion"] = [
            {"Component": "istiod", "Revision": d["metadata"]["labels"].get("istio.io/rev", "default"),
             "Info": {"version": d["metadata"]["labels"].get("operator.istio.io/version")}}
            for d in kube.items("/apis/apps/v1/deployments", "app=istiod")]
    if opts["output"] == "json":
        print(json.dumps(doc, indent=2))
    else:
        print(f"client version: {VERSION}")


def cmd_install(opts):
    docs = manifests(opts)  # validates --set before anything else
    kube = Kube(opts)
    profile = setting(opts, "profile", "default")
    if not opts["yes"]:
        confirm(f'This will install the Istio {VERSION} profile "{profile}" into the cluster.')
    injected_failure("install")
    for doc in docs:
        kube.apply(doc)
    print("✔ Istio core installed ⛵️")
    print("✔ Istiod installed 🧠")
    if profile == "ambient":
        print("✔ CNI installed 🪢")
        print("✔ Ztunnel installed 🔒")
    print("✔ Installation complete")


def cmd_manifest(opts):
    if opts["positional"][1:2] != ["generate"]:
        raise Fail("Error: unknown command for manifest")
    injected_failure("manifest")
    print(yaml.safe_dump_all(manifests(opts)))


def cmd_precheck(opts):
    messages = CONFIG.get("precheck", [])
    if opts["output"] == "json":
        print(json.dumps(messages, indent=2))
    elif not messages:
        print("✔ No issues found when checking the cluster. Istio is safe to install or upgrade!")
    else:
        for m in messages:
            print(f'{m["level"]} [{m["code"]}] ({m.get("origin", "")}) {m["message"]}')
    if messages:
        sys.stderr.write("Error: Issues found when checking the cluster. Istio may not be safe to install or upgrade.\n")
        raise Fail("", rc=1)


def cmd_uninstall(opts):
    kube = Kube(opts)
    if not opts["purge"] and not opts["revision"]:
        raise Fail("Error: at least one of the --revision (or --set revision=<revision>), --filename or --purge "
                   "flags should be set")
    if not opts["yes"]:
        confirm("All Istio resources will be pruned from the cluster")
    injected_failure("uninstall")
    selector = "app=istiod" if opts["purge"] else f"app=istiod,istio.io/rev={opts['revision']}"
    foreground = "?propagationPolicy=Foreground"  # the object goes once its pods have terminated
    for dep in kube.items("/apis/apps/v1/deployments", selector):
        kube.call("DELETE", f"/apis/apps/v1/namespaces/{dep['metadata']['namespace']}/deployments/{dep['metadata']['name']}",
                  query=foreground)
    remaining = [d for d in kube.items("/apis/apps/v1/deployments", "app=istiod")
                 if not d["metadata"].get("deletionTimestamp")]
    if opts["purge"] or not remaining:
        for name in ("ztunnel", "istio-cni-node"):
            kube.call("DELETE", f"/apis/apps/v1/namespaces/istio-system/daemonsets/{name}", query=foreground)
    if opts["purge"]:
        for hook in kube.items("/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations", "istio.io/tag"):
            kube.call("DELETE", f"/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/{hook['metadata']['name']}")
        for crd in kube.items("/apis/apiextensions.k8s.io/v1/customresourcedefinitions"):
            if crd["spec"]["group"].endswith("istio.io"):
                kube.call("DELETE", f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{crd['metadata']['name']}")
    print("✔ Uninstall complete")


def cmd_tag(opts):
    kube = Kube(opts)
    action = opts["positional"][1] if len(opts["positional"]) > 1 else None
    hooks = "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"
    if action == "list":
        tags = []
        for hook in kube.items(hooks, "istio.io/tag"):
            tag = hook["metadata"]["labels"]["istio.io/tag"]
            namespaces = [n["metadata"]["name"] for n in kube.items("/api/v1/namespaces", f"istio.io/rev={tag}")]
            tags.append({"tag": tag, "revision": hook["metadata"]["labels"].get("istio.io/rev"), "namespaces": namespaces})
        print(json.dumps(tags, indent=2) if opts["output"] == "json" else "\n".join(f"{t['tag']} {t['revision']}" for t in tags))
        return
    if action == "set" and len(opts["positional"]) > 2:
        tag, revision = opts["positional"][2], opts["revision"]
        if not revision:
            raise Fail("Error: need to specify a revision")
        injected_failure("tag")
        existing = kube.call("GET", f"{hooks}/istio-revision-tag-{tag}")
        if existing and existing["metadata"]["labels"].get("istio.io/rev") != revision and not opts["overwrite"]:
            raise Fail(f'Error: revision tag "{tag}" already exists, and --overwrite is false')
        kube.apply({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
                    "metadata": {"name": f"istio-revision-tag-{tag}",
                                 "labels": {"istio.io/tag": tag, "istio.io/rev": revision}},
                    "webhooks": []})
        print(f"Revision tag {tag!r} created, referencing control plane revision {revision!r}.")
        return
    raise Fail("Error: unknown tag command")


def main(argv):
    HOME.mkdir(parents=True, exist_ok=True)
    with open(HOME / "invocations.jsonl", "a", encoding="utf-8") as log:
        log.write(json.dumps({"argv": argv}) + "\n")
    try:
        opts = parse(argv)
        words = opts["positional"]
        if not words:
            raise Fail("Error: no command given")
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
