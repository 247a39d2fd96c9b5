"""The client's curl: command line, globs, --write-out, connection reuse, exit codes and messages
(curl 8.16.0's source: src/tool_urlglob.c, src/tool_writeout.c, src/tool_operate.c, lib/*)."""

import re

import builders
import pytest
from embedded_cluster.apiserver.dataplane import NotSimulated, curl
from embedded_cluster.apiserver.execapi import ExecutableNotFound
from dataplane_lab import Lab, pod

HELLO = "http://helloworld.hello.svc.cluster.local:5000/hello"


@pytest.mark.parametrize("url, globoff, expected", [
    ("h/[1-3]", False, ["h/1", "h/2", "h/3"]),
    ("h/[01-03]", False, ["h/01", "h/02", "h/03"]),
    ("h/[1-7:3]", False, ["h/1", "h/4", "h/7"]),
    ("h/[a-c]", False, ["h/a", "h/b", "h/c"]),
    ("h/{x,y}/[1-2]", False, ["h/x/1", "h/x/2", "h/y/1", "h/y/2"]),  # the last glob varies fastest
    ("h/\\{x\\}", False, ["h/{x}"]),
    ("h/[1-3]", True, ["h/[1-3]"]),
])
def test_globs(url, globoff, expected):
    assert curl.expand(url, globoff) == expected


@pytest.mark.parametrize("url, expected", [
    ("helloworld:5000/hello#frag", ("http", "helloworld", 5000, "/hello")),
    ("http://HelloWorld.hello/x?a=1", ("http", "helloworld.hello", 80, "/x?a=1")),
    ("http://h:8000", ("http", "h", 8000, "/")),
    ("ftp://h/x", ("ftp", None, None, None)),
])
def test_urls(url, expected):
    assert curl.split_url(url) == expected


@pytest.fixture
def lab(cluster):
    return Lab(cluster)


def test_write_out_variables(lab):
    result = lab.curl("-s", "-o", "/dev/null", "-w",
                      "%{http_code} %{exitcode} [%{errormsg}] %{num_connects} %{size_download} %{remote_port}"
                      " %header{content-type} %{time_total} %% \\t|%{stderr}to-err", HELLO)
    out = result.stdout.decode()
    m = re.fullmatch(r"200 0 \[\] 1 60 5000 text/html; charset=utf-8 (\d+\.\d{6}) % \t\|", out)
    assert m and 0 < float(m.group(1)) < 0.05, out
    assert result.stderr == b"to-err"
    result = lab.curl("-s", "-w", "%{bogus}", HELLO)
    assert result.stderr == b"curl: unknown --write-out variable: 'bogus'\n"


def test_connection_reuse_and_connection_close(lab):
    three = [HELLO] * 3
    reused = lab.curl("-s", "-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null", "-w", "%{num_connects}", *three)
    assert reused.stdout == b"100"
    closed = lab.curl("-s", "-o", "/dev/null", "-o", "/dev/null", "-o", "/dev/null", "-H", "Connection: close",
                      "-w", "%{num_connects}%header{connection}|", *three)
    assert closed.stdout == b"1close|1close|1close|"
    # another host or port is another connection
    other = lab.curl("-s", "-w", "%{num_connects}", "-o", "/dev/null", "-o", "/dev/null", HELLO,
                     "http://helloworld.hello:5000/hello")
    assert other.stdout == b"11"


@pytest.mark.parametrize("args, code, stderr", [
    (["http://nowhere.hello:5000/"], 6, "curl: (6) Could not resolve host: nowhere.hello\n"),
    (["--bogus", HELLO], 2, "curl: option --bogus: is unknown\ncurl: try 'curl --help' or 'curl --manual' "
                            "for more information\n"),
    ([], 2, "curl: (2) no URL specified\ncurl: try 'curl --help' or 'curl --manual' for more information\n"),
    (["-f", "http://httpbin.hello:8000/status/404"], 22, "curl: (22) The requested URL returned error: 404\n"),
    (["-m", "1", "http://httpbin.hello:8000/delay/3"], 28,
     "curl: (28) Operation timed out after 1000 milliseconds with 0 bytes received\n"),
    (["ftp://x/"], 1, 'curl: (1) Protocol "ftp" not supported\n'),
])
def test_exit_codes_and_messages(lab, args, code, stderr):
    result = lab.curl("-sS", *args)
    assert (result.exit_code, result.stderr.decode()) == (code, stderr)
    if args and args[0] == "-f":
        assert result.stdout == b""  # --fail: no body
    silent = lab.curl("-s", *args)
    assert silent.exit_code == code and (silent.stderr == b"" or code == 2)


def test_exit_code_is_the_last_transfers(lab):
    bad = "http://nowhere:1/"
    assert lab.curl("-s", "-o", "/dev/null", bad, HELLO).exit_code == 0
    assert lab.curl("-s", "-o", "/dev/null", HELLO, bad).exit_code == 6


def test_refused_outside_the_mesh_and_reset_inside(cluster):
    lab = Lab(cluster, test_labels={})
    cluster.put(builders.service("hello", "empty", selector={"app": "none"}))
    cluster.put(builders.service("hello", "nginx", selector={"app": "nginx"}, port=80))
    cluster.put(pod("hello", "nginx-1", {"metadata": {"labels": {"app": "nginx"}},
                                         "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}))
    for host, port in (("empty.hello", 5000), ("nginx.hello", 80)):
        result = lab.curl("-sS", f"http://{host}:{port}/")
        assert result.exit_code == 7
        assert re.fullmatch(rf"curl: \(7\) Failed to connect to {host} port {port} after \d+ ms: "
                            r"Could not connect to server\n", result.stderr.decode())
    cluster.put(builders.namespace("test", **builders.AMBIENT))
    result = lab.curl("-sS", "http://nginx.hello/")
    assert (result.exit_code, result.stderr) == (56, b"curl: (56) Recv failure: Connection reset by peer\n")


def test_head_include_and_dump_header(lab):
    head = lab.curl("-sI", HELLO)
    assert head.stdout.startswith(b"HTTP/1.1 200 OK\r\nServer: gunicorn\r\n") and head.stdout.endswith(b"\r\n\r\n")
    dumped = lab.curl("-s", "-D", "-", HELLO)
    assert dumped.stdout.split(b"\r\n\r\n")[1].startswith(b"Hello version: ")
    assert b"Content-Length: 60\r\n" in dumped.stdout


def test_fragment_is_never_sent_and_headers_are(lab):
    result = lab.curl("-s", "-H", "X-Probe: 1", "http://httpbin.hello:8000/get?a=1#frag")
    body = result.stdout.decode()
    assert '"url": "http://httpbin.hello:8000/get?a=1"' in body and "frag" not in body
    assert '"X-Probe": [\n      "1"\n    ]' in body and '"User-Agent": [\n      "curl/8.16.0"' in body


def test_what_is_not_simulated_fails_loudly(lab):
    with pytest.raises(NotSimulated, match="progress meter"):
        lab.curl(HELLO)
    with pytest.raises(NotSimulated, match="-v"):
        lab.curl("-sv", HELLO)


def test_other_executables_and_images(lab, cluster):
    with pytest.raises(ExecutableNotFound):
        lab.cluster._call(lab.dataplane.run, lab.client, "curl", ["sh", "-c", "true"])
    hello = lab.pods["v1"][0]
    with pytest.raises(ExecutableNotFound):
        lab.cluster._call(lab.dataplane.run, hello, "helloworld", ["curl", HELLO])


def test_reseed_replays_the_same_picks(lab):
    args = ["-s", "-H", "Connection: close", HELLO + "?[1-30]"]
    lab.dataplane.reseed(7)
    first = lab.curl(*args).stdout
    lab.dataplane.reseed(7)
    assert lab.curl(*args).stdout == first
