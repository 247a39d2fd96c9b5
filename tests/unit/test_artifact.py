"""The built collection (ansible-galaxy collection build, as scripts/build.sh builds it): exactly the tracked
files that ship, and none of the caches, reports, benchmarks or build inputs a work tree collects, nor the
embedded cluster (embedded_cluster/: the test API server, the fake istioctl, their upstream data). Built from
a copy of the tracked files with such leftovers planted in it, so galaxy.yml's build_ignore is what keeps
them out, not their absence."""

import json
import pathlib
import shutil
import subprocess
import sys
import tarfile

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]

# tracked paths that do not ship (galaxy.yml build_ignore), as prefixes of the path
NOT_SHIPPED = (
    ".ci/", "scripts/", "benchmarks/", "Makefile", "pytest.ini", ".ansible-lint", ".yamllint", "ruff.toml",
    "requirements-test.txt", ".gitignore", "galaxy.yml", "execution-environment.yml", "awx/ee/", "embedded_cluster/",
)
# what a work tree collects and the artifact must not hold
LEFTOVERS = [
    ".pytest_cache/v/cache/nodeids", "tests/.pytest_cache/README.md", ".ruff_cache/0.14.0/123",
    ".mypy_cache/3.11/x.json", ".ansible/collections/x", "tests/output/bot/x.json",
    "benchmarks/results/run.json", "playbooks/reports/canary-hello_helloworld-1.json",
    "plugins/module_utils/__pycache__/_kube.cpython-311.pyc", ".cache/collections/x", ".venv/bin/python",
    "ambient-mesh-0.0.1.tar.gz", ".cache/ee/ambient-mesh.tar.gz",
]


def tracked():
    out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return sorted(p for p in out.decode().split("\0") if p and (ROOT / p).is_file())


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    tree = tmp_path_factory.mktemp("tree") / "mesh"
    for path in tracked():
        (tree / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / path, tree / path)
    for path in LEFTOVERS:
        (tree / path).parent.mkdir(parents=True, exist_ok=True)
        (tree / path).write_text("leftover\n", encoding="utf-8")
    out = tmp_path_factory.mktemp("out")
    galaxy = pathlib.Path(sys.executable).parent / "ansible-galaxy"
    subprocess.run([str(galaxy), "collection", "build", "--output-path", str(out), str(tree)],
                   capture_output=True, check=True, timeout=300)
    (tarball,) = out.glob("ambient-mesh-*.tar.gz")
    with tarfile.open(tarball) as tar:
        members = tar.getmembers()
        manifest = json.load(tar.extractfile("MANIFEST.json"))
    return {m.name for m in members if m.isfile()}, manifest


def test_the_artifact_holds_exactly_the_tracked_files_that_ship(artifact):
    files, _ = artifact
    expected = {p for p in tracked() if not p.startswith(NOT_SHIPPED)} | {"MANIFEST.json", "FILES.json"}
    assert sorted(files - expected) == [], "in the artifact but should not ship (galaxy.yml build_ignore)"
    assert sorted(expected - files) == [], "tracked and meant to ship, but missing from the artifact"


def test_no_cache_report_or_build_leftover_ships(artifact):
    files, _ = artifact
    assert not [f for f in files if any(f.startswith(x) or f == x for x in LEFTOVERS)]
    assert not [f for f in files if "cache" in f.split("/")[0] or f.endswith(".pyc") or f.startswith("benchmarks/")]


def test_the_embedded_cluster_does_not_ship(artifact):
    """embedded_cluster/ runs `make demo`, molecule, the benchmarks and the tests from a checkout; users of the
    collection never run it (galaxy.yml build_ignore)."""
    files, _ = artifact
    assert [p for p in tracked() if p.startswith("embedded_cluster/apiserver/")], "nothing tracked to keep out"
    assert not [f for f in files if f.split("/")[0] == "embedded_cluster"]


def test_the_artifact_has_what_users_run(artifact):
    files, manifest = artifact
    info = manifest["collection_info"]
    assert (info["namespace"], info["name"]) == ("ambient", "mesh")
    assert info["dependencies"] == {"kubernetes.core": ">=5.0.0"}
    for path in ("meta/runtime.yml", "README.md", "playbooks/rollout.yml", "awx/register.yml",
                 "awx/credential_types.yml", "awx/job_templates.yml", "changelogs/changelog.yaml"):
        assert path in files, path


def test_runtime_metadata_names_every_module_that_talks_to_the_cluster():
    runtime = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text(encoding="utf-8"))
    assert runtime["requires_ansible"].startswith(">=")
    talks = sorted(p.stem for p in (ROOT / "plugins" / "modules").glob("*.py")
                   if "kubernetes.core.k8s_auth_options" in p.read_text(encoding="utf-8"))
    assert talks and sorted(runtime["action_groups"]["k8s"]) == talks
