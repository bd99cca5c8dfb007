"""The entries of a dataset, read as streams in key order.

Both sides of a sync are read lazily and in the same order (S3's: the
UTF-8 bytes of the key), so that they can be paired by a merge instead of
being held in memory. The store side is one listing (ListObjectsV2 gives
each key's size and ETag: no HEAD per object); the local side a walk that
sorts one directory at a time and descends into a subdirectory where its
name sorts with a "/" after it, which is where its keys sort.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from object_clerk import _listing
from object_clerk._location import LocalTree, Location, StorePrefix
from object_clerk._sync_plan import Item, sort_key

if TYPE_CHECKING:
    from object_clerk.clerk import ObjectClerk


def items(clerk: ObjectClerk, location: Location) -> Iterator[Item]:
    """The entries of location in key order."""
    if isinstance(location, LocalTree):
        return walk(location.root)
    return listing(clerk, location)


def walk(root: Path) -> Iterator[Item]:
    """The regular files under root (following symbolic links to files, not
    to directories, which could loop), keys "/"-separated. A root that does
    not exist holds nothing: a destination yet to be made."""
    if not root.exists():
        return iter(())
    return _walk(root, "")


def _walk(directory: Path, prefix: str) -> Iterator[Item]:
    with os.scandir(directory) as scan:
        found = []
        for entry in scan:
            if entry.is_dir(follow_symlinks=False):
                found.append((sort_key(entry.name + "/"), entry.name, True))
            elif entry.is_file(follow_symlinks=True):
                found.append((sort_key(entry.name), entry.name, False))
    found.sort()
    for _, name, is_dir in found:
        if is_dir:
            yield from _walk(directory / name, f"{prefix}{name}/")
            continue
        try:
            size = (directory / name).stat().st_size
        except FileNotFoundError:  # removed since the directory was read
            continue
        yield Item(prefix + name, size)


def listing(clerk: ObjectClerk, location: StorePrefix) -> Iterator[Item]:
    """The objects under location's prefix, from one listing fanned out by
    its "/"-groups (see _listing). Keys ending in "/" are the directory
    markers some consoles write (no file can have such a name): they are
    not entries."""
    found = _listing.fanned_out(
        clerk._s3, location.bucket, location.prefix or None, clerk._settings.list_page_size
    )
    for entry in found:
        key = location.relative_key(entry["Key"])
        if not key or key.endswith("/"):
            continue
        yield Item(key, int(entry["Size"]), entry.get("ETag") or "")
