"""Transient failures are retried, request by request; what cannot be
healed ends in the right ObjectClerkException after exactly retry_tries
attempts; damaged bytes are caught by verification."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from object_clerk import (
    ObjectClerk,
    ObjectClerkConnectionException,
    ObjectClerkServerInternalException,
    ObjectVerificationException,
)
from tests.faults import inject
from tests.support import TEST_THRESHOLD, stored_bytes, stored_keys

SMALL = b"x" * 1000
BIG = os.urandom(TEST_THRESHOLD + 4321)  # two parts

TRANSIENT_FAULTS = ["refused", "closed", "read_timeout", "slowdown", "internal_error"]


def prepare(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="small", Body=SMALL)
    s3.put_object(Bucket=bucket, Key="big", Body=BIG)


# operation under test -> (the request faulted, the call, the check of the result)
OPERATIONS: dict[
    str, tuple[str, Callable[[ObjectClerk, str], Any], Callable[[Any, str, Any], None]]
] = {
    "get_object": (
        "GetObject",
        lambda c, b: c.get_object(b, "small"),
        lambda s3, b, result: _equal(result, SMALL),
    ),
    "get_object_info": (
        "HeadObject",
        lambda c, b: c.get_object_info(b, "small"),
        lambda s3, b, result: _equal(result["content-length"], str(len(SMALL))),
    ),
    "upload_object single": (
        "PutObject",
        lambda c, b: c.upload_object(b"new" * 100, b, "new"),
        lambda s3, b, _: _equal(stored_bytes(s3, b, "new"), b"new" * 100),
    ),
    "upload_object multipart": (
        "UploadPart",
        lambda c, b: c.upload_object(BIG, b, "new"),
        lambda s3, b, _: _equal(stored_bytes(s3, b, "new"), BIG),
    ),
    "upload_object multipart completion": (
        "CompleteMultipartUpload",
        lambda c, b: c.upload_object(BIG, b, "new"),
        lambda s3, b, _: _equal(stored_bytes(s3, b, "new"), BIG),
    ),
    "copy_object single": (
        "CopyObject",
        lambda c, b: c.copy_object(b, "small", b, "copy"),
        lambda s3, b, _: _equal(stored_bytes(s3, b, "copy"), SMALL),
    ),
    "move_object": (
        "DeleteObject",
        lambda c, b: c.move_object(b, "small", b, "moved"),
        lambda s3, b, _: _equal(sorted(stored_keys(s3, b)), ["big", "moved"]),
    ),
    "delete_object": (
        "DeleteObject",
        lambda c, b: c.delete_object(b, "small"),
        lambda s3, b, _: _equal(stored_keys(s3, b), ["big"]),
    ),
    "list_objects": (
        "ListObjectsV2",
        lambda c, b: [e["Key"] for e in c.list_objects(b, 1)],
        lambda s3, b, result: _equal(result, ["big", "small"]),
    ),
}


def _equal(actual: Any, expected: Any) -> None:
    assert actual == expected


@pytest.mark.parametrize("fault", TRANSIENT_FAULTS)
@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_two_transient_failures_are_healed(
    clerk: ObjectClerk, s3: Any, bucket: str, operation: str, fault: str
) -> None:
    request, call, check = OPERATIONS[operation]
    prepare(s3, bucket)
    faults = inject(clerk)
    faults.fail(request, fault, times=2)
    result = call(clerk, bucket)
    check(s3, bucket, result)
    assert faults.sent[request] >= 3, "the failed request was sent again"


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("slowdown", ObjectClerkServerInternalException),
        ("internal_error", ObjectClerkServerInternalException),
        ("closed", ObjectClerkConnectionException),
        ("read_timeout", ObjectClerkConnectionException),
    ],
)
@pytest.mark.parametrize(
    ("operation", "request_name", "call"),
    [
        ("get_object_info", "HeadObject", lambda c, b: c.get_object_info(b, "small")),
        ("delete_object", "DeleteObject", lambda c, b: c.delete_object(b, "small")),
        ("upload_object", "PutObject", lambda c, b: c.upload_object(b"new", b, "new")),
        ("list_objects", "ListObjectsV2", lambda c, b: list(c.list_objects(b))),
    ],
)
def test_permanent_failures_end_after_exactly_retry_tries(
    make_clerk: Callable[..., ObjectClerk],
    s3: Any,
    bucket: str,
    fault: str,
    expected: type[Exception],
    operation: str,
    request_name: str,
    call: Callable[[ObjectClerk, str], Any],
) -> None:
    prepare(s3, bucket)
    clerk = make_clerk(retry_tries=4)
    faults = inject(clerk)
    faults.fail(request_name, fault, times=1000)
    with pytest.raises(expected) as raised:
        call(clerk, bucket)
    assert faults.sent[request_name] == 4
    assert isinstance(raised.value.__cause__, (ClientError, BotoCoreError))
    assert "new" not in stored_keys(s3, bucket), "nothing half-written is left"


def test_a_failure_on_a_later_page_does_not_restart_the_listing(
    clerk: ObjectClerk, s3: Any, bucket: str
) -> None:
    keys = [f"k{i:02d}" for i in range(10)]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"1")
    faults = inject(clerk)
    faults.fail("ListObjectsV2", "slowdown", times=2, skip=2)
    assert [e["Key"] for e in clerk.list_objects(bucket, 3)] == keys
    assert faults.sent["ListObjectsV2"] == 4 + 2  # four pages, page 3 sent three times


def test_not_found_is_not_retried(clerk: ObjectClerk, bucket: str) -> None:
    faults = inject(clerk)
    with pytest.raises(Exception, match="no-such-key"):
        clerk.get_object_info(bucket, "no-such-key")
    assert faults.sent["HeadObject"] == 1


def test_unbounded_tries_heal_many_failures(
    make_clerk: Callable[..., ObjectClerk], s3: Any, bucket: str
) -> None:
    prepare(s3, bucket)
    clerk = make_clerk(retry_tries=-1)
    faults = inject(clerk)
    faults.fail("HeadObject", "slowdown", times=25)
    assert clerk.get_object_info(bucket, "small")["content-length"] == str(len(SMALL))
    assert faults.sent["HeadObject"] == 26


@pytest.mark.parametrize(
    ("fault", "key", "data"),
    [("cut_body", "big", BIG), ("corrupt_body", "small", SMALL)],
    ids=["cut off mid-stream", "damaged"],
)
def test_a_bad_body_is_fetched_again(
    clerk: ObjectClerk, s3: Any, bucket: str, fault: str, key: str, data: bytes
) -> None:
    prepare(s3, bucket)
    faults = inject(clerk)
    faults.fail("GetObject", fault, times=2)
    assert clerk.get_object(bucket, key) == data
    assert faults.sent["GetObject"] >= 3


def test_nothing_listening_ends_in_a_connection_exception(
    make_clerk: Callable[..., ObjectClerk],
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # the port is closed again: connections to it are refused
    clerk = make_clerk(host="127.0.0.1", port=port, retry_tries=3, use_ssl=False, verify=None)
    faults = inject(clerk)
    started = time.monotonic()
    with pytest.raises(ObjectClerkConnectionException) as raised:
        clerk.get_object_info("bucket", "key")
    assert time.monotonic() - started < 10
    assert faults.sent["HeadObject"] == 3
    assert isinstance(raised.value.__cause__, BotoCoreError)


# -- damaged bytes -------------------------------------------------------------


def test_a_download_that_stays_damaged_returns_nothing(
    clerk: ObjectClerk, s3: Any, bucket: str
) -> None:
    prepare(s3, bucket)
    faults = inject(clerk)
    faults.fail("GetObject", "corrupt_body", times=1000)
    with pytest.raises(ObjectVerificationException, match="do not match"):
        clerk.get_object(bucket, "small")
    assert stored_bytes(s3, bucket, "small") == SMALL, "the stored object is untouched"


def test_unverified_get_returns_what_arrived(clerk: ObjectClerk, s3: Any, bucket: str) -> None:
    prepare(s3, bucket)
    inject(clerk).fail("GetObject", "corrupt_body", times=1)
    assert clerk.get_object(bucket, "small", verify_checksum=False) != SMALL


@pytest.mark.parametrize(("request_name", "data"), [("PutObject", SMALL), ("UploadPart", BIG)])
def test_an_upload_damaged_on_the_way_ends_correct(
    clerk: ObjectClerk, s3: Any, bucket: str, request_name: str, data: bytes
) -> None:
    """moto stores the damaged body and verification uploads again; a real
    store refuses it (BadDigest, payload hash mismatch) and the request is
    retried. Either way the store ends with the right bytes."""
    inject(clerk).fail(request_name, "corrupt_request", times=1)
    clerk.upload_object(data, bucket, "k")
    assert stored_bytes(s3, bucket, "k") == data


@pytest.mark.parametrize(("request_name", "data"), [("PutObject", SMALL), ("UploadPart", BIG)])
def test_an_upload_that_stays_damaged_leaves_nothing(
    clerk: ObjectClerk, s3: Any, bucket: str, request_name: str, data: bytes
) -> None:
    inject(clerk).fail(request_name, "corrupt_request", times=1000)
    with pytest.raises(ObjectVerificationException):
        clerk.upload_object(data, bucket, "k")
    assert stored_keys(s3, bucket) == []


def test_a_body_that_keeps_being_cut_off_ends_after_retry_tries(
    make_clerk: Callable[..., ObjectClerk], s3: Any, bucket: str
) -> None:
    prepare(s3, bucket)
    clerk = make_clerk(retry_tries=4)
    faults = inject(clerk)
    faults.fail("GetObject", "cut_body", times=1000)
    with pytest.raises(ObjectClerkConnectionException) as raised:
        clerk.get_object(bucket, "small")
    assert faults.sent["GetObject"] == 4
    assert isinstance(raised.value.__cause__, BotoCoreError)
