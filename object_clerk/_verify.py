"""What the store holds for an object, and whether bytes match it.

An ETag is checked by reproducing it: the MD5 of a single-part object, or
the MD5 of the part MD5s of a multipart one, for which the part size has to
be found (see _layout). Where the store also reports a full-object checksum
(CRC32, SHA-256...) it is checked too. An ETag that is not an MD5 of the
content (SSE-KMS, SSE-C) cannot be checked, and saying so is the answer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from object_clerk import _layout
from object_clerk._checksum import (
    CHECKSUM_ALGORITHMS,
    MAX_PARTS,
    Buffer,
    Etag,
    etag_of,
    full_object_checksum,
)
from object_clerk._client import RetryingClient
from object_clerk._errors import Mismatch as Mismatch  # raised here, defined below the engine
from object_clerk._layout import PartLayouts
from object_clerk.exceptions import ObjectVerificationException

CHECKSUM_FIELDS = {
    "ChecksumCRC32": "CRC32",
    "ChecksumCRC32C": "CRC32C",
    "ChecksumCRC64NVME": "CRC64NVME",
    "ChecksumSHA1": "SHA1",
    "ChecksumSHA256": "SHA256",
}
SKIP_HINT = "verify_checksum=False skips verification"


@dataclass(frozen=True)
class StoredObject:
    """An object as a HEAD describes it."""

    bucket: str
    key: str
    size: int
    raw_etag: str
    etag: Etag
    head: Mapping[str, Any] = field(repr=False)

    @classmethod
    def from_head(cls, bucket: str, key: str, head: Mapping[str, Any]) -> StoredObject:
        raw = head.get("ETag") or ""
        return cls(bucket, key, head["ContentLength"], raw, Etag.parse(raw), head)

    @property
    def name(self) -> str:
        return f"{self.bucket}/{self.key}"

    def full_object_checksums(self) -> dict[str, str]:
        """Algorithm -> base64 value, for the checksums that cover the whole
        object (a composite checksum of a multipart upload does not) and that
        can be computed here."""
        declared = self.head.get("ChecksumType")
        if declared is not None and declared != "FULL_OBJECT":
            return {}
        if declared is None and self.etag.parts is not None:
            return {}  # a multipart object's checksum of unknown type
        return {
            algorithm: self.head[name]
            for name, algorithm in CHECKSUM_FIELDS.items()
            if self.head.get(name)
            and "-" not in self.head[name]
            and algorithm in CHECKSUM_ALGORITHMS  # one this machine can compute
        }

    def unverifiable_reason(self) -> str | None:
        if not self.etag.is_md5:
            if "-" in self.etag.digest:
                return (
                    f"its ETag {self.raw_etag} is neither an MD5 nor a multipart ETag "
                    f"(an MD5 and a part count of 1 to {MAX_PARTS})"
                )
            return f"its ETag {self.raw_etag or '(empty)'} is not an MD5"
        if self.head.get("SSECustomerAlgorithm"):
            return "it is encrypted with a customer key (SSE-C), so its ETag is not its MD5"
        if str(self.head.get("ServerSideEncryption", "")).startswith("aws:kms"):
            return "it is encrypted with KMS (SSE-KMS), so its ETag is not its MD5"
        return None


def head(s3: RetryingClient, bucket: str, key: str) -> StoredObject:
    """HEAD the object, asking for its checksums where the store keeps them."""
    response = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    return StoredObject.from_head(bucket, key, response)


def first_part_size(s3: RetryingClient, stored: StoredObject) -> int | None:
    """The size of part 1 of a multipart object, from a HEAD with
    PartNumber=1, or None where the store ignores PartNumber (Ceph RGW
    answers with the whole object and no parts count)."""
    response = s3.head_object(Bucket=stored.bucket, Key=stored.key, PartNumber=1)
    if response.get("PartsCount") != stored.etag.parts:
        return None
    size = response["ContentLength"]
    return size if stored.etag.parts == 1 or size < stored.size else None


def guessed_layouts(stored: StoredObject, hints: Iterable[int | None] = ()) -> PartLayouts:
    """The layouts of stored that its size and part count allow, hints first."""
    return _layout.layouts(stored.size, stored.etag.parts, None, hints)


def part_layouts(
    s3: RetryingClient, stored: StoredObject, hints: Iterable[int | None] = ()
) -> PartLayouts:
    """stored's layout as the store reports it (HEAD with PartNumber=1),
    else the guesses its size and part count allow."""
    first = None if stored.etag.parts is None else first_part_size(s3, stored)
    return _layout.layouts(stored.size, stored.etag.parts, first, hints)


def ensure_verifiable(stored: StoredObject) -> None:
    """Raise ObjectVerificationException before any transfer when nothing
    the store reports can verify the object's bytes."""
    reason = stored.unverifiable_reason()
    if reason is not None and not stored.full_object_checksums():
        raise ObjectVerificationException(
            f"{stored.name} cannot be verified: {reason}; {SKIP_HINT}"
        )


def check_bytes(
    content: Callable[[], Iterable[Buffer]],
    stored: StoredObject,
    layouts: PartLayouts | None = None,
    arrived: Etag | None = None,
) -> None:
    """Raise unless the bytes content() yields (as often as asked) are what
    stored describes: Mismatch when they are not, ObjectVerificationException
    when it cannot be told. layouts defaults to the guessed ones; arrived is
    the ETag computed while the bytes arrived, when the transfer could tell
    it: it spares a pass over them. A full-object checksum that matches
    also stands for an ETag whose part layout cannot be found: it covers
    every byte whatever the layout."""
    ensure_verifiable(stored)
    checksums = stored.full_object_checksums()
    for algorithm, expected in checksums.items():
        actual = full_object_checksum(algorithm, content())
        if actual != expected:
            raise Mismatch(
                f"{stored.name}: the bytes received have {algorithm} {actual}, "
                f"the store holds {expected}"
            )
    if stored.unverifiable_reason() is not None:
        return  # verified by a full-object checksum above
    if arrived == stored.etag:
        return
    layouts = layouts or guessed_layouts(stored)
    if any(etag_of(content(), part_size) == stored.etag for part_size in layouts.sizes):
        return
    if checksums and not layouts.known:
        return  # verified by a full-object checksum above, the layout unknown
    if not layouts.sizes:
        raise ObjectVerificationException(
            f"{stored.name} cannot be verified: no part size splits {stored.size} bytes "
            f"into {stored.etag.parts} parts as its ETag {stored.etag} says; {SKIP_HINT}"
        )
    if not layouts.known:
        raise unverifiable_layout(stored, layouts, "the bytes received")
    raise Mismatch(
        f"{stored.name}: the bytes received do not match the stored ETag {stored.etag} "
        f"(part layout {layouts.describe()})"
    )


def unverifiable_layout(
    stored: StoredObject, layouts: PartLayouts, what: str
) -> ObjectVerificationException:
    """What to say when no guessed layout reproduces a multipart ETag: damage
    and an unusual part size look the same, so neither is claimed, and doing
    the transfer again would only say it again."""
    return ObjectVerificationException(
        f"{stored.name} cannot be verified on this store: it does not report the part "
        f"size of multipart objects, and {what} reproduce its ETag {stored.etag} in none "
        f"of the part layouts tried ({layouts.describe()}); {SKIP_HINT}"
    )
