"""The headers that belong to an object and not to its bytes: its
Content-Type and other content headers, user metadata (x-amz-meta-*) and
storage class.

An upload's are checked here before anything is sent, because S3 refuses (or
silently mangles) what HTTP headers cannot carry, and a refusal after the
parts went up would waste the transfer. A copy carries the source's over.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from object_clerk.exceptions import ObjectSaveException

# S3 limits user metadata to 2 KiB: the UTF-8 bytes of every key and value.
MAX_METADATA_BYTES = 2 * 1024
# The characters of an HTTP header name (RFC 9110 token).
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")

# The headers a copy must carry over itself where the store does not (a
# multipart copy is a new upload), by their boto3 names.
CONTENT_HEADERS = (
    "CacheControl",
    "ContentDisposition",
    "ContentEncoding",
    "ContentLanguage",
    "ContentType",
    "Expires",
    "Metadata",
)


DEFAULT_CONTENT_TYPE = "application/octet-stream"


def upload_headers(
    content_type: str = DEFAULT_CONTENT_TYPE,
    metadata: Mapping[str, str] | None = None,
    storage_class: str | None = None,
) -> dict[str, Any]:
    """The ExtraArgs of an upload, after refusing what S3 cannot store."""
    if not isinstance(content_type, str):
        raise TypeError(f"content_type must be a str, not {type(content_type).__name__}")
    _check_header_value("content_type", content_type)
    headers: dict[str, Any] = {"ContentType": content_type, "Metadata": _metadata(metadata)}
    if storage_class is not None:
        if not isinstance(storage_class, str):
            raise TypeError(f"storage_class must be a str, not {type(storage_class).__name__}")
        if not storage_class or not set(storage_class) <= _TOKEN:
            raise ObjectSaveException(f"storage_class {storage_class!r} is not a storage class")
        headers["StorageClass"] = storage_class
    return headers


def copied_headers(head: Mapping[str, Any], *, content: bool) -> dict[str, Any]:
    """The ExtraArgs that make a copy keep the source's headers: its storage
    class (a copy is STANDARD unless told), and with content=True its content
    headers and metadata too, replacing whatever a transfer manager would put
    there (s3transfer 0.19 puts nothing when it is not asked to HEAD)."""
    headers: dict[str, Any] = {}
    if head.get("StorageClass"):
        headers["StorageClass"] = head["StorageClass"]
    if content:
        headers.update({name: head[name] for name in CONTENT_HEADERS if name in head})
        headers["MetadataDirective"] = "REPLACE"
    return headers


def _metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise TypeError(f"metadata must be a dict, not {type(metadata).__name__}")
    total = 0
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"metadata keys and values must be str: {key!r}: {value!r}")
        if not key or not set(key) <= _TOKEN:
            raise ObjectSaveException(
                f"metadata key {key!r} cannot be stored: S3 keys are ASCII letters, digits "
                "and -_.!#$%&'*+^`|~ only"
            )
        _check_header_value(f"metadata[{key!r}]", value)
        total += len(key.encode()) + len(value.encode())
        if total > MAX_METADATA_BYTES:
            raise ObjectSaveException(
                f"metadata cannot be stored: with key {key!r} it exceeds S3's "
                f"{MAX_METADATA_BYTES} bytes of keys and values in all"
            )
    return dict(metadata)


def _check_header_value(name: str, value: str) -> None:
    """HTTP carries printable ASCII in header values; S3 would refuse the
    rest or store it changed."""
    if not all(" " <= c <= "~" for c in value):
        raise ObjectSaveException(
            f"{name} {value!r} cannot be stored: S3 header values are printable ASCII only"
        )
