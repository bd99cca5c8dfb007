"""ETags and checksums computed from bytes: of chunks, of a readable file
object, or of a file, read READ_SIZE bytes at a time.

S3 stores the MD5 of the body as the ETag of a single PUT, and
``md5(part1_md5 + part2_md5 + ...)-<parts>`` for a multipart upload, so the
ETag of a multipart object depends on the part size.

Full-object CRCs (CRC32, CRC32C, CRC64NVME) are computed by zlib and awscrt,
botocore's own runtime, a dependency so that every install can verify them.
"""

from __future__ import annotations

import base64
import hashlib
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from awscrt import checksums

Buffer = bytes | bytearray | memoryview
# Files and bodies are read for hashing in pieces this large: big enough
# for hashlib to release the GIL (so that threads hash in parallel), small
# enough for many of them at once.
READ_SIZE = 1024 * 1024
# S3 takes at most this many parts in one multipart upload.
MAX_PARTS = 10_000


@dataclass(frozen=True)
class Etag:
    """An S3 ETag split into its digest and part count (None: single part)."""

    digest: str
    parts: int | None

    @classmethod
    def parse(cls, raw: str) -> Etag:
        """Read an ETag as stores send it: quoted or not, any case. A part
        count outside 1..MAX_PARTS (or not a number) is no multipart ETag:
        the whole value is kept as the digest, which is then no MD5, and
        says so where it is checked."""
        value = raw.strip().strip('"').lower()
        digest, dash, parts = value.partition("-")
        if dash and parts.isascii() and parts.isdigit() and 1 <= int(parts) <= MAX_PARTS:
            return cls(digest, int(parts))
        return cls(value, None)

    def __str__(self) -> str:
        return self.digest if self.parts is None else f"{self.digest}-{self.parts}"

    @property
    def is_md5(self) -> bool:
        """Whether the digest can be an MD5 (SSE-KMS and SSE-C ETags, and
        some stores', are not; a HEAD tells which it is)."""
        return len(self.digest) == 32 and all(c in "0123456789abcdef" for c in self.digest)


class EtagHasher:
    """Computes the ETag of bytes fed in order, in chunks of any size.

    part_size None computes a single-PUT ETag; otherwise the bytes are split
    into parts of part_size (the last one shorter), as a multipart upload does.
    """

    def __init__(self, part_size: int | None) -> None:
        if part_size is not None and part_size <= 0:
            raise ValueError(f"part_size must be positive, not {part_size}")
        self._part_size = part_size
        self._part = hashlib.md5()
        self._part_filled = 0
        self._part_digests: list[bytes] = []

    def update(self, chunk: Buffer) -> None:
        view = memoryview(chunk).cast("B")
        if self._part_size is None:
            self._part.update(view)
            return
        while view:
            room = self._part_size - self._part_filled
            piece, view = view[:room], view[room:]
            self._part.update(piece)
            self._part_filled += len(piece)
            if self._part_filled == self._part_size:
                self._close_part()

    def etag(self) -> Etag:
        if self._part_size is None:
            return Etag(self._part.hexdigest(), None)
        digests = list(self._part_digests)
        if self._part_filled or not digests:
            digests.append(self._part.digest())
        return multipart_etag(digests)

    def _close_part(self) -> None:
        self._part_digests.append(self._part.digest())
        self._part = hashlib.md5()
        self._part_filled = 0


def multipart_etag(part_digests: Sequence[bytes]) -> Etag:
    """The ETag of a multipart object from the MD5 digests of its parts."""
    return Etag(hashlib.md5(b"".join(part_digests)).hexdigest(), len(part_digests))


def etag_of(chunks: Iterable[Buffer], part_size: int | None) -> Etag:
    """The ETag of the bytes in chunks, stored with the given part size."""
    hasher = EtagHasher(part_size)
    for chunk in chunks:
        hasher.update(chunk)
    return hasher.etag()


class _Checksum(Protocol):
    def update(self, data: Buffer) -> None: ...

    def digest(self) -> bytes: ...


class _Crc:
    """An incremental CRC from a function crc(data, previous) -> int."""

    def __init__(self, crc: Callable[[Buffer, int], int], width: int) -> None:
        self._crc, self._width, self._value = crc, width, 0

    def update(self, data: Buffer) -> None:
        self._value = self._crc(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(self._width, "big")


def _checksum_algorithms() -> dict[str, Callable[[], _Checksum]]:
    """Full-object checksums S3 may report, computed by well-kept code only:
    zlib, hashlib and awscrt."""
    return {
        "CRC32": lambda: _Crc(zlib.crc32, 4),
        "CRC32C": lambda: _Crc(checksums.crc32c, 4),
        "CRC64NVME": lambda: _Crc(checksums.crc64nvme, 8),
        "SHA1": hashlib.sha1,
        "SHA256": hashlib.sha256,
    }


CHECKSUM_ALGORITHMS = _checksum_algorithms()


def full_object_checksum(algorithm: str, chunks: Iterable[Buffer]) -> str:
    """The base64 checksum S3 reports for the bytes in chunks; algorithm is
    one of CHECKSUM_ALGORITHMS."""
    checksum = CHECKSUM_ALGORITHMS[algorithm]()
    for chunk in chunks:
        checksum.update(chunk)
    return base64.b64encode(checksum.digest()).decode("ascii")


# The checksums S3 keeps for a whole object uploaded in parts (FULL_OBJECT):
# CRCs, whose value for the whole follows from the parts' values and sizes.
# name: (crc(data, previous), width in bytes, reflected polynomial)
_CRCS: dict[str, tuple[Callable[[Buffer, int], int], int, int]] = {
    "CRC64NVME": (checksums.crc64nvme, 8, 0x9A6C9329AC4BC9B5),
    "CRC32C": (checksums.crc32c, 4, 0x82F63B78),
    "CRC32": (zlib.crc32, 4, 0xEDB88320),
}
FULL_OBJECT_CRCS = tuple(_CRCS)


@dataclass(frozen=True)
class PartCrc:
    """The CRC of one run of bytes, and how many there were."""

    value: int
    length: int


def crc_of(algorithm: str, data: Buffer, previous: int = 0) -> int:
    """The CRC (one of FULL_OBJECT_CRCS) of data, continuing previous."""
    return _CRCS[algorithm][0](data, previous)


def encoded(algorithm: str, value: int) -> str:
    """A CRC as S3 sends it: base64 of its big-endian bytes."""
    return base64.b64encode(value.to_bytes(_CRCS[algorithm][1], "big")).decode("ascii")


def combined_crc(algorithm: str, parts: Sequence[PartCrc]) -> int:
    """The CRC of the concatenation of the parts, from their CRCs alone:
    the bytes are not read again. Newer awscrt combines them itself; for the
    older awscrt that older botocore pins, the same arithmetic (zlib's
    crc32_combine, for any reflected CRC) is done here."""
    combine = getattr(checksums, f"combine_{algorithm.lower()}", None)
    _, width, poly = _CRCS[algorithm]
    total = 0
    for index, part in enumerate(parts):
        if index == 0:
            total = part.value
        elif combine is not None:
            total = combine(total, part.value, part.length)
        else:
            shift = _x_to_8n(part.length, poly, width * 8)
            total = _multiply(shift, total, poly, width * 8) ^ part.value
    return total


def _multiply(a: int, b: int, poly: int, bits: int) -> int:
    """a * b modulo the CRC polynomial, both in reflected bit order."""
    mask, product = 1 << (bits - 1), 0
    while a:
        if a & mask:
            product ^= b
            a ^= mask
        mask >>= 1
        b = (b >> 1) ^ poly if b & 1 else b >> 1
    return product


def _x_to_8n(length: int, poly: int, bits: int) -> int:
    """x to the power 8 * length, modulo the polynomial: the shift a CRC
    undergoes when length more bytes follow."""
    result, power, n = 1 << (bits - 1), 1 << (bits - 2), length * 8
    while n:
        if n & 1:
            result = _multiply(power, result, poly, bits)
        power = _multiply(power, power, poly, bits)
        n >>= 1
    return result


def read_chunks(fileobj: Any) -> Iterator[bytes]:
    """What is left to read of a binary file object, READ_SIZE at a time."""
    return iter(lambda: fileobj.read(READ_SIZE), b"")


def file_chunks(path: Path) -> Iterator[bytes]:
    """The bytes of the file at path, READ_SIZE at a time."""
    with path.open("rb") as file:
        yield from read_chunks(file)


def hash_file(path: Path, part_sizes: Iterable[int | None]) -> dict[int | None, Etag]:
    """The ETags of the file at path in each part layout, in one read."""
    hashers = {part_size: EtagHasher(part_size) for part_size in part_sizes}
    if hashers:
        for chunk in file_chunks(path):
            for hasher in hashers.values():
                hasher.update(chunk)
    return {part_size: hasher.etag() for part_size, hasher in hashers.items()}


def file_checksums(path: Path, algorithms: Iterable[str]) -> dict[str, str]:
    """The full-object checksums (base64, as S3 reports them) of the file."""
    checksums = {name: CHECKSUM_ALGORITHMS[name]() for name in algorithms}
    for chunk in file_chunks(path):
        for checksum in checksums.values():
            checksum.update(chunk)
    return {
        name: base64.b64encode(checksum.digest()).decode("ascii")
        for name, checksum in checksums.items()
    }
