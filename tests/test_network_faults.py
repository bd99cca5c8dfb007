"""Every operation against every kind of network fault, on real sockets:
a fault-injecting proxy on 127.0.0.1 sits between the clerk and the S3
server. Each operation must return the right result, and the store (checked
with plain boto3, around the proxy) must hold exactly what it should."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from object_clerk import (
    ObjectClerk,
    ObjectClerkConnectionException,
    ObjectClerkServerInternalException,
    ObjectVerificationException,
)
from tests.proxy import FaultProxy, Request, request_matcher
from tests.support import TEST_THRESHOLD, Endpoint, hides_part_sizes, stored_bytes, stored_keys
from tests.workloads import round_trips

# The whole file is slow: fault proxies, and answers delayed past the read timeout.
pytestmark = pytest.mark.slow

READ_TIMEOUT = 1  # the proxy's "delay" answers after 1.5 s
SMALL = b"a small frame\n" * 50
BIG = os.urandom(TEST_THRESHOLD + 4321)  # two parts
NEW = os.urandom(2 * TEST_THRESHOLD + 99)  # three parts


@pytest.fixture
def proxy(endpoint: Endpoint) -> Iterator[FaultProxy]:
    if endpoint.use_ssl:
        pytest.skip("the test proxy speaks plain http")
    with FaultProxy(endpoint.port, delay=READ_TIMEOUT + 0.5) as running:
        yield running


@pytest.fixture(autouse=True)
def no_secret_in_debug_logs(caplog: pytest.LogCaptureFixture, endpoint: Endpoint) -> Iterator[None]:
    """Every library logs at DEBUG through each test; the secret key must
    appear in none of it."""
    for name in ("", "boto3", "botocore", "urllib3", "s3transfer", "retry", "object_clerk"):
        caplog.set_level(logging.DEBUG, logger=name)
    yield
    records = caplog.get_records("call")
    assert records, "DEBUG logging was captured"
    for record in records:
        assert endpoint.secret_key not in record.getMessage()


@pytest.fixture
def proxied(
    make_clerk: Callable[..., ObjectClerk], proxy: FaultProxy
) -> Callable[..., ObjectClerk]:
    def make(**overrides: Any) -> ObjectClerk:
        timeouts = f'{{"read_timeout": {READ_TIMEOUT}, "connect_timeout": {READ_TIMEOUT}}}'
        arguments: dict[str, Any] = {"host": "127.0.0.1", "port": proxy.port, "retry_tries": 4}
        arguments.update(overrides)
        return make_clerk(env={"S3_CLIENT_CONFIG": timeouts}, **arguments)

    return make


def prepare(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="small", Body=SMALL)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]
    parts = []
    for number, start in enumerate(range(0, len(BIG), TEST_THRESHOLD), start=1):
        body = BIG[start : start + TEST_THRESHOLD]
        etag = s3.upload_part(
            Bucket=bucket, Key="big", UploadId=upload, PartNumber=number, Body=body
        )["ETag"]
        parts.append({"ETag": etag, "PartNumber": number})
    s3.complete_multipart_upload(
        Bucket=bucket, Key="big", UploadId=upload, MultipartUpload={"Parts": parts}
    )
    for index in range(7):
        s3.put_object(Bucket=bucket, Key=f"list/{index}", Body=b"x")


@dataclass(frozen=True)
class Case:
    matcher: Callable[[str], Callable[[Request], bool]]  # bucket -> request matcher
    call: Callable[[ObjectClerk, str], Any]
    check: Callable[[Any, str, Any], None]


def _is(expected: Any) -> Callable[[Any], None]:
    def check(actual: Any) -> None:
        assert actual == expected

    return check


def _keys_are(expected: list[str]) -> Callable[[Any, str, Any], None]:
    return lambda s3, bucket, _: _is(expected)(sorted(stored_keys(s3, bucket)))


BASE_KEYS = ["big", "small", *(f"list/{i}" for i in range(7))]

CASES: dict[str, Case] = {
    "get_object": Case(
        lambda b: request_matcher("GET", f"/{b}/big"),
        lambda c, b: c.get_object(b, "big"),
        lambda s3, b, result: _is(BIG)(result),
    ),
    "get_object_info": Case(
        lambda b: request_matcher("HEAD", f"/{b}/small"),
        lambda c, b: c.get_object_info(b, "small")["content-length"],
        lambda s3, b, result: _is(str(len(SMALL)))(result),
    ),
    "upload_object single": Case(
        lambda b: request_matcher("PUT", f"/{b}/new", query=r"^$"),
        lambda c, b: c.upload_object(SMALL + b"!", b, "new"),
        lambda s3, b, _: _is(SMALL + b"!")(stored_bytes(s3, b, "new")),
    ),
    "upload_object multipart part": Case(
        lambda b: request_matcher("PUT", f"/{b}/new", query="partNumber"),
        lambda c, b: c.upload_object(NEW, b, "new"),
        lambda s3, b, _: _is(NEW)(stored_bytes(s3, b, "new")),
    ),
    "upload_object multipart completion": Case(
        lambda b: request_matcher("POST", f"/{b}/new", query="uploadId"),
        lambda c, b: c.upload_object(NEW, b, "new"),
        lambda s3, b, _: _is(NEW)(stored_bytes(s3, b, "new")),
    ),
    "copy_object single": Case(
        lambda b: request_matcher("PUT", f"/{b}/copy", query=r"^$", header="x-amz-copy-source"),
        lambda c, b: c.copy_object(b, "small", b, "copy"),
        lambda s3, b, _: _is(SMALL)(stored_bytes(s3, b, "copy")),
    ),
    "copy_object multipart": Case(
        lambda b: request_matcher("PUT", f"/{b}/copy", query="partNumber"),
        lambda c, b: c.copy_object(b, "big", b, "copy"),
        lambda s3, b, _: _is(BIG)(stored_bytes(s3, b, "copy")),
    ),
    "move_object": Case(
        lambda b: request_matcher("DELETE", f"/{b}/small"),
        lambda c, b: c.move_object(b, "small", b, "moved"),
        lambda s3, b, _: (
            _is(SMALL)(stored_bytes(s3, b, "moved")),
            _keys_are([k for k in sorted([*BASE_KEYS, "moved"]) if k != "small"])(s3, b, None),
        ),
    ),
    "delete_object": Case(
        lambda b: request_matcher("DELETE", f"/{b}/small"),
        lambda c, b: c.delete_object(b, "small"),
        _keys_are(sorted(k for k in BASE_KEYS if k != "small")),
    ),
    "list_objects later page": Case(
        lambda b: request_matcher("GET", f"/{b}", query="continuation-token"),
        lambda c, b: [e["Key"] for e in c.list_objects(b, 3, prefix="list/")],
        lambda s3, b, result: _is([f"list/{i}" for i in range(7)])(result),
    ),
}

NETWORK_FAULTS = ["close_before", "lost_answer", "half_body", "slowdown", "internal_error", "delay"]


def _faults_for(operation: str) -> list[str]:
    if operation == "get_object":
        return [*NETWORK_FAULTS, "flip_response"]
    if operation.startswith("upload_object") and "completion" not in operation:
        return [*NETWORK_FAULTS, "flip_request"]
    return NETWORK_FAULTS


MATRIX = [(op, fault) for op in CASES for fault in _faults_for(op)]


@pytest.mark.parametrize(("operation", "fault"), MATRIX)
def test_two_faults_are_healed(
    proxied: Callable[..., ObjectClerk],
    proxy: FaultProxy,
    s3: Any,
    bucket: str,
    operation: str,
    fault: str,
) -> None:
    case = CASES[operation]
    prepare(s3, bucket)
    clerk = proxied()
    proxy.inject(case.matcher(bucket), fault, times=2)
    if fault == "flip_response" and hides_part_sizes(s3, bucket, "big"):
        with pytest.raises(ObjectVerificationException, match="cannot be verified on this store"):
            case.call(clerk, bucket)
        assert proxy.matched[fault] == 1, "read once, not again per attempt"
        return
    result = case.call(clerk, bucket)
    case.check(s3, bucket, result)
    # a completion whose answer was lost is found done in the store: no repeat
    assert proxy.matched[fault] >= (1 if (operation, fault) in SUCCEEDS else 2), "faults happened"
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


# What a permanent fault ends in: no answer at all is a connection failure,
# an error answered every time a server error, damaged bytes a mismatch.
ENDS_IN = {
    "close_before": ObjectClerkConnectionException,
    "lost_answer": ObjectClerkConnectionException,
    "half_body": ObjectClerkConnectionException,
    "delay": ObjectClerkConnectionException,
    "slowdown": ObjectClerkServerInternalException,
    "internal_error": ObjectClerkServerInternalException,
    "flip_request": ObjectVerificationException,  # moto stores it, a real store refuses it
    "flip_response": ObjectVerificationException,
}
# A completion whose every answer is lost (or cut, or late) did complete: the
# store holds the verified object, and the upload succeeds.
SUCCEEDS = {
    ("upload_object multipart completion", fault) for fault in ("lost_answer", "half_body", "delay")
}
EXHAUSTION = [
    (operation, fault, None if (operation, fault) in SUCCEEDS else ENDS_IN[fault])
    for operation, fault in MATRIX
]


@pytest.mark.parametrize(("operation", "fault", "expected"), EXHAUSTION)
def test_permanent_faults_end_in_the_right_exception(
    proxied: Callable[..., ObjectClerk],
    proxy: FaultProxy,
    s3: Any,
    bucket: str,
    operation: str,
    fault: str,
    expected: type[Exception] | None,
) -> None:
    case = CASES[operation]
    prepare(s3, bucket)
    clerk = proxied(retry_tries=3)
    proxy.inject(case.matcher(bucket), fault, times=1000)
    started = time.monotonic()
    if expected is None:
        case.check(s3, bucket, case.call(clerk, bucket))
        return
    with pytest.raises(expected) as raised:
        case.call(clerk, bucket)
    if expected is not ObjectVerificationException:  # a mismatch has no other cause
        assert raised.value.__cause__ is not None
    assert time.monotonic() - started < 30
    single_request = operation in ("get_object_info", "delete_object", "upload_object single")
    if single_request or operation.startswith("list"):
        assert proxy.matched[fault] == 3, "exactly retry_tries attempts"
    assert_nothing_damaged(s3, bucket, operation)
    if operation == "move_object":  # the source goes only after the copy is in place
        assert stored_bytes(s3, bucket, "moved") == SMALL
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def assert_nothing_damaged(s3: Any, bucket: str, operation: str) -> None:
    """Whatever the store holds after a failed operation is whole: an
    object the store did write before its answer was lost holds exactly the
    bytes meant; nothing partial or damaged is left under any key."""
    meant = {
        "small": SMALL,
        "big": BIG,
        "moved": SMALL,
        "new": NEW if "multipart" in operation else SMALL + b"!",
        "copy": BIG if "multipart" in operation else SMALL,
        **{f"list/{i}": b"x" for i in range(7)},
    }
    for key in stored_keys(s3, bucket):
        assert stored_bytes(s3, bucket, key) == meant[key], f"{key} is damaged"


def test_eight_threads_share_a_clerk_through_faults(
    proxied: Callable[..., ObjectClerk], proxy: FaultProxy, s3: Any, bucket: str
) -> None:
    clerk = proxied(retry_tries=8)
    for method, fault in [
        ("PUT", "close_before"),
        ("GET", "half_body"),
        ("HEAD", "slowdown"),
        ("DELETE", "lost_answer"),
    ]:
        proxy.inject(request_matcher(method, f"/{bucket}/.*"), fault, times=6)

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(lambda worker: round_trips(clerk, bucket, worker, 2), range(8)))
    assert sorted(stored_keys(s3, bucket)) == sorted(f"worker-{w}" for w in range(8))
    assert sum(proxy.matched.values()) >= 24, "the faults happened"
