# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Gateway API CRDs at a pinned version and channel: load the bundle, plan, apply, wait."""


from ansible_collections.ambient.mesh.plugins.module_utils._objects.apply import apply_objects, diff_entries, summarize
from ansible_collections.ambient.mesh.plugins.module_utils._objects.diff import module_diff
from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError
from ansible_collections.ambient.mesh.plugins.module_utils._objects.kinds import CRD as CRD_API
from ansible_collections.ambient.mesh.plugins.module_utils._objects.refs import ref_of
from ansible_collections.ambient.mesh.plugins.module_utils._kube.concurrency import run_concurrently
from ansible_collections.ambient.mesh.plugins.module_utils._istio.gateway_api import (
    GATEWAY_GROUPS,
    VERSION_ANNOTATION,
    bundle_identity,
)
from ansible_collections.ambient.mesh.plugins.module_utils._versions import compare_versions, is_version
from ansible_collections.ambient.mesh.plugins.module_utils._objects.wait import condition_state, wait_for_condition

try:
    import yaml

    HAS_YAML = True
except ImportError:
    HAS_YAML = False

RELEASE_URL = "https://github.com/kubernetes-sigs/gateway-api/releases/download/%s/%s-install.yaml"
# What a Gateway API release bundle holds besides its CRDs (v1.5+ ships a safe-upgrades policy).
BUNDLE_EXTRA_KINDS = ("ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "Namespace")


def parse_bundle(text, source):
    """The documents of a bundle; AmbientMeshError when it is not YAML or holds no CRDs."""
    if not HAS_YAML:
        raise AmbientMeshError("PyYAML is required on the host that runs this module: pip install pyyaml")
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise AmbientMeshError("%s is not valid YAML: %s" % (source, exc))
    problems = []
    for index, doc in enumerate(docs):
        if not isinstance(doc, dict) or not doc.get("kind") or not (doc.get("metadata") or {}).get("name"):
            problems.append("document %d is not a Kubernetes object" % (index + 1))
        elif doc["kind"] == "CustomResourceDefinition":
            if (doc.get("spec") or {}).get("group") not in GATEWAY_GROUPS:
                problems.append("CRD %s is not in a Gateway API group" % doc["metadata"]["name"])
        elif doc["kind"] not in BUNDLE_EXTRA_KINDS:
            problems.append("%s %s does not belong in a Gateway API CRD bundle" % (doc["kind"], doc["metadata"]["name"]))
    crds = [d for d in docs if isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition"]
    if not crds and not problems:
        problems.append("it holds no CustomResourceDefinition")
    if problems:
        raise AmbientMeshError("%s is not a Gateway API CRD bundle: %s" % (source, "; ".join(problems)),
                               problems=problems)
    return docs


def installed_crds(api):
    return [c for c in api.list(*CRD_API) if (c.get("spec") or {}).get("group") in GATEWAY_GROUPS]


def check_bundle_matches(docs, version, channel, source):
    found_version, found_channel = bundle_identity([d for d in docs if d["kind"] == "CustomResourceDefinition"])
    if found_version is not None and found_version != version:
        raise AmbientMeshError("%s holds Gateway API %s, but version %s was asked for: point src/url at the %s "
                               "bundle or change version" % (source, found_version, version, version))
    if found_channel is not None and found_channel != channel:
        raise AmbientMeshError("%s holds the %s channel, but channel %s was asked for"
                               % (source, found_channel, channel))


def plan_refusal(installed_version, installed_channel, version, channel, allow_downgrade, allow_channel_switch):
    """Why the change may not go ahead (a message), or None."""
    if installed_version and compare_versions(version, installed_version) < 0 and not allow_downgrade:
        return ("refusing to downgrade Gateway API CRDs from %s to %s: a downgrade can drop fields that "
                "stored routes use; set allow_downgrade: true if that is really wanted"
                % (installed_version, version))
    if installed_channel and installed_channel != channel and not allow_channel_switch:
        return ("refusing to switch Gateway API CRDs from the %s channel to %s (installed %s): experimental "
                "fields in stored objects would be lost; set allow_channel_switch: true if that is really wanted"
                % (installed_channel, channel, installed_version))
    return None


def ensure_present(api, bundle_text, source, params, check_mode):
    version, channel = params["version"], params["channel"]
    docs = parse_bundle(bundle_text, source)
    check_bundle_matches(docs, version, channel, source)
    before = installed_crds(api)
    before_version, before_channel = bundle_identity(before)
    refusal = plan_refusal(before_version, before_channel, version, channel,
                           params["allow_downgrade"], params["allow_channel_switch"])
    if refusal:
        raise AmbientMeshError(refusal, version={"before": before_version, "after": before_version},
                               channel={"before": before_channel, "after": before_channel})

    results = apply_objects(api, docs, check_mode=check_mode, force=params["force_conflicts"],
                            concurrency=params["concurrency"])

    crd_names = [d["metadata"]["name"] for d in docs if d["kind"] == "CustomResourceDefinition"]
    not_established = [r["name"] for r in results if r["kind"] == "CustomResourceDefinition"
                       and not condition_state(r["after"] or {}, "Established")[0]]
    if params["wait"] and not check_mode:
        def wait(name):
            return wait_for_condition(api, CRD_API[0], CRD_API[1], name, "Established", params["wait_timeout"])

        for _name, _obj, error in run_concurrently(wait, not_established, params["concurrency"]):
            if error is not None:
                written = [r["ref"] for r in results if r["changed"]]
                if not written:
                    raise error
                # the CRDs were written before the wait failed: the failed result says so
                raise AmbientMeshError("%s (before this failure: %d objects written: %s)"
                                       % (error.msg, len(written), ", ".join(written)),
                                       changed=True, done=written, version={"before": before_version, "after": version},
                                       channel={"before": before_channel, "after": channel})
    return {
        "changed": any(r["changed"] for r in results),
        "version": {"before": before_version, "after": version},
        "channel": {"before": before_channel, "after": channel},
        "crds": sorted(crd_names),
        "results": results,
    }


def ensure_absent(api, params, check_mode):
    before = installed_crds(api)
    before_version, before_channel = bundle_identity(before)
    bundled = [c for c in before if VERSION_ANNOTATION in ((c.get("metadata") or {}).get("annotations") or {})]
    if not params["force"]:
        in_use = []
        for crd in bundled:
            spec = crd["spec"]
            served = [v["name"] for v in spec.get("versions", []) if v.get("served")]
            if not served:
                continue
            items = api.list("%s/%s" % (spec["group"], served[0]), spec["names"]["kind"], required=False)
            if items:
                in_use.append("%d %s" % (len(items), spec["names"]["kind"]))
        if in_use:
            raise AmbientMeshError("refusing to delete Gateway API CRDs while objects of them exist (%s): deleting "
                                   "a CRD deletes every object of its kind; remove them first or set force: true"
                                   % ", ".join(in_use), in_use=in_use)
    results = []
    for crd in bundled:
        api.delete(CRD_API[0], CRD_API[1], crd["metadata"]["name"], dry_run=check_mode)
        results.append({"ref": ref_of(CRD_API[1], None, crd["metadata"]["name"]), "kind": CRD_API[1],
                        "namespace": None, "name": crd["metadata"]["name"], "action": "deleted",
                        "changed": True, "before": crd, "after": None})
    return {
        "changed": bool(results),
        "version": {"before": before_version, "after": None},
        "channel": {"before": before_channel, "after": None},
        "crds": [],
        "results": results,
    }


def run(api, params, check_mode, fetch):
    """The gateway_api_crds module's work; fetch(url) returns the text at a URL."""
    if params["state"] == "absent":
        result = ensure_absent(api, params, check_mode)
    else:
        if not is_version(params["version"]):
            raise AmbientMeshError("version must look like v1.5.1, got %r" % params["version"])
        if params.get("src"):
            source = params["src"]
            try:
                with open(source, "r") as handle:
                    text = handle.read()
            except (IOError, OSError) as exc:
                raise AmbientMeshError("cannot read src %s: %s" % (source, exc))
        else:
            source = params.get("url") or RELEASE_URL % (params["version"], params["channel"])
            text = fetch(source)
        result = ensure_present(api, text, source, params, check_mode)
    results = result.pop("results")
    result["objects"] = summarize(results)
    result["diff"] = module_diff(diff_entries(results))
    return result
