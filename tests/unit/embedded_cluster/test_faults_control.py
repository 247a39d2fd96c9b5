"""Faults armed from a shell, as README "When things go wrong" shows: POST /debug/faults and the
--fail / --outage flags of `python -m embedded_cluster`."""

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
import yaml

from conftest import ROOT

PATCH = {"metadata": {"labels": {"team": "a"}}}


def call(url, method, path, body=None, ctype="application/json"):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + path, data=data, method=method, headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def patch_namespace(url, name="default"):
    return call(url, "PATCH", "/api/v1/namespaces/" + name, PATCH, "application/merge-patch+json")


def refused(url):
    try:
        call(url, "GET", "/api/v1/namespaces")
    except (urllib.error.URLError, ConnectionError, OSError):
        return True
    return False


def wait_for(predicate, seconds):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_a_fault_with_a_verb_and_an_outage_waits_for_its_request(cluster):
    """README's mid-batch example: the outage starts on the (after+1)th real patch, not at once."""
    status, doc = call(cluster.url, "POST", "/debug/faults",
                       {"verb": "patch", "dry_run": False, "after": 2, "outage": 1})
    assert status == 200
    assert doc["faults"] == [{"verb": "patch", "resource": None, "status": 503, "left": 1, "retry_after": None,
                              "message": None, "outage": 1}]
    time.sleep(0.4)  # an immediate outage would have begun by now (it starts 0.2 s after the answer)
    assert patch_namespace(cluster.url)[0] == 200
    assert patch_namespace(cluster.url, "kube-system")[0] == 200
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        patch_namespace(cluster.url)  # the third: dropped unanswered, and the listener closes
    assert refused(cluster.url)
    assert wait_for(lambda: not refused(cluster.url), 10), "the server did not come back"
    status, doc = call(cluster.url, "GET", "/api/v1/namespaces/kube-system")
    assert doc["metadata"]["labels"]["team"] == "a"  # state kept across the restart
    assert call(cluster.url, "GET", "/debug/faults")[1]["faults"] == []


def test_an_outage_alone_starts_now_and_ends(cluster):
    status, doc = call(cluster.url, "POST", "/debug/faults", {"outage": 1})
    assert (status, doc) == (200, {"outage": 1, "starts_in": 0.2})
    assert wait_for(lambda: refused(cluster.url), 5), "no outage"
    assert wait_for(lambda: not refused(cluster.url), 10), "the server did not come back"


def test_error_faults_armed_listed_and_disarmed(cluster):
    status, doc = call(cluster.url, "POST", "/debug/faults", {"verb": "patch", "resource": "namespaces",
                                                              "status": 503, "times": 2})
    assert status == 200 and doc["faults"][0]["left"] == 2
    status, doc = patch_namespace(cluster.url)
    assert (status, doc["reason"]) == (503, "ServiceUnavailable")
    assert call(cluster.url, "GET", "/debug/faults")[1]["faults"][0]["left"] == 1
    assert call(cluster.url, "DELETE", "/debug/faults")[1] == {"faults": []}
    assert patch_namespace(cluster.url)[0] == 200


@pytest.mark.parametrize("body, text", [
    ({"resource": "namespaces"}, "verb (required)"),
    ({"verb": "patch", "stauts": 503}, "unknown: ['stauts']"),
    ({"verb": "patch", "status": 200}, "HTTP error status"),
    ({"verb": "patch", "times": 0}, "positive integer"),
    ({"outage": 0}, "outage is a number of seconds > 0"),
    ({"outage": 5, "after": 3}, "give verb"),
    ({"verb": "patch", "outage": "soon"}, "outage is a number of seconds > 0"),
])
def test_bad_fault_specs_are_400_and_arm_nothing(cluster, body, text):
    status, doc = call(cluster.url, "POST", "/debug/faults", body)
    assert status == 400 and text in doc["message"], doc
    assert call(cluster.url, "GET", "/debug/faults")[1]["faults"] == []
    assert not refused(cluster.url)


def _start(tmp_path, *flags):
    kubeconfig = tmp_path / "kc"
    proc = subprocess.Popen([sys.executable, "-m", "embedded_cluster", "--kubeconfig", str(kubeconfig), *flags],
                            cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert "listening on http://127.0.0.1:" in line, proc.stderr.read()
    assert wait_for(kubeconfig.exists, 10)
    return proc, yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]


def test_cli_fail_and_outage_flags(tmp_path):
    proc, url = _start(tmp_path, "--fail", "verb=list,resource=namespaces,status=503,times=1", "--outage", "1:1.5")
    try:
        status, doc = call(url, "GET", "/api/v1/namespaces")
        assert (status, doc["reason"]) == (503, "ServiceUnavailable")
        assert call(url, "GET", "/api/v1/namespaces")[0] == 200
        assert wait_for(lambda: refused(url), 10), "--outage did not start"
        assert wait_for(lambda: not refused(url), 10), "the server did not come back"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize("flags, text", [
    (["--fail", "resource=namespaces"], "verb is required"),
    (["--fail", "verb=patch,colour=red"], "expected key=value"),
    (["--fail", "verb=patch,status=200"], "HTTP error status"),
    (["--outage", "30"], "AFTER:SECONDS"),
    (["--outage", "5:0"], "SECONDS > 0"),
])
def test_cli_refuses_bad_fault_flags(tmp_path, flags, text):
    proc = subprocess.run([sys.executable, "-m", "embedded_cluster", "--kubeconfig", str(tmp_path / "kc"), *flags],
                          cwd=str(ROOT), capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 2 and text in proc.stderr, proc.stderr
    assert not (tmp_path / "kc").exists()
