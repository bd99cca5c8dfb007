"""Translation of botocore and s3transfer failures: one table."""

from __future__ import annotations

import pytest
from botocore.exceptions import (
    ConnectionClosedError,
    EndpointConnectionError,
    ParamValidationError,
    ReadTimeoutError,
)
from s3transfer.exceptions import RetriesExceededError

from object_clerk import (
    ObjectClerkConnectionException,
    ObjectClerkException,
    ObjectClerkServerAuthException,
    ObjectClerkServerInternalException,
    ObjectNotFoundException,
    ObjectSaveException,
    ObjectVerificationException,
)
from object_clerk._errors import translate, translated_errors
from tests.support import client_error


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("NoSuchKey", 404, ObjectNotFoundException),
        ("NoSuchBucket", 404, ObjectNotFoundException),
        ("404", 404, ObjectNotFoundException),
        ("403", 403, ObjectClerkServerAuthException),
        ("AccessDenied", 403, ObjectClerkServerAuthException),
        ("InvalidAccessKeyId", 403, ObjectClerkServerAuthException),
        ("SignatureDoesNotMatch", 403, ObjectClerkServerAuthException),
        ("Unknown", 401, ObjectClerkServerAuthException),
        ("SlowDown", 503, ObjectClerkServerInternalException),
        ("InternalError", 500, ObjectClerkServerInternalException),
        ("ServiceUnavailable", 503, ObjectClerkServerInternalException),
        ("", 502, ObjectClerkServerInternalException),
        ("BadDigest", 400, ObjectVerificationException),
        ("XAmzContentSHA256Mismatch", 400, ObjectVerificationException),
        ("PreconditionFailed", 412, ObjectVerificationException),
        ("InvalidRequest", 400, ObjectClerkException),
    ],
)
def test_client_errors(code: str, status: int, expected: type[Exception]) -> None:
    translated = translate(client_error(code, status), "get_object b/k")
    assert type(translated) is expected
    assert "get_object b/k" in str(translated)


@pytest.mark.parametrize(
    "error",
    [
        EndpointConnectionError(endpoint_url="http://127.0.0.1:9"),
        ConnectionClosedError(endpoint_url="http://127.0.0.1:9"),
        ReadTimeoutError(endpoint_url="http://127.0.0.1:9"),
        ConnectionResetError(104, "reset"),
    ],
    ids=repr,
)
def test_connection_failures(error: Exception) -> None:
    assert type(translate(error, "x")) is ObjectClerkConnectionException


def test_s3transfer_retries_exceeded_is_translated_by_its_last_failure() -> None:
    last = ReadTimeoutError(endpoint_url="http://127.0.0.1:9")
    with (
        pytest.raises(ObjectClerkConnectionException) as raised,
        translated_errors("get_object b/k"),
    ):
        raise RetriesExceededError(last)
    assert raised.value.__cause__ is last


def test_the_original_error_is_the_cause() -> None:
    original = client_error("NoSuchKey", 404)
    with pytest.raises(ObjectNotFoundException) as raised, translated_errors("get_object b/k"):
        raise original
    assert raised.value.__cause__ is original


def test_other_botocore_errors_become_the_base_exception() -> None:
    error = ParamValidationError(report="bad bucket name")
    assert type(translate(error, "x")) is ObjectClerkException


def test_local_read_failures_are_save_failures() -> None:
    assert type(translate(PermissionError(13, "denied"), "x")) is ObjectSaveException


def test_clerk_exceptions_and_bugs_pass_unchanged() -> None:
    mine = ObjectNotFoundException("x")
    assert translate(mine, "y") is mine
    with pytest.raises(KeyError), translated_errors("x"):
        raise KeyError("a bug stays a bug")
