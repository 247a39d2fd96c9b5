"""The lab's apps, recognised by the images of Istio's samples, answering as the real ones do."""

import json
import pathlib
import re

import pytest
from apiserver.dataplane import apps
from dataplane_lab import Lab, sample

README = pathlib.Path(__file__).resolve().parents[2] / "data" / "istio-1.30.3" / "README.md"


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
