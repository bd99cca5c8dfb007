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

With a hash cache (_hash_cache), a local file's digests are taken from it
where it holds them for the file as it is now, and the ones computed are
kept in it; the verdict's detail says when the local side's digest came
from the cache. The store side is proven by its own listing or HEAD as
without one.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from object_clerk import _verify
from object_clerk._checksum import Etag, file_checksums, hash_file
from object_clerk._errors import translated_errors
from object_clerk._hash_cache import CacheEntry, HashCache
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
    engine: Engine,
    path: Path,
    bucket: str,
    key: str,
    size: int,
    listed_etag: str,
    cache: HashCache | None = None,
    root: Path | None = None,
) -> Verdict:
    """Compare the file at path with bucket/key, both of size bytes when
    listed (the object with listed_etag). With a cache, root is the tree
    that path is in: the file's entry is keyed by both."""
    where = f"compare {str(path)!r} with {bucket}/{key}"
    with translated_errors(where):
        local = _LocalFile(path, cache, root)
        try:
            return _file_and_object(engine, local, bucket, key, size, listed_etag)
        finally:
            local.save()


def _file_and_object(
    engine: Engine, local: _LocalFile, bucket: str, key: str, size: int, listed_etag: str
) -> Verdict:
    etag = Etag.parse(listed_etag)
    if local.size != size:
        return Verdict(False, SIZE, f"{str(local.path)!r} changed size since it was listed")
    by_etag: Verdict | None = None
    if etag.is_md5:
        layouts = _layouts(engine, bucket, key, size, listed_etag, etag)
        by_etag = local.noted(etag_verdict(etag, local.etags(layouts.sizes), layouts))
        if by_etag.equal:
            return by_etag
    stored = _verify.head(engine.client, bucket, key)
    if stored.size != size or stored.etag != etag:
        return Verdict(None, NONE, f"{bucket}/{key} changed while it was compared")
    checksums = stored.full_object_checksums()
    if checksums:
        verdict = checksum_verdict(checksums, local.checksums(checksums.keys()))
        if verdict is not None:
            return local.noted(verdict)
    reason = stored.unverifiable_reason()
    if reason is not None or by_etag is None:
        return Verdict(None, NONE, reason or f"its ETag {etag} is not an MD5")
    return by_etag


class _LocalFile:
    """A local file's digests: from its hash cache entry where it holds
    them for the file as it is now, else computed (and kept for the entry).
    from_cache tells whether the digests last asked for all came from the
    cache."""

    def __init__(self, path: Path, cache: HashCache | None, root: Path | None) -> None:
        self.path = path
        self.entry: CacheEntry | None = None
        if cache is not None and root is not None:
            self.entry = cache.entry(root, path.relative_to(root).as_posix(), path)
            self.size = self.entry.state.size
        else:
            self.size = path.stat().st_size
        self.from_cache = False

    def etags(self, part_sizes: Iterable[int | None]) -> dict[int | None, Etag]:
        """The file's ETags in each part layout (None: a single part)."""
        found: dict[int | None, Etag] = {}
        for part_size in part_sizes:
            cached = self._cached(_etag_name(part_size))
            if cached is not None:
                found[part_size] = Etag.parse(cached)
        missing = [part_size for part_size in part_sizes if part_size not in found]
        computed = hash_file(self.path, missing) if missing else {}
        for part_size, etag in computed.items():
            self._computed(_etag_name(part_size), str(etag))
        self.from_cache = bool(found) and not computed
        return {**found, **computed}

    def checksums(self, algorithms: Iterable[str]) -> dict[str, str]:
        """The file's full-object checksums (base64, as S3 reports them)."""
        names = list(algorithms)
        found = {name: self._cached(_checksum_name(name)) for name in names}
        known = {name: value for name, value in found.items() if value is not None}
        missing = [name for name in names if name not in known]
        computed = file_checksums(self.path, missing) if missing else {}
        for name, value in computed.items():
            self._computed(_checksum_name(name), value)
        self.from_cache = bool(known) and not computed
        return {**known, **computed}

    def noted(self, verdict: Verdict) -> Verdict:
        """verdict, its detail saying so when the local digests it rests on
        came from the hash cache."""
        if not self.from_cache or verdict.evidence == NONE:
            return verdict
        note = f"local {verdict.evidence} from the hash cache"
        detail = f"{verdict.detail}; {note}" if verdict.detail else note
        return Verdict(verdict.equal, verdict.evidence, detail)

    def save(self) -> None:
        if self.entry is not None:
            self.entry.save(self.path)

    def _cached(self, name: str) -> str | None:
        return self.entry.get(name) if self.entry is not None else None

    def _computed(self, name: str, value: str) -> None:
        if self.entry is not None:
            self.entry.put(name, value)


def _etag_name(part_size: int | None) -> str:
    """The cache's name of the ETag in a part layout."""
    return "etag" if part_size is None else f"etag/{part_size}"


def _checksum_name(algorithm: str) -> str:
    return f"checksum/{algorithm}"


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
