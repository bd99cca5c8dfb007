"""What a sync or a check did with each entry, and the totals: the answer
a pipeline keeps, for people and (to_dict) as JSON.

Every entry says what was done and on what evidence, so that a skipped
file can be told from a transferred one, and a failure carries its
exception. Exception messages are the clerk's, which never hold a secret.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from object_clerk._sync_plan import sort_key

SYNC_ACTIONS = ("uploaded", "downloaded", "copied", "skipped", "deleted", "failed")
CHECK_ACTIONS = ("same", "differ", "missing", "extra", "unverifiable")
TRANSFERS = frozenset({"uploaded", "downloaded", "copied"})


@dataclass(frozen=True)
class ReportEntry:
    """One key: the action taken (or found), the evidence it rests on
    (absent, size, md5, multipart-md5, crc32..., none), the bytes moved,
    and the exception where it failed."""

    key: str
    action: str
    evidence: str
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
            entry["error"] = {"type": type(self.error).__name__, "message": str(self.error)}
        return entry


def _sorted(entries: list[ReportEntry]) -> list[ReportEntry]:
    return sorted(entries, key=lambda entry: sort_key(entry.key))


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
        totals = {action: counts.get(action, 0) for action in SYNC_ACTIONS}
        totals["entries"] = len(self.entries)
        totals["bytes"] = sum(e.bytes for e in self.entries if e.action in TRANSFERS)
        return totals

    @property
    def failures(self) -> list[ReportEntry]:
        return [entry for entry in self.entries if entry.action == "failed"]

    @property
    def ok(self) -> bool:
        return not self.failures and not self.deletions_withheld

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": "sync",
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
        totals = {action: counts.get(action, 0) for action in CHECK_ACTIONS}
        totals["entries"] = len(self.entries)
        return totals

    @property
    def ok(self) -> bool:
        return all(entry.action == "same" for entry in self.entries)

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": "check",
            "source": self.source,
            "destination": self.destination,
            "ok": self.ok,
            "totals": self.totals,
            "entries": [entry.to_dict() for entry in self.entries],
        }
