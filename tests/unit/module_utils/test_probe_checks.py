"""traffic_probe's checks before anything runs, and the warning when no request got an HTTP status (issue 28)."""

import pytest

from ansible_collections.ambient.mesh.plugins.module_utils._errors import AmbientMeshError
from ansible_collections.ambient.mesh.plugins.module_utils._traffic.probe import no_status_warning, validate

HELLO = "http://helloworld.hello.svc.cluster.local:5000/hello"


def params(**overrides):
    base = {"requests": 10, "confidence": 0.99, "timeout": 10, "backend_pattern": None, "backend_header": None,
            "expected_shares": None, "expected_status_rate": None, "expected_status": None, "latency": None,
            "url": HELLO, "method": "GET", "headers": None}
    base.update(overrides)
    return base


@pytest.mark.parametrize("overrides, words", [
    ({"url": ""}, ["url is empty", "e.g. http://helloworld.hello.svc.cluster.local:5000/hello"]),
    ({"url": "   "}, ["url is empty"]),
    ({"headers": {"x-user": "alice\r\nx-admin: yes"}}, ["headers.x-user", "line break", "'alice\\r\\nx-admin: yes'"]),
    ({"headers": {"x-user": "alice\nx-admin: yes"}}, ["headers.x-user", "line break"]),
    ({"headers": {"x-user": "a\rb"}}, ["headers.x-user", "line break"]),
    ({"headers": {"x-ok": "fine", "x-nul": "a\0b"}}, ["headers.x-nul"]),
    ({"headers": {"bad name": "v"}}, ["headers: 'bad name' is not an HTTP header name"]),
])
def test_bad_input_is_refused_naming_what_and_why(overrides, words):
    with pytest.raises(AmbientMeshError) as err:
        validate(params(**overrides))
    for word in words:
        assert word in err.value.msg
    assert "without spaces" not in err.value.msg


def test_header_values_on_one_line_pass():
    assert validate(params(headers={"x-user": "a b; c", "x-n": 5})) is None


@pytest.mark.parametrize("measured, words", [
    ({"requests": 20, "status_codes": {"000": 20}, "transport_errors": {"6": 20}, "error_rate": 1.0},
     ["none of the 20 requests got an HTTP status", "exit 6 x20: could not resolve the host", "error_rate 1.0"]),
    ({"requests": 5, "status_codes": {"000": 5}, "transport_errors": {"7": 3, "28": 2}, "error_rate": 1.0},
     ["exit 7 x3: could not connect", "exit 28 x2: timed out"]),
])
def test_no_http_status_at_all_warns_with_curls_exit_codes(measured, words):
    warning = no_status_warning(measured)
    for word in words:
        assert word in warning


@pytest.mark.parametrize("measured", [
    {"requests": 20, "status_codes": {"000": 19, "200": 1}, "transport_errors": {"6": 19}, "error_rate": 0.95},
    {"requests": 20, "status_codes": {"503": 20}, "transport_errors": {}, "error_rate": 1.0},  # the service answered
])
def test_a_response_with_a_status_is_no_reason_to_warn(measured):
    assert no_status_warning(measured) is None
