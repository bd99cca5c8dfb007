"""A fault-injecting HTTP proxy on 127.0.0.1, between a clerk and its S3
server: the network misbehaving for real, on real sockets.

Requests pass through unchanged unless a rule matches them; a matching
request then meets its fault, up to the rule's count. Bounded: every socket
has a timeout, every delay a limit, and stop() ends every thread.
"""

from __future__ import annotations

import re
import socket
import socketserver
import struct
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Self
from urllib.parse import urlsplit

SOCKET_TIMEOUT = 10.0
FAULTS = (
    "close_before",  # close the connection before forwarding
    "lost_answer",  # forward, then close without answering: the store acted
    "half_body",  # send status, headers and half the body, then reset
    "slowdown",  # answer 503 SlowDown without forwarding
    "internal_error",  # answer 500 InternalError without forwarding
    "delay",  # forward, then answer only after the client's read timeout
    "flip_request",  # flip one byte of the request body, then forward
    "flip_response",  # flip one byte of the response body
)
ERROR_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>%s</Code>'
    b"<Message>injected by the test proxy</Message></Error>"
)


@dataclass
class Request:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> str:
        return urlsplit(self.target).query


@dataclass
class Rule:
    matches: Callable[[Request], bool]
    fault: str
    times: int
    skip: int = 0


def request_matcher(
    method: str, path: str = r".*", query: str | None = None, header: str | None = None
) -> Callable[[Request], bool]:
    """Matches requests by method, a regular expression over the path, and
    optionally one over the query string and a header that must be present."""

    def matches(request: Request) -> bool:
        return (
            request.method == method
            and re.fullmatch(path, request.path) is not None
            and (query is None or re.search(query, request.query) is not None)
            and (header is None or header.lower() in request.headers)
        )

    return matches


class FaultProxy:
    """``with FaultProxy(upstream_port) as proxy:`` then point a clerk at
    127.0.0.1:proxy.port and add rules with ``proxy.inject(...)``."""

    def __init__(self, upstream_port: int, delay: float = 1.5) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.delay = delay  # longer than the clients' read timeout
        self.matched: Counter[str] = Counter()
        self._rules: list[Rule] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                proxy._serve(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True
            block_on_close = False

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=SOCKET_TIMEOUT)

    def inject(
        self, matches: Callable[[Request], bool], fault: str, times: int = 2, skip: int = 0
    ) -> None:
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}")
        with self._lock:
            self._rules.append(Rule(matches, fault, times, skip))

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def _fault_for(self, request: Request) -> str | None:
        with self._lock:
            for rule in self._rules:
                if rule.times <= 0 or not rule.matches(request):
                    continue
                self.matched[rule.fault] += 1
                if rule.skip > 0:
                    rule.skip -= 1
                    return None
                rule.times -= 1
                return rule.fault
        return None

    # -- one client connection -------------------------------------------------

    def _serve(self, client: socket.socket) -> None:
        client.settimeout(SOCKET_TIMEOUT)
        reader = client.makefile("rb")
        try:
            while not self._stopping.is_set():
                request = _read_request(reader, client)
                if request is None:
                    return
                if not self._answer(client, request):
                    return
        except (OSError, ValueError):
            return
        finally:
            reader.close()
            client.close()

    def _answer(self, client: socket.socket, request: Request) -> bool:
        """Answer one request; False when the connection is to end."""
        fault = self._fault_for(request)
        if fault == "close_before":
            return False
        if fault in ("slowdown", "internal_error"):
            status, code = (503, b"SlowDown") if fault == "slowdown" else (500, b"InternalError")
            client.sendall(_error_response(status, code, request.method == "HEAD"))
            return True
        if fault == "flip_request":
            request.body = _flipped(request.body)
        status_line, headers, body = _forward(self.upstream, request)
        if fault == "lost_answer":
            return False
        if fault == "delay":
            self._stopping.wait(self.delay)
        if fault == "flip_response":
            body = _flipped(body)
        head = _head(status_line, headers, body, keep_length=request.method == "HEAD")
        if fault == "half_body":
            # half the body; an answer without one is cut inside its headers
            client.sendall(head + body[: len(body) // 2] if body else head[: len(head) // 2])
            _reset(client)
            return False
        client.sendall(head + body)
        return True


def _read_request(reader: Any, client: socket.socket) -> Request | None:
    line = reader.readline(65536)
    if not line or not line.strip():
        return None
    method, target, _version = line.decode("latin-1").split(" ", 2)
    headers = _read_headers(reader)
    if headers.pop("expect", "").lower() == "100-continue":
        client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")  # or the client waits a second
    length = int(headers.get("content-length", "0"))
    body = reader.read(length) if length else b""
    return Request(method, target, headers, body)


def _read_headers(reader: Any) -> dict[str, str]:
    headers: dict[str, str] = {}
    for _ in range(200):
        line = reader.readline(65536).decode("latin-1")
        if line in ("\r\n", "\n", ""):
            return headers
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    raise ValueError("too many headers")


def _forward(upstream: tuple[str, int], request: Request) -> tuple[str, dict[str, str], bytes]:
    """Send request to the upstream server on a connection of its own."""
    with socket.create_connection(upstream, timeout=SOCKET_TIMEOUT) as connection:
        headers = {k: v for k, v in request.headers.items() if k not in ("connection",)}
        headers["content-length"] = str(len(request.body))
        headers["connection"] = "close"
        lines = [f"{request.method} {request.target} HTTP/1.1"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + request.body)
        reader = connection.makefile("rb")
        status_line = reader.readline(65536).decode("latin-1").strip()
        response_headers = _read_headers(reader)
        status = int(status_line.split(" ", 2)[1])
        if request.method == "HEAD" or status in (204, 304):
            body = b""
        elif "content-length" in response_headers:
            body = reader.read(int(response_headers["content-length"]))
        elif response_headers.get("transfer-encoding", "").lower() == "chunked":
            body = _read_chunked(reader)
        else:
            body = reader.read()
        reader.close()
    response_headers.pop("transfer-encoding", None)
    response_headers.pop("connection", None)
    return status_line, response_headers, body


def _read_chunked(reader: Any) -> bytes:
    parts = []
    for _ in range(1_000_000):
        size = int(reader.readline(65536).split(b";")[0].strip(), 16)
        if size == 0:
            reader.readline(65536)
            return b"".join(parts)
        parts.append(reader.read(size))
        reader.readline(65536)
    raise ValueError("too many chunks")


def _head(status_line: str, headers: dict[str, str], body: bytes, keep_length: bool) -> bytes:
    """Status line and headers for body; keep_length keeps the upstream's
    Content-Length (a HEAD answer states the object's length, sends none)."""
    fields = {**headers}
    if not keep_length:
        fields["content-length"] = str(len(body))
    lines = [status_line, *(f"{name}: {value}" for name, value in fields.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _error_response(status: int, code: bytes, head_only: bool) -> bytes:
    body = b"" if head_only else ERROR_BODY % code
    reason = {500: "Internal Server Error", 503: "Slow Down"}[status]
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/xml\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def _flipped(data: bytes) -> bytes:
    if not data:
        return data
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]


def _reset(connection: socket.socket) -> None:
    """Close with a TCP reset rather than an orderly shutdown."""
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    connection.close()
