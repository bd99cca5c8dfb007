"""What a sync or a check did with each entry, and the totals: the answer
a pipeline keeps, for people and (to_dict) as JSON.

Every entry says what was done and on what evidence, so that a skipped
file can be told from a transferred one, and a failure carries its
exception. Exception messages are the clerk's, which never hold a secret.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

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


def sort_key(key: str) -> bytes:
    """S3's order of keys: their UTF-8 bytes (names that are not UTF-8 keep
    their bytes, by surrogateescape)."""
    return key.encode("utf-8", "surrogateescape")


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


@dataclass
class SyncReport:
    """The outcome of a sync. ok: every entry done (or found equal) and
    verified. deletions_withheld counts the destination entries a
    delete=True sync left in place because a transfer failed."""

    source: str
    destination: str
    entries: list[ReportEntry]
    dry_run: bool = False
    deletions_withheld: int = 0

    def __post_init__(self) -> None:
        self.entries = _sorted(self.entries)

    @property
    def totals(self) -> dict[str, int]:
        """Entries per action (every sync action, zeros included), and the
        bytes transferred (or, in a dry run, that would be)."""
        counts = Counter(entry.action for entry in self.entries)
        totals = {action.value: counts.get(action, 0) for action in SYNC_ACTIONS}
        totals["entries"] = len(self.entries)
        totals["bytes"] = sum(e.bytes for e in self.entries if e.action in TRANSFERS)
        return totals

    @property
    def failures(self) -> list[ReportEntry]:
        return [entry for entry in self.entries if entry.action == Action.FAILED]

    @property
    def ok(self) -> bool:
        return not self.failures and not self.deletions_withheld

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": Operation.SYNC,
            "source": self.source,
            "destination": self.destination,
            "dry_run": self.dry_run,
            "ok": self.ok,
            "totals": self.totals,
            "deletions_withheld": self.deletions_withheld,
            "entries": [entry.to_dict() for entry in self.entries],
        }


@dataclass
class CheckReport:
    """The outcome of a check. ok only when every entry is the same at both
    sides (an empty pair of locations is ok)."""

    source: str
    destination: str
    entries: list[ReportEntry]

    def __post_init__(self) -> None:
        self.entries = _sorted(self.entries)

    @property
    def totals(self) -> dict[str, int]:
        counts = Counter(entry.action for entry in self.entries)
        totals = {action.value: counts.get(action, 0) for action in CHECK_ACTIONS}
        totals["entries"] = len(self.entries)
        return totals

    @property
    def ok(self) -> bool:
        return all(entry.action == Action.SAME for entry in self.entries)

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": Operation.CHECK,
            "source": self.source,
            "destination": self.destination,
            "ok": self.ok,
            "totals": self.totals,
            "entries": [entry.to_dict() for entry in self.entries],
        }
