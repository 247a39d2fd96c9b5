"""AWX / Automation Controller: the execution environment's build context, the istioctl build step, the
cluster credential types (validated and rendered as AWX does), and jobs run through ansible-runner - the
engine AWX runs jobs with - with the credential's injected environment and a survey's answers, against the
test API server. No secret may reach the runner's artifacts (what AWX stores and shows of a job)."""

import hashlib
import io
import json
import os
import pathlib
import re
import stat
import subprocess
import sys
import tarfile
import tempfile
import uuid

import pytest
import yaml

from conftest import COLLECTIONS, GATEWAY_V151, ROOT, seed_istio

pytestmark = [pytest.mark.integration, pytest.mark.core_compat]

AWX = ROOT / "awx"
VENV_BIN = pathlib.Path(sys.executable).parent


class _Loader(yaml.SafeLoader):
    """YAML as Ansible reads it, for the one tag these files use: !unsafe (a string Ansible leaves alone)."""


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def load(path):
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


CREDENTIAL_TYPES = {t["name"]: t for t in load(AWX / "credential_types.yml")["awx_credential_types"]}
JOB_TEMPLATES = {t["name"]: t for t in load(AWX / "job_templates.yml")["awx_job_templates"]}
KUBECONFIG_TYPE = "Kubernetes cluster (kubeconfig) - ambient.mesh"
TOKEN_TYPE = "Kubernetes cluster (host and token) - ambient.mesh"


# ---- AWX's handling of a custom credential type, ported ------------------------------------------------------
# awx/main/fields.py (CredentialTypeInjectorField) and awx/main/constants.py (ENV_BLOCKLIST), AWX devel
ENV_BLOCKLIST = {"VIRTUAL_ENV", "PATH", "PYTHONPATH", "JOB_ID", "INVENTORY_ID", "INVENTORY_SOURCE_ID",
                 "INVENTORY_UPDATE_ID", "AD_HOC_COMMAND_ID", "REST_API_URL", "REST_API_TOKEN", "MAX_EVENT_RES"}


def validate_injectors(cred_type):
    """What AWX checks when a credential type is saved: the injector schema, allowed variable names, and that
    every template renders (StrictUndefined) with only the type's fields and its file names."""
    from jinja2 import StrictUndefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    injectors = cred_type["injectors"]
    assert set(injectors) <= {"file", "env", "extra_vars"}
    names = list(injectors.get("file", {}))
    assert all(re.fullmatch(r"template(\.[a-zA-Z_]+[a-zA-Z0-9_]*)?", n) for n in names), names
    assert "template" not in names or len(names) == 1, "multi-file syntax needed for several files"
    for var in injectors.get("env", {}):
        assert re.fullmatch(r"[a-zA-Z_]+[a-zA-Z0-9_]*", var) and not var.startswith("ANSIBLE_") and var not in ENV_BLOCKLIST

    class Filenames:
        pass

    filenames = Filenames()
    for name in names:
        setattr(filenames, name.split(".")[1], "EXAMPLE_FILENAME")
    namespace = {f["id"]: "EXAMPLE" for f in cred_type["inputs"]["fields"]}
    namespace["tower"] = type("Tower", (), {"filename": filenames})()
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined)
    for kind in ("file", "env"):
        for template in injectors.get(kind, {}).values():
            env.from_string(template).render(namespace)


def inject(cred_type, inputs, private_data_dir):
    """The job's environment from a credential, as AWX makes it (awx/main/models/credential.py,
    CredentialType.inject_credential): missing inputs are undefined (booleans False), each `file` template is
    written to a private file under <private_data_dir>/env, `tower.filename.<name>` is its path, and every
    `env` template is rendered - to an empty string when its inputs are empty."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    namespace = {k: v for k, v in inputs.items() if isinstance(v, bool) or len(v)}
    for field in cred_type["inputs"]["fields"]:
        if field["type"] == "boolean" and field["id"] not in inputs:
            namespace[field["id"]] = False
    tower = type("Tower", (), {})()
    namespace["tower"] = tower
    sandbox = ImmutableSandboxedEnvironment()
    env_dir = pathlib.Path(private_data_dir) / "env"
    env_dir.mkdir(parents=True, exist_ok=True)
    for label, template in cred_type["injectors"].get("file", {}).items():
        _, path = tempfile.mkstemp(dir=env_dir)
        pathlib.Path(path).write_text(sandbox.from_string(template).render(**namespace), encoding="utf-8")
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
        if not hasattr(tower, "filename"):
            tower.filename = type("Filenames", (), {})()
        setattr(tower.filename, label.split(".")[1], path)
    return {var: sandbox.from_string(t).render(**namespace) for var, t in cred_type["injectors"].get("env", {}).items()}


def survey_answers(template, **answers):
    """The extra vars a launch sends: each question's default (typed as AWX types it), unless answered."""
    types = {"integer": int, "float": float}
    out = {}
    for question in template["survey_spec"]["spec"]:
        value = answers.pop(question["variable"], question.get("default"))
        out[question["variable"]] = types.get(question["type"], str)(value)
    assert not answers, f"not questions of {template['name']}: {sorted(answers)}"
    return out


# ---- the definitions ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(CREDENTIAL_TYPES))
def test_credential_type_is_valid_for_awx(name):
    cred_type = CREDENTIAL_TYPES[name]
    validate_injectors(cred_type)
    secrets = {f["id"] for f in cred_type["inputs"]["fields"] if f.get("secret")}
    assert secrets, "the credential's secret input must be marked secret (AWX encrypts and hides it)"
    assert "extra_vars" not in cred_type["injectors"], "a secret in extra vars shows in the job's details"
    # ansible-runner writes the job's environment into artifacts/<job>/command: secrets go into files only
    inputs = {f["id"]: True if f["type"] == "boolean" else f"SECRET-{f['id']}" for f in cred_type["inputs"]["fields"]}
    with tempfile.TemporaryDirectory() as private_data_dir:
        env = inject(cred_type, inputs, private_data_dir)
    leaks = {var: value for var, value in env.items() if any(f"SECRET-{s}" in value for s in secrets)}
    assert not leaks, f"secrets in environment variables: {leaks}"


def test_job_templates_point_at_playbooks_and_their_surveys_at_known_variables():
    assert set(JOB_TEMPLATES) == {"ambient.mesh rollout", "ambient.mesh canary", "ambient.mesh fault drill",
                                  "ambient.mesh uninstall"}
    for template in JOB_TEMPLATES.values():
        book = ROOT / template["playbook"]
        assert book.is_file(), template["playbook"]
        source = book.read_text(encoding="utf-8")
        for question in template["survey_spec"]["spec"]:
            variable = question["variable"]
            # each answer is a variable the playbook, its variables file or one of its roles reads
            readers = [source, (ROOT / "playbooks" / "vars" / "lab.yml").read_text(encoding="utf-8")] + [
                p.read_text(encoding="utf-8") for p in (ROOT / "roles").glob("*/defaults/main.yml")]
            assert any(re.search(rf"\b{variable}\b", text) for text in readers), (template["name"], variable)
            if question["type"] == "multiplechoice":
                assert question["default"] in question["choices"], (template["name"], variable)


# ---- the execution environment ---------------------------------------------------------------------------------
def test_ansible_builder_create_makes_a_context_with_the_collection_requirements_and_istioctl_step(tmp_path):
    context = tmp_path / "context"
    proc = subprocess.run([str(ROOT / "scripts" / "ee.sh"), "create", str(VENV_BIN.parent), str(context)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    containerfile = (context / "Containerfile").read_text(encoding="utf-8")
    build = context / "_build"
    # ansible-core and ansible-runner, pinned as the test venv pins ansible-core
    assert re.search(r'ARG ANSIBLE_INSTALL_REFS="ansible-core==2\.19\.\d+ ansible-runner==[\d.]+"', containerfile)
    # the collections: this one (the tarball built from the work tree) and kubernetes.core
    galaxy = yaml.safe_load((build / "requirements.yml").read_text(encoding="utf-8"))["collections"]
    assert {c["name"] for c in galaxy} == {"collections/ambient-mesh.tar.gz", "kubernetes.core"}
    with tarfile.open(build / "collections" / "ambient-mesh.tar.gz") as tar:
        info = json.load(tar.extractfile("MANIFEST.json"))["collection_info"]
        shipped = set(tar.getnames())
    assert (info["namespace"], info["name"]) == ("ambient", "mesh")
    assert info["version"] == yaml.safe_load((ROOT / "galaxy.yml").read_text(encoding="utf-8"))["version"]
    assert {"plugins/modules/waypoint.py", "playbooks/rollout.yml", "roles/canary/tasks/main.yml"} <= shipped
    assert "ansible-galaxy collection install" in containerfile and "-r requirements.yml" in containerfile
    # the modules' Python requirements
    assert (build / "requirements.txt").read_text(encoding="utf-8") == (ROOT / "requirements.txt").read_text(encoding="utf-8")
    assert "introspect.py introspect --user-pip=requirements.txt" in containerfile
    # istioctl: a build step in the final image, checked against the pinned sha256 file
    final = containerfile[containerfile.index("FROM base AS final"):]
    assert "COPY _build/istioctl/ /tmp/istioctl-build/" in final
    assert re.search(r"RUN \$PYCMD /tmp/istioctl-build/install_istioctl\.py --version 1\.30\.3 --arch linux-amd64 "
                     r"--sha256-file /tmp/istioctl-build/istioctl-1\.30\.3-linux-amd64\.tar\.gz\.sha256", final)
    assert final.index("install_istioctl.py") < final.index("USER 1000")
    for name in ("install_istioctl.py", "istioctl-1.30.3-linux-amd64.tar.gz.sha256"):
        assert (build / "istioctl" / name).read_bytes() == (AWX / "ee" / name).read_bytes()


def _release(tmp_path, version="1.30.3", arch="linux-amd64", binary=b"#!/bin/sh\necho istioctl\n"):
    """A release directory laid out as Istio's (istio/release-builder pkg/build/archive.go): the archive with
    `istioctl` at its top level, and <archive>.sha256 as pkg/util/files.go CreateSha writes it."""
    archive = f"istioctl-{version}-{arch}.tar.gz"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        member = tarfile.TarInfo("istioctl")
        member.size, member.mode = len(binary), 0o755
        tar.addfile(member, io.BytesIO(binary))
    folder = tmp_path / "releases" / version
    folder.mkdir(parents=True)
    (folder / archive).write_bytes(buf.getvalue())
    line = f"{hashlib.sha256(buf.getvalue()).hexdigest()} {archive}\n"
    (folder / f"{archive}.sha256").write_text(line, encoding="utf-8")
    return tmp_path / "releases", line


def _install(tmp_path, releases, sha_text):
    sha_file = tmp_path / "pinned.sha256"
    sha_file.write_text(sha_text, encoding="utf-8")
    env = dict(os.environ, ISTIO_RELEASE_URL=releases.as_uri())
    return subprocess.run([sys.executable, str(AWX / "ee" / "install_istioctl.py"), "--version", "1.30.3",
                           "--sha256-file", str(sha_file), "--dest", str(tmp_path / "bin")],
                          capture_output=True, text=True, env=env, timeout=60, check=False)


def test_istioctl_build_step_installs_only_the_pinned_archive(tmp_path):
    releases, line = _release(tmp_path)
    good = _install(tmp_path, releases, "# pinned from the release page\n" + line)
    assert good.returncode == 0, good.stderr
    assert (tmp_path / "bin" / "istioctl").read_bytes() == b"#!/bin/sh\necho istioctl\n"
    assert os.access(tmp_path / "bin" / "istioctl", os.X_OK)
    (tmp_path / "bin" / "istioctl").unlink()

    tampered = _install(tmp_path, releases, "0" * 64 + " istioctl-1.30.3-linux-amd64.tar.gz\n")
    assert tampered.returncode != 0 and "sha256 mismatch" in tampered.stderr
    assert not (tmp_path / "bin" / "istioctl").exists()

    unpinned = _install(tmp_path, releases, "# nothing pinned yet\n")
    assert unpinned.returncode != 0 and "no sha256 pinned for istioctl-1.30.3-linux-amd64.tar.gz" in unpinned.stderr


# ---- jobs through ansible-runner ----------------------------------------------------------------------------
def run_job(tmp_path, template, credential_type, inputs, istioctl=None, extravars=None, tags=None, **answers):
    """Runs a job template's playbook as AWX does: ansible-runner on a private data dir, the credential's
    injected environment (envvars), the survey's answers as extra vars, an inventory of one cluster host.
    Returns (runner, private data dir)."""
    import ansible_runner

    pdd = tmp_path / f"job-{uuid.uuid4().hex[:8]}"
    (pdd / "inventory").mkdir(parents=True)
    (pdd / "inventory" / "hosts.yml").write_text(yaml.safe_dump({"clusters": {"hosts": {"local-cluster": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}), encoding="utf-8")
    env = inject(CREDENTIAL_TYPES[credential_type], inputs, pdd)
    path = [str(VENV_BIN)] + ([str(pathlib.Path(istioctl.path).parent)] if istioctl else []) + [os.environ["PATH"]]
    env.update(ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_NOCOLOR="1", PATH=os.pathsep.join(path),
               HOME=str(tmp_path / "home"), ANSIBLE_DEPRECATION_WARNINGS="0")
    extra = survey_answers(JOB_TEMPLATES[template], **answers)
    extra.update(extravars or {})
    runner = ansible_runner.run(
        private_data_dir=str(pdd), project_dir=str(ROOT), playbook=JOB_TEMPLATES[template]["playbook"],
        inventory=str(pdd / "inventory" / "hosts.yml"), envvars=env, extravars=extra,
        tags=tags or JOB_TEMPLATES[template].get("job_tags"), quiet=True,
        suppress_env_files=True,  # AWX: AWX_RUNNER_OMIT_ENV_FILES, True by default (awx/main/tasks/jobs.py)
        timeout=600)
    return runner, pdd


def files_holding(root, secret):
    return sorted(str(p.relative_to(root)) for p in pathlib.Path(root).rglob("*")
                  if p.is_file() and secret.encode() in p.read_bytes())


def stdout_of(runner):
    return runner.stdout.read()


@pytest.fixture
def clean_env(monkeypatch):
    for key in [k for k in os.environ if k.startswith("K8S_AUTH_") or k == "KUBECONFIG"]:
        monkeypatch.delenv(key)


def test_rollout_job_with_the_kubeconfig_credential_rolls_the_platform_out_and_leaves_no_secret(
        cluster, istioctl, tmp_path, clean_env):
    token = f"secret-{uuid.uuid4().hex}"
    kubeconfig = cluster.kubeconfig()
    kubeconfig["users"][0]["user"]["token"] = token
    runner, pdd = run_job(
        tmp_path, "ambient.mesh rollout", KUBECONFIG_TYPE, {"kubeconfig": yaml.safe_dump(kubeconfig)}, istioctl,
        # the launch's job tags (the template asks for them); the test cluster cannot download the CRDs
        tags="rollout_platform", extravars={"install_gateway_api_src": str(GATEWAY_V151)})
    output = stdout_of(runner)
    assert (runner.status, runner.rc) == ("successful", 0), output[-3000:]
    # the platform is there: Istio (installed by istioctl, which found the cluster through KUBECONFIG),
    # the lab's namespaces in ambient mode, a programmed waypoint in hello and httpbin
    assert cluster.get("apps/v1", "Deployment", "istiod", "istio-system") is not None
    assert any(c[:2] == ["install", "--set"] or c[0] == "install" for c in istioctl.calls())
    for name in ("hello", "httpbin", "test"):
        labels = cluster.get("v1", "Namespace", name)["metadata"]["labels"]
        assert labels.get("istio.io/dataplane-mode") == "ambient", (name, labels)
    gateways = cluster.list("gateway.networking.k8s.io/v1", "Gateway")
    assert {g["metadata"]["namespace"] for g in gateways} == {"hello", "httpbin"}
    # the secret: in the credential's private file (so the search below can find it), nowhere in the artifacts
    assert files_holding(pdd / "env", token), "the injected kubeconfig should hold the token"
    assert list((pdd / "artifacts").rglob("job_events/*.json")), "no job events: the search would prove nothing"
    assert files_holding(pdd / "artifacts", token) == []
    assert token not in output


def test_report_job_with_the_token_credential_reads_the_cluster_and_leaves_no_secret(cluster, tmp_path, clean_env):
    seed_istio(cluster)
    token = f"secret-{uuid.uuid4().hex}"
    mark = cluster.mark()
    # HOME is empty: the modules can only have found the cluster through what the credential injected
    runner, pdd = run_job(tmp_path, "ambient.mesh rollout", TOKEN_TYPE,
                          {"host": cluster.url, "bearer_token": token, "verify_ssl": False}, tags="rollout_report")
    output = stdout_of(runner)
    assert (runner.status, runner.rc) == ("successful", 0), output[-3000:]
    assert "Istio 1.30.3 (ambient), healthy: True" in output
    assert cluster.requests(mark, verb="list"), "the job made no request to the API server"
    assert files_holding(pdd / "artifacts", token) == []
    assert token not in output
