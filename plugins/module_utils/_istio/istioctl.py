# -*- coding: utf-8 -*-
# Copyright: (c) 2026, ambient.mesh maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The one wrapper around istioctl: a method per subcommand, each an argument list (never a shell
string), always non-interactive (-y), with rc, stdout, stderr and cmd reported on failure.

Every call has a deadline and runs in its own process group, stopped with everything it started
when the deadline passes or the module is stopped (_process.py). Every value that reaches
istioctl's command line is validated first (validate_params), and positional arguments follow `--`
(pflag v1.0.10 flag.go parseArgs: "--" terminates the flags; cobra v1.10.2 command.go stripFlags
finds the subcommand before it), so no value can be read as a flag.
"""


import contextlib
import json
import os
import re
import shutil
import tempfile

from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError
from ansible_collections.ambient.mesh.plugins.module_utils._istio.process import ControllerGone, run as run_process
from ansible_collections.ambient.mesh.plugins.module_utils._versions import parse_version

try:
    import yaml

    HAS_YAML = True
except ImportError:
    HAS_YAML = False

# Seconds one istioctl call may take unless istioctl_timeout says otherwise. install and uninstall
# wait themselves (install: --readiness-timeout, set to the module's wait_timeout), so theirs is
# wait_timeout plus APPLY_SECONDS for applying or deleting the objects.
DEADLINES = {"version": 30, "manifest generate": 120, "x precheck": 120, "tag set": 60}
APPLY_SECONDS = 120
# Kubernetes' DNS-1123 label (k8s.io/apimachinery pkg/util/validation IsDNS1123Label): revisions end up
# in the label istio.io/rev and in object names (istiod-<revision>, istio-revision-tag-<tag>).
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# An istioctl --set path (values.pilot.env.X, components.ingressGateways.[0].enabled): no '=', no blank,
# not starting with '-'.
_SET_KEY = re.compile(r"^[A-Za-z0-9_\[][A-Za-z0-9_.\[\]/:-]*$")


def _dns_label(option, value):
    if not _DNS1123_LABEL.match(value):
        return ("%s %r is not a valid name: use at most 63 lowercase letters, digits and '-', starting and ending with "
                "a letter or digit (a DNS-1123 label, as Kubernetes requires for the istio.io/rev label), e.g. 1-30-3"
                % (option, value))
    return None


def normalize_version(version):
    """'v1.30.3' -> '1.30.3' (istioctl prints its version without the v)."""
    text = str(version).strip()
    return text[1:] if text[:1] in ("v", "V") else text


def validate_params(params):
    """Every value istio_install passes to istioctl, checked before anything runs: a list of problems."""
    problems = []
    version = params.get("version")
    if version is not None:
        try:
            parse_version(normalize_version(version))
        except ValueError:
            problems.append("version %r is not an Istio version like 1.30.3 (or v1.30.3)" % (version,))
    revision = params.get("revision") or "default"
    if revision != "default":
        problems.append(_dns_label("revision", revision))
    if params.get("tag") is not None:
        problems.append(_dns_label("tag", params["tag"]))
    for key, value in sorted((params.get("set") or {}).items()):
        if not _SET_KEY.match(str(key)):
            problems.append("set key %r is not an istioctl --set path like values.pilot.env.NAME" % (key,))
        elif key in ("profile", "revision"):
            problems.append("set %s is not allowed: the profile is always ambient; use the option revision" % key)
        if isinstance(value, (dict, list)) or any(c in str(value) for c in "\n\r\0"):
            problems.append("set %s: the value must be a single-line string, number or boolean, not %r" % (key, value))
    for path in params.get("values_files") or []:
        if not os.path.isfile(str(path)):
            problems.append("values file %s does not exist or is not a file" % path)
    if params.get("istioctl_timeout") is not None and params["istioctl_timeout"] <= 0:
        problems.append("istioctl_timeout must be a positive number of seconds, not %s" % params["istioctl_timeout"])
    return [p for p in problems if p]


def _write_private(path, content):
    """A file only its owner can read (0600), created anew (O_EXCL: never through a planted link)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)


def kube_arguments(params, tmpdir):
    """istioctl's --kubeconfig/--context/--as/--as-group from the module's connection options.

    istioctl takes the cluster only from a kubeconfig file: it has no --server or --token flag (Istio
    1.30.3 istioctl/pkg/cli/option.go AddRootFlags: --kubeconfig, --context, --as, --as-uid, --as-group).
    So a kubeconfig path is passed as it is, and only a kubeconfig given as a dict, or host/api_key
    without a kubeconfig, is written: 0600, inside tmpdir (private, 0700, removed by the caller).
    """
    args = []
    kubeconfig = params.get("kubeconfig")
    if isinstance(kubeconfig, dict):
        path = os.path.join(tmpdir, "kubeconfig")
        _write_private(path, json.dumps(kubeconfig))
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
        _write_private(kubeconfig, json.dumps(config))
    if kubeconfig:
        args += ["--kubeconfig", os.path.expanduser(str(kubeconfig))]
    if params.get("context"):
        args += ["--context", params["context"]]
    if params.get("impersonate_user"):
        args += ["--as", params["impersonate_user"]]
    for group in params.get("impersonate_groups") or []:
        args += ["--as-group", group]
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
    def __init__(self, module, path=None, kube_args=None, timeout=None, wait_timeout=None):
        self._module = module
        self.path = path or module.get_bin_path("istioctl")
        if not self.path:
            raise AmbientMeshError("istioctl was not found on PATH: install the istioctl of the Istio version you "
                                   "deploy (https://istio.io/latest/docs/setup/install/istioctl/) or set istioctl_path")
        check_binary(self.path)
        self.kube_args = list(kube_args or [])
        self.timeout = timeout
        self.wait_timeout = wait_timeout
        self._client_version = None
        self.calls = []

    def changing_calls(self):
        """The calls of this run that change the cluster."""
        return [c for c in self.calls if c[0] in ("install", "uninstall") or c[:2] == ["tag", "set"]]

    def deadline(self, subcommand):
        """Seconds this subcommand may run: istioctl_timeout, else its default (see DEADLINES)."""
        if self.timeout:
            return self.timeout
        if subcommand in ("install", "uninstall"):
            return (self.wait_timeout or 300) + APPLY_SECONDS
        return DEADLINES.get(subcommand, 60)

    def _run(self, subcommand, flags=(), positional=(), check=True, cluster=True):
        """istioctl <subcommand> <flags> [kube flags] [-- <positional>]."""
        args = subcommand.split() + list(flags) + (["--"] + list(positional) if positional else [])
        cmd = [self.path] + subcommand.split() + list(flags) + (self.kube_args if cluster else []) + (
            ["--"] + list(positional) if positional else [])
        self.calls.append(args)
        deadline = self.deadline(subcommand)
        try:
            outcome = run_process(cmd, deadline)
        except ControllerGone:
            raise AmbientMeshError("istioctl %s was stopped: the controller stopped waiting for this task (its timeout "
                                   "passed or the play was cancelled)" % subcommand, cmd=cmd, subcommand=subcommand)
        except OSError as exc:
            raise AmbientMeshError("cannot run istioctl at %s: %s" % (self.path, exc), cmd=cmd)
        rc, out, err = outcome.rc, outcome.stdout, outcome.stderr
        if outcome.timed_out:
            raise AmbientMeshError(
                "istioctl %s did not finish within its deadline of %s s and was stopped with everything it started "
                "(SIGTERM, then SIGKILL): look at why it hangs (API server reachable from here? admission webhooks "
                "answering?), or raise istioctl_timeout%s; then run again" % (
                    subcommand, deadline, " or wait_timeout" if subcommand in ("install", "uninstall") else ""),
                rc=rc, stdout=out, stderr=err, cmd=cmd, subcommand=subcommand, deadline=deadline, timed_out=True)
        if check and rc != 0:
            raise AmbientMeshError("istioctl %s failed (rc=%s): %s" % (subcommand, rc, (err or out).strip() or "no output"),
                                   rc=rc, stdout=out, stderr=err, cmd=cmd, subcommand=subcommand, timed_out=False)
        return rc, out, err

    def client_version(self):
        """The version of the istioctl binary (read once)."""
        if self._client_version is None:
            _rc, out, _err = self._run("version", ["--remote=false", "-o", "json"], cluster=False)
            try:
                self._client_version = normalize_version(json.loads(out)["clientVersion"]["version"])
            except (ValueError, KeyError, TypeError):
                raise AmbientMeshError("cannot read the version of istioctl from `istioctl version -o json`: %r"
                                       % out[:200])
        return self._client_version

    def install(self, install_args):
        # istioctl install waits for the components itself (operator/cmd/mesh/install.go --readiness-timeout,
        # default 300s): bounded by the module's wait_timeout
        return self._run("install", ["-y"] + list(install_args) + ["--readiness-timeout", "%ds" % (self.wait_timeout or 300)])

    def manifest_generate(self, install_args):
        """The manifests an install would apply (validates the settings without touching the cluster)."""
        _rc, out, _err = self._run("manifest generate", list(install_args), cluster=False)
        if not HAS_YAML:
            return []
        try:
            return [d for d in yaml.safe_load_all(out) if d]
        except yaml.YAMLError as exc:
            raise AmbientMeshError("cannot parse `istioctl manifest generate` output: %s" % exc)

    def precheck(self):
        """Analyzer messages of `istioctl x precheck -o json` (it exits non-zero when it finds any)."""
        rc, out, err = self._run("x precheck", ["-o", "json"], check=False)
        try:
            messages = json.loads(out) if out.strip() else []
        except ValueError:
            messages = None
        if messages is None or (rc != 0 and not messages):
            raise AmbientMeshError("istioctl x precheck failed (rc=%s): %s" % (rc, (err or out).strip()),
                                   rc=rc, stdout=out, stderr=err)
        return messages

    def uninstall(self, revision=None, purge=False):
        flags = ["-y"]
        if purge:
            flags.append("--purge")
        else:
            flags += ["--revision", revision or "default"]
        return self._run("uninstall", flags)

    def tag_set(self, tag, revision):
        """Without -y, istioctl asks when its webhook check finds a conflict and, with no answer, exits 0
        without moving the tag (Istio 1.30.3 istioctl/pkg/tag/tag.go setTag); the caller reads the tag back.
        The tag follows `--`, so no tag can be read as a flag."""
        return self._run("tag set", ["--revision", revision, "--overwrite", "-y"], positional=[tag])


def check_binary(path):
    """istioctl_path must be an executable file (os.access alone accepts a directory)."""
    if not os.path.isfile(path) or not os.access(path, os.X_OK):
        raise AmbientMeshError("istioctl_path %s is not an executable file%s" % (
            path, " (it is a directory: give the path of the istioctl binary in it)" if os.path.isdir(path) else ""))


@contextlib.contextmanager
def temporary_directory():
    """A private directory for istioctl's kubeconfig (it may hold a token), removed however the
    block ends: success, the collection's error, fail_json's exit or any other exception."""
    path = tempfile.mkdtemp(prefix="ambient-mesh-")
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
