"""The lab's apps, recognised by the images of Istio's samples, answering as the real ones do."""

import copy
import json
import pathlib
import re

import pytest
from embedded_cluster.apiserver.dataplane import apps
from dataplane_lab import Lab, pod, sample

README = pathlib.Path(__file__).resolve().parents[3] / "embedded_cluster" / "data" / "istio-1.30.3" / "README.md"


def reply_pattern():
    """The reply format the reference folder's README documents: `Hello version: <SERVICE_VERSION>, instance: <HOSTNAME>`."""
    text = README.read_text(encoding="utf-8")
    fmt = re.search(r"`(Hello version: [^`]+)`", text).group(1)
    return re.escape(fmt).replace("<SERVICE_VERSION>", "(?P<version>v\\d+)").replace("<HOSTNAME>", "(?P<host>[\\w-]+)")


@pytest.mark.parametrize("name, listens", [("helloworld.yaml", 5000), ("httpbin.yaml", 8080)])
def test_images_of_the_samples_are_recognised(name, listens):
    for deployment in sample(name, "Deployment"):
        spec = deployment["spec"]["template"]
        pod = {"metadata": {"name": "p"}, "spec": spec["spec"]}
        assert apps.app_for(pod, listens) is not None
        assert [p["containerPort"] for c in spec["spec"]["containers"] for p in c["ports"]] == [listens]
        assert apps.app_for(pod, listens + 1) is None
    client = sample("curl.yaml", "Deployment")[0]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert apps.has_curl(client) and not apps.has_curl("nginx:1.27")


def test_helloworld_reply_format(cluster):
    lab = Lab(cluster, v1=1, v2=1)
    seen = {}
    out = lab.curl("-s", "-H", "Connection: close", "http://helloworld.hello:5000/hello?[1-40]").stdout.decode()
    for line in out.splitlines():
        m = re.fullmatch(reply_pattern(), line)
        assert m, line
        seen[m.group("version")] = m.group("host")
    assert seen == {"v1": lab.pods["v1"][0]["metadata"]["name"], "v2": lab.pods["v2"][0]["metadata"]["name"]}
    health = lab.curl("-s", "http://helloworld.hello:5000/health").stdout.decode()
    assert health == re.search(r"`GET /health` with `([^`]+)`", README.read_text(encoding="utf-8")).group(1)
    missing = lab.curl("-s", "-w", "%{http_code}", "http://helloworld.hello:5000/nope").stdout.decode()
    assert missing.startswith("<!doctype html>\n<html lang=en>\n<title>404 Not Found</title>") and missing.endswith("404")


def test_httpbin_endpoints(cluster):
    lab = Lab(cluster)
    base = "http://httpbin.hello:8000"
    got = json.loads(lab.curl("-s", base + "/get?x=1&x=2").stdout)
    assert got["args"] == {"x": ["1", "2"]} and got["method"] == "GET"
    assert got["headers"]["Host"] == ["httpbin.hello:8000"] and got["headers"]["Accept"] == ["*/*"]
    assert re.fullmatch(r"10\.244\.\d+\.\d+:\d+", got["origin"])
    assert got["origin"].split(":")[0] == lab.client["status"]["podIP"]
    headers = json.loads(lab.curl("-s", "-H", "X-A: b", base + "/headers").stdout)["headers"]
    assert headers["X-A"] == ["b"]
    teapot = lab.curl("-s", "-w", "|%{http_code}|%{content_type}", base + "/status/418").stdout
    assert teapot == b"I'm a teapot!|418|text/plain; charset=utf-8"
    delayed = lab.curl("-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total} %header{server-timing}",
                       base + "/delay/1.5").stdout.decode().split(" ", 2)
    assert delayed[0] == "200" and 1.5 <= float(delayed[1]) < 1.6
    assert delayed[2] == 'initial_delay;dur=1500.00;desc="initial delay"'
    too_long = json.loads(lab.curl("-s", base + "/delay/11").stdout)
    assert too_long == {"status_code": 400, "error": "Bad Request", "detail": "invalid duration: duration 11s longer than 10s"}
    assert lab.curl("-s", base + "/nope").stdout == b"404 page not found\n"
    cors = lab.curl("-sI", base + "/status/200").stdout
    assert b"Access-Control-Allow-Origin: *\r\n" in cors and b"Access-Control-Allow-Credentials: true\r\n" in cors


def annotated(template, rate):
    template = copy.deepcopy(template)
    template.setdefault("metadata", {}).setdefault("annotations", {})[apps.ERROR_RATE] = rate
    return template


@pytest.mark.parametrize("rate, low, high", [("0", 0, 0), ("0.3", 40, 80), ("1", 200, 200)])
def test_the_error_rate_knob_fails_that_share_of_helloworld_requests(cluster, rate, low, high):
    """The test-only pod annotation dataplane.test/error-rate: HTTP 500 for about that share, seeded."""
    lab = Lab(cluster, v1=0, v2=0)
    v2 = next(d for d in sample("helloworld.yaml", "Deployment") if d["metadata"]["name"] == "helloworld-v2")
    name = "helloworld-v2-7d4b9c8f60-e0000"
    cluster.put(pod("hello", name, annotated(v2["spec"]["template"], rate)))
    out = lab.curl("-s", "-H", "Connection: close", "-w", "|%{http_code}\n",
                   "http://helloworld.hello:5000/hello#[1-200]").stdout.decode()
    codes = re.findall(r"\|(\d{3})\n", out)
    assert len(codes) == 200 and set(codes) <= {"200", "500"}
    assert low <= codes.count("500") <= high
    if "500" in codes:
        assert "<title>500 Internal Server Error</title>" in out
    if "200" in codes:
        assert "Hello version: v2, instance: %s\n" % name in out


def test_the_error_rate_knob_on_httpbin_and_its_seeded_draws(cluster):
    def fivehundreds(seed):
        lab.dataplane.reseed(seed)
        out = lab.curl("-s", "-o", "/dev/null", "-w", "%{http_code}\n", "http://httpbin.hello:8000/get#[1-100]")
        return [i for i, code in enumerate(out.stdout.decode().split()) if code == "500"]

    lab = Lab(cluster)
    cluster.delete("v1", "Pod", lab.pods["httpbin"][0]["metadata"]["name"], "hello")
    template = sample("httpbin.yaml", "Deployment")[0]["spec"]["template"]
    cluster.put(pod("hello", "httpbin-7d4b9c8f60-e0001", annotated(template, "0.5")))
    first = fivehundreds(7)
    assert 25 <= len(first) <= 75 and fivehundreds(7) == first and fivehundreds(8) != first
    failed = lab.curl("-s", "-i", "http://httpbin.hello:8000/status/200#[1-20]").stdout
    assert b"HTTP/1.1 500 Internal Server Error\r\n" in failed and b"Content-Type: text/plain; charset=utf-8\r\n" in failed


@pytest.mark.parametrize("bad", ["half", "1.5", "-0.1"])
def test_an_error_rate_that_is_no_share_is_refused(bad):
    with pytest.raises(apps.NotSimulated, match="dataplane.test/error-rate"):
        apps.error_rate({"metadata": {"name": "p", "annotations": {apps.ERROR_RATE: bad}}})
