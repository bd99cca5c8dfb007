"""Part layouts: how an object is (or was) split into multipart parts.

The ETag of a multipart object can only be reproduced with the part size
that wrote it. For our own uploads that is the size s3transfer picks from
MULTIPART_THRESHOLD; for objects written by other tools it has to be found.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from s3transfer.utils import ChunksizeAdjuster

MiB = 1024 * 1024

# Part sizes of common S3 tools: the S3 minimum, aws-cli/boto3 (8 MiB),
# s3cmd (15 MiB), minio clients (16 MiB multiples), rclone and others.
USUAL_PART_SIZES = tuple(n * MiB for n in (5, 8, 15, 16, 64, 100, 128, 256, 512))
POWERS_OF_TWO = tuple(2**n for n in range(20, 33))  # 1 MiB .. 4 GiB
# Each guess costs a pass of MD5 over the object: few are tried.
MAX_WHOLE_MIB_GUESSES = 8
# Of the layouts guessed for one object, a comparison or a copy tries at
# most this many: each costs a whole pass (a hash of the file, or a copy).
MAX_TRIED_LAYOUTS = 4


def upload_part_size(size: int, threshold: int, chunksize: int | None = None) -> int | None:
    """The part size a transfer with multipart_threshold = threshold and
    multipart_chunksize = chunksize (default: threshold) uses for size
    bytes; None when it sends one PutObject.

    s3transfer raises the chunk size to S3's limits (5 MiB minimum, at most
    10,000 parts), so the same adjuster decides it here.
    """
    if size < threshold:
        return None
    part_size: int = ChunksizeAdjuster().adjust_chunksize(chunksize or threshold, size)
    return part_size


def part_count(size: int, part_size: int) -> int:
    return max(1, -(-size // part_size))


def candidate_part_sizes(size: int, parts: int, hints: Iterable[int | None] = ()) -> list[int]:
    """Part sizes that split size bytes into exactly parts parts, the hints
    (sizes known or likely for this object) first, then the usual ones, then
    every whole number of MiB that fits, when there are few of them."""
    if parts < 1:
        return []  # no part size gives no parts
    even = -(-size // parts)
    whole_mib = range(-(-even // MiB) * MiB, size if parts == 1 else -(-size // (parts - 1)), MiB)
    guesses = [
        *hints,
        *USUAL_PART_SIZES,
        *POWERS_OF_TWO,
        even,
        *(whole_mib if len(whole_mib) <= MAX_WHOLE_MIB_GUESSES else whole_mib[:1]),
    ]
    found: list[int] = []
    for guess in guesses:
        if guess and guess > 0 and guess not in found and part_count(size, guess) == parts:
            found.append(guess)
    return found


@dataclass(frozen=True)
class PartLayouts:
    """The part sizes that may reproduce an object's ETag (None: one part),
    most likely first, and whether they are known rather than guessed: a
    single-part object's, or the one the store reports. Only a mismatch in
    a known layout proves that the bytes differ; in a guessed one it may as
    well mean a part size nobody guessed."""

    sizes: tuple[int | None, ...]
    known: bool

    def describe(self) -> str:
        return ", ".join("single part" if size is None else f"{size} bytes" for size in self.sizes)


def layouts(
    size: int,
    parts: int | None,
    first_part: int | None = None,
    hints: Iterable[int | None] = (),
    limit: int | None = None,
) -> PartLayouts:
    """The layouts to hash size bytes in to reproduce an ETag of parts parts
    (None: a single-part ETag): one part, the part size the store reports
    (first_part), or else the sizes that give its part count, hints first,
    at most limit of them."""
    if parts is None:
        return PartLayouts((None,), known=True)
    if first_part is not None:
        return PartLayouts((first_part,), known=True)
    return PartLayouts(tuple(candidate_part_sizes(size, parts, hints)[:limit]), known=False)
