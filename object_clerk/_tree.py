"""The entries of a dataset, read as streams in key order.

Both sides of a sync are read lazily and in the same order (S3's: the
UTF-8 bytes of the key), so that they can be paired by a merge instead of
being held in memory. The store side is one listing (ListObjectsV2 gives
each key's size and ETag: no HEAD per object), split into ranges listed at
once and read back in key order; the local side a walk that
sorts one directory at a time and descends into a subdirectory where its
name sorts with a "/" after it, which is where its keys sort.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from object_clerk import _listing
from object_clerk._location import LocalTree, Location, StorePrefix
from object_clerk._sync_plan import Item, sort_key
from object_clerk.exceptions import ObjectClerkConfigurationException, ObjectSaveException

if TYPE_CHECKING:
    from object_clerk._engine import Engine


def items(engine: Engine, location: Location) -> Iterator[Item]:
    """The entries of location in key order."""
    if isinstance(location, LocalTree):
        return walk(location.root)
    return listing(engine, location)


def walk(root: Path) -> Iterator[Item]:
    """The regular files under root (following symbolic links to files, not
    to directories, which could loop), keys "/"-separated. A root that does
    not exist holds nothing: a destination yet to be made. What cannot be
    read (a link that cannot be followed, a directory that cannot be
    listed) is an item with its problem, to be reported, not skipped; a
    root that cannot be listed is refused."""
    if not root.exists():
        return iter(())
    return _walk(root, "")


def _walk(directory: Path, prefix: str) -> Iterator[Item]:
    try:
        found = _entries(directory)
    except OSError as error:
        if not prefix:
            raise ObjectSaveException(
                f"cannot read the directory {str(directory)!r}: {error.strerror}"
            ) from error
        yield Item(prefix, 0, problem=f"the directory cannot be read: {error.strerror}")
        return
    for _, name, kind, problem in found:
        if kind == _DIRECTORY:
            yield from _walk(directory / name, f"{prefix}{name}/")
        elif problem:
            yield Item(prefix + name, 0, problem=problem)
        else:
            try:
                size = (directory / name).stat().st_size
            except FileNotFoundError:  # removed since the directory was read
                continue
            except OSError as error:  # changed since into what cannot be read
                yield Item(prefix + name, 0, problem=f"it cannot be read: {error.strerror}")
                continue
            yield Item(prefix + name, size)


_DIRECTORY, _FILE = "directory", "file"


def _entries(directory: Path) -> list[tuple[bytes, str, str, str]]:
    """(sort key, name, kind, problem) of the entries of directory worth a
    key, sorted: subdirectories (not links to them), regular files (links
    to them too), and links that cannot be followed (with the problem)."""
    found = []
    with os.scandir(directory) as scan:
        for entry in scan:
            if entry.is_dir(follow_symlinks=False):
                found.append((sort_key(entry.name + "/"), entry.name, _DIRECTORY, ""))
                continue
            try:
                is_file = entry.is_file(follow_symlinks=True)
                if not is_file and entry.is_symlink():
                    os.stat(entry.path)  # a dangling link says False; stat tells why
            except OSError as error:
                found.append((sort_key(entry.name), entry.name, _FILE, _unfollowable(error)))
                continue
            if is_file:
                found.append((sort_key(entry.name), entry.name, _FILE, ""))
    found.sort()
    return found


def _unfollowable(error: OSError) -> str:
    return f"a symbolic link that cannot be followed: {error.strerror}"


def listing(engine: Engine, location: StorePrefix) -> Iterator[Item]:
    """The objects under location's prefix, from one listing split into key
    ranges listed at once (see _listing). Keys ending in "/" are the
    directory markers some consoles write (no file can have such a name):
    they are not entries."""
    settings = engine.settings
    found = _listing.split(
        engine.client,
        location.bucket,
        location.prefix or None,
        settings.list_page_size,
        settings.list_lanes,
    )
    for entry in found:
        key = location.relative_key(entry["Key"])
        if not key or key.endswith("/"):
            continue
        yield Item(key, int(entry["Size"]), entry.get("ETag") or "")


Patterns = str | Sequence[str] | None


@dataclass(frozen=True)
class Filters:
    """Which keys (relative to the source and destination roots) a sync or
    a check works on. Patterns are fnmatch's, matched against the whole
    relative key, case-sensitively: "*" matches any characters, "/"
    included; "?" one character; "[abc]", "[!abc]" a character of (not of)
    the set. Every key is taken unless it matches an exclude pattern and no
    include pattern: excludes apply first, includes after them, and the
    later filter wins (aws-cli's rule for ``--exclude '*' --include
    '*.fits'``), whatever the order the patterns were given in."""

    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def takes(self, key: str) -> bool:
        if not any(fnmatch.fnmatchcase(key, pattern) for pattern in self.exclude):
            return True
        return any(fnmatch.fnmatchcase(key, pattern) for pattern in self.include)


def filters(include: Patterns, exclude: Patterns) -> Filters:
    """The Filters of include and exclude, each a pattern or a sequence of
    them (None: none)."""
    return Filters(_patterns("include", include), _patterns("exclude", exclude))


def _patterns(name: str, given: Patterns) -> tuple[str, ...]:
    if given is None:
        return ()
    patterns = (given,) if isinstance(given, str) else given
    if not isinstance(patterns, Sequence):
        raise TypeError(f"{name} must be a str or a list of str, not {type(given).__name__}")
    for pattern in patterns:
        if not isinstance(pattern, str):
            raise TypeError(f"{name} patterns must be str, not {type(pattern).__name__}")
        if not pattern:
            raise ObjectClerkConfigurationException(f"{name} has an empty pattern")
    return tuple(patterns)


def filtered(found: Iterable[Item], taken: Filters) -> Iterator[Item]:
    """The items of found whose key taken takes, in their order. Filtering
    both sides before they are paired: an excluded key is neither
    transferred, nor compared, nor deleted, nor reported."""
    if not (taken.include or taken.exclude):
        yield from found
        return
    for item in found:
        if taken.takes(item.key):
            yield item
