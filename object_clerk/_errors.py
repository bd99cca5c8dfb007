"""Translation of botocore and s3transfer failures into object-clerk
exceptions, by one table, in one place.

The original error is kept as ``__cause__``. Messages carry the operation,
the bucket/key and the store's error code and text, never credentials.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError, SSLError
from s3transfer.exceptions import RetriesExceededError

from object_clerk._retry import is_transient
from object_clerk.exceptions import (
    ObjectClerkConnectionException,
    ObjectClerkException,
    ObjectClerkServerAuthException,
    ObjectClerkServerInternalException,
    ObjectNotFoundException,
    ObjectSaveException,
    ObjectVerificationException,
)

# Error codes and HTTP statuses by what they mean. HEAD answers carry no body,
# so some stores (Ceph RGW among them) give only the status as the code.
_BY_CODE: dict[str, type[ObjectClerkException]] = {
    **dict.fromkeys(["404", "NoSuchKey", "NoSuchBucket", "NotFound"], ObjectNotFoundException),
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
    **dict.fromkeys(["412", "PreconditionFailed"], ObjectVerificationException),
    **dict.fromkeys(["BadDigest", "XAmzContentSHA256Mismatch"], ObjectVerificationException),
}
_BY_STATUS: dict[int, type[ObjectClerkException]] = {
    401: ObjectClerkServerAuthException,
    403: ObjectClerkServerAuthException,
    404: ObjectNotFoundException,
}


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
    code = str(error.response.get("Error", {}).get("Code", ""))
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
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
