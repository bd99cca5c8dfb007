"""Downloads: an object read into a sink (memory or a file) in ranges, each
range one attempt retried on its own, hashed as it arrives.

Consecutive ranges share one GET: a stream is read range by range, and when
it breaks in the middle of a range, the retry asks for the rest of the
object from that range's start. Bytes already read are never fetched again,
yet a healthy transfer costs one request, which matters for stores that
read the whole object for every ranged GET (moto) and for hashing, which
keeps pace with the network only when it is not split into many requests.

Every GET is conditional on the ETag the caller saw (If-Match): no range
comes from another version of the object. While one chunk is read, the
previous one is hashed (and written, for a file) on a second thread, which
is where the time goes on a fast network: MD5 runs at about the speed the
bytes arrive. The spans hashed are the object's parts, or the whole object,
so that what arrived gives its ETag without a second pass over the bytes.

A small object (see fetch_small) takes none of this: one GET without a
HEAD before it, read whole into memory and hashed there.

A sink may already hold a prefix of the object, fetched by an earlier call
(a resumed download, see _partial): such a sink takes its bytes in order of
offset, so the fetch reads the rest in one stream from the first byte not
held and hashes it on one lane, once the held bytes, read back from the
sink, have been fed into the same hashes.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import io
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError, IncompleteReadError, ResponseStreamingError
from botocore.response import StreamingBody

from object_clerk import _localfs
from object_clerk._checksum import Buffer, Etag, multipart_etag
from object_clerk._client import RetryingClient
from object_clerk._errors import is_precondition_failed
from object_clerk._layout import part_count
from object_clerk._progress import Progress
from object_clerk._verify import Mismatch, StoredObject
from object_clerk.exceptions import ObjectSaveException, ObjectVerificationException

Range = tuple[int, int]  # [start, end)

# One read and one hash update: large enough for hashlib to release the GIL.
READ_SIZE = 2 * 1024 * 1024
# Chunks read ahead of the hashing thread (for a file: buffers in flight).
READ_AHEAD = 4
# A memory sink at least this large is allocated on a helper thread.
GROW_APART = 16 * 1024 * 1024
GROW_STEP = 8 * 1024 * 1024
# Each parallel stream carries at least this much: on a LAN one stream fills
# the link, and every further GET costs the store a request (moto reads the
# whole object for each), so parallel streams pay off only for big objects.
STREAM_BYTES = 256 * 1024 * 1024
# Objects up to this size (and the download threshold) are fetched whole by
# one GET into memory (fetch_small): for them a HEAD, hashing threads and
# scratch buffers cost more than the transfer itself.
SMALL_OBJECT = 8 * 1024 * 1024


class Sink(Protocol):
    # Whether bytes must be written in order of offset, each write at or
    # before the end of those written: then what the sink holds is always a
    # prefix of the object.
    ordered: bool

    def begin(self, stored: StoredObject) -> int:
        """The fetch of stored starts: how many of its first bytes the sink
        holds already (only an ordered sink may hold any)."""
        ...

    def into(self, offset: int, size: int) -> memoryview | None:
        """Where the bytes at offset can be read straight into, if anywhere."""
        ...

    def write(self, offset: int, data: Buffer) -> None: ...

    def chunks(self, start: int = 0, end: int | None = None) -> Iterator[Buffer]:
        """The bytes written from start to end (default: all), in order, for
        a second look."""
        ...

    def discard(self) -> None:
        """The fetch failed: stop any work for what will not be used."""
        ...


class MemorySink:
    """The object's bytes in one allocation of its size, read into directly:
    a BytesIO grown to the size once, whose value is then taken without a
    copy. Growing it zeroes every page (0.1 s for 256 MiB here), so a large
    one grows on a helper thread while the first request is on its way."""

    ordered = False

    def __init__(self, size: int) -> None:
        self._buffer = io.BytesIO()
        self._view: memoryview | None = None
        self._failure: BaseException | None = None
        self._discarded = threading.Event()
        self._grown: threading.Thread | None = None
        if size >= GROW_APART:
            self._grown = threading.Thread(
                target=self._grow, args=(size,), name="object-clerk-alloc"
            )
            self._grown.start()
        else:
            self._grow(size)

    def _grow(self, size: int) -> None:
        try:
            for end in [*range(GROW_STEP, size, GROW_STEP), size] if size else []:
                if self._discarded.is_set():
                    return
                self._buffer.seek(end - 1)  # a step at a time: the GIL is free in between
                self._buffer.write(b"\0")
            self._view = self._buffer.getbuffer()
        except BaseException as error:  # MemoryError: raised to the reader
            self._failure = error

    def _ready(self) -> memoryview:
        if self._grown is not None:
            self._grown.join()
        if self._failure is not None:
            raise self._failure
        assert self._view is not None
        return self._view

    def begin(self, stored: StoredObject) -> int:
        return 0

    def into(self, offset: int, size: int) -> memoryview:
        return self._ready()[offset : offset + size]

    def write(self, offset: int, data: Buffer) -> None:
        """Already in place: the bytes were read into it."""

    def chunks(self, start: int = 0, end: int | None = None) -> Iterator[Buffer]:
        yield self._ready()[start:end]

    def discard(self) -> None:
        self._discarded.set()
        if self._grown is not None:
            self._grown.join()

    def value(self) -> bytes:
        self._ready().release()
        return self._buffer.getvalue()


class FileSink:
    """An open file written at offsets, from several threads at once."""

    ordered = False

    def __init__(self, fd: int, size: int) -> None:
        self._fd = fd
        self._size = size

    def begin(self, stored: StoredObject) -> int:
        # Here, not when made: fetch has checked the size by now.
        os.ftruncate(self._fd, self._size)
        return 0

    def into(self, offset: int, size: int) -> None:
        return None

    def write(self, offset: int, data: Buffer) -> None:
        write_at(self._fd, offset, data)

    def chunks(self, start: int = 0, end: int | None = None) -> Iterator[Buffer]:
        return read_at(self._fd, start, self._size if end is None else end)

    def discard(self) -> None:
        """The caller removes the file."""


def write_at(fd: int, offset: int, data: Buffer) -> None:
    """Write all of data at offset of the open file fd."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def named(directory: int, name: str, opened: os.stat_result) -> os.stat_result | None:
    """name's own status in directory (a link not followed) if it is the
    file whose fstat is opened, else None: another process may have swapped
    the name for a link or another file since the file was made. While that
    file is open its inode cannot be reused, so a match is no coincidence;
    after it was closed (a report of what is kept) a match is a good guess
    only, which is why every check before a rename or a removal is made
    while the file is open."""
    found = _localfs.lstat(directory, name)
    return found if found is not None and os.path.samestat(found, opened) else None


def replace_own(fd: int, directory: int, name: str, target: str, shown: Path) -> None:
    """Rename name onto target (both in directory; shown is the target's
    path, for messages), only while name still is the open file fd (see
    named): the rename moves a name, and after a swap it would put another
    file, or a link to one, at the target. A link at the target itself is
    replaced, never written through. A swap between the check and the
    rename is found after it: what it put at the target is removed (never
    followed) and the download fails, saying so."""
    opened = os.fstat(fd)
    if named(directory, name, opened) is None:
        raise ObjectSaveException(
            f"{str(shown.parent / name)!r} no longer names the file the download wrote (it was "
            f"replaced or removed meanwhile): nothing was renamed onto {str(shown)!r}"
        )
    os.replace(name, target, src_dir_fd=directory, dst_dir_fd=directory)
    found = _localfs.lstat(directory, target)
    if found is not None and os.path.samestat(found, opened):
        return
    if found is not None and _localfs.not_own_file(found) is not None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(target, dir_fd=directory)
    raise ObjectSaveException(
        f"{str(shown.parent / name)!r} was replaced just before it was renamed onto "
        f"{str(shown)!r}: what was renamed in its place is not the file the download wrote "
        "(removed unless it is a file of the user's own)"
    )


def unlink_own(directory: int, name: str, created: os.stat_result) -> None:
    """Remove name from directory if it is still the file created (else it
    is not ours). Called while that file is open (see named)."""
    if named(directory, name, created) is not None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=directory)


def read_at(fd: int, start: int, end: int) -> Iterator[bytes]:
    """The bytes of the open file fd from start to end, READ_SIZE at a time
    (fewer where the file ends before end: then they cannot match a hash)."""
    for offset in range(start, end, READ_SIZE):
        chunk = os.pread(fd, min(READ_SIZE, end - offset), offset)
        if not chunk:
            return
        yield chunk


@dataclass(frozen=True)
class Plan:
    """How an object is fetched: ranges (each retried on its own), the spans
    hashed on their own (parts, or the whole object; none when nothing is
    checked), and the ranges each parallel stream reads, in order."""

    ranges: list[Range]
    hashed: list[Range]
    streams: list[list[Range]]


def plan(
    size: int, config: TransferConfig, hash_span: int | None, resume_from: int | None = None
) -> Plan:
    """Spans of hash_span bytes (None: nothing hashed) split into ranges of
    the download chunk size, or one range below the download threshold.
    Streams begin and end on span boundaries (ranges, when nothing is
    hashed): one per STREAM_BYTES, at most max_concurrency, one without
    threads. With resume_from (for a sink that takes its bytes in order),
    one stream of the ranges from that offset on, the first one cut there;
    none at all when the sink holds every byte."""
    whole = [(0, size)]
    spans = _split(whole, hash_span) if hash_span else whole
    ranges = _split(
        spans, size if size < config.multipart_threshold else config.multipart_chunksize
    )
    if resume_from is not None:
        rest = [(max(start, resume_from), end) for start, end in ranges if end > resume_from]
        rest = rest if size else ranges  # an empty object: one GET, as always
        return Plan(rest, spans if hash_span else [], [rest])
    units = spans if hash_span else ranges
    count = 1
    if config.use_threads:
        count = max(1, min(config.max_concurrency, len(units), -(-size // STREAM_BYTES)))
    per_stream = -(-len(units) // count)
    streams = []
    for index in range(0, len(units), per_stream):
        low, high = units[index][0], units[min(index + per_stream, len(units)) - 1][1]
        streams.append([r for r in ranges if low <= r[0] < high] or [(low, high)])
    return Plan(ranges, spans if hash_span else [], streams)


def _split(spans: list[Range], step: int) -> list[Range]:
    step = max(step, 1)
    pieces = [(at, min(at + step, end)) for start, end in spans for at in range(start, end, step)]
    return pieces or [(0, 0)]


def fetch(
    s3: RetryingClient,
    stored: StoredObject,
    sink: Sink,
    config: TransferConfig,
    progress: Progress,
    part_size: int | None = None,
    hashed: bool = True,
    opened: Opened | None = None,
) -> Etag | None:
    """Fill sink with the object's bytes. When hashed, returns the ETag of
    what arrived: with the object's parts as the spans hashed if it is a
    multipart object whose part size is part_size, as one span if it is a
    single-part one; else (or when not hashed) None. opened (a GET of
    stored already answered) is read by the stream that starts at byte 0."""
    refuse_negative_size(stored)
    span: int | None = None
    if hashed and stored.etag.parts is None:
        span = max(stored.size, 1)
    elif hashed and part_size and stored.etag.parts == part_count(stored.size, part_size):
        span = part_size
    held = sink.begin(stored)
    assert sink.ordered or not held, "bytes held by a sink that may hold gaps"
    how = plan(stored.size, config, span, held if sink.ordered else None)
    digests: dict[int, Any] = {}
    stop = threading.Event()
    progress.add(held)  # the total reported still comes to the object's size

    def read_stream(ranges: list[Range]) -> None:
        first = opened if ranges and ranges[0][0] == 0 else None
        stream = _Stream(
            s3,
            stored,
            sink,
            ranges,
            how.hashed,
            digests,
            progress,
            config,
            held,
            sink.ordered,
            opened=first,
        )
        try:
            stream.recall(held)
            for byte_range in ranges:
                if stop.is_set():  # another stream failed: the fetch is over
                    stream.abandon()
                    return
                s3.retried(stream.read, byte_range)
            stream.finish()
        except BaseException as error:
            stop.set()
            stream.abandon()
            if isinstance(error, _TaskFailed) and error.__cause__ is not None:
                raise error.__cause__ from None  # what failed: the disk, not the network
            raise

    if len(how.streams) == 1:
        read_stream(how.streams[0])
    else:
        with ThreadPoolExecutor(len(how.streams), thread_name_prefix="object-clerk-get") as pool:
            for _ in pool.map(read_stream, how.streams):
                pass
    if span is None:
        return None
    md5s = [digests[start].digest() for start, _ in how.hashed]
    if stored.etag.parts is None:
        return Etag(md5s[0].hex(), None)
    return multipart_etag(md5s)


@dataclass(frozen=True)
class Fetched:
    """An object read whole by one GET: the version its answer describes,
    its bytes and their MD5."""

    stored: StoredObject
    data: bytearray
    md5: bytes


class Opened:
    """The unread body of a GET of the whole object, and the version its
    answer describes: the first stream of a fetch reads it (see fetch)
    instead of asking again. Whoever holds it closes it if unread."""

    def __init__(self, stored: StoredObject, body: Any) -> None:
        self.stored = stored
        self._body: Any = body

    def take(self) -> Any:
        """The body, once; None after."""
        body, self._body = self._body, None
        return body

    def close(self) -> None:
        body = self.take()
        if body is not None:
            body.close()


def fetch_small(
    s3: RetryingClient, bucket: str, key: str, bound: int, progress: Progress
) -> Fetched | Opened | None:
    """The object by one GET (asking for its checksums): read whole if it
    is at most bound bytes, else left unread (Opened) for the large way to
    go on with; None when the answer tells no size (a chunked answer: the
    large way asks a HEAD). A negative size is refused. The GET's headers
    describe the very version whose bytes it sent, so no HEAD comes first
    and no If-Match is needed; the bytes are hashed as they arrive, on this
    thread. A broken stream is retried by a whole new GET: it is small."""
    return s3.retried(_get_small, s3.raw, bucket, key, bound, progress)


def _get_small(
    client: Any, bucket: str, key: str, bound: int, progress: Progress
) -> Fetched | Opened | None:
    answer = client.get_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    body = answer.pop("Body")
    size = answer.get("ContentLength")
    if not isinstance(size, int):  # a chunked answer: the large way asks a HEAD
        body.close()
        return None
    stored = StoredObject.from_head(bucket, key, answer)
    if size < 0:
        body.close()
        refuse_negative_size(stored)
    if size > bound:
        return Opened(stored, body)
    response = _Response(body, 0, checked_here=True)
    data = bytearray(size)
    view = memoryview(data)
    digest = hashlib.md5()
    offset = 0
    try:
        while offset < size:
            count = response.readinto(view[offset : offset + READ_SIZE])
            if not count:
                raise IncompleteReadError(actual_bytes=offset, expected_bytes=size)
            digest.update(view[offset : offset + count])
            offset += count
            progress.add(count)
    except BaseException:
        progress.add(-offset)  # this attempt's bytes will come again
        response.close(done=False)
        raise
    response.close(done=True)
    return Fetched(stored, data, digest.digest())


def refuse_negative_size(stored: StoredObject) -> None:
    """Raise if the store answered with a negative size: nothing could be
    planned, held or checked for it."""
    if stored.size < 0:
        raise ObjectVerificationException(
            f"{stored.name}: the store answered with a negative Content-Length "
            f"({stored.size}): it cannot be fetched or verified"
        )


class _TaskFailed(Exception):
    """A hashing or writing task failed (the disk, say): its range cannot be
    read again to heal it, so it ends the fetch and is never retried."""


class _Hasher:
    """Runs hashing and writing on threads of their own (inline without
    threads). The tasks of one span run in order on one lane, a thread of
    its own; spans take turns on the lanes, so that the parts of an object
    are hashed on several cores at once. The reader's scratch buffers (for a
    file) come back once their task is done: at most READ_AHEAD wait. A
    failed task is reported by check() as _TaskFailed."""

    def __init__(self, lanes: int) -> None:
        self._lanes = [ThreadPoolExecutor(1, "object-clerk-hash") for _ in range(lanes)]
        self._pending: deque[tuple[Future[None], memoryview | None]] = deque()
        self._free: list[memoryview] = []
        self._failure: BaseException | None = None

    def submit(self, lane: int, task: Callable[[], None], buffer: memoryview | None = None) -> None:
        """Queue task (never raising: a failure is kept for check())."""
        if not self._lanes:
            self._done(self._run(task), buffer)
            return
        self._pending.append((self._lanes[lane % len(self._lanes)].submit(task), buffer))
        while self._pending and self._pending[0][0].done():
            self._collect_oldest()

    def buffer(self) -> memoryview:
        """A scratch buffer of READ_SIZE that no task still reads."""
        while not self._free:
            self.check()
            if sum(buffer is not None for _, buffer in self._pending) < READ_AHEAD:
                return memoryview(bytearray(READ_SIZE))
            self._collect_oldest()
        return self._free.pop()

    def check(self) -> None:
        if self._failure is not None:
            raise _TaskFailed(str(self._failure)) from self._failure

    def finish(self) -> None:
        """Wait for every task, then raise if one failed."""
        try:
            while self._pending:
                self._collect_oldest()
            self.check()
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        """Drop the tasks not started, wait for the running ones."""
        for lane in self._lanes:
            lane.shutdown(cancel_futures=True)

    @staticmethod
    def _run(task: Callable[[], None]) -> BaseException | None:
        try:
            task()
        except BaseException as error:
            return error
        return None

    def _collect_oldest(self) -> None:
        future, buffer = self._pending.popleft()
        self._done(future.exception(), buffer)

    def _done(self, error: BaseException | None, buffer: memoryview | None) -> None:
        if error is not None and self._failure is None:
            self._failure = error
        if buffer is not None:
            self._free.append(buffer)


class _Stream:
    """Ranges read in order from one GET, opened again from the range that
    failed. The hashes of a span are restored to the range's start before it
    is read again: every change to them runs on the span's lane, in the
    order of the bytes.

    The first held bytes (a resumed download) are read back from the sink
    into the hashes of their spans (see recall). An ordered sink gets one
    lane: every write then happens in the order of the
    bytes, so that the sink holds a prefix of the object whenever the
    process stops (spans hashed on lanes of their own would be written out
    of order, leaving gaps that the next call could not tell from bytes)."""

    def __init__(
        self,
        s3: RetryingClient,
        stored: StoredObject,
        sink: Sink,
        ranges: list[Range],
        hashed: list[Range],
        digests: dict[int, Any],
        progress: Progress,
        config: TransferConfig,
        held: int = 0,
        ordered: bool = False,
        opened: Opened | None = None,
    ) -> None:
        self._client = s3.raw
        self._stored = stored
        self._sink = sink
        self._end = ranges[-1][1] if ranges else held
        starts = {start for start, _ in ranges}
        self._spans = [span for span in hashed if span[0] in starts or span[0] < held]
        self._digests = digests
        self._checkpoints: dict[int, Any] = {}
        self._progress = progress
        lanes = 0
        if config.use_threads:
            lanes = 1 if ordered else min(config.max_concurrency, os.cpu_count() or 1)
        self._hasher = _Hasher(lanes)
        self._threads = config.use_threads
        self._recalling: ThreadPoolExecutor | None = None
        self._recalled: Future[None] | None = None
        self._stop_recalling = threading.Event()
        self._response: _Response | None = None
        # A GET of the whole object already answered, read first (see fetch).
        self._opened = opened

    def finish(self) -> None:
        """Wait for the hashing (raising a task's failure), then free the
        connection: the last range was read to its end."""
        self._hasher.finish()
        if self._recalled is not None:
            self._recalled.result()  # raises what failed: the disk
        if self._response is not None:
            self._response.close(done=True)
            self._response = None

    def abandon(self) -> None:
        """Stop: drop the hashing not started, close the connection."""
        self._hasher.shutdown()
        self._stop_recalling.set()
        if self._recalling is not None:
            self._recalling.shutdown()
        if self._response is not None:
            self._response.close(done=False)
            self._response = None

    def recall(self, held: int) -> None:
        """Hash the first held bytes, read back from the sink, into their
        spans. The span cut by the end of what is held is hashed first, at
        once: the bytes fetched next continue its hash, and a connection
        kept waiting meanwhile might be closed by the store. The spans held
        whole are hashed on a thread of their own while the rest arrives."""
        whole = [(first, end) for first, end in self._spans if first < held and end <= held]
        for first, end in self._spans:
            if first < held < end:
                self._digests[first] = self._held_hash(first, held)
        if whole and self._threads:
            self._recalling = ThreadPoolExecutor(1, "object-clerk-rehash")
            self._recalled = self._recalling.submit(self._held_hashes, whole)
            self._recalling.shutdown(wait=False)  # its thread ends with the task
        elif whole:
            self._held_hashes(whole)

    def _held_hashes(self, spans: list[Range]) -> None:
        for first, end in spans:
            self._digests[first] = self._held_hash(first, end)

    def _held_hash(self, start: int, end: int) -> Any:
        digest = hashlib.md5()
        for chunk in self._sink.chunks(start, end):
            if self._stop_recalling.is_set():
                break  # the fetch failed: the hash will not be used
            digest.update(chunk)
        return digest

    def read(self, byte_range: Range) -> None:
        """One attempt at one range."""
        start, end = byte_range
        body = self._opened.take() if self._opened is not None and start == 0 else None
        if body is not None:
            self._response = _Response(body, 0, checked_here=True)
        if self._response is None or self._response.position != start:
            self._reopen(start)
        assert self._response is not None
        lane, span = self._span_of(start)
        if span is not None:
            self._hasher.submit(lane, lambda: self._mark(span, start))
        offset = start
        try:
            while offset < end:
                size = min(READ_SIZE, end - offset)
                scratch = None
                view = self._sink.into(offset, size)
                if view is None:
                    scratch = self._hasher.buffer()
                    view = scratch[:size]
                else:
                    self._hasher.check()
                count = self._response.readinto(view)
                if not count:
                    raise IncompleteReadError(
                        actual_bytes=offset - start, expected_bytes=end - start
                    )
                self._hasher.submit(lane, self._task(span, offset, view[:count]), scratch)
                offset += count
                self._progress.add(count)
            self._hasher.check()
        except BaseException:
            self._progress.add(start - offset)  # this attempt's bytes will come again
            self._response.close(done=False)
            self._response = None
            if span is not None:
                self._hasher.submit(lane, lambda: self._restore(span))
            raise

    def _span_of(self, offset: int) -> tuple[int, int | None]:
        """The lane and the start of the span hashed at offset (None: none)."""
        for lane, (first, end) in enumerate(self._spans):
            if first <= offset < max(end, 1):
                return lane, first
        return 0, None

    def _mark(self, span: int, start: int) -> None:
        if start == span:
            self._digests[span] = hashlib.md5()
        self._checkpoints[span] = self._digests[span].copy()

    def _restore(self, span: int) -> None:
        self._digests[span] = self._checkpoints[span].copy()

    def _task(self, span: int | None, offset: int, data: memoryview) -> Callable[[], None]:
        def task() -> None:
            self._sink.write(offset, data)
            if span is not None:
                self._digests[span].update(data)

        return task

    def _reopen(self, start: int) -> None:
        if self._response is not None:
            self._response.close(done=False)
            self._response = None
        stored = self._stored
        request: dict[str, Any] = {
            "Bucket": stored.bucket,
            "Key": stored.key,
            "IfMatch": stored.raw_etag,
        }
        if (start, self._end) != (0, stored.size):
            request["Range"] = f"bytes={start}-{self._end - 1}"
        try:
            answer = self._client.get_object(**request)
        except ClientError as error:
            if is_precondition_failed(error):
                raise Mismatch(f"{stored.name} changed while it was read") from error
            raise
        response = _Response(answer["Body"], start)
        length = answer.get("ContentLength")  # None: a chunked answer, read as far as asked
        if length is not None and length != self._end - start:
            response.close(done=False)
            raise Mismatch(
                f"{stored.name}: asked for bytes {start}-{self._end - 1}, "
                f"the store sent {length} bytes"
            )
        self._response = response


def _readinto(body: Any) -> Callable[[memoryview], int]:
    """body's readinto; bodies of botocore before 1.38.20 have none, and
    are read and copied."""
    if hasattr(body, "readinto"):
        readinto: Callable[[memoryview], int] = body.readinto
        return readinto

    def read_and_copy(view: memoryview) -> int:
        data = body.read(len(view))
        view[: len(data)] = data
        return len(data)

    return read_and_copy


class _Response:
    """A GET's body, read into the caller's buffers.

    botocore's body copies every read once more in urllib3; where the
    connection's own http.client response is at hand, and nothing has been
    read from it yet, bytes go straight from the socket into the buffer.
    That response frees the connection for reuse once it has been read to
    its end, as urllib3 does after its own reads."""

    def __init__(self, body: Any, position: int, checked_here: bool = False) -> None:
        self._body = body
        self.position = position
        raw = getattr(body, "_raw_stream", None)
        connection_stream = getattr(raw, "_fp", None)
        self._raw = None
        self._readinto: Callable[[memoryview], int]
        # Only botocore's plain body: a subclass may check what it reads
        # (response checksums, with response_checksum_validation). Unless
        # checked_here: a GET asking for checksums (ChecksumMode) gets such
        # a body, but its checksums are checked here (see _verify) and the
        # body's own check never runs (it runs on a read past the end).
        plain = type(body) is StreamingBody or (checked_here and isinstance(body, StreamingBody))
        if plain and isinstance(connection_stream, http.client.HTTPResponse):
            self._raw = raw
            self._readinto = connection_stream.readinto
        else:
            self._readinto = _readinto(body)

    @property
    def direct(self) -> bool:
        """Whether bytes go straight from the connection."""
        return self._raw is not None

    def readinto(self, view: memoryview) -> int:
        try:
            count: int = self._readinto(view)
        except (OSError, http.client.HTTPException) as error:
            raise ResponseStreamingError(error=error) from error
        self.position += count
        return count

    def close(self, done: bool) -> None:
        """Give the connection back when the body was read to its end (done),
        else close it: what is left unread would be taken for an answer."""
        if done and self._raw is not None:
            connection_stream = self._raw._fp
            if connection_stream.length == 0 and not connection_stream.isclosed():
                connection_stream.read()  # an empty body is only marked read by a read
            if connection_stream.isclosed():
                self._raw.release_conn()
                return
        self._body.close()
