# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one wrapper around istioctl: a method per subcommand, each an argument list (never a shell
string), always non-interactive (-y), with rc, stdout, stderr and cmd reported on failure."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import json
import os
import shutil
import tempfile

from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError

try:
    import yaml

    HAS_YAML = True
except ImportError:
    HAS_YAML = False


def kube_arguments(params, tmpdir):
    """istioctl's --kubeconfig/--context from the module's connection options.

    A kubeconfig given as a dict, or host/api_key without a kubeconfig, is written to a file in
    tmpdir, since istioctl reads only kubeconfig files.
    """
    args = []
    kubeconfig = params.get("kubeconfig")
    if isinstance(kubeconfig, dict):
        path = os.path.join(tmpdir, "kubeconfig")
        with open(path, "w") as handle:
            json.dump(kubeconfig, handle)
        kubeconfig = path
    elif not kubeconfig and params.get("host"):
        cluster = {"server": params["host"]}
        if params.get("ca_cert"):
            cluster["certificate-authority"] = params["ca_cert"]
        if params.get("validate_certs") is False:
            cluster["insecure-skip-tls-verify"] = True
        user = {}
        if params.get("api_key"):
            user["token"] = params["api_key"]
        if params.get("client_cert"):
            user["client-certificate"] = params["client_cert"]
        if params.get("client_key"):
            user["client-key"] = params["client_key"]
        config = {"apiVersion": "v1", "kind": "Config", "clusters": [{"name": "c", "cluster": cluster}],
                  "users": [{"name": "u", "user": user}],
                  "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}], "current-context": "c"}
        kubeconfig = os.path.join(tmpdir, "kubeconfig")
        with open(kubeconfig, "w") as handle:
            json.dump(config, handle)
    if kubeconfig:
        args += ["--kubeconfig", os.path.expanduser(str(kubeconfig))]
    if params.get("context"):
        args += ["--context", params["context"]]
    return args


def install_arguments(profile, revision, set_values, values_files):
    """The flags that select what istioctl install / manifest generate produce."""
    args = ["--set", "profile=%s" % profile]
    if revision and revision != "default":
        args += ["--set", "revision=%s" % revision]
    for key in sorted(set_values or {}):
        value = set_values[key]
        if isinstance(value, bool):
            value = "true" if value else "false"
        args += ["--set", "%s=%s" % (key, value)]
    for path in values_files or []:
        args += ["-f", path]
    return args


class Istioctl(object):
    def __init__(self, module, path=None, kube_args=None):
        self._module = module
        self.path = path or module.get_bin_path("istioctl")
        if not self.path:
            raise AmbientMeshError("istioctl was not found on PATH: install the istioctl of the Istio version you "
                                   "deploy (https://istio.io/latest/docs/setup/install/istioctl/) or set istioctl_path")
        if not os.access(self.path, os.X_OK):
            raise AmbientMeshError("istioctl_path %s is not an executable file" % self.path)
        self.kube_args = list(kube_args or [])
        self._client_version = None
        self.calls = []

    def _run(self, args, check=True, cluster=True):
        cmd = [self.path] + list(args) + (self.kube_args if cluster else [])
        self.calls.append(list(args))
        rc, out, err = self._module.run_command(cmd)
        if check and rc != 0:
            raise AmbientMeshError("istioctl %s failed (rc=%s): %s" % (" ".join(args[:2]), rc,
                                                                       (err or out).strip() or "no output"),
                                   rc=rc, stdout=out, stderr=err, cmd=cmd)
        return rc, out, err

    def client_version(self):
        """The version of the istioctl binary (read once)."""
        if self._client_version is None:
            _rc, out, _err = self._run(["version", "--remote=false", "-o", "json"], cluster=False)
            try:
                self._client_version = json.loads(out)["clientVersion"]["version"]
            except (ValueError, KeyError, TypeError):
                raise AmbientMeshError("cannot read the version of istioctl from `istioctl version -o json`: %r"
                                       % out[:200])
        return self._client_version

    def install(self, install_args):
        return self._run(["install", "-y"] + list(install_args))

    def manifest_generate(self, install_args):
        """The manifests an install would apply (validates the settings without touching the cluster)."""
        _rc, out, _err = self._run(["manifest", "generate"] + list(install_args), cluster=False)
        if not HAS_YAML:
            return []
        try:
            return [d for d in yaml.safe_load_all(out) if d]
        except yaml.YAMLError as exc:
            raise AmbientMeshError("cannot parse `istioctl manifest generate` output: %s" % exc)

    def precheck(self):
        """Analyzer messages of `istioctl x precheck -o json` (it exits non-zero when it finds any)."""
        rc, out, err = self._run(["x", "precheck", "-o", "json"], check=False)
        try:
            messages = json.loads(out) if out.strip() else []
        except ValueError:
            messages = None
        if messages is None or (rc != 0 and not messages):
            raise AmbientMeshError("istioctl x precheck failed (rc=%s): %s" % (rc, (err or out).strip()),
                                   rc=rc, stdout=out, stderr=err)
        return messages

    def uninstall(self, revision=None, purge=False):
        args = ["uninstall", "-y"]
        if purge:
            args.append("--purge")
        else:
            args += ["--revision", revision or "default"]
        return self._run(args)

    def tag_set(self, tag, revision):
        """Without -y, istioctl asks when its webhook check finds a conflict and, with no answer, exits 0
        without moving the tag (Istio 1.30.3 istioctl/pkg/tag/tag.go setTag); the caller reads the tag back."""
        return self._run(["tag", "set", tag, "--revision", revision, "--overwrite", "-y"])


@contextlib.contextmanager
def temporary_directory():
    """A private directory for istioctl's kubeconfig (it may hold a token), removed however the
    block ends: success, the collection's error, fail_json's exit or any other exception."""
    path = tempfile.mkdtemp(prefix="ambient-mesh-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
