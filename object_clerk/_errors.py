"""What a failure means, decided in one place.

Stores say the same thing in different ways: a HEAD answer has no body, so
botocore gives the HTTP status as the error code ("404", "412"); a GET or
DELETE answer names the error (NoSuchKey, PreconditionFailed); and stores
differ where S3 leaves room (Ceph RGW answers ListParts of a completed upload
with NoSuchKey where AWS and moto answer NoSuchUpload). This module reads the
code and the status of a failure, says what it means (not found, condition
failed, upload gone, worth repeating), and translates it into object-clerk
exceptions, by one table.

The original error is kept as ``__cause__``. Messages carry the operation,
the bucket/key and the store's error code and text, never credentials.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    HTTPClientError,
    IncompleteReadError,
    SSLError,
)
from s3transfer.exceptions import RetriesExceededError

from object_clerk.exceptions import (
    ObjectClerkConnectionException,
    ObjectClerkException,
    ObjectClerkServerAuthException,
    ObjectClerkServerInternalException,
    ObjectNotFoundException,
    ObjectSaveException,
    ObjectVerificationException,
)


class Mismatch(ObjectVerificationException):
    """Bytes and checksum disagree, or the object changed under a transfer:
    doing the transfer again may heal it."""


# The object is not there: NoSuchKey (a GET or DELETE answer's body), "404"
# (a HEAD answer: no body, so botocore gives the status as the code), and
# NotFound (the name some stores and older botocore give a bodiless 404).
_NOT_FOUND_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
# A condition (If-Match, If-None-Match) did not hold: PreconditionFailed in a
# body, "412" from a HEAD.
_PRECONDITION_FAILED_CODES = frozenset({"PreconditionFailed", "412"})
# The upload id names no open upload (completed or aborted meanwhile).
_UPLOAD_GONE_CODES = frozenset({"NoSuchUpload", "404"})

TRANSIENT_STATUS = frozenset({500, 502, 503, 504})
TRANSIENT_CODES = frozenset(
    {
        "InternalError",
        "SlowDown",
        "ServiceUnavailable",
        "RequestTimeout",
        "BadDigest",
        "XAmzContentSHA256Mismatch",
        "500",
        "502",
        "503",
        "504",
    }
)

# Error codes and HTTP statuses by what they mean, for translate.
_BY_CODE: dict[str, type[ObjectClerkException]] = {
    **dict.fromkeys([*_NOT_FOUND_CODES, "NoSuchBucket"], ObjectNotFoundException),
    **dict.fromkeys(
        [
            "401",
            "403",
            "AccessDenied",
            "AccountProblem",
            "AllAccessDisabled",
            "InvalidAccessKeyId",
            "InvalidSecurity",
            "InvalidToken",
            "ExpiredToken",
            "NotSignedUp",
            "RequestTimeTooSkewed",
            "SignatureDoesNotMatch",
            "UnauthorizedAccess",
        ],
        ObjectClerkServerAuthException,
    ),
    # The object changed while it was read or copied (If-Match failed).
    **dict.fromkeys(_PRECONDITION_FAILED_CODES, ObjectVerificationException),
    **dict.fromkeys(["BadDigest", "XAmzContentSHA256Mismatch"], ObjectVerificationException),
}
_BY_STATUS: dict[int, type[ObjectClerkException]] = {
    401: ObjectClerkServerAuthException,
    403: ObjectClerkServerAuthException,
    404: ObjectNotFoundException,
}


def error_code(error: BaseException) -> str:
    """The store's error code ("" when error is no store answer, or the
    answer named none)."""
    if not isinstance(error, ClientError):
        return ""
    return str(error.response.get("Error", {}).get("Code", ""))


def http_status(error: BaseException) -> int | None:
    """The HTTP status of the store's answer (None when error is no store
    answer, or botocore kept none)."""
    if not isinstance(error, ClientError):
        return None
    status: int | None = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status


def is_not_found(error: BaseException) -> bool:
    """True when the store says the object is not there: NoSuchKey (a GET
    or DELETE answer: AWS, moto, Ceph RGW), "404" (a HEAD answer, which has
    no body: every store), NotFound. A missing bucket (NoSuchBucket) is not a
    missing object but a failure to report; only a HEAD cannot tell the two
    apart (both are a bare 404)."""
    return error_code(error) in _NOT_FOUND_CODES


def is_precondition_failed(error: BaseException) -> bool:
    """True when a condition the request carried did not hold (the object's
    ETag is no longer the one given in If-Match, or If-None-Match: * found an
    object): PreconditionFailed (AWS, moto, Ceph RGW), "412" (a HEAD), or any
    answer with status 412, which HTTP reserves for exactly this."""
    return error_code(error) in _PRECONDITION_FAILED_CODES or http_status(error) == 412


def is_upload_gone(error: BaseException) -> bool:
    """True when a request naming an upload id finds that upload no longer
    open (completed or aborted meanwhile): NoSuchUpload (AWS, moto), or any
    404, which is how Ceph RGW answers ListParts of a completed upload
    (NoSuchKey)."""
    return error_code(error) in _UPLOAD_GONE_CODES or http_status(error) == 404


def is_transient(error: BaseException) -> bool:
    """True for a failure that repeating the same request may heal, and only
    where repeating it is safe:

    * the connection failed (refused, reset, closed, timed out) or the
      response body was cut off: S3 requests are idempotent except
      CreateMultipartUpload (a repeat leaves an unused upload id, never wrong
      data), so sending again cannot store or delete anything other than
      what was asked;
    * the store answered 500/502/503/504 or SlowDown, InternalError,
      ServiceUnavailable, RequestTimeout: it asks to be asked again;
    * the store answered BadDigest or XAmzContentSHA256Mismatch: the body
      was damaged on the way (it no longer matches its Content-MD5 or its
      signed hash), the store refused it, nothing was stored.

    Everything else (not found, access denied, bad request) would fail the
    same way again. TLS certificate failures are not transient."""
    if isinstance(error, SSLError):
        return False
    if isinstance(
        error,
        (
            ConnectionError,
            HTTPClientError,
            IncompleteReadError,
            builtins.ConnectionError,
            TimeoutError,
        ),
    ):
        return True
    if isinstance(error, ClientError):
        return error_code(error) in TRANSIENT_CODES or http_status(error) in TRANSIENT_STATUS
    return False


def translate(error: BaseException, what: str) -> BaseException:
    """The object-clerk exception that reports error, or error itself when
    it is not a storage failure (a bug should surface as what it is)."""
    if isinstance(error, RetriesExceededError) and error.last_exception is not None:
        return translate(error.last_exception, what)
    if isinstance(error, ObjectClerkException):
        return error
    if isinstance(error, ClientError):
        return _client_error_class(error)(f"{what}: {error}")
    if isinstance(error, SSLError):
        return ObjectClerkConnectionException(f"{what}: TLS failure: {error}")
    if is_transient(error):
        return ObjectClerkConnectionException(f"{what}: {error}")
    if isinstance(error, BotoCoreError):
        return ObjectClerkException(f"{what}: {error}")
    if isinstance(error, OSError):  # reading the caller's file failed
        return ObjectSaveException(f"{what}: {error}")
    return error


def _client_error_class(error: ClientError) -> type[ObjectClerkException]:
    code = error_code(error)
    status = http_status(error)
    if code in _BY_CODE:
        return _BY_CODE[code]
    if is_transient(error):
        return ObjectClerkServerInternalException
    if status is None:  # no HTTP answer to go by
        return ObjectClerkException
    return _BY_STATUS.get(status, ObjectClerkException)


@contextmanager
def translated_errors(what: str) -> Iterator[None]:
    """Raise whatever fails inside as an object-clerk exception."""
    try:
        yield
    except Exception as error:
        translated = translate(error, what)
        if translated is error:
            raise
        cause = error.last_exception if isinstance(error, RetriesExceededError) else error
        raise translated from cause
