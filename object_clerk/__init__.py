"""object-clerk: S3 object operations that retry transient failures and
verify every transfer against the checksum the store holds."""

from object_clerk._resume import IncompleteUpload
from object_clerk._sync_report import CheckReport, ReportEntry, SyncReport
from object_clerk.clerk import ObjectClerk
from object_clerk.exceptions import (
    ObjectClerkBadAnswerException,
    ObjectClerkConfigurationException,
    ObjectClerkConnectionException,
    ObjectClerkException,
    ObjectClerkServerAuthException,
    ObjectClerkServerInternalException,
    ObjectExistsException,
    ObjectNotFoundException,
    ObjectSaveException,
    ObjectSourceChangedException,
    ObjectVerificationException,
)

__all__ = [
    "CheckReport",
    "IncompleteUpload",
    "ObjectClerk",
    "ObjectClerkBadAnswerException",
    "ObjectClerkConfigurationException",
    "ObjectClerkConnectionException",
    "ObjectClerkException",
    "ObjectClerkServerAuthException",
    "ObjectClerkServerInternalException",
    "ObjectExistsException",
    "ObjectNotFoundException",
    "ObjectSaveException",
    "ObjectSourceChangedException",
    "ObjectVerificationException",
    "ReportEntry",
    "SyncReport",
]
