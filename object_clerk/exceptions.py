"""The exceptions object-clerk raises.

The names are those of the published 1.x package, so that ``except`` clauses
written for it keep working. Every failure the clerk reports is one of these;
the botocore or s3transfer error behind it is kept as ``__cause__``.
"""

from __future__ import annotations

__all__ = [
    "ListingOrderError",
    "ObjectClerkBadAnswerException",
    "ObjectClerkConfigurationException",
    "ObjectClerkConnectionException",
    "ObjectClerkException",
    "ObjectClerkServerAuthException",
    "ObjectClerkServerInternalException",
    "ObjectExistsException",
    "ObjectNotFoundException",
    "ObjectSaveException",
    "ObjectSourceChangedException",
    "ObjectVerificationException",
]


class ObjectClerkException(Exception):
    """Base class of every exception the clerk raises."""


class ObjectClerkServerInternalException(ObjectClerkException):
    """The store kept answering with a server error (5xx, SlowDown...) until
    the retries ran out."""


class ObjectClerkConnectionException(ObjectClerkException):
    """The store could not be reached, or the connection kept failing
    (refused, reset, timed out, body cut off) until the retries ran out."""


class ObjectClerkBadAnswerException(ObjectClerkException):
    """The store answered what no correct store does (a listing that names
    the same continuation again, or pages that do not advance): following
    it would loop, so the operation stops and names the answer."""


class ObjectClerkServerAuthException(ObjectClerkException):
    """The store refused the credentials or the permission (401/403)."""


class ObjectNotFoundException(ObjectClerkException):
    """The bucket or the key does not exist."""


class ObjectVerificationException(ObjectClerkException):
    """The bytes stored or read do not match their checksum, or cannot be
    checked at all."""


class ObjectSaveException(ObjectClerkException):
    """The data given to upload cannot be stored: empty, unreadable, or an
    operation that would destroy its own source."""


class ObjectClerkConfigurationException(ObjectClerkException):
    """An environment variable or a constructor argument has a bad value."""


class ObjectExistsException(ObjectSaveException):
    """overwrite=False, and the destination key already holds an object: it
    was left as it was, and nothing of this write was kept."""


class ObjectSourceChangedException(ObjectSaveException):
    """A move copied and verified its source, but the source was rewritten
    before it could be deleted: the new source was kept, and so was the copy
    (of the version that was copied). Or an upload's file changed while it
    was read: nothing of what was read was stored."""


class ListingOrderError(ObjectClerkException):
    """A side of a sync or a check was not read in key order, so pairing it
    by a merge would report entries missing that are there: the sync stops
    instead, having compared nothing."""


# The longest chain of causes followed: a chain may loop back on itself.
_MAX_CAUSES = 16


def store_error_code(error: BaseException) -> str:
    """The error code the store answered with ("NoSuchKey", "NoSuchBucket",
    "AccessDenied", or the bare HTTP status such as "404" for a HEAD, whose
    answer has no body), found on error or the first of its causes that
    holds a store answer; "" when none does (a connection that failed, a
    local file). What a program or a person needs beside the message."""
    seen: BaseException | None = error
    for _ in range(_MAX_CAUSES):
        if seen is None:
            break
        response = getattr(seen, "response", None)
        if isinstance(response, dict):
            return str(response.get("Error", {}).get("Code", ""))
        seen = seen.__cause__ or seen.__context__
    return ""


def public_name(error: BaseException) -> str:
    """The name of the type error is to its users: the first class of its
    MRO that this module defines or that is not object-clerk's at all (a
    builtin's, a library's). The clerk's private classes (a verification
    mismatch is an ObjectVerificationException) never show in a report."""
    for cls in type(error).__mro__:
        module = cls.__module__
        if module == __name__ or module.partition(".")[0] != "object_clerk":
            return cls.__name__
    return type(error).__name__  # unreachable: BaseException ends every MRO
