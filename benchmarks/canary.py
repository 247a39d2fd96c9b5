"""Benchmark: a canary of the lab's helloworld (v1 -> v2) in 4 steps, each probed with 200 requests.

Starts the test API server as a separate process (so the server and ansible-playbook do not share a GIL), seeds
the lab with the collection's own playbooks (playbooks/platform.yml: Gateway API, Istio's ambient profile through
the fake istioctl, the namespaces, the waypoints; playbooks/lab.yml: the apps), then runs the canary role through
ansible-playbook with the variables of playbooks/vars/lab.yml. A callback (benchmarks/callback_plugins/
task_times.py) records when each task starts, so the figure is the time from the first step's route write to the
end of the promotion, without ansible-playbook's start-up and the role's preflight. Prints one JSON line:

  {"benchmark": "canary", "steps": [5, 25, 50, 100], "requests_per_step": 200, "outcome": "promoted",
   "first_step_to_promotion_s": ..., "step_s": [...], "playbook_s": ..., "seed_s": ...,
   "api_requests": ..., "api_writes": ..., "goal_s": 30}

Request counts come from the server's own log, for the canary run only. Usage (from the repository root, after
`make demo` or scripts/bootstrap.sh):

  .venv/bin/python benchmarks/canary.py [--requests 200] [--steps 5,25,50,100]
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time
import urllib.request

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
GATEWAY_API = ROOT / "embedded_cluster" / "data" / "crds" / "gateway-api-v1.5.1-standard.yaml"
INVENTORY = ROOT / "playbooks" / "inventory" / "local.yml"
GOAL_S = 30
# the canary role's task names that bound the measured span (roles/canary/tasks/step.yml and main.yml)
FIRST_STEP_TASK = "write the weights and wait"
AFTER_PROMOTION_TASK = "Set the outcome"


def server_log(url):
    with urllib.request.urlopen(url + "/debug/requests") as resp:
        return json.loads(resp.read())


def ansible_env(workdir):
    env = dict(os.environ)
    env.update(ANSIBLE_COLLECTIONS_PATH=str(ROOT / ".cache" / "collections"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_RETRY_FILES_ENABLED="0", ANSIBLE_CALLBACK_PLUGINS=str(ROOT / "benchmarks" / "callback_plugins"),
               ANSIBLE_CALLBACKS_ENABLED="task_times", TASK_TIMES_FILE=str(workdir / "task_times.jsonl"))
    return env


def playbook(workdir, book, *args):
    binary = pathlib.Path(sys.executable).parent / "ansible-playbook"
    proc = subprocess.run([str(binary), "-i", str(INVENTORY), str(book), *args], capture_output=True, text=True,
                          env=ansible_env(workdir), check=False, timeout=900)
    if proc.returncode != 0:
        raise SystemExit(f"{book} failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}")
    return proc


def canary_play(workdir, kubeconfig, steps, requests):
    """A play running the canary role with the lab's canary variables (playbooks/vars/lab.yml)."""
    lab = yaml.safe_load((ROOT / "playbooks" / "vars" / "lab.yml").read_text(encoding="utf-8"))
    variables = {k: v for k, v in lab.items() if k.startswith("canary_")}
    auth = {"kubeconfig": str(kubeconfig)}
    variables.update(canary_steps=steps, canary_report_dir=str(workdir / "reports"), canary_kubernetes_auth=auth,
                     canary_probe=dict(variables["canary_probe"], requests=requests))
    play = [{"name": "Canary benchmark", "hosts": "clusters", "gather_facts": False,
             "module_defaults": {"group/ambient.mesh.k8s": auth, "group/kubernetes.core.k8s": auth},
             "roles": [{"role": "ambient.mesh.canary", "vars": variables}]}]
    book = workdir / "canary.yml"
    book.write_text(yaml.safe_dump(play), encoding="utf-8")
    return book


def spans(times_file):
    """(first step -> promotion seconds, seconds per step) from the callback's task start times."""
    events = [json.loads(line) for line in times_file.read_text(encoding="utf-8").splitlines()]
    starts = [e for e in events if e["event"] == "start"]
    steps = [e["time"] for e in starts if FIRST_STEP_TASK in e["task"].lower()]
    after = [e["time"] for e in starts if e["task"].endswith(AFTER_PROMOTION_TASK)]
    if not steps or not after:
        raise SystemExit(f"the canary role's tasks (names containing) {FIRST_STEP_TASK!r} / {AFTER_PROMOTION_TASK!r} were not seen: "
                         "were they renamed? (benchmarks/canary.py)")
    bounds = steps + [after[-1]]
    return after[-1] - steps[0], [round(b - a, 3) for a, b in zip(bounds, bounds[1:], strict=False)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200, help="requests per step's probe")
    parser.add_argument("--steps", default="5,25,50,100", help="percent to the canary at each step")
    args = parser.parse_args()
    steps = [int(s) for s in args.steps.split(",")]

    workdir = pathlib.Path(tempfile.mkdtemp(prefix="canary-bench-"))
    kubeconfig = workdir / "kubeconfig"
    server = subprocess.Popen([sys.executable, "-m", "embedded_cluster", "--kubeconfig", str(kubeconfig)],
                              cwd=str(ROOT), stdout=subprocess.PIPE, text=True)
    try:
        server.stdout.readline()
        while not kubeconfig.exists() or not kubeconfig.stat().st_size:
            time.sleep(0.05)
        url = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
        sys.path.insert(0, str(ROOT))
        from embedded_cluster import fake_istioctl  # the embedded cluster's fake istioctl, acting on this server
        istioctl = fake_istioctl.install(workdir / "bin", workdir / "istioctl-home", sys.executable)

        start = time.perf_counter()
        connection = ["-e", f"kubeconfig={kubeconfig}"]
        playbook(workdir, ROOT / "playbooks" / "platform.yml", *connection, "-e", f"install_istioctl_path={istioctl}",
                 "-e", f"install_gateway_api_src={GATEWAY_API}")
        playbook(workdir, ROOT / "playbooks" / "lab.yml", *connection)
        seed = time.perf_counter() - start

        times = workdir / "task_times.jsonl"
        times.unlink(missing_ok=True)
        before = server_log(url)
        start = time.perf_counter()
        playbook(workdir, canary_play(workdir, kubeconfig, steps, args.requests))
        whole = time.perf_counter() - start
        after = server_log(url)
        span, per_step = spans(times)
        [record] = sorted((workdir / "reports").glob("canary-*.json"))
        outcome = json.loads(record.read_text(encoding="utf-8"))["outcome"]
        print(json.dumps({
            "benchmark": "canary", "steps": steps, "requests_per_step": args.requests, "outcome": outcome,
            "first_step_to_promotion_s": round(span, 3), "step_s": per_step, "playbook_s": round(whole, 3),
            "seed_s": round(seed, 3), "api_requests": after["requests"] - before["requests"],
            "api_writes": after["writes"] - before["writes"], "goal_s": GOAL_S}))
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
