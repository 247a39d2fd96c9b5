"""What travels between the simulated curl, the mesh and the apps: requests, responses, failures."""

import dataclasses


class NotSimulated(Exception):
    """A combination whose real behaviour the simulation does not know: the test fails loudly, naming it."""

    def __init__(self, what):
        super().__init__(f"not simulated: {what}")


@dataclasses.dataclass
class Request:
    method: str
    path: str  # path and query as sent (curl never sends the #fragment)
    authority: str  # the Host header curl sends: host[:port] as written in the URL
    headers: list  # [(name, value)] in the order curl sends them

    def header(self, name):
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)

    @property
    def wants_close(self):
        return (self.header("connection") or "").strip().lower() == "close"


@dataclasses.dataclass
class Response:
    status: int
    headers: list  # [(name, value)] as the server sends them
    body: bytes = b""
    elapsed: float = 0.0  # simulated seconds the server(s) took before the first response byte
    backend: str = ""  # the pod that answered ("" for a proxy's local reply), for the tests
    # what a proxy's stats filter reads of the stream (telemetry.py): Envoy's response flags, the upstream
    # cluster's Service and the upstream pod (None when there was none)
    flags: list = dataclasses.field(default_factory=list)
    cluster: object = None
    upstream: object = None

    def header(self, name):
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)

    def set_header(self, name, value):
        self.headers = [(k, v) for k, v in self.headers if k.lower() != name.lower()] + [(name, value)]


class ConnectionFailed(Exception):
    """The TCP connection could not be made; `errno_text` is what strerror says (curl prints it)."""


class ConnectionReset(Exception):
    """The peer reset the connection after the request was sent (curl: Recv failure)."""
