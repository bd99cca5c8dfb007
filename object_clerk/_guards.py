"""What a write is checked against afterwards, and the only removals a
check may make.

After an upload or a copy the store is asked what it holds (a HEAD), never
the write's answer believed. An object that is not what was written is
removed, but only the one this call wrote: every removal is conditional on
the ETag the store answered the write with (DeleteObject If-Match), so an
object another writer put under the key meanwhile is never lost. Before a
write that must not replace anything, and before one that asks for a
full-object checksum, the store's honouring of the condition is proven
(see _conditions): what it would silently ignore is refused before a byte
is sent.
"""

from __future__ import annotations

import logging
from typing import Literal, NoReturn

from botocore.exceptions import ClientError

from object_clerk import _verify
from object_clerk._checksum import Etag
from object_clerk._client import RetryingClient
from object_clerk._conditions import StoreConditions
from object_clerk._errors import is_not_found, is_precondition_failed
from object_clerk._transfer import Written
from object_clerk.exceptions import (
    ObjectExistsException,
    ObjectSaveException,
    ObjectSourceChangedException,
    ObjectVerificationException,
)

logger = logging.getLogger(__name__)

UNSET_CHECKSUM_HINT = "Unset S3_CHECKSUM_ALGORITHM (or checksum_algorithm) for this store"


def check_stored(
    s3: RetryingClient, bucket: str, key: str, written: Written, what: str, algorithm: str | None
) -> None:
    """Compare what the store holds for bucket/key with what was written;
    on a mismatch remove the object this call wrote and raise."""
    stored = _verify.head(s3, bucket, key)
    if stored.etag == written.etag:
        check_checksum_kept(s3, stored, written, what, algorithm)
        return
    refuse_unverifiable(stored, what)
    remove_damaged(s3, stored, what, written.etag, written.answered_etag)


def check_checksum_keepable(
    s3: RetryingClient,
    conditions: StoreConditions,
    bucket: str,
    key: str,
    algorithm: str,
    multipart: bool,
) -> None:
    """Refuse, before anything is sent, an upload whose full-object
    checksum the store would not keep: it would store the object without
    it, replacing the key's object, and only then could that be seen."""
    if not conditions.keeps_checksum(s3, bucket, algorithm, multipart):
        kind = "multipart upload" if multipart else "PutObject"
        raise ObjectSaveException(
            f"upload_object {bucket}/{key}: the store did not keep its full-object "
            f"{algorithm} checksum when asked to (a {kind} of a probe object, removed "
            "again), so it would not keep this object's; nothing was sent, and the key "
            f"keeps what it held. {UNSET_CHECKSUM_HINT}"
        )


def check_checksum_kept(
    s3: RetryingClient,
    stored: _verify.StoredObject,
    written: Written,
    what: str,
    algorithm: str | None,
) -> None:
    """The full-object checksum asked for must be in the store: one it
    dropped is reported, never taken for kept; a different one is damage."""
    if algorithm is None or written.checksum is None:
        return
    kept = stored.full_object_checksums().get(algorithm)
    if kept is None:
        raise ObjectSaveException(
            f"{what} to {stored.name}: the store did not keep its full-object {algorithm} "
            "checksum (it reports none); the object is stored"
            + (" and verified by its ETag" if stored.etag == written.etag else "")
            + f", and left in place. {UNSET_CHECKSUM_HINT}"
        )
    if kept != written.checksum:
        logger.warning("%s: %s has %s %s, not %s", what, stored.name, algorithm, kept, written)
        remove_unverified(s3, stored, what, written.answered_etag)
        raise _verify.Mismatch(
            f"{what} to {stored.name}: the store holds {algorithm} {kept}, expected "
            f"{written.checksum}; the damaged object was removed"
        )


def check_same_checksums(
    s3: RetryingClient,
    source: _verify.StoredObject,
    copied: _verify.StoredObject,
    what: str,
    answered: str | None,
) -> None:
    """A copy whose full-object checksum differs from its source's (where
    both report one of the same algorithm) is damaged, its ETag equal or not."""
    theirs = source.full_object_checksums()
    for algorithm, value in copied.full_object_checksums().items():
        if algorithm in theirs and theirs[algorithm] != value:
            remove_unverified(s3, copied, what, answered)
            raise _verify.Mismatch(
                f"{what} to {copied.name}: the copy has {algorithm} {value}, the source "
                f"{theirs[algorithm]}; the damaged copy was removed"
            )


def refuse_unverifiable(stored: _verify.StoredObject, what: str) -> None:
    """An object whose ETag is not an MD5 was written but cannot be checked:
    reported, and left in place rather than removed as damaged."""
    reason = stored.unverifiable_reason()
    if reason is not None:
        raise ObjectVerificationException(
            f"{what} to {stored.name} was stored but cannot be verified: {reason}; "
            f"{_verify.SKIP_HINT}"
        )


def remove_damaged(
    s3: RetryingClient,
    stored: _verify.StoredObject,
    what: str,
    expected: Etag,
    answered: str | None = None,
) -> NoReturn:
    """Remove the damaged object this call wrote, and say so as a mismatch
    (which a verified operation tries again)."""
    logger.warning(
        "%s: %s has ETag %s, not %s; removing it", what, stored.name, stored.etag, expected
    )
    remove_unverified(s3, stored, what, answered)
    raise _verify.Mismatch(
        f"{what} to {stored.name}: the store holds ETag {stored.etag}, expected {expected}; "
        "the damaged object was removed"
    )


def remove_unverified(
    s3: RetryingClient, stored: _verify.StoredObject, what: str, answered: str | None = None
) -> None:
    """Remove an object this call wrote and could not verify, and only
    that one: the HEAD (stored) must still show the ETag the store
    answered the write with, and the delete is conditional on it
    (If-Match), so that an object another writer put under the key
    meanwhile is never removed. Where the store ignores If-Match, a
    rewrite between the HEAD and the delete is not guarded."""
    ours = answered or stored.raw_etag
    if Etag.parse(ours) == stored.etag:
        try:
            s3.delete_object(Bucket=stored.bucket, Key=stored.key, IfMatch=ours)
            return
        except ClientError as error:
            if is_not_found(error):
                return
            if not is_precondition_failed(error):
                raise
    raise ObjectVerificationException(
        f"{what} to {stored.name} could not be verified, and the key was rewritten by "
        f"another writer meanwhile (the store answered this write with ETag {ours}): the "
        "other writer's object was left in place"
    )


def refuse_overwrite(
    s3: RetryingClient,
    conditions: StoreConditions,
    bucket: str,
    key: str,
    feature: Literal["put", "complete"],
) -> None:
    """Before an overwrite=False write: refuse where the store would
    ignore If-None-Match on the request that makes the object ("put":
    PutObject, "complete": CompleteMultipartUpload), and where the key
    already holds an object, so that nothing is sent in vain."""
    if not conditions.honours(s3, bucket, feature):
        operation = "PutObject" if feature == "put" else "CompleteMultipartUpload"
        raise ObjectSaveException(
            f"{bucket}/{key}: overwrite=False cannot be kept on this store: it ignores "
            f"If-None-Match on {operation}; nothing was sent"
        )
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if is_not_found(error):
            return
        raise
    raise ObjectExistsException(
        f"{bucket}/{key} already exists: overwrite=False left it as it was; nothing was sent"
    )


def delete_moved(
    s3: RetryingClient,
    conditions: StoreConditions,
    copied: _verify.StoredObject,
    target_name: str,
) -> None:
    """Delete a moved source while it is still the version copied. Where
    the store ignores If-Match on DeleteObject, a HEAD just before the
    delete is all that guards it (a rewrite between the two is lost)."""
    if not conditions.honours(s3, copied.bucket, "delete"):
        try:
            now = _verify.head(s3, copied.bucket, copied.key)
        except ClientError as error:
            if is_not_found(error):
                return
            raise
        if now.raw_etag != copied.raw_etag:
            raise _source_changed(copied, target_name, now.raw_etag)
    try:
        s3.delete_object(Bucket=copied.bucket, Key=copied.key, IfMatch=copied.raw_etag)
    except ClientError as error:
        if is_precondition_failed(error):
            raise _source_changed(copied, target_name, None) from error
        if not is_not_found(error):
            raise


def _source_changed(
    copied: _verify.StoredObject, target_name: str, now: str | None
) -> ObjectSourceChangedException:
    found = f" (now ETag {now})" if now else ""
    return ObjectSourceChangedException(
        f"move of {copied.name}: the source was rewritten after it was copied{found}; it was "
        f"kept, and so was the verified copy at {target_name} of the version copied (ETag "
        f"{copied.raw_etag})"
    )
