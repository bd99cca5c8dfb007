"""Files of a local directory reached through open directory descriptors.

A name checked and then used again by its path is looked up twice: another
process may swap a directory on the way for a symbolic link in between, and
the second lookup would lead out of the tree. So a download or a deletion
under a destination root opens each directory on the way without following
a link (O_NOFOLLOW), and does its creating, renaming, checking and removing
relative to the last one opened: a directory swapped after it was opened
keeps receiving the writes, the place a link leads to never does.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from object_clerk.exceptions import ObjectSaveException

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _CLOEXEC
# A new file: made here, never an existing one, never through a link.
_NEW_FILE = os.O_RDWR | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
# What fsync of a directory answers on a file system that cannot flush one.
_NO_DIRECTORY_FLUSH = frozenset({errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP})


@contextlib.contextmanager
def directory(root: Path, parts: Sequence[str], make: bool) -> Iterator[int | None]:
    """An open descriptor of the directory root/parts[0]/parts[1]/...,
    each part opened relative to the one before and never through a
    symbolic link (refused, saying so, as is a part that is no directory);
    with make, missing ones are made. None (without make) where one is
    missing: nothing lies beyond it. The root is the caller's own: followed."""
    if make:
        root.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(root, _DIRECTORY)
    except FileNotFoundError:
        if make:
            raise
        yield None
        return
    try:
        shown = root
        for name in parts:
            shown = shown / name
            child = _open_part(fd, name, shown, root, make)
            os.close(fd)
            fd = child
            if fd < 0:
                break
        yield fd if fd >= 0 else None
    finally:
        if fd >= 0:
            os.close(fd)


def _open_part(parent: int, name: str, shown: Path, root: Path, make: bool) -> int:
    """The directory name in parent, opened without following a link
    (shown is its path, for messages); -1 if missing and not made."""
    if make:
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o777, dir_fd=parent)
    try:
        return os.open(name, _DIRECTORY | _NOFOLLOW, dir_fd=parent)
    except FileNotFoundError:
        if make:
            raise
        return -1
    except OSError:
        found = lstat(parent, name)
        if found is None:
            raise
        if stat.S_ISLNK(found.st_mode):
            raise ObjectSaveException(
                f"{str(shown)!r} is a symbolic link: it is not followed out of {str(root)!r}"
            ) from None
        if not stat.S_ISDIR(found.st_mode):
            raise ObjectSaveException(f"{str(shown)!r} is not a directory") from None
        raise


def lstat(directory: int, name: str) -> os.stat_result | None:
    """The status of name in directory, a link not followed; None if absent."""
    try:
        return os.stat(name, dir_fd=directory, follow_symlinks=False)
    except FileNotFoundError:
        return None


def create(directory: int, name: str) -> int:
    """A new file name in directory, opened read-write with mode 0600: made
    exclusively, never an existing file and never through a link."""
    return os.open(name, _NEW_FILE, 0o600, dir_fd=directory)


def not_own_file(found: os.stat_result) -> str | None:
    """Why a file of this status is not the user's own regular file with
    one name (whose mode and bytes are the user's to keep); None if it is."""
    if stat.S_ISLNK(found.st_mode):
        return "a symbolic link"
    if not stat.S_ISREG(found.st_mode):
        return "not a regular file"
    geteuid = getattr(os, "geteuid", None)
    if geteuid is not None and found.st_uid != geteuid():
        return f"owned by user {found.st_uid}"
    if found.st_nlink != 1:
        return "a file with other names (hard links)"
    return None


@contextlib.contextmanager
def opened(path: Path) -> Iterator[int]:
    """The directory at path, open (a link followed: the caller named it)."""
    fd = os.open(path, _DIRECTORY)
    try:
        yield fd
    finally:
        os.close(fd)


def create_temporary(directory: int, prefix: str, suffix: str) -> tuple[str, int]:
    """A new file in directory named prefix, random letters, suffix (see
    create): its name and its descriptor. The name cannot be guessed, so
    nobody plants anything there first, and if someone does it is never
    opened."""
    for _ in range(100):
        name = f"{prefix}{secrets.token_hex(8)}{suffix}"
        try:
            return name, create(directory, name)
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name {prefix}...{suffix} in the directory")


def new_file_mode(directory: int, name: str) -> int:
    """The permission bits of the file replaced (name, in the open
    directory) if it is the user's own regular file with no other name,
    else those of a new file under this process's umask (read from /proc
    where it can be, without changing it). The target is never followed:
    a link there is replaced, and lends no mode; nor does a file planted by
    another user, or a hard link to some other file. Set-id and sticky
    bits are never kept: the content is the store's, not what they were
    given to."""
    found = lstat(directory, name)
    if found is not None and not_own_file(found) is None:
        return found.st_mode & 0o777
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    return 0o644


class Flushes:
    """Files written and renamed into place without an fsync each, and the
    directories that hold them, flushed to disk together by flush(): on a
    journalling file system the first fsync commits the writes of them all,
    so a batch of small files costs about one disk commit instead of one
    per file. Until flush() returns, a crash of the machine may leave any of
    them short or empty (a later sync finds it different from the store and
    fetches it again); after, every one is on disk under its name."""

    def __init__(self) -> None:
        self._files: list[int] = []
        self._directories: dict[tuple[int, int], int] = {}

    def __len__(self) -> int:
        return len(self._files)

    def add(self, fd: int, directory: int) -> None:
        """The open file fd, renamed into the open directory: both are kept
        open (duplicated) until the flush, the caller closes its own."""
        found = os.fstat(directory)
        place = (found.st_dev, found.st_ino)
        if place not in self._directories:
            self._directories[place] = os.dup(directory)
        self._files.append(os.dup(fd))

    def flush(self) -> None:
        """fsync every file, then every directory (their new names); raises
        the first failure once every descriptor is closed. A file system
        that cannot flush a directory (EINVAL, ENOTSUP: some network and
        FUSE ones) keeps the renames as it keeps them for everyone."""
        failure: OSError | None = None
        directories = set(self._directories.values())
        for fd in [*self._files, *directories]:
            try:
                if failure is None:
                    os.fsync(fd)
            except OSError as error:
                if fd not in directories or error.errno not in _NO_DIRECTORY_FLUSH:
                    failure = error
            finally:
                os.close(fd)
        self._files, self._directories = [], {}
        if failure is not None:
            raise failure

    def close(self) -> None:
        """Drop every descriptor unflushed (the batch failed as a whole)."""
        for fd in [*self._files, *self._directories.values()]:
            os.close(fd)
        self._files, self._directories = [], {}
