"""Faults injected at the transport boundary of a clerk's boto3 client.

Handlers on botocore's before-send and after-call events make chosen
requests fail as a flaky network or a busy store would, so that the clerk's
real retry, translation and verification code runs against them. Every
request to the server still happens unless a fault replaces it.
"""

from __future__ import annotations

import io
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import (
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from botocore.response import StreamingBody

from tests.support import client_of

ERROR_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code>'
    b"<Message>injected</Message></Error>"
)

# What each fault does instead of (or to) the request.
REQUEST_FAULTS = (
    "refused",
    "closed",
    "read_timeout",
    "slowdown",
    "internal_error",
    "corrupt_request",
)
RESPONSE_FAULTS = ("cut_body", "corrupt_body")


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **kwargs: Any) -> Any:
        yield self._body


@dataclass
class _Plan:
    fault: str
    times: int
    skip: int


class FaultInjector:
    """Make the next requests of an operation fail.

    ``fail("HeadObject", "slowdown", times=2)`` answers the next two
    HeadObject requests with 503 SlowDown; ``skip`` lets that many matching
    requests through first. ``sent[operation]`` counts requests that reached
    the transport, failed or not.
    """

    def __init__(self, client: Any) -> None:
        self._lock = threading.Lock()
        self._plans: dict[str, _Plan] = {}
        self._rewrites: dict[str, dict[str, str]] = {}
        self.sent: Counter[str] = Counter()
        events = client.meta.events
        events.register("before-send.s3", self._before_send)
        events.register("after-call.s3", self._after_call)
        self._endpoint = client.meta.endpoint_url

    def rewrite(self, operation: str, field: str, value: str) -> None:
        """Answers of operation report value as field from now on, as a store
        with that behaviour would (a non-MD5 ETag, another checksum)."""
        with self._lock:
            self._rewrites.setdefault(operation, {})[field] = value

    def fail(self, operation: str, fault: str, times: int = 1, skip: int = 0) -> None:
        if fault not in REQUEST_FAULTS + RESPONSE_FAULTS:
            raise ValueError(f"unknown fault {fault!r}")
        with self._lock:
            self._plans[operation] = _Plan(fault, times, skip)

    def _take(self, operation: str, kinds: tuple[str, ...]) -> str | None:
        with self._lock:
            plan = self._plans.get(operation)
            if plan is None or plan.times == 0 or plan.fault not in kinds:
                return None
            if plan.skip > 0:
                plan.skip -= 1
                return None
            plan.times -= 1
            return plan.fault

    def _before_send(self, request: Any, event_name: str, **kwargs: Any) -> AWSResponse | None:
        operation = event_name.rsplit(".", 1)[-1]
        with self._lock:
            self.sent[operation] += 1
        fault = self._take(operation, REQUEST_FAULTS)
        if fault is None:
            return None
        if fault == "refused":
            raise EndpointConnectionError(endpoint_url=self._endpoint)
        if fault == "closed":
            raise ConnectionClosedError(endpoint_url=self._endpoint)
        if fault == "read_timeout":
            raise ReadTimeoutError(endpoint_url=self._endpoint)
        if fault == "slowdown":
            return _error_response(request.url, 503, b"SlowDown")
        if fault == "internal_error":
            return _error_response(request.url, 500, b"InternalError")
        request.body = _flipped(_read_all(request.body))  # corrupt_request
        return None

    def _after_call(self, parsed: dict[str, Any], model: Any, **kwargs: Any) -> None:
        with self._lock:
            parsed.update(self._rewrites.get(model.name, {}))
        if "Body" not in parsed:
            return
        fault = self._take(model.name, RESPONSE_FAULTS)
        if fault is None:
            return
        body = parsed["Body"].read()
        if fault == "cut_body":
            parsed["Body"] = StreamingBody(io.BytesIO(body[: len(body) // 2]), len(body))
        else:
            parsed["Body"] = StreamingBody(io.BytesIO(_flipped(body)), len(body))


def _error_response(url: str, status: int, code: bytes) -> AWSResponse:
    return AWSResponse(url, status, {"Content-Type": "application/xml"}, _Raw(ERROR_BODY % code))


def _read_all(body: Any) -> bytes:
    if body is None:
        return b""
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    start = body.tell()
    data = body.read()
    body.seek(start)
    return data


def _flipped(data: bytes) -> bytes:
    if not data:
        return data
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]


def inject(clerk: Any) -> FaultInjector:
    """A fault injector on the boto3 client inside clerk."""
    return FaultInjector(client_of(clerk).raw)


def once(action: Callable[[], object]) -> Callable[..., None]:
    """A botocore event handler that runs action the first time only: to
    change the store or a file in the middle of an operation."""
    done: list[bool] = []

    def handler(**kwargs: Any) -> None:
        if not done:
            done.append(True)
            action()

    return handler
