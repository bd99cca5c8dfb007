"""Downloads: an object fetched in ranged GETs written straight into a sink
(memory or a file), each range one request retried on its own.

A range is one attempt from sending the GET to reading its last byte, so a
body cut off mid-stream is retried like a refused connection. Every GET is
conditional on the ETag the caller saw (If-Match): no range comes from
another version of the object. Each range is hashed as it arrives, in its
worker thread; when the ranges are the object's parts, their MD5s give its
ETag with no second pass over the bytes.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError, IncompleteReadError

from object_clerk._checksum import Buffer, Etag, multipart_etag
from object_clerk._client import RetryingClient
from object_clerk._layout import part_count
from object_clerk._progress import Progress
from object_clerk._verify import PRECONDITION_FAILED, Mismatch, StoredObject, error_code

Range = tuple[int, int]  # [start, end)

READ_SIZE = 1024 * 1024  # large enough for hashlib to release the GIL


class Sink(Protocol):
    def write(self, offset: int, data: Buffer) -> None: ...

    def chunks(self) -> Iterator[Buffer]:
        """Everything written, in order, for a second look."""
        ...


class MemorySink:
    """The object's bytes in one allocation of its size: a BytesIO grown to
    the size once, written through its buffer, whose value is then taken
    without a copy."""

    def __init__(self, size: int) -> None:
        self._buffer = io.BytesIO()
        if size:
            self._buffer.seek(size - 1)
            self._buffer.write(b"\0")
        self._view: memoryview | None = self._buffer.getbuffer()

    def write(self, offset: int, data: Buffer) -> None:
        assert self._view is not None
        self._view[offset : offset + len(data)] = data

    def chunks(self) -> Iterator[Buffer]:
        assert self._view is not None
        yield self._view

    def value(self) -> bytes:
        if self._view is not None:
            self._view.release()
            self._view = None
        return self._buffer.getvalue()


class FileSink:
    """An open file written at offsets, from several threads at once."""

    def __init__(self, fd: int, size: int) -> None:
        self._fd = fd
        self._size = size
        os.ftruncate(fd, size)

    def write(self, offset: int, data: Buffer) -> None:
        view = memoryview(data)
        while view:
            written = os.pwrite(self._fd, view, offset)
            view, offset = view[written:], offset + written

    def chunks(self) -> Iterator[Buffer]:
        for offset in range(0, self._size, READ_SIZE):
            yield os.pread(self._fd, min(READ_SIZE, self._size - offset), offset)


def plan_ranges(size: int, part_size: int | None, config: TransferConfig) -> list[Range]:
    """The object's parts when its part size is known; otherwise one range
    below the download threshold, else ranges of the download chunk size."""
    if part_size is not None:
        step = part_size
    elif size < config.multipart_threshold:
        return [(0, size)]
    else:
        step = config.multipart_chunksize
    return [(start, min(start + step, size)) for start in range(0, size, step)] or [(0, 0)]


def fetch(
    s3: RetryingClient,
    stored: StoredObject,
    sink: Sink,
    config: TransferConfig,
    progress: Progress,
    part_size: int | None = None,
) -> Etag | None:
    """Fill sink with the object's bytes. Returns the ETag of what arrived
    when the ranges alone tell it (the parts of a multipart object with
    part_size, or a single-part object in one range), else None."""
    if part_size is not None and stored.etag.parts != part_count(stored.size, part_size):
        part_size = None
    ranges = plan_ranges(stored.size, part_size, config)
    digests: dict[Range, bytes] = {}

    def fetch_range(byte_range: Range) -> None:
        digests[byte_range] = s3.retried(_read_range, s3.raw, stored, byte_range, sink, progress)

    _for_each(fetch_range, ranges, config)
    if part_size is not None:
        return multipart_etag([digests[r] for r in ranges])
    if stored.etag.parts is None and len(ranges) == 1:
        return Etag(digests[ranges[0]].hex(), None)
    return None


def _read_range(
    client: Any, stored: StoredObject, byte_range: Range, sink: Sink, progress: Progress
) -> bytes:
    """One attempt at one range: its MD5 when all of it arrived."""
    start, end = byte_range
    request: dict[str, Any] = {
        "Bucket": stored.bucket,
        "Key": stored.key,
        "IfMatch": stored.raw_etag,
    }
    if (start, end) != (0, stored.size):
        request["Range"] = f"bytes={start}-{end - 1}"
    try:
        response = client.get_object(**request)
    except ClientError as error:
        if error_code(error) in PRECONDITION_FAILED:
            raise Mismatch(f"{stored.name} changed while it was read") from error
        raise
    body = response["Body"]
    digest = hashlib.md5()
    scratch = memoryview(bytearray(min(READ_SIZE, max(end - start, 1))))
    offset = start
    try:
        if response["ContentLength"] != end - start:
            raise Mismatch(
                f"{stored.name}: asked for bytes {start}-{end - 1}, "
                f"the store sent {response['ContentLength']} bytes"
            )
        while offset < end:
            count = body.readinto(scratch[: min(len(scratch), end - offset)])
            if not count:
                raise IncompleteReadError(actual_bytes=offset - start, expected_bytes=end - start)
            chunk = scratch[:count]
            sink.write(offset, chunk)
            digest.update(chunk)
            offset += count
            progress.add(count)
    except BaseException:
        progress.add(start - offset)  # this attempt's bytes will come again
        raise
    finally:
        body.close()
    return digest.digest()


def _for_each(action: Callable[[Range], None], ranges: list[Range], config: TransferConfig) -> None:
    workers = min(config.max_concurrency, len(ranges)) if config.use_threads else 1
    if workers <= 1:
        for byte_range in ranges:
            action(byte_range)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="object-clerk-get") as pool:
        for _ in pool.map(action, ranges):
            pass
