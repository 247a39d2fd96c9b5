"""traffic_probe's curl: the argument list (no shell), its output parsed per transfer, the figures."""

import re

import pytest

from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError
from ansible_collections.ambient.mesh.plugins.module_utils._traffic.curl import (
    curl_argv,
    header_names,
    new_marker,
    parse_output,
    percentile,
    summarise,
    write_out,
)

HELLO = "http://helloworld.hello.svc.cluster.local:5000/hello"
MARK = "ambient-mesh-probe-0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize("options, present, absent", [
    ({}, [["-s", "-S"], ["-H", "Connection: close"], [HELLO + "#[1-100]"]], ["-X", "--globoff", "--max-time"]),
    ({"reuse_connection": True}, [[HELLO + "#[1-100]"]], ["Connection: close"]),
    ({"method": "post", "headers": {"x-user": "a b; c"}, "timeout": 2.5},
     [["-X", "POST"], ["-H", "x-user: a b; c"], ["--max-time", "2.5"]], []),
    ({"method": "HEAD"}, [["--head"]], ["-X"]),
    ({"headers": {"Connection": "keep-alive"}}, [["-H", "Connection: keep-alive"]], ["Connection: close"]),
])
def test_argv(options, present, absent):
    argv = curl_argv(HELLO, 100, MARK, **options)
    assert argv[0] == "curl" and all(isinstance(a, str) for a in argv)
    for seq in present:
        assert any(argv[i:i + len(seq)] == seq for i in range(len(argv))), (seq, argv)
    for word in absent:
        assert word not in argv
    # one argument for all N requests; nothing for a shell to split or expand
    assert len(argv) < 20


def test_a_fragment_of_the_url_is_replaced_by_the_glob():
    assert curl_argv(HELLO + "#frag", 3, MARK)[-1] == HELLO + "#[1-3]"


def test_a_url_with_glob_characters_is_repeated_under_globoff():
    url = "http://[fd00::1]:5000/hello"
    argv = curl_argv(url, 3, MARK)
    assert "--globoff" in argv and argv[-3:] == [url] * 3


def test_the_write_out_names_each_field_between_markers():
    fmt = write_out(MARK, ["server"])
    assert fmt.startswith("\n" + MARK + "\n") and fmt.endswith("\n" + MARK + "/\n")
    assert fmt.split("\n")[2:8] == ["%{http_code}", "%{time_total}", "%{num_connects}", "%{exitcode}", "%{errormsg}",
                                    "%header{server}"]


def test_markers_differ_between_runs():
    assert new_marker() != new_marker() and re.fullmatch(r"ambient-mesh-probe-[0-9a-f]{32}", new_marker())


@pytest.mark.parametrize("bad", ["x}y", "a b", "", "x%{stderr}"])
def test_header_names_that_could_break_the_write_out_are_refused(bad):
    with pytest.raises(AmbientMeshError, match="not an HTTP header name"):
        header_names(capture_headers=[bad])


def record(body, code, time_total, connects=1, exitcode=0, errormsg="", headers=()):
    return "%s\n%s\n%s\n%s\n%s\n%s\n%s%s\n%s/\n" % (
        body, MARK, code, time_total, connects, exitcode, errormsg, "".join("\n" + h for h in headers), MARK)


def curl_stdout():
    """What curl prints for four transfers: two bodies, a timeout (000, exit 28), a 503 abort."""
    return (record("Hello version: v1, instance: helloworld-v1-abc\n", "200", "0.012", headers=["envoy"])
            + record("Hello version: v2, instance: helloworld-v2-def\n", "200", "0.020", headers=["envoy"])
            + record("", "000", "2.000123", connects=0, exitcode=28,
                     errormsg="Operation timed out after 2000 milliseconds with 0 bytes received", headers=[""])
            + record("fault filter abort", "503", "0.004", headers=["istio-envoy"]))


def test_output_parsing_with_failed_transfers():
    transfers, rest = parse_output(curl_stdout(), MARK, ["server"])
    assert rest == ""
    assert [(t["status"], t["exitcode"], t["connects"]) for t in transfers] == [
        ("200", 0, 1), ("200", 0, 1), ("000", 28, 0), ("503", 0, 1)]
    assert transfers[2]["time_total"] == 2.000123 and "timed out" in transfers[2]["errormsg"]
    assert transfers[0]["body"] == "Hello version: v1, instance: helloworld-v1-abc\n"
    assert transfers[3]["headers"] == {"server": "istio-envoy"}


def test_a_body_that_looks_like_a_record_is_still_a_body():
    # a body may contain newlines and the field values; only the random marker delimits
    body = "\n200\n0.5\n1\n0\n\nambient-mesh-probe-other\n"
    transfers, _ = parse_output(record(body, "200", "0.1"), MARK)
    assert len(transfers) == 1 and transfers[0]["body"] == body and transfers[0]["time_total"] == 0.1


def test_a_record_with_the_wrong_number_of_fields_is_an_error():
    with pytest.raises(AmbientMeshError, match="has 5 fields, expected 6"):
        parse_output(record("x", "200", "0.1"), MARK, ["server"])


def test_summary_counts_status_errors_backends_headers():
    transfers, _ = parse_output(curl_stdout(), MARK, ["server"])
    out = summarise(transfers, pattern=re.compile(r"version: (v\d+)"), capture=["server"], sample=True)
    assert out["requests"] == 4
    assert out["counts"] == {"v1": 1, "v2": 1} and out["shares"] == {"v1": 0.5, "v2": 0.5}
    assert out["unidentified"] == 2
    assert out["status_codes"] == {"200": 2, "000": 1, "503": 1}
    assert out["transport_errors"] == {"28": 1}
    assert out["error_rate"] == 0.5
    assert out["connections"] == 3
    assert out["headers"] == {"server": {"envoy": 2, "istio-envoy": 1}}
    assert out["latency"] == {"p50": 0.012, "p90": 2.000123, "p95": 2.000123, "p99": 2.000123,
                              "max": 2.000123}
    assert [s["backend"] for s in out["sample"]] == ["v1", "v2", None, None]


def test_backend_from_a_header():
    transfers, _ = parse_output(record("", "200", "0.1", headers=["v2"]) * 2, MARK, ["x-version"])
    out = summarise(transfers, backend_header="X-Version")
    assert out["counts"] == {"v2": 2} and "sample" not in out


@pytest.mark.parametrize("p, expected", [(50, 5), (90, 9), (95, 10), (99, 10), (100, 10), (1, 1), (10, 1), (11, 2)])
def test_nearest_rank_percentiles(p, expected):
    assert percentile(list(range(1, 11)), p) == expected
