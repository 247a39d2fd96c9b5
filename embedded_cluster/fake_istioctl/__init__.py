"""Make a fake istioctl executable for a test: install(bin_dir, home, python) -> path."""

import json
import pathlib
import stat

SCRIPT = pathlib.Path(__file__).resolve().parent / "istioctl.py"


def install(bin_dir, home, python, version="1.30.3", **config):
    """Write an `istioctl` executable into bin_dir that runs the fake with `python`."""
    bin_dir, home = pathlib.Path(bin_dir), pathlib.Path(home)
    bin_dir.mkdir(parents=True, exist_ok=True)
    home.mkdir(parents=True, exist_ok=True)
    configure(home, version=version, **config)
    path = bin_dir / "istioctl"
    path.write_text(f'#!/bin/sh\nFAKE_ISTIOCTL_HOME="{home}" exec "{python}" "{SCRIPT}" "$@"\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return str(path)


def configure(home, **config):
    path = pathlib.Path(home) / "config.json"
    current = json.loads(path.read_text()) if path.exists() else {}
    current.update(config)
    path.write_text(json.dumps(current))


def hung(home):
    """The pids of every hanging fake (and its child), from the `hang` configuration."""
    path = pathlib.Path(home) / "hung.jsonl"
    if not path.exists():
        return []
    return [pid for line in path.read_text().splitlines() if line.strip() for pid in json.loads(line)["pids"]]


def alive(pid):
    """A process that exists and is not a zombie (nobody may reap in a container)."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def records(home):
    """Every invocation as logged: argv plus the kubeconfig's path and modes when it was given one."""
    path = pathlib.Path(home) / "invocations.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def invocations(home):
    path = pathlib.Path(home) / "invocations.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["argv"] for line in path.read_text().splitlines() if line.strip()]


__all__ = ["install", "configure", "invocations", "records", "hung", "alive"]
