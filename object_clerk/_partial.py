"""Resumable downloads: the bytes of an object gather in a partial file
beside the target, which a later call continues after a failure or a crash.

The partial file's name is derived from the target's and from the object's
ETag, so that it is found again by the next call for the same version of
the object, and only by it: a partial file of another version (the object
was overwritten in between) is removed when a download of the target
begins. Names stay short enough for any file system's limit.

A partial file only ever holds a contiguous prefix of the object: it is
never extended beyond what was written (no truncation to the object's size)
and every write lands at or before its end, because the fetch reads an
ordered sink in one stream and writes on one lane (see _download). So its
length is the number of bytes held, whatever stopped the process: there is
no record to keep in step with the bytes. Those bytes are read back and
hashed when the next call starts, into the same hashes that verify the
whole object (and flushed to the disk meanwhile, on a thread of their
own). Bytes damaged on disk in between are caught by that verification:
the partial file is then removed and the object fetched again from its
first byte; only a verified file is ever renamed onto the target.

While a download writes a partial file it holds an exclusive lock on it
(flock, where the system has it): a second download of the same object to
the same target fails at once instead of writing into the same file.

A partial file is only ever the user's own regular file with no other
name, made by a download (exclusively, never through a link): anything
else found under its name (a symbolic link, a FIFO, another user's file, a
hard link to some other file) could turn the download's writes, truncation
and rename against another file, so its name is removed, never what it
leads to, and a new partial file made. The rename onto the target happens
only while the name still is the file written (see _download.replace_own).
A name that cannot be removed (another user's, in a sticky directory such
as /tmp) fails the download if it is this version's partial name, saying
so, and is left alone if it is another version's.

Every name is looked up relative to the target's directory, opened once
by the caller (see _localfs): a directory swapped meanwhile for a link
leads nothing elsewhere.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from object_clerk._checksum import Buffer, Etag
from object_clerk._download import named, read_at, replace_own, unlink_own, write_at
from object_clerk._localfs import lstat, not_own_file
from object_clerk._verify import StoredObject
from object_clerk.exceptions import (
    ObjectClerkException,
    ObjectSaveException,
    ObjectVerificationException,
)

try:
    import fcntl
except ImportError:  # not a POSIX system: no lock
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger("object_clerk.download")
# macOS has no fdatasync.
_sync_data = getattr(os, "fdatasync", os.fsync)

SUFFIX = ".partial"
# The target's name is kept whole up to this many bytes, else cut and
# completed with a hash of the whole name: with the dot, the tag and the
# suffix the partial file's name is at most 226 bytes (file systems allow 255).
NAME_BYTES = 200
TAG_CHARS = 16
_HEX = re.compile(r"[0-9a-f]+")
# A partial file is opened without following a link, and without blocking
# on a FIFO planted under its name.
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_OPEN = os.O_RDWR | getattr(os, "O_CLOEXEC", 0) | _NOFOLLOW

Fetch = Callable[[Callable[[int], "PartialFile"]], "PartialFile"]


def name_part(target_name: str) -> str:
    """The part of a partial file's name that stands for the target."""
    encoded = os.fsencode(target_name)
    if len(encoded) <= NAME_BYTES:
        return target_name
    digest = hashlib.sha256(encoded).hexdigest()[:TAG_CHARS]
    return os.fsdecode(encoded[: NAME_BYTES - TAG_CHARS - 1]) + "~" + digest


def version_tag(etag: Etag) -> str:
    """The part of a partial file's name that stands for the object's
    version: the start of its ETag's digest, or a hash of an ETag that is
    no hex digest."""
    if len(etag.digest) >= TAG_CHARS and _HEX.fullmatch(etag.digest):
        return etag.digest[:TAG_CHARS]
    return hashlib.sha256(str(etag).encode()).hexdigest()[:TAG_CHARS]


def partial_name(target_name: str, etag: Etag) -> str:
    """The name under which the bytes of the object of this ETag gather for
    a target of this name, beside it."""
    return f".{name_part(target_name)}.{version_tag(etag)}{SUFFIX}"


def partial_path(target: Path, etag: Etag) -> Path:
    """Where the bytes of the object of this ETag gather for target."""
    return target.parent / partial_name(target.name, etag)


def partial_names(directory: int, target_name: str) -> Iterator[str]:
    """The names of the partial files, of any version, of the target of
    this name in the open directory."""
    pattern = re.compile(
        re.escape(f".{name_part(target_name)}.") + f"[0-9a-f]{{{TAG_CHARS}}}" + re.escape(SUFFIX)
    )
    # One listing of the directory per download begun: resume=True is for
    # objects large enough that this costs nothing beside the transfer.
    with os.scandir(directory) as entries:
        for entry in entries:
            if pattern.fullmatch(entry.name):
                yield entry.name


class PartialFile:
    """A download sink: the partial file of the object, opened and locked
    when the fetch begins, holding the prefix of the object fetched so far
    (see the module's docstring)."""

    ordered = True

    def __init__(self, directory: int, target: Path, size: int) -> None:
        self._dir = directory  # the target's, open (see the module's docstring)
        self._target = target
        self._size = size
        self._fd = -1
        self._opened: os.stat_result | None = None  # the file, as it was opened
        self.name: str | None = None
        self.path: Path | None = None  # for messages
        self.held = 0  # bytes found in the file when the fetch began
        self.end = 0  # bytes in the file now
        self._flushing: threading.Thread | None = None
        self._flush_error: OSError | None = None

    def begin(self, stored: StoredObject) -> int:
        path = partial_path(self._target, stored.etag)
        for other in partial_names(self._dir, self._target.name):
            if other != path.name:
                _remove_unless_in_use(self._dir, other, self._target.parent / other)
        self._fd = _open_locked(self._dir, path)
        self.name, self.path = path.name, path
        self._opened = os.fstat(self._fd)
        length = self._opened.st_size
        if length > self._size:  # not a prefix of this object: start again
            os.ftruncate(self._fd, 0)
            length = 0
        self.held = self.end = length
        if length:
            # The held bytes must reach the disk before the rename anyway:
            # flushed now, the disk works while the CPU hashes.
            self._flushing = threading.Thread(
                target=self._flush_held, name="object-clerk-flush", daemon=True
            )
            self._flushing.start()
            logger.info(
                "%s: %d of %d bytes already held in %s", stored.name, length, stored.size, self.path
            )
        return length

    def into(self, offset: int, size: int) -> None:
        return None

    def write(self, offset: int, data: Buffer) -> None:
        if offset > self.end:  # the order the fetch promises an ordered sink
            raise RuntimeError(f"a write at byte {offset} of {self.path} would leave a gap")
        write_at(self._fd, offset, data)
        self.end = max(self.end, offset + len(memoryview(data)))

    def chunks(self, start: int = 0, end: int | None = None) -> Iterator[Buffer]:
        return read_at(self._fd, start, self._size if end is None else end)

    def discard(self) -> None:
        """The fetch failed: the file stays for the next call (the caller
        removes it when its bytes are refused), unless the disk failed to
        keep its held bytes."""
        self.close()
        if self._flush_error is not None:
            logger.warning("%s could not be flushed: removed", self.path)
            self.remove()

    def commit(self, mode: int) -> None:
        """The bytes are complete and verified: onto the target with them."""
        assert self.name is not None
        self._flushed()
        if self._flush_error is not None:
            # The disk reports a failed write-back once only: the held bytes
            # cannot be trusted by a later call either.
            self.remove()
            raise self._flush_error
        os.fsync(self._fd)
        os.fchmod(self._fd, mode)
        replace_own(self._fd, self._dir, self.name, self._target.name, self._target)
        self.close()

    def on_disk(self) -> int | None:
        """The bytes the partial file holds (what a later call continues
        after), if its name still is this file; else None."""
        if self.name is None or self._opened is None:
            return None
        found = named(self._dir, self.name, self._opened)
        return None if found is None else found.st_size

    def _flush_held(self) -> None:
        try:
            _sync_data(self._fd)
        except OSError as error:
            self._flush_error = error

    def _flushed(self) -> None:
        if self._flushing is not None:
            self._flushing.join()
            self._flushing = None

    def close(self) -> None:
        self._flushed()  # the file descriptor is in use until then
        if self._fd >= 0:
            os.close(self._fd)  # and with it the lock
            self._fd = -1

    def remove(self) -> None:
        if self.name is not None and self._opened is not None:
            unlink_own(self._dir, self.name, self._opened)  # while open: see _download.named
        self.close()


class Download:
    """One resumable download_object: the attempts' partial files, and what
    to do with them when an attempt fails."""

    def __init__(self, directory: int, target: Path) -> None:
        self._dir = directory  # target's, open: every name is found in it
        self._target = target
        self._sinks: list[PartialFile] = []

    def run(self, fetch: Fetch, mode: Callable[[], int]) -> None:
        """fetch(make_sink) fetches and verifies the object into a sink made
        by make_sink (the clerk's _fetch, which tries again after a
        mismatch), then the file is renamed onto the target."""
        for from_the_start in (False, True):
            try:
                sink = fetch(self._new_sink)
                break
            except ObjectVerificationException:
                # Refused bytes are never kept. When some were held from an
                # earlier call they may be what is wrong (damaged on disk
                # meanwhile) even where the failure cannot say so (a part
                # layout guessed, not known): once more, from the first byte.
                last = self._sinks[-1] if self._sinks else None
                if last is not None:
                    last.remove()
                if from_the_start or last is None or not last.held:
                    raise
                logger.warning(
                    "%s: the %d bytes held in %s were not verified with the rest; "
                    "downloading again from the start",
                    self._target,
                    last.held,
                    last.path,
                )
        try:
            sink.commit(mode())
        except BaseException:
            sink.close()
            raise

    def _new_sink(self, size: int) -> PartialFile:
        if self._sinks:
            # _fetch tries again only after a mismatch (bytes and checksum
            # disagree, or the object changed): the bytes of the attempt
            # before are not to be continued.
            self._sinks[-1].remove()
        sink = PartialFile(self._dir, self._target, size)
        self._sinks.append(sink)
        return sink

    def kept(self) -> str | None:
        """What the caller is told of a partial file left for a later call."""
        sink = self._sinks[-1] if self._sinks else None
        held = sink.on_disk() if sink is not None else None
        if sink is None or held is None:
            return None
        # What is on the disk, not what the fetch counted: a write cut short
        # (a full disk) leaves more bytes than the last whole one ended at.
        return (
            f"the partial file {str(sink.path)!r} was kept with {held} of {sink._size} "
            "bytes: download_object with resume=True continues it"
        )

    @contextlib.contextmanager
    def reporting_kept(self) -> Iterator[None]:
        """Add to the message of a failure the partial file it leaves."""
        try:
            yield
        except BaseException as error:
            note = self.kept()
            if note is not None:
                if isinstance(error, ObjectClerkException):
                    error.args = (f"{error}; {note}", *error.args[1:])
                else:
                    error.add_note(note)
            raise


def _open_locked(directory: int, path: Path) -> int:
    """The partial file path (its name in the open directory), opened
    (created if missing) and locked. The lock is taken on the file under
    that name only: one just renamed onto its target or removed by the
    download that held it is opened afresh."""
    for _ in range(10):
        fd = _open_own(directory, path)
        if fd is None:
            continue
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if named(directory, path.name, os.fstat(fd)) is not None:
                return fd
        except BlockingIOError:
            os.close(fd)
            raise ObjectClerkException(
                f"{str(path)!r} is being written by another download of the same object"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    raise ObjectClerkException(f"{str(path)!r} keeps being replaced while it is opened")


def _open_own(directory: int, path: Path) -> int | None:
    """The partial file path (its name in the open directory), opened: the
    user's own regular file found there, or a new one made exclusively.
    Anything else under the name is discarded (see the module's docstring)
    and None returned: the caller tries again. A directory there is
    refused, as is a name that cannot be removed."""
    name = path.name
    try:
        fd = os.open(name, _OPEN | _NONBLOCK, dir_fd=directory)
    except FileNotFoundError:
        try:
            return os.open(name, _OPEN | os.O_CREAT | os.O_EXCL, 0o600, dir_fd=directory)
        except FileExistsError:  # made meanwhile: opened on the next turn
            return None
    except OSError:
        # A link (O_NOFOLLOW), a socket, a directory, or a file that cannot
        # be opened: which one, its own status tells.
        found = lstat(directory, name)
        if found is None:
            return None
        if stat.S_ISDIR(found.st_mode):
            raise ObjectSaveException(
                f"{str(path)!r}, where this download keeps its partial file, is a directory: "
                "it was left in place and nothing was downloaded"
            ) from None
        if not_own_file(found) is None:
            raise  # the user's own partial file, failing to open: that error
        _discard_current(directory, path, found)
        return None
    found = os.fstat(fd)
    if not_own_file(found) is None:
        if _NONBLOCK:
            os.set_blocking(fd, True)
        return fd
    os.close(fd)
    _discard_current(directory, path, found)
    return None


def _discard(directory: int, name: str, path: Path, found: os.stat_result) -> None:
    """Remove name (path, for messages) from the open directory, found to
    be no partial file: a link is removed itself, and a file with other
    names keeps them. Raises PermissionError when the name is not the
    user's to remove (another user's, in a sticky directory). A directory
    is left."""
    if stat.S_ISDIR(found.st_mode):
        return
    with contextlib.suppress(FileNotFoundError):
        os.unlink(name, dir_fd=directory)
    logger.warning(
        "%s is %s, not a partial file of this download: its name was removed",
        path,
        not_own_file(found),
    )


def _discard_current(directory: int, path: Path, found: os.stat_result) -> None:
    """Discard (see _discard) what is at this version's partial name; if
    it cannot be removed, nothing can be downloaded under that name: the
    download fails, saying why and what to do instead."""
    try:
        _discard(directory, path.name, path, found)
    except PermissionError as error:
        raise ObjectSaveException(
            f"{str(path)!r}, where this download keeps its partial file, is "
            f"{not_own_file(found)} and cannot be removed ({error.strerror}): nothing was "
            "downloaded; resume=False downloads without it"
        ) from None


def _remove_unless_in_use(directory: int, name: str, path: Path) -> None:
    """Remove a partial file of another version (name in the open
    directory; path for messages), unless a download holds it. Anything
    else under such a name is discarded, never followed; if it cannot be
    removed (another user's) it is left: it is not this download's name."""
    try:
        fd = os.open(
            name,
            os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | _NOFOLLOW | _NONBLOCK,
            dir_fd=directory,
        )
    except FileNotFoundError:
        return
    except OSError:
        found = lstat(directory, name)
        if found is not None and not_own_file(found) is not None:
            _discard_other(directory, name, path, found)
        return
    try:
        found = os.fstat(fd)
        if not_own_file(found) is not None:
            _discard_other(directory, name, path, found)  # while open: see _download.named
            return
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        logger.info("removing %s, the partial file of another version of the object", path)
        unlink_own(directory, name, found)
    except BlockingIOError:
        pass
    finally:
        os.close(fd)


def _discard_other(directory: int, name: str, path: Path, found: os.stat_result) -> None:
    try:
        _discard(directory, name, path, found)
    except PermissionError:
        logger.debug("%s is %s and cannot be removed: left alone", path, not_own_file(found))
