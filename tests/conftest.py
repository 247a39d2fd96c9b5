"""Shared fixtures: the test API server, and running real playbooks against it."""

import json
import os
import pathlib
import subprocess
import sys
import tempfile

import pytest
import yaml

TESTS = pathlib.Path(__file__).resolve().parent
ROOT = TESTS.parent
COLLECTIONS = ROOT / ".cache" / "collections"
DATA = ROOT / "embedded_cluster" / "data"  # upstream files, unmodified: see embedded_cluster/data/README.md
CRDS = DATA / "crds"
sys.path.insert(0, str(ROOT))  # the embedded cluster: embedded_cluster/ (test API server, fake istioctl)
sys.path.insert(0, str(TESTS))
sys.path.insert(0, str(COLLECTIONS))

# Which API servers answered before (plugins/module_utils/_kube/answered.py) is kept per test process, in a
# directory of its own, so the test servers' ports of one run, or of an earlier one, are not remembered in
# ~/.cache; a test about that record sets its own directory.
os.environ["AMBIENT_MESH_CACHE_DIR"] = tempfile.mkdtemp(prefix="ambient-mesh-answered-")

from embedded_cluster.apiserver import TestCluster  # noqa: E402

GATEWAY_V121 = CRDS / "gateway-api-v1.2.1-standard.yaml"
GATEWAY_V151 = CRDS / "gateway-api-v1.5.1-standard.yaml"
ISTIO_CRDS = CRDS / "istio-1.30.3-crds.yaml"


# The simulated data plane's seed for every test cluster; verdicts must hold for any seed, so CI may
# run the suite with another one (AMBIENT_MESH_SEED=7 make test).
SEED = int(os.environ.get("AMBIENT_MESH_SEED", "0"))


@pytest.fixture
def cluster():
    with TestCluster(seed=SEED) as c:
        yield c


@pytest.fixture
def kubeconfig(cluster, tmp_path):
    return cluster.write_kubeconfig(tmp_path / "kubeconfig")


class Playbook:
    """Runs one task of a module through ansible-playbook and returns its registered result."""

    def __init__(self, kubeconfig, workdir):
        self.kubeconfig = kubeconfig
        self.workdir = pathlib.Path(workdir)
        self.runs = 0

    def run(self, module, args=None, check=False, diff=False, extra_tasks=None, fails=None):
        """The task's registered result. A failed run fails the test unless `fails` names the text
        (a string, or a list of strings) its message must hold; then a run that succeeds fails it."""
        self.runs += 1
        out = self.workdir / f"result-{self.runs}.json"
        task = {"name": "under test", module: args or {}, "register": "result",
                "ignore_errors": True, "check_mode": check, "diff": diff}
        play = [{
            "hosts": "localhost", "gather_facts": False,
            "module_defaults": {"group/ambient.mesh.k8s": {"kubeconfig": self.kubeconfig}},
            "tasks": [task] + list(extra_tasks or []),
        }]
        book = self.workdir / f"play-{self.runs}.yml"
        book.write_text(yaml.safe_dump(play), encoding="utf-8")
        proc = run_playbook(book, result_file=out)  # tests/callback_plugins/keep_result.py writes it
        if not out.exists():
            raise AssertionError(f"ansible-playbook did not run the task:\n{proc.stdout}\n{proc.stderr}")
        result = json.loads(out.read_text(encoding="utf-8"))
        result["_stdout"] = proc.stdout
        expect_outcome(bool(result.get("failed")), str(result.get("msg", "")), fails,
                       f"{module} (check={check})", proc.stdout)
        return result


def expect_outcome(failed, message, fails, what, output):
    """Raise unless the run failed exactly when the test said so, with the text it said."""
    if fails is None:
        if failed:
            raise AssertionError(f"{what} failed unexpectedly: {message}\n{output[-3000:]}")
        return
    texts = [fails] if isinstance(fails, str) else list(fails)
    if not texts or not all(isinstance(t, str) and t for t in texts):
        raise TypeError("fails= takes the text the failure message must hold, not a flag")
    if not failed:
        raise AssertionError(f"{what} was expected to fail with {texts!r}, but succeeded\n{output[-3000:]}")
    missing = [t for t in texts if t not in message]
    if missing:
        raise AssertionError(f"{what} failed, but its message lacks {missing!r}: {message}")


def ansible_env():
    env = dict(os.environ)
    env.pop("AMBIENT_MESH_TEST_RESULT", None)
    env.update(ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS), ANSIBLE_NOCOLOR="1", ANSIBLE_RETRY_FILES_ENABLED="0",
               ANSIBLE_PYTHON_INTERPRETER=sys.executable, ANSIBLE_LOCALHOST_WARNING="0",
               ANSIBLE_INVENTORY_UNPARSED_WARNING="0", ANSIBLE_DEPRECATION_WARNINGS="0")
    for key in [k for k in env if k.startswith("K8S_AUTH_")]:
        del env[key]
    return env


def run_playbook(book, *args, result_file=None):
    """ansible-playbook on localhost; with result_file, the result of the task named "under test" is
    written there (tests/callback_plugins/keep_result.py)."""
    binary = pathlib.Path(sys.executable).parent / "ansible-playbook"
    env = ansible_env()
    if result_file:
        env.update(ANSIBLE_CALLBACK_PLUGINS=str(TESTS / "callback_plugins"), ANSIBLE_CALLBACKS_ENABLED="keep_result",
                   AMBIENT_MESH_TEST_RESULT=str(result_file))
    return subprocess.run([str(binary), "-i", "localhost,", "-c", "local", str(book), *args],
                          capture_output=True, text=True, env=env, timeout=600, check=False)


@pytest.fixture
def playbook(kubeconfig, tmp_path):
    return Playbook(kubeconfig, tmp_path)


class FakeIstioctl:
    """The fake istioctl of embedded_cluster/fake_istioctl, installed for one test."""

    def __init__(self, tmp_path):
        from embedded_cluster import fake_istioctl
        self._fake = fake_istioctl
        self.home = tmp_path / "istioctl-home"
        self.path = fake_istioctl.install(tmp_path / "bin", self.home, sys.executable)

    def configure(self, **config):
        self._fake.configure(self.home, **config)

    def calls(self, since=0):
        return self._fake.invocations(self.home)[since:]

    def mark(self):
        return len(self.calls())

    def subcommands(self, since=0):
        return [" ".join(a for a in argv[:2] if not a.startswith("-")) for argv in self.calls(since)]


@pytest.fixture
def istioctl(tmp_path):
    return FakeIstioctl(tmp_path)


@pytest.fixture
def short_tmpdir(monkeypatch):
    """A TMPDIR of its own for a test that watches what the module leaves there. Short on purpose:
    ansible-core 2.21 puts its local RPC server's unix socket in TMPDIR, and a socket path longer than
    sun_path's 108 bytes (pytest's tmp_path is near that) stops ansible-playbook before any task."""
    import shutil
    import tempfile
    short = pathlib.Path(tempfile.mkdtemp(prefix="am-"))
    monkeypatch.setenv("TMPDIR", str(short))
    yield short
    shutil.rmtree(short, ignore_errors=True)


class PlayResult:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.recap = {}
        for line in proc.stdout.splitlines():
            if line.startswith("localhost") and "ok=" in line:
                self.recap = {k: int(v) for k, v in (part.split("=") for part in line.split()[2:])}

    @property
    def changed(self):
        return self.recap.get("changed", 0)

    @property
    def failed(self):
        return self.rc != 0 or self.recap.get("failed", 0) > 0


def run_role(kubeconfig, workdir, role, variables, check=False, diff=False, tags=None, fails=None):
    """Runs a role of the collection against the test cluster through ansible-playbook.

    A failed run fails the test unless `fails` names the text its output must hold."""
    play = [{"hosts": "localhost", "gather_facts": False,
             "module_defaults": {"group/ambient.mesh.k8s": {"kubeconfig": kubeconfig}},
             "roles": [{"role": role, "vars": variables}]}]
    book = pathlib.Path(workdir) / f"role-{role.rsplit('.', 1)[-1]}-{len(list(pathlib.Path(workdir).glob('role-*')))}.yml"
    book.write_text(yaml.safe_dump(play), encoding="utf-8")
    extra = (["--check"] if check else []) + (["--diff"] if diff else []) + (["--tags", tags] if tags else [])
    result = PlayResult(run_playbook(book, *extra))
    expect_outcome(result.failed, result.stdout + result.stderr, fails, f"role {role} (check={check})",
                   result.stdout + result.stderr)
    return result


def seed_istio(cluster, version="1.30.3", ready=True, revision="default", installer="istioctl"):
    """Istio's ambient profile as an install leaves it: istiod, ztunnel and istio-cni (ready, or never),
    built from Istio's rendered files (embedded_cluster/data/istio-1.30.3/rendered/*.golden.yaml) with the labels
    istioctl adds (installer="istioctl") or the charts' labels only (installer="helm")."""
    from embedded_cluster.fake_istioctl import rendered

    build = {"istioctl": rendered.istioctl_install, "helm": rendered.helm_install}[installer]
    objects = build("ambient", version, "" if revision == "default" else revision)
    cluster.seed_namespace(rendered.NAMESPACE)
    for obj in objects:
        if not ready and obj["kind"] in ("Deployment", "DaemonSet"):
            cluster.set_readiness(obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"], None)
        cluster.put(obj)
    return objects


def interrupt_role(playbook, role, variables, until, timeout=300):
    """Runs a role through ansible-playbook and sends it SIGINT (a terminal's Ctrl-C, to the whole process
    group) as soon as `until()` is true; returns (exit code, output). Fails if the play ends first."""
    import signal
    import time

    play = [{"hosts": "localhost", "gather_facts": False,
             "module_defaults": {"group/ambient.mesh.k8s": {"kubeconfig": playbook.kubeconfig}},
             "roles": [{"role": role, "vars": variables}]}]
    book = pathlib.Path(playbook.workdir) / "interrupted.yml"
    book.write_text(yaml.safe_dump(play), encoding="utf-8")
    binary = pathlib.Path(sys.executable).parent / "ansible-playbook"
    proc = subprocess.Popen([str(binary), "-i", "localhost,", "-c", "local", str(book)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=ansible_env(), start_new_session=True)
    deadline = time.monotonic() + timeout
    while not until():
        assert proc.poll() is None and time.monotonic() < deadline, "the play ended before the moment to interrupt it"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    return proc.returncode, output


# Files whose tests take longest (seconds per test, measured with --durations on a 2-core machine: whole
# rollouts, canaries, the lab, the roles' four steps). They go first, so that pytest-xdist is not left
# with one of them running alone at the end while the other worker idles.
SLOW_FIRST = ("test_playbooks.py", "test_lab.py", "test_canary_role.py", "test_every_module_and_role.py",
              "test_install_role.py", "test_fault_check_role.py", "test_outage.py", "test_istio_install.py")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if (TESTS / "integration") in pathlib.Path(item.fspath).parents:
            item.add_marker(pytest.mark.integration)

    def rank(item):
        name = pathlib.Path(item.fspath).name
        return SLOW_FIRST.index(name) if name in SLOW_FIRST else len(SLOW_FIRST)

    items.sort(key=rank)  # stable: the order inside each rank is pytest's
