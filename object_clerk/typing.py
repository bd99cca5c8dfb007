"""The types a user of object-clerk meets in its signatures and reports,
importable from here whichever private module defines them.

The report classes and their enums are published under this module's
name (their ``__module__``), so that help(), their repr and pickles name a
module a user may import (each stays the same class, under its old name
too); their annotations name only types found here. IncompleteUpload keeps
its own module: its annotations name types of that module.
"""

from __future__ import annotations

from object_clerk._progress import ProgressCallback
from object_clerk._resume import IncompleteUpload
from object_clerk._source import UploadData
from object_clerk._sync_report import (
    CHECK_ACTIONS,
    SYNC_ACTIONS,
    Action,
    CheckReport,
    EntryCallback,
    Evidence,
    Kind,
    Operation,
    ReportEntry,
    SyncReport,
)

__all__ = [
    "CHECK_ACTIONS",
    "SYNC_ACTIONS",
    "Action",
    "CheckReport",
    "EntryCallback",
    "Evidence",
    "IncompleteUpload",
    "Kind",
    "Operation",
    "ProgressCallback",
    "ReportEntry",
    "SyncReport",
    "UploadData",
]

# The report types and enums defined in _sync_report are published here.
for _name in __all__:
    _published = globals()[_name]
    if getattr(_published, "__module__", None) == "object_clerk._sync_report":
        _published.__module__ = __name__
del _name, _published
