"""What a sync or a check did with each entry, and the totals: the answer
a pipeline keeps, for people and (to_dict) as JSON.

Every entry says what was done and on what evidence, so that a skipped
file can be told from a transferred one, and a failure carries its
exception. Exception messages are the clerk's, which never hold a secret.

A run counts every entry (Tally) but keeps in memory only so many of them
(ENTRIES_KEPT): every entry while the run has no more, beyond that only
the entries that are not ok. Every entry still reaches on_entry and the
report file as it is done (see _sync_run), so that a run of 10^8 entries
needs no more memory than one of 10^4.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from object_clerk._listing import sort_key
from object_clerk.exceptions import public_name


class Operation(StrEnum):
    """Which of the two a report is the outcome of."""

    SYNC = "sync"
    CHECK = "check"


class Action(StrEnum):
    """What a sync did with an entry, or what a check found it to be."""

    UPLOADED = "uploaded"
    DOWNLOADED = "downloaded"
    COPIED = "copied"
    SKIPPED = "skipped"  # proven equal: left as it was
    DELETED = "deleted"
    FAILED = "failed"
    SAME = "same"
    DIFFER = "differ"
    MISSING = "missing"  # not at the destination
    EXTRA = "extra"  # only at the destination
    UNVERIFIABLE = "unverifiable"  # nothing the store keeps can tell


class Evidence(StrEnum):
    """What a decision rests on."""

    ABSENT = "absent"  # not at the destination
    SIZE = "size"  # the sizes differ
    MD5 = "md5"  # a single-part ETag
    MULTIPART_MD5 = "multipart-md5"  # a multipart ETag in its own part layout
    # A full-object checksum the store keeps (the algorithm, in lower case).
    CRC32 = "crc32"
    CRC32C = "crc32c"
    CRC64NVME = "crc64nvme"
    SHA1 = "sha1"
    SHA256 = "sha256"
    NONE = "none"  # nothing the store keeps can tell
    # Not decided yet: same sizes, the content still to compare (an entry
    # that failed before it was compared keeps it).
    PENDING = ""


class Kind(StrEnum):
    """What a step of a plan is."""

    TRANSFER = "transfer"  # the destination lacks the entry or holds other bytes
    COMPARE = "compare"  # same size: the content decides
    EXTRA = "extra"  # only at the destination
    UNREADABLE = "unreadable"  # a side's entry cannot be read: reported, never transferred


SYNC_ACTIONS = (
    Action.UPLOADED,
    Action.DOWNLOADED,
    Action.COPIED,
    Action.SKIPPED,
    Action.DELETED,
    Action.FAILED,
)
CHECK_ACTIONS = (Action.SAME, Action.DIFFER, Action.MISSING, Action.EXTRA, Action.UNVERIFIABLE)
TRANSFERS = frozenset({Action.UPLOADED, Action.DOWNLOADED, Action.COPIED})
# The outcomes a report is not ok with: always kept, up to ENTRIES_KEPT.
NOT_OK = frozenset(
    {Action.FAILED, Action.DIFFER, Action.MISSING, Action.EXTRA, Action.UNVERIFIABLE}
)
# The entries a report keeps: every one while a run has at most this many;
# beyond, the first this many that are not ok. The others are counted in
# the totals and entries_left_out, and are in the report file.
ENTRIES_KEPT = 10_000


@dataclass(frozen=True)
class ReportEntry:
    """One key: the action taken (or found), the evidence it rests on
    (absent, size, md5, multipart-md5, crc32..., none), the bytes moved,
    and the exception where it failed."""

    key: str
    action: Action
    evidence: Evidence
    bytes: int = 0
    error: BaseException | None = field(default=None, compare=False)
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "key": self.key,
            "action": self.action,
            "evidence": self.evidence,
            "bytes": self.bytes,
        }
        if self.detail:
            entry["detail"] = self.detail
        if self.error is not None:
            entry["error"] = {"type": public_name(self.error), "message": str(self.error)}
        return entry


def _sorted(entries: list[ReportEntry]) -> list[ReportEntry]:
    return sorted(entries, key=lambda entry: sort_key(entry.key))


# Called with each entry of a report as it is decided (on the calling thread).
EntryCallback = Callable[[ReportEntry], object]


class Tally:
    """A run's entries as they are done: every one counted (per action, and
    the bytes transferred), and kept while the run has at most cap entries;
    past that only those not ok are kept, up to cap, and the rest are
    counted as left out. Memory stays at cap entries whatever the run's
    size. cap None: ENTRIES_KEPT as it is when the tally is made."""

    def __init__(self, cap: int | None = None) -> None:
        self.cap = ENTRIES_KEPT if cap is None else cap
        self.counts: Counter[Action] = Counter()
        self.bytes = 0
        self.kept: list[ReportEntry] = []
        self.left_out = 0
        self._every = True  # kept holds every entry so far

    def add(self, entry: ReportEntry) -> None:
        self.counts[entry.action] += 1
        if entry.action in TRANSFERS:
            self.bytes += entry.bytes
        if self._every and len(self.kept) < self.cap:
            self.kept.append(entry)
            return
        if self._every:  # one entry too many: from now on, only those not ok
            self._every = False
            not_ok = [kept for kept in self.kept if kept.action in NOT_OK]
            self.left_out += len(self.kept) - len(not_ok)
            self.kept = not_ok
        if entry.action in NOT_OK and len(self.kept) < self.cap:
            self.kept.append(entry)
        else:
            self.left_out += 1

    @property
    def entries(self) -> int:
        return sum(self.counts.values())

    def totals(self) -> dict[str, int]:
        """Entries per action (of every action seen), "entries", and "bytes"
        transferred: what a report's totals are made of."""
        counted = {str(action): n for action, n in self.counts.items()}
        return {**counted, "entries": self.entries, "bytes": self.bytes}


def _counted(entries: list[ReportEntry]) -> dict[str, int]:
    tally = Tally(cap=0)
    for entry in entries:
        tally.add(entry)
    return tally.totals()


@dataclass
class SyncReport:
    """The outcome of a sync. ok: every entry done (or found equal) and
    verified. deletions_withheld counts the destination entries a
    delete=True sync left in place because a transfer failed.

    entries holds every entry of a run of up to ENTRIES_KEPT; of a larger
    one, only those that failed (up to ENTRIES_KEPT), entries_left_out
    counting the others. counts, where given, are the whole run's totals
    (Tally.totals); None: counted from entries."""

    source: str
    destination: str
    entries: list[ReportEntry]
    dry_run: bool = False
    deletions_withheld: int = 0
    entries_left_out: int = 0
    counts: dict[str, int] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.entries = _sorted(self.entries)
        if self.counts is None:
            self.counts = _counted(self.entries)

    @property
    def totals(self) -> dict[str, int]:
        """Entries per action (every sync action, zeros included), and the
        bytes transferred (or, in a dry run, that would be)."""
        counts = self.counts or {}
        totals = {action.value: counts.get(action.value, 0) for action in SYNC_ACTIONS}
        totals["entries"] = counts.get("entries", 0)
        totals["bytes"] = counts.get("bytes", 0)
        return totals

    @property
    def failures(self) -> list[ReportEntry]:
        """The failed entries kept (all of them, up to ENTRIES_KEPT)."""
        return [entry for entry in self.entries if entry.action == Action.FAILED]

    @property
    def ok(self) -> bool:
        return not self.totals[Action.FAILED] and not self.deletions_withheld

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": Operation.SYNC,
            "source": self.source,
            "destination": self.destination,
            "dry_run": self.dry_run,
            "ok": self.ok,
            "totals": self.totals,
            "deletions_withheld": self.deletions_withheld,
            "entries_left_out": self.entries_left_out,
            "entries": [entry.to_dict() for entry in self.entries],
        }


@dataclass
class CheckReport:
    """The outcome of a check. ok only when every entry is the same at both
    sides (an empty pair of locations is ok). entries, entries_left_out and
    counts as for SyncReport: beyond ENTRIES_KEPT, only the entries that are
    not the same are kept."""

    source: str
    destination: str
    entries: list[ReportEntry]
    entries_left_out: int = 0
    counts: dict[str, int] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.entries = _sorted(self.entries)
        if self.counts is None:
            self.counts = _counted(self.entries)

    @property
    def totals(self) -> dict[str, int]:
        counts = self.counts or {}
        totals = {action.value: counts.get(action.value, 0) for action in CHECK_ACTIONS}
        totals["entries"] = counts.get("entries", 0)
        return totals

    @property
    def ok(self) -> bool:
        totals = self.totals
        return totals[Action.SAME] == totals["entries"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": Operation.CHECK,
            "source": self.source,
            "destination": self.destination,
            "ok": self.ok,
            "totals": self.totals,
            "entries_left_out": self.entries_left_out,
            "entries": [entry.to_dict() for entry in self.entries],
        }
