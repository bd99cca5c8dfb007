"""What a failure means: the store's error code and status, the predicates
built on them, and the translation of botocore and s3transfer failures by
one table. The answers are those stores give: AWS, moto, Ceph RGW 16 and 20
(a HEAD answer has no body, so botocore gives its status as the code)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from botocore.exceptions import (
    ClientError,
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
from object_clerk._errors import (
    error_code,
    http_status,
    is_not_found,
    is_precondition_failed,
    is_upload_gone,
    translate,
    translated_errors,
)
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


# Answers that are no store answer at all: a connection that failed, a bug.
NOT_ANSWERS = [ConnectionResetError(104, "reset"), ValueError("a bug")]


def test_the_code_and_status_of_an_answer() -> None:
    error = client_error("NoSuchKey", 404)
    assert (error_code(error), http_status(error)) == ("NoSuchKey", 404)


def test_an_answer_without_code_or_status() -> None:
    error = ClientError({}, "HeadObject")
    assert (error_code(error), http_status(error)) == ("", None)


@pytest.mark.parametrize("error", NOT_ANSWERS, ids=repr)
def test_no_code_or_status_without_an_answer(error: Exception) -> None:
    assert (error_code(error), http_status(error)) == ("", None)


PREDICATES: dict[str, Callable[[BaseException], bool]] = {
    "not found": is_not_found,
    "precondition failed": is_precondition_failed,
    "upload gone": is_upload_gone,
}


@pytest.mark.parametrize(
    ("code", "status", "meaning"),
    [
        # GET or DELETE of a missing key (all stores); Ceph RGW's ListParts of
        # a completed upload
        ("NoSuchKey", 404, {"not found", "upload gone"}),
        # HEAD of a missing key: no body, so the status is the code
        ("404", 404, {"not found", "upload gone"}),
        ("NotFound", 404, {"not found", "upload gone"}),
        # The bucket is missing: not an absent object, but its uploads are gone
        ("NoSuchBucket", 404, {"upload gone"}),
        ("NoSuchUpload", 404, {"upload gone"}),  # AWS, moto: ListParts, UploadPart
        # If-Match GET, If-None-Match PUT or Complete: all stores
        ("PreconditionFailed", 412, {"precondition failed"}),
        ("412", 412, {"precondition failed"}),  # HEAD with If-Match
        ("", 412, {"precondition failed"}),  # a 412 whatever its body says
        ("ConditionalRequestConflict", 409, set()),  # AWS: concurrent conditional writes
        ("NotImplemented", 501, set()),  # a store that refuses the condition itself
        ("InvalidArgument", 400, set()),
        ("AccessDenied", 403, set()),
        ("500", 500, set()),  # moto: UploadPart to a completed upload
        ("InternalError", 500, set()),
    ],
)
def test_what_an_answer_means(code: str, status: int, meaning: set[str]) -> None:
    error = client_error(code, status)
    assert {name for name, holds in PREDICATES.items() if holds(error)} == meaning


@pytest.mark.parametrize("error", NOT_ANSWERS, ids=repr)
def test_no_predicate_holds_without_an_answer(error: Exception) -> None:
    assert not any(holds(error) for holds in PREDICATES.values())


@pytest.mark.parametrize(
    ("code", "status", "predicate", "expected"),
    [
        ("NoSuchKey", 404, is_not_found, ObjectNotFoundException),
        ("404", 404, is_not_found, ObjectNotFoundException),
        ("NotFound", 404, is_not_found, ObjectNotFoundException),
        ("PreconditionFailed", 412, is_precondition_failed, ObjectVerificationException),
        ("412", 412, is_precondition_failed, ObjectVerificationException),
    ],
)
def test_translation_agrees_with_the_predicates(
    code: str,
    status: int,
    predicate: Callable[[BaseException], bool],
    expected: type[Exception],
) -> None:
    """An answer the clerk acts on as an absence or as a failed condition
    is reported as the same when it is raised."""
    error = client_error(code, status)
    assert predicate(error)
    assert type(translate(error, "x")) is expected
