"""The client container's curl (curlimages/curl, curl 8.x), as its source says (tag curl-8_16_0, the
version samples/curl.yaml runs): src/tool_getparam.c (options), src/tool_urlglob.c (globs),
src/tool_operate.c (one transfer after another, error lines `curl: (N) message`, the exit code is the last
transfer's), src/tool_writeout.c (--write-out), lib/strerror.c and include/curl/curl.h (codes, texts).

Connections are reused as libcurl's connection cache does: a later URL to the same scheme, host and port
reuses the connection unless the server answered `Connection: close` (lib/http.c: "Connection: close used"),
which every server here sends when the request asked for it (RFC 9112 9.6); a timeout or a reset closes it.
"""

import http
import re

from . import dns
from .messages import ConnectionFailed, ConnectionReset, NotSimulated, Request

# include/curl/curl.h CURLcode values
OK, UNSUPPORTED_PROTOCOL, FAILED_INIT, URL_MALFORMAT = 0, 1, 2, 3
COULDNT_RESOLVE_HOST, COULDNT_CONNECT, HTTP_RETURNED_ERROR = 6, 7, 22
OPERATION_TIMEDOUT, RECV_ERROR = 28, 56

FLAGS = {"-s": "silent", "--silent": "silent", "-S": "show_error", "--show-error": "show_error",
         "-I": "head", "--head": "head", "-i": "include", "--include": "include", "-f": "fail", "--fail": "fail",
         "-g": "globoff", "--globoff": "globoff", "-k": "insecure", "--insecure": "insecure",
         "--http1.1": "http11", "-N": "no_buffer", "--no-buffer": "no_buffer", "-q": "noop", "--disable": "noop"}
VALUED = {"-o": "output", "--output": "output", "-w": "write_out", "--write-out": "write_out",
          "-D": "dump_header", "--dump-header": "dump_header", "-X": "request", "--request": "request",
          "-H": "header", "--header": "header", "-m": "max_time", "--max-time": "max_time",
          "--connect-timeout": "connect_timeout", "--url": "url", "-A": "user_agent", "--user-agent": "user_agent"}
# options curl has that this simulation does not play (it fails loudly rather than ignore them)
NOT_PLAYED = {"-v", "--verbose", "-L", "--location", "-d", "--data", "--data-raw", "--data-binary", "-F", "--form",
              "-x", "--proxy", "--retry", "-Z", "--parallel", "-K", "--config", "-O", "--remote-name",
              "--resolve", "--connect-to", "-b", "--cookie", "-u", "--user", "-e", "--referer", "-T", "--upload-file",
              "--http2", "--http2-prior-knowledge", "--fail-with-body", "-#", "--progress-bar", "--trace",
              "--trace-ascii", "--limit-rate", "--compressed", "-4", "-6", "--ipv4", "--ipv6", "--next", "-:"}


class Usage(Exception):
    pass


def parse(argv):
    opts = {"header": [], "output": [], "urls": []}
    args = list(argv[1:])
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg.startswith("--") and len(arg) > 2:
            names = [arg]
        elif arg.startswith("-") and len(arg) > 1:
            names = []
            for pos in range(1, len(arg)):  # short options combine: -sS, -so /dev/null, -o/dev/null
                name = "-" + arg[pos]
                if name in VALUED and pos + 1 < len(arg):
                    names.append((name, arg[pos + 1:]))
                    break
                names.append(name)
        else:
            opts["urls"].append(arg)
            continue
        for name in names:
            value = None
            if isinstance(name, tuple):
                name, value = name
            if name in NOT_PLAYED:
                raise NotSimulated(f"curl option {name}")
            if name in FLAGS:
                opts[FLAGS[name]] = True
            elif name in VALUED:
                if value is None:
                    if i >= len(args):
                        raise Usage(f"option {name}: requires parameter")
                    value = args[i]
                    i += 1
                key = VALUED[name]
                if key in ("header", "output"):
                    opts[key].append(value)
                elif key == "url":
                    opts["urls"].append(value)
                else:
                    opts[key] = value
            else:
                raise Usage(f"option {name}: is unknown")
    for key in ("max_time", "connect_timeout"):
        if key in opts:
            try:
                opts[key] = float(opts[key])
            except ValueError as exc:
                raise Usage(f"option --{key.replace('_', '-')}: expected a proper numerical parameter") from exc
    return opts


# ---- globbing (src/tool_urlglob.c) --------------------------------------------------------------------
def expand(url, globoff):
    if globoff:
        return [url]
    parts = []  # literal strings and lists of alternatives
    i = 0
    while i < len(url):
        ch = url[i]
        if ch == "\\" and i + 1 < len(url) and url[i + 1] in "{}[],":
            parts.append(url[i + 1])
            i += 2
        elif ch == "{":
            end = url.index("}", i) if "}" in url[i:] else -1
            if end < 0:
                raise NotSimulated("curl's message for an unmatched brace")
            parts.append(url[i + 1:end].split(","))
            i = end + 1
        elif ch == "[":
            end = url.find("]", i)
            body = url[i + 1:end] if end > 0 else ""
            m = re.fullmatch(r"(\d+)-(\d+)(?::(\d+))?", body) or re.fullmatch(r"([a-zA-Z])-([a-zA-Z])(?::(\d+))?", body)
            if not m:
                if re.match(r"[0-9a-fA-F:.]+(%\w+)?$", body):  # an IPv6 address is no glob
                    parts.append(url[i:end + 1])
                    i = end + 1
                    continue
                raise NotSimulated(f"curl's message for the glob [{body}]")
            lo, hi, step = m.group(1), m.group(2), int(m.group(3) or 1)
            if lo.isdigit():
                width = len(lo) if lo.startswith("0") else 0  # leading zero: zero padded to its width
                values = [str(n).zfill(width) for n in range(int(lo), int(hi) + 1, step)]
            else:
                values = [chr(c) for c in range(ord(lo), ord(hi) + 1, step)]
            if not values:
                raise NotSimulated(f"curl's message for the empty range [{body}]")
            parts.append(values)
            i = end + 1
        else:
            parts.append(ch)
            i += 1
    urls = [""]
    for part in parts:  # the last glob varies fastest
        urls = [u + p for u in urls for p in ([part] if isinstance(part, str) else part)]
    return urls


def split_url(url):
    """scheme, host, port, path?query of a URL as curl takes it (no scheme: http; the #fragment dropped)."""
    url = url.split("#", 1)[0]
    m = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://", url)
    scheme = m.group(1).lower() if m else "http"
    rest = url[m.end():] if m else url
    if scheme != "http":
        if scheme == "https":
            raise NotSimulated("https (TLS) in the simulated mesh")
        return scheme, None, None, None
    hostport, slash, path = rest.partition("/")
    path = slash + path if slash else "/"
    if "?" in hostport:
        hostport, query = hostport.split("?", 1)
        path = "/?" + query
    if "@" in hostport:
        raise NotSimulated("credentials in a URL")
    m = re.fullmatch(r"(\[[0-9a-fA-F:.]+\]|[^:\[\]]*)(?::(\d*))?", hostport)
    if not m or not m.group(1):
        return scheme, "", None, path
    port = int(m.group(2)) if m.group(2) else 80
    return scheme, m.group(1).lower(), port, path


class Transfer:
    def __init__(self, url, urlnum):
        self.url, self.urlnum = url, urlnum
        self.code, self.error = OK, ""
        self.status, self.headers, self.body, self.header_bytes = 0, [], b"", b""
        self.num_connects, self.remote_ip, self.remote_port = 0, "", 0
        self.t_namelookup = self.t_connect = self.t_start = self.total = 0.0
        self.method, self.effective = "GET", url


def run(dataplane, client, image, argv):
    """Runs curl in the client pod; returns (stdout, stderr, exit code)."""
    version = _version(image)
    out, err = bytearray(), bytearray()
    try:
        opts = parse(argv)
    except Usage as exc:
        # src/tool_getparam.c + tool_msgs.c helpf (param2text texts), CURLE_FAILED_INIT
        err += f"curl: {exc}\ncurl: try 'curl --help' or 'curl --manual' for more information\n".encode()
        return bytes(out), bytes(err), FAILED_INIT
    if not opts["urls"]:
        err += b"curl: (2) no URL specified\ncurl: try 'curl --help' or 'curl --manual' for more information\n"
        return bytes(out), bytes(err), FAILED_INIT
    for target in opts["output"] + ([opts["dump_header"]] if "dump_header" in opts else []):
        if target not in ("/dev/null", "-"):
            raise NotSimulated(f"curl writing to the file {target} in the container")
    show_errors = not opts.get("silent") or opts.get("show_error")
    if not opts.get("silent"):
        raise NotSimulated("curl's progress meter (run it with -s)")
    cache = {}
    code = OK
    for index, arg in enumerate(opts["urls"]):
        sink = opts["output"][index] if index < len(opts["output"]) else "-"
        for urlnum, url in enumerate(expand(arg, opts.get("globoff"))):
            t = _transfer(dataplane, client, opts, url, urlnum, cache, version)
            if t.code and show_errors:
                err += f"curl: ({t.code}) {t.error}\n".encode()
            if "dump_header" in opts and opts["dump_header"] == "-":
                out += t.header_bytes
            if sink == "-" and not (opts.get("fail") and t.code == HTTP_RETURNED_ERROR):
                if opts.get("include") or opts.get("head"):
                    out += t.header_bytes
                out += t.body
            if "write_out" in opts:
                writeout(opts["write_out"], t, out, err)
            code = t.code
    return bytes(out), bytes(err), code


def _version(image):
    m = re.search(r":(\d+\.\d+\.\d+)", image or "")
    if not m:
        raise NotSimulated(f"curl's version in image {image!r} (User-Agent)")
    return m.group(1)


def _transfer(dp, client, opts, url, urlnum, cache, version):
    t = Transfer(url, urlnum)
    scheme, host, port, path = split_url(url)
    t.effective = f"{scheme}://{host}{'' if port == 80 else f':{port}'}{path}" if host else url
    if host is None:
        t.code, t.error = UNSUPPORTED_PROTOCOL, f'Protocol "{scheme}" not supported'  # lib/url.c findprotocol
        return t
    if not host:
        t.code, t.error = URL_MALFORMAT, "URL rejected: No host part in the URL"  # lib/urlapi.c CURLUE_NO_HOST
        return t
    t.method = opts.get("request") or ("HEAD" if opts.get("head") else "GET")
    max_time = opts.get("max_time")
    key = (scheme, host, port)
    conn = cache.get(key)
    clock = 0.0
    if conn is None:
        clock += dp.lookup_time(host)
        ip = dns.resolve(dp.view, host.strip("[]"), client["metadata"]["namespace"])
        t.t_namelookup = clock
        if ip is None:
            t.code, t.error = COULDNT_RESOLVE_HOST, f"Could not resolve host: {host}"  # lib/hostip.c
            return _finish(dp, t, clock)
        clock += dp.connect_time()
        try:
            conn = dp.network.connect(client, ip, port)
        except ConnectionFailed:
            t.remote_ip = ip
            # lib/cf-ip-happy.c: "Failed to connect to %s port %u after %ld ms: %s" (curl_easy_strerror)
            t.code = COULDNT_CONNECT
            t.error = f"Failed to connect to {host} port {port} after {int(clock * 1000)} ms: Could not connect to server"
            return _finish(dp, t, clock)
        t.num_connects = 1
        cache[key] = conn
        conn.ip = ip
    else:
        t.t_namelookup = 0.0
    t.remote_ip, t.remote_port, t.t_connect = conn.ip, port, clock
    headers = [("Host", host if port == 80 else f"{host}:{port}"), ("User-Agent", f"curl/{version}"), ("Accept", "*/*")]
    headers = _custom_headers(headers, opts["header"], opts.get("user_agent"))
    req = Request(t.method, path, dict(headers).get("Host", host), headers)
    try:
        resp = conn.send(req)
    except ConnectionReset:
        del cache[key]
        t.code, t.error = RECV_ERROR, "Recv failure: Connection reset by peer"  # lib/cf-socket.c, strerror(ECONNRESET)
        return _finish(dp, t, clock + dp.latency())
    first_byte = clock + resp.elapsed
    if max_time is not None and first_byte > max_time:
        del cache[key]  # lib/multi.c: "Disconnect due to timeout"
        t.code = OPERATION_TIMEDOUT
        # lib/multi.c multi_handle_timeout, no response yet: size unknown
        t.error = f"Operation timed out after {int(max_time * 1000)} milliseconds with 0 bytes received"
        return _finish(dp, t, max_time + 0.0005)
    t.t_start = first_byte
    t.status, t.headers, t.body = resp.status, resp.headers, resp.body
    t.backend = resp.backend
    reason = http.HTTPStatus(resp.status).phrase if resp.status in http.HTTPStatus._value2member_map_ else ""
    t.header_bytes = (f"HTTP/1.1 {resp.status} {reason}\r\n".encode()
                      + b"".join(f"{k}: {v}\r\n".encode() for k, v in resp.headers) + b"\r\n")
    if (resp.header("connection") or "").lower() == "close":
        cache.pop(key, None)
    if opts.get("fail") and resp.status >= 400:
        t.code, t.error = HTTP_RETURNED_ERROR, f"The requested URL returned error: {resp.status}"  # lib/http.c
        t.body = b""
        cache.pop(key, None)  # lib/multi.c: an error result closes the connection ("Transfer returned error")
    return _finish(dp, t, first_byte)


def _custom_headers(headers, custom, user_agent):
    """lib/http.c: a custom header replaces curl's own of that name; "Name:" removes it; "Name;" sends it empty."""
    if user_agent is not None:
        headers = [(k, user_agent if k == "User-Agent" else v) for k, v in headers]
    for line in custom:
        if ":" in line:
            name, value = line.split(":", 1)
            value = value.strip()
            headers = [(k, v) for k, v in headers if k.lower() != name.strip().lower()]
            if value:
                headers.append((name.strip(), value))
        elif line.endswith(";"):
            headers.append((line[:-1].strip(), ""))
    return headers


def _finish(dp, t, total):
    t.total = total
    dp.advance(total)
    return t


# ---- --write-out (src/tool_writeout.c) ----------------------------------------------------------------
def _seconds(value):
    micros = int(round(value * 1_000_000))
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"  # writeTime: secs.%06us


def _variable(name, t):
    if name in ("http_code", "response_code"):
        return "%03d" % t.status  # writeLong: %03ld for the response code
    simple = {
        "exitcode": str(t.code), "errormsg": t.error if t.code else "", "num_connects": str(t.num_connects),
        "remote_ip": t.remote_ip, "remote_port": str(t.remote_port) if t.remote_ip else "",
        "size_download": str(len(t.body)), "size_header": str(len(t.header_bytes)),
        "num_headers": str(len(t.headers)), "time_total": _seconds(t.total),
        "time_namelookup": _seconds(t.t_namelookup), "time_connect": _seconds(t.t_connect),
        "time_starttransfer": _seconds(t.t_start), "url": t.url, "url_effective": t.effective,
        "urlnum": str(t.urlnum), "method": t.method, "http_version": "1.1" if t.status else "0",
        "content_type": next((v for k, v in t.headers if k.lower() == "content-type"), ""),
    }
    if name in simple:
        return simple[name]
    raise NotSimulated(f"--write-out variable %{{{name}}}")


KNOWN = {"certs", "conn_id", "content_type", "errormsg", "exitcode", "filename_effective", "ftp_entry_path",
         "header_json", "http_code", "http_connect", "http_version", "json", "local_ip", "local_port", "method",
         "num_certs", "num_connects", "num_headers", "num_redirects", "num_retries", "onerror",
         "proxy_ssl_verify_result", "proxy_used", "redirect_url", "referer", "remote_ip", "remote_port",
         "response_code", "scheme", "size_download", "size_header", "size_request", "size_upload",
         "speed_download", "speed_upload", "ssl_verify_result", "stderr", "stdout", "time_appconnect",
         "time_connect", "time_namelookup", "time_posttransfer", "time_pretransfer", "time_queue",
         "time_redirect", "time_starttransfer", "time_total", "tls_earlydata", "url", "url.fragment", "url.host",
         "url.options", "url.password", "url.path", "url.port", "url.query", "url.scheme", "url.user",
         "url.zoneid", "url_effective", "urle.fragment", "urle.host", "urle.options", "urle.password",
         "urle.path", "urle.port", "urle.query", "urle.scheme", "urle.user", "urle.zoneid", "urlnum", "xfer_id"}


def writeout(fmt, t, out, err):
    if fmt.startswith("@"):
        raise NotSimulated("--write-out @file")
    stream = out
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == "%" and i + 1 < len(fmt):
            if fmt[i + 1] == "%":
                stream += b"%"
                i += 2
            elif fmt[i + 1] == "{":
                end = fmt.find("}", i)
                if end < 0:
                    stream += b"%{"
                    i += 2
                    continue
                name = fmt[i + 2:end]
                i = end + 1
                if name not in KNOWN:
                    err += f"curl: unknown --write-out variable: '{name}'\n".encode()
                elif name == "stdout":
                    stream = out
                elif name == "stderr":
                    stream = err
                elif name == "onerror":
                    if t.code == OK:
                        return
                else:
                    stream += _variable(name, t).encode()
            elif fmt.startswith("header{", i + 1):
                end = fmt.find("}", i)
                if end < 0:
                    stream += b"%header{"
                    i += 8
                    continue
                wanted = fmt[i + 8:end].lower()
                values = [v for k, v in t.headers if k.lower() == wanted]
                if values:
                    stream += values[0].encode()  # curl_easy_header(name, index 0, CURLH_HEADER, request -1)
                i = end + 1
            elif fmt.startswith(("time{", "output{"), i + 1):
                raise NotSimulated("--write-out %time{} / %output{}")
            else:
                stream += fmt[i:i + 2].encode()
                i += 2
        elif ch == "\\" and i + 1 < len(fmt):
            stream += {"r": b"\r", "n": b"\n", "t": b"\t"}.get(fmt[i + 1], fmt[i:i + 2].encode())
            i += 2
        else:
            stream += ch.encode()
            i += 1
