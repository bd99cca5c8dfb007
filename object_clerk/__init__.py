"""object-clerk: S3 object operations that retry transient failures and
verify every transfer against the checksum the store holds."""

from configparser import ConfigParser
from importlib import metadata
from pathlib import Path

from object_clerk.clerk import ObjectClerk
from object_clerk.exceptions import (
    ListingOrderError,
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
from object_clerk.typing import CheckReport, IncompleteUpload, ReportEntry, SyncReport


def _version() -> str:
    """The installed distribution's version; in a source tree not installed,
    setup.cfg's (the one place it is written)."""
    try:
        return metadata.version("object-clerk")
    except metadata.PackageNotFoundError:
        config = ConfigParser()
        config.read(Path(__file__).resolve().parent.parent / "setup.cfg", encoding="utf-8")
        return config.get("metadata", "version", fallback="0+unknown")


__version__: str = _version()

__all__ = [
    "CheckReport",
    "IncompleteUpload",
    "ListingOrderError",
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
