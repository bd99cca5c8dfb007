"""The data an upload reads from: bytes, a file named by a path, or a
readable binary file object, seen through one interface.

A source can be read from its start as often as needed: once per upload
attempt.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from object_clerk._errors import Mismatch
from object_clerk.exceptions import ObjectSaveException, ObjectSourceChangedException

UploadData = bytes | bytearray | memoryview | str | os.PathLike[str] | IO[bytes]

# A stream (a pipe, a socket) is read in pieces of at most this many bytes.
READ_SIZE = 8 * 1024 * 1024
# A stream that cannot seek is copied aside so that it can be read again;
# up to this many bytes stay in memory.
SPOOL_IN_MEMORY = 16 * 1024 * 1024


class Reader(Protocol):
    """What an upload uses of the file object it reads from: the caller's
    binary file, its spooled copy, or a reader over the caller's bytes."""

    def read(self, size: int = -1, /) -> bytes: ...

    def seek(self, offset: int, whence: int = io.SEEK_SET, /) -> int: ...

    def tell(self) -> int: ...


# What a stat of a file source tells of its version (None: not a file).
Fingerprint = tuple[int, ...] | None
NOT_STORED = "nothing of what was read was stored: the key keeps what it held"


class SourceChanged(ObjectSourceChangedException, Mismatch):
    """The data changed while an upload read it: what was read may mix two
    versions. A Mismatch, so that the clerk uploads it again (see
    VERIFY_ATTEMPTS); an ObjectSourceChangedException to the caller."""


@dataclass
class UploadSource:
    """size bytes, from filename or from fileobj at offset start; seen is
    the file's fingerprint when the current attempt began (see refresh)."""

    size: int
    description: str
    filename: str | None = None
    fileobj: Reader | None = None
    start: int = 0
    seen: Fingerprint = None
    # Whether nothing (zero bytes) may be stored: a dataset's empty files
    # are entries like any other, while upload_object refuses them unless
    # asked (its published behaviour).
    allow_empty: bool = True

    def fingerprint(self) -> Fingerprint:
        """Size, modification and change times, inode and device of a file
        source (None for others): one stat, cheap enough to take before
        every request that sends or completes what was read."""
        try:
            if self.filename is not None:
                status = os.stat(self.filename)
            elif self.fileobj is not None and hasattr(self.fileobj, "fileno"):
                status = os.fstat(self.fileobj.fileno())
            else:
                return None
        except (OSError, ValueError):  # no real file behind the object
            return None
        return (
            status.st_size,
            status.st_mtime_ns,
            status.st_ctime_ns,
            status.st_ino,
            status.st_dev,
        )

    def ensure_unchanged(self, outcome: str = NOT_STORED) -> None:
        """Raise SourceChanged, saying outcome, when the file is no longer
        as it was when the attempt began: then the bytes read since may be
        a mix of two versions. A change finer than the file system's clock
        (the same size and inode, rewritten within one tick) cannot be
        seen."""
        if self.fingerprint() != self.seen:
            raise SourceChanged(f"{self.description} changed while it was uploaded; {outcome}")

    def ended_early(self) -> SourceChanged:
        """What a read that comes short of the size measured raises: the
        source shrank, and a body shorter than its Content-Length must never
        be sent (the store would wait for the rest until the read timed out)."""
        return SourceChanged(
            f"{self.description} ended early (it shrank) while it was uploaded; {NOT_STORED}"
        )

    def refresh(self) -> None:
        """Measure the source again before an attempt, its fingerprint first
        (a change in between shows as one): a file that changed since it was
        opened is uploaded whole, as it is now."""
        self.seen = self.fingerprint()
        if self.filename is not None:
            self.size = _file_source(Path(self.filename)).size
        elif self.fileobj is not None and not isinstance(self.fileobj, _MemoryReader):
            self.size = max(0, self.fileobj.seek(0, io.SEEK_END) - self.start)
        self.refuse_empty()

    def refuse_empty(self) -> None:
        """Refuse an empty source unless empty objects are allowed."""
        if self.size == 0 and not self.allow_empty:
            raise ObjectSaveException(
                f"refusing to upload {self.description}: it is empty (allow_empty=True stores "
                "an empty object)"
            )

    def rewind(self) -> None:
        if self.fileobj is not None:
            self.fileobj.seek(self.start)


@contextmanager
def open_source(data: UploadData, *, allow_empty: bool = True) -> Iterator[UploadSource]:
    """Wrap data for uploading; refuse an unreadable one, and an empty one
    unless allow_empty."""
    source_cm = _open(data)
    with source_cm as source:
        source.allow_empty = allow_empty
        source.refuse_empty()
        yield source


@contextmanager
def _open(data: UploadData) -> Iterator[UploadSource]:
    if isinstance(data, (bytes, bytearray, memoryview)):
        reader = _MemoryReader(data)
        yield UploadSource(size=reader.size, description="bytes", fileobj=reader)
    elif isinstance(data, (str, os.PathLike)):
        yield _file_source(Path(data))
    elif callable(getattr(data, "read", None)):
        with _seekable(data) as (fileobj, start, size):
            yield UploadSource(size=size, description=_describe(data), fileobj=fileobj, start=start)
    else:
        raise TypeError(
            "data must be bytes, a str or pathlib.Path naming a file, or a readable "
            f"binary file object, not {type(data).__name__}"
        )


class _MemoryReader(io.RawIOBase):
    """A file object over the caller's bytes, bytearray or memoryview,
    read in slices of it: the data is never copied whole."""

    def __init__(self, data: bytes | bytearray | memoryview) -> None:
        super().__init__()
        view = memoryview(data)
        self._view = view.cast("B") if view.c_contiguous else memoryview(view.tobytes())
        self.size = len(self._view)
        self._position = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._view[self._position : self._position + len(buffer)]
        memoryview(buffer).cast("B")[: len(chunk)] = chunk
        self._position += len(chunk)
        return len(chunk)

    def read(self, size: int | None = -1) -> bytes:
        end = self.size if size is None or size < 0 else min(self.size, self._position + size)
        chunk = self._view[self._position : end].tobytes()
        self._position = max(self._position, end)
        return chunk

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def tell(self) -> int:
        return self._position


def _file_source(path: Path) -> UploadSource:
    try:
        with path.open("rb") as file:
            size = os.fstat(file.fileno()).st_size
    except OSError as error:
        raise ObjectSaveException(f"cannot read file {str(path)!r}: {error.strerror}") from error
    if path.is_dir():
        raise ObjectSaveException(f"cannot read file {str(path)!r}: it is a directory")
    return UploadSource(size=size, description=f"file {str(path)!r}", filename=str(path))


def is_stream(data: UploadData) -> bool:
    """Whether data is a readable file object that cannot seek: a pipe,
    a socket, standard input. Such data can be read once only."""
    if isinstance(data, (bytes, bytearray, memoryview, str, os.PathLike)):
        return False
    return callable(getattr(data, "read", None)) and not _is_seekable(data)


def stream_source(stream: IO[bytes], allow_empty: bool) -> UploadSource:
    """The source of an upload that reads stream once, as it arrives (see
    _transfer.upload_stream): no file behind it to fingerprint, its size
    known only at its end."""
    _check_binary(stream)
    return UploadSource(size=0, description=_describe(stream), allow_empty=allow_empty)


def _check_binary(fileobj: IO[bytes]) -> None:
    """Refuse a closed file object, or one in text mode."""
    try:
        probe = fileobj.read(0)
    except ValueError as error:  # a closed file
        raise ObjectSaveException(f"cannot read {_describe(fileobj)}: {error}") from error
    if not isinstance(probe, (bytes, bytearray)):
        raise TypeError(f"file object must be opened in binary mode, not {type(fileobj).__name__}")


@contextmanager
def _seekable(fileobj: IO[bytes]) -> Iterator[tuple[IO[bytes], int, int]]:
    _check_binary(fileobj)
    if _is_seekable(fileobj):
        start = fileobj.tell()
        size = max(0, fileobj.seek(0, io.SEEK_END) - start)  # past the end: nothing
        fileobj.seek(start)
        yield fileobj, start, size
        return
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
        shutil.copyfileobj(fileobj, spool, READ_SIZE)
        size = spool.tell()
        spool.seek(0)
        yield spool, 0, size


def _is_seekable(fileobj: IO[bytes]) -> bool:
    try:
        return bool(fileobj.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def _describe(fileobj: IO[bytes]) -> str:
    name = getattr(fileobj, "name", None)
    return f"file {name!r}" if isinstance(name, str) else type(fileobj).__name__
