"""What a sync or a check does with each entry, and why: pure decisions.

Nothing here reads a file or talks to a store. The two sides arrive as
streams of Items in key order; pair() matches them by a merge, decide()
says from sizes alone what is certain (absent at one side, sizes differ)
and what needs the content compared, and the verdict functions turn the
digests that were computed into a decision with its evidence. Equality is
never concluded from sizes or times: only from a digest the store keeps
(the ETag, in the object's own part layout, or a full-object checksum)
that the other side's bytes reproduce.

Steps and batches are small frozen records of str and int, so that the
work they describe can be handed to any executor, threads or processes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from object_clerk._checksum import Etag
from object_clerk._layout import PartLayouts
from object_clerk._listing import sort_key as sort_key
from object_clerk._sync_report import Action, Evidence, Kind
from object_clerk.exceptions import ListingOrderError as ListingOrderError

# What a step is, and the evidence a decision rests on: the enums of
# _sync_report, by the short names the sync modules use.
TRANSFER, COMPARE, EXTRA, UNREADABLE = Kind.TRANSFER, Kind.COMPARE, Kind.EXTRA, Kind.UNREADABLE
ABSENT, SIZE, NONE = Evidence.ABSENT, Evidence.SIZE, Evidence.NONE
MD5, MULTIPART_MD5 = Evidence.MD5, Evidence.MULTIPART_MD5

# The longest file name (one part of a path) the usual local file systems
# take, in bytes: a longer part of a key cannot be downloaded under its name.
NAME_MAX = 255


@dataclass(frozen=True)
class Item:
    """One entry of a side: its key relative to the location, its size, for
    an object the ETag the listing gave (None for a local file), and why it
    cannot be read where it cannot (a link that cannot be followed, a
    directory that cannot be listed: its key then ends in "/")."""

    key: str
    size: int
    etag: str | None = None
    problem: str = ""


@dataclass(frozen=True)
class Step:
    """What to do with one key, and the evidence for it so far."""

    key: str
    kind: Kind
    evidence: Evidence
    source: Item | None
    destination: Item | None
    detail: str = ""

    @property
    def size(self) -> int:
        """The bytes the step reads or moves: the source's."""
        return self.source.size if self.source is not None else 0


@dataclass(frozen=True)
class Verdict:
    """The outcome of comparing content: equal True, False, or None when
    nothing proves either; evidence names the digest that decided."""

    equal: bool | None
    evidence: Evidence
    detail: str = ""


def pair(
    sources: Iterable[Item], destinations: Iterable[Item]
) -> Iterator[tuple[Item | None, Item | None]]:
    """Both sides matched by key, in key order: (source, destination), either
    None where the key is on one side only. Raises ListingOrderError when a
    side goes backwards or repeats a key."""
    src_iter = _ordered(sources, "source")
    dst_iter = _ordered(destinations, "destination")
    src = next(src_iter, None)
    dst = next(dst_iter, None)
    while src is not None or dst is not None:
        if dst is None or (src is not None and sort_key(src.key) < sort_key(dst.key)):
            yield src, None
            src = next(src_iter, None)
        elif src is None or sort_key(dst.key) < sort_key(src.key):
            yield None, dst
            dst = next(dst_iter, None)
        else:
            yield src, dst
            src, dst = next(src_iter, None), next(dst_iter, None)


def _ordered(items: Iterable[Item], side: str) -> Iterator[Item]:
    previous: bytes | None = None
    for item in items:
        current = sort_key(item.key)
        if previous is not None and current <= previous:
            raise ListingOrderError(
                f"the {side} was not read in key order ({item.key!r} came after a key "
                "sorting after or equal to it); nothing was compared"
            )
        previous = current
        yield item


def decide(source: Item | None, destination: Item | None) -> Step:
    """The step for one key, from what the listings say."""
    for side in (source, destination):
        if side is not None and side.problem:
            return Step(side.key, UNREADABLE, NONE, source, destination, side.problem)
    if source is None:
        if destination is None:
            raise ValueError("a step needs an entry on one side at least")
        return Step(destination.key, EXTRA, ABSENT, None, destination, "not at the source")
    if destination is None:
        return Step(source.key, TRANSFER, ABSENT, source, None, "not at the destination")
    if source.size != destination.size:
        return Step(
            source.key,
            TRANSFER,
            SIZE,
            source,
            destination,
            f"{source.size} bytes at the source, {destination.size} at the destination",
        )
    return Step(source.key, COMPARE, Evidence.PENDING, source, destination)


def names_no_file(part: str) -> bool:
    """Whether a part of a key cannot be a local file's name in its
    directory: empty, "." or "..", or holding a NUL or another path
    separator of this system (a backslash, on Windows), which would lead a
    download elsewhere than the key says."""
    separators = {"\0", os.sep, os.altsep or "/"} - {"/"}
    return part in ("", ".", "..") or any(c in part for c in separators)


def unfit_local_name(key: str) -> str:
    """Why key cannot name a local file, or "" when it can: a part of it
    longer than NAME_MAX bytes, which no file name can be."""
    for part in key.split("/"):
        length = len(sort_key(part))
        if length > NAME_MAX:
            return (
                f"a part of the key is {length} bytes long: a local file name has "
                f"{NAME_MAX} at most"
            )
    return ""


def plan(sources: Iterable[Item], destinations: Iterable[Item]) -> Iterator[Step]:
    """Every key's step, in key order, lazily."""
    for source, destination in pair(sources, destinations):
        yield decide(source, destination)


def etag_verdict(
    stored: Etag, computed: Mapping[int | None, Etag], layouts: PartLayouts
) -> Verdict:
    """Compare a stored ETag with the ETags computed in each layout."""
    evidence = MD5 if stored.parts is None else MULTIPART_MD5
    for part_size in layouts.sizes:
        if computed.get(part_size) == stored:
            detail = "" if part_size is None else f"{part_size}-byte parts"
            return Verdict(True, evidence, detail)
    if not layouts.sizes:
        return Verdict(
            None,
            NONE,
            f"no part size splits the object into the {stored.parts} parts its ETag says",
        )
    if layouts.known:
        return Verdict(False, evidence, f"the other side's bytes do not make the ETag {stored}")
    return Verdict(
        None,
        NONE,
        f"the store does not tell the part size of the multipart ETag {stored}, and none "
        f"of the part sizes tried ({_describe(layouts.sizes)}) reproduces it",
    )


def checksum_verdict(expected: Mapping[str, str], actual: Mapping[str, str]) -> Verdict | None:
    """Compare full-object checksums (algorithm -> base64) present on both
    sides; None when no algorithm is on both."""
    for algorithm in sorted(expected.keys() & actual.keys()):
        name = Evidence(algorithm.lower())  # one of CHECKSUM_ALGORITHMS
        if expected[algorithm] == actual[algorithm]:
            return Verdict(True, name)
        return Verdict(
            False, name, f"{algorithm} {actual[algorithm]} is not the store's {expected[algorithm]}"
        )
    return None


def transfer_action(source_is_local: bool, destination_is_local: bool) -> Action:
    """The sync action that moves an entry between the two kinds of side."""
    if source_is_local:
        return Action.UPLOADED
    return Action.DOWNLOADED if destination_is_local else Action.COPIED


def check_action(step: Step, verdict: Verdict | None) -> Action:
    """A check's outcome for step, once its content was compared (verdict
    None for steps decided by the listings)."""
    if step.kind == EXTRA:
        return Action.EXTRA
    if step.kind == UNREADABLE:
        return Action.UNVERIFIABLE
    if step.kind == TRANSFER:
        return Action.MISSING if step.evidence == ABSENT else Action.DIFFER
    if verdict is None or verdict.equal is None:
        return Action.UNVERIFIABLE
    return Action.SAME if verdict.equal else Action.DIFFER


@dataclass(frozen=True)
class Batch:
    """Steps run one after the other by one worker: many small entries share
    a task, a large one has a task of its own."""

    steps: tuple[Step, ...]

    @property
    def size(self) -> int:
        return sum(step.size for step in self.steps)


class Batcher:
    """Groups steps into batches of at most max_steps steps and, unless a
    single step is larger, max_bytes bytes."""

    def __init__(self, max_steps: int, max_bytes: int) -> None:
        if max_steps < 1 or max_bytes < 1:
            raise ValueError("batches need room for one step and one byte at least")
        self._max_steps, self._max_bytes = max_steps, max_bytes
        self._steps: list[Step] = []
        self._bytes = 0

    def add(self, step: Step) -> list[Batch]:
        """Add step; returns the batches it completes (none, one, or two when
        a large step follows a batch it does not fit in)."""
        ready = []
        if self._steps and self._bytes + step.size > self._max_bytes:
            ready.append(self._take())
        self._steps.append(step)
        self._bytes += step.size
        if len(self._steps) >= self._max_steps or self._bytes >= self._max_bytes:
            ready.append(self._take())
        return ready

    def flush(self) -> Batch | None:
        """The steps added since the last batch, if any."""
        return self._take() if self._steps else None

    def _take(self) -> Batch:
        batch = Batch(tuple(self._steps))
        self._steps, self._bytes = [], 0
        return batch

    def __len__(self) -> int:
        return len(self._steps)


def batches(steps: Iterable[Step], max_steps: int, max_bytes: int) -> Iterator[Batch]:
    """steps in batches, in order."""
    batcher = Batcher(max_steps, max_bytes)
    for step in steps:
        yield from batcher.add(step)
    last = batcher.flush()
    if last is not None:
        yield last


def _describe(sizes: Sequence[int | None]) -> str:
    return ", ".join("single part" if size is None else f"{size} bytes" for size in sizes)
