"""Where a dataset lives: a local directory, or a prefix in a bucket.

A sync or a check names its two sides as strings (or paths); this module
turns them into values and refuses pairs that cannot be synced, before
anything is read or written, with a message naming what is wrong.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from object_clerk.exceptions import ObjectClerkConfigurationException

SCHEME = "s3://"


@dataclass(frozen=True)
class LocalTree:
    """A directory; keys are the paths of its files relative to it."""

    root: Path

    def __str__(self) -> str:
        return str(self.root)


@dataclass(frozen=True)
class StorePrefix:
    """Every object in bucket whose key starts with prefix; keys are the
    rest of the object key. prefix is empty or ends with "/": a prefix names
    a directory, so s3://b/data holds data/x but not data2/x."""

    bucket: str
    prefix: str

    def object_key(self, key: str) -> str:
        return self.prefix + key

    def relative_key(self, object_key: str) -> str:
        return object_key[len(self.prefix) :]

    def __str__(self) -> str:
        return f"{SCHEME}{self.bucket}/{self.prefix}"


Location = LocalTree | StorePrefix


def parse_location(value: object, role: str) -> Location:
    """value as a location: "s3://bucket/prefix" names a store prefix,
    any other str or a path-like a local directory. role ("source",
    "destination") names the side in messages."""
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, bytes) or not isinstance(value, str):
        raise TypeError(f"the {role} must be a str or a path, not {type(value).__name__}")
    if not value:
        raise ObjectClerkConfigurationException(f"the {role} is empty")
    if value[: len(SCHEME)].lower() != SCHEME:
        if "://" in value:
            raise ObjectClerkConfigurationException(
                f"the {role} {value!r} is neither a local directory nor an s3:// location"
            )
        return LocalTree(Path(value))
    bucket, _, prefix = value[len(SCHEME) :].partition("/")
    if not bucket:
        raise ObjectClerkConfigurationException(f"the {role} {value!r} names no bucket")
    if prefix.startswith("/") or "//" in prefix:
        raise ObjectClerkConfigurationException(
            f"the {role} {value!r} has an empty path segment in its prefix"
        )
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return StorePrefix(bucket, prefix)


def parse_pair(source: object, destination: object) -> tuple[Location, Location]:
    """The two sides of a sync or a check, refused when they cannot be:
    two local directories (copy them with the file system), or store
    prefixes where one holds the other (a sync would read its own writes)."""
    src = parse_location(source, "source")
    dst = parse_location(destination, "destination")
    if isinstance(src, LocalTree) and isinstance(dst, LocalTree):
        raise ObjectClerkConfigurationException(
            f"the source {source!s} and the destination {destination!s} are both local: "
            "one of them must be an s3:// location"
        )
    if (
        isinstance(src, StorePrefix)
        and isinstance(dst, StorePrefix)
        and src.bucket == dst.bucket
        and (src.prefix.startswith(dst.prefix) or dst.prefix.startswith(src.prefix))
    ):
        raise ObjectClerkConfigurationException(
            f"the source {src} and the destination {dst} overlap: one holds the other"
        )
    if isinstance(src, LocalTree) and not src.root.is_dir():
        raise ObjectClerkConfigurationException(f"the source {str(src.root)!r} is not a directory")
    if isinstance(dst, LocalTree) and dst.root.exists() and not dst.root.is_dir():
        raise ObjectClerkConfigurationException(
            f"the destination {str(dst.root)!r} exists and is not a directory"
        )
    return src, dst
