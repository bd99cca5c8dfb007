"""Comparing the content of two entries of the same size, cheaply and only
on evidence.

A local file is compared with an object by hashing the file in the
object's own part layout and matching the ETag the listing gave: no
request at all for a single-part object, one HEAD with PartNumber=1 to
learn a multipart object's part size. Only when that does not prove the
two equal is the object HEADed, for a full-object checksum it may keep and
for whether its ETag is an MD5 at all (SSE-KMS, SSE-C). Two objects are
equal when their ETags are (both MD5s of their content, in one layout), or
by a full-object checksum both keep.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from object_clerk import _verify
from object_clerk._checksum import Etag, file_checksums, hash_file
from object_clerk._errors import translated_errors
from object_clerk._layout import MAX_TRIED_LAYOUTS, PartLayouts, layouts
from object_clerk._sync_plan import (
    MD5,
    MULTIPART_MD5,
    NONE,
    SIZE,
    Verdict,
    checksum_verdict,
    etag_verdict,
)

if TYPE_CHECKING:
    from object_clerk._engine import Engine


def file_and_object(
    engine: Engine, path: Path, bucket: str, key: str, size: int, listed_etag: str
) -> Verdict:
    """Compare the file at path with bucket/key, both of size bytes when
    listed (the object with listed_etag)."""
    where = f"compare {str(path)!r} with {bucket}/{key}"
    with translated_errors(where):
        etag = Etag.parse(listed_etag)
        if path.stat().st_size != size:
            return Verdict(False, SIZE, f"{str(path)!r} changed size since it was listed")
        by_etag: Verdict | None = None
        if etag.is_md5:
            layouts = _layouts(engine, bucket, key, size, listed_etag, etag)
            by_etag = etag_verdict(etag, hash_file(path, layouts.sizes), layouts)
            if by_etag.equal:
                return by_etag
        stored = _verify.head(engine.client, bucket, key)
        if stored.size != size or stored.etag != etag:
            return Verdict(None, NONE, f"{bucket}/{key} changed while it was compared")
        checksums = stored.full_object_checksums()
        if checksums:
            actual = file_checksums(path, checksums.keys())
            verdict = checksum_verdict(checksums, actual)
            if verdict is not None:
                return verdict
        reason = stored.unverifiable_reason()
        if reason is not None or by_etag is None:
            return Verdict(None, NONE, reason or f"its ETag {etag} is not an MD5")
        return by_etag


def objects(
    engine: Engine,
    source: tuple[str, str, str],
    destination: tuple[str, str, str],
) -> Verdict:
    """Compare two objects of the same size, each given as (bucket, key,
    listed ETag)."""
    (src_bucket, src_key, src_raw), (dst_bucket, dst_key, dst_raw) = source, destination
    src_etag, dst_etag = Etag.parse(src_raw), Etag.parse(dst_raw)
    evidence = MD5 if src_etag.parts is None else MULTIPART_MD5
    if src_etag == dst_etag and src_etag.is_md5:
        return Verdict(True, evidence, "the same ETag")
    with translated_errors(f"compare {src_bucket}/{src_key} with {dst_bucket}/{dst_key}"):
        src = _verify.head(engine.client, src_bucket, src_key)
        dst = _verify.head(engine.client, dst_bucket, dst_key)
        unverifiable = src.unverifiable_reason() or dst.unverifiable_reason()
        verdict = checksum_verdict(src.full_object_checksums(), dst.full_object_checksums())
        if verdict is not None:
            return verdict
        if unverifiable is not None:
            return Verdict(None, NONE, unverifiable)
        if src.etag.parts == dst.etag.parts and _same_layout(engine, src, dst):
            return Verdict(False, evidence, f"ETags {src.etag} and {dst.etag} in one layout")
        return Verdict(
            None,
            NONE,
            f"the ETags {src.etag} and {dst.etag} are of part layouts that cannot be compared",
        )


def _same_layout(engine: Engine, a: _verify.StoredObject, b: _verify.StoredObject) -> bool:
    """Whether two objects of one size and part count are known to have one
    part size (then their ETags differ only if their bytes do)."""
    if a.etag.parts is None:
        return True
    first = _verify.first_part_size(engine.client, a)
    return first is not None and first == _verify.first_part_size(engine.client, b)


def _layouts(engine: Engine, bucket: str, key: str, size: int, raw: str, etag: Etag) -> PartLayouts:
    first = None
    if etag.parts is not None:
        stub = _verify.StoredObject(bucket, key, size, raw, etag, {})
        first = _verify.first_part_size(engine.client, stub)
    hints = [engine.own_part_size(size)]
    return layouts(size, etag.parts, first, hints, MAX_TRIED_LAYOUTS)
