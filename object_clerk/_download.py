"""Downloads: an object fetched in ranged GETs written straight into the
caller's buffer, each range one request retried on its own.

A range is one attempt from sending the GET to reading its last byte, so a
body cut off mid-stream is retried like a refused connection. Every GET is
conditional on the ETag the caller saw (If-Match): a range never comes from
another version of the object.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError, IncompleteReadError

from object_clerk._client import RetryingClient
from object_clerk._verify import PRECONDITION_FAILED, Mismatch, error_code
from object_clerk.exceptions import ObjectVerificationException

Range = tuple[int, int]  # [start, end)


def byte_ranges(size: int, config: TransferConfig) -> list[Range]:
    """One range below the download threshold, else ranges of chunksize."""
    if size < config.multipart_threshold:
        return [(0, size)]
    step = config.multipart_chunksize
    return [(start, min(start + step, size)) for start in range(0, size, step)]


def fetch_into(
    s3: RetryingClient,
    bucket: str,
    key: str,
    etag: str,
    target: memoryview,
    config: TransferConfig,
) -> None:
    """Fill target (the object's size) with the object's bytes."""
    size = len(target)

    def fetch(byte_range: Range) -> None:
        s3.retried(_read_range, s3.raw, bucket, key, etag, byte_range, size, target)

    _for_each(fetch, byte_ranges(size, config), config)


def into_memory(
    s3: RetryingClient, bucket: str, key: str, size: int, etag: str, config: TransferConfig
) -> bytes:
    """The object's bytes, in one allocation of its size: the ranges are read
    into the buffer of a BytesIO, whose value is then taken without a copy."""
    buffer = io.BytesIO()
    if size:
        buffer.seek(size - 1)
        buffer.write(b"\0")
    with buffer.getbuffer() as view:
        fetch_into(s3, bucket, key, etag, view, config)
    return buffer.getvalue()


def _read_range(
    client: Any,
    bucket: str,
    key: str,
    etag: str,
    byte_range: Range,
    size: int,
    target: memoryview,
) -> None:
    start, end = byte_range
    request: dict[str, Any] = {"Bucket": bucket, "Key": key, "IfMatch": etag}
    if (start, end) != (0, size):
        request["Range"] = f"bytes={start}-{end - 1}"
    try:
        response = client.get_object(**request)
    except ClientError as error:
        if error_code(error) in PRECONDITION_FAILED:
            raise Mismatch(f"{bucket}/{key} changed while it was read") from error
        raise
    body = response["Body"]
    try:
        if response["ContentLength"] != end - start:
            raise ObjectVerificationException(
                f"{bucket}/{key}: asked for bytes {start}-{end - 1}, "
                f"the store sent {response['ContentLength']} bytes"
            )
        view = target[start:end]
        filled = 0
        while filled < len(view):
            count = body.readinto(view[filled:])
            if not count:
                raise IncompleteReadError(actual_bytes=filled, expected_bytes=len(view))
            filled += count
    finally:
        body.close()


def _for_each(action: Callable[[Range], None], ranges: list[Range], config: TransferConfig) -> None:
    workers = min(config.max_concurrency, len(ranges)) if config.use_threads else 1
    if workers <= 1:
        for byte_range in ranges:
            action(byte_range)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="object-clerk-get") as pool:
        for _ in pool.map(action, ranges):
            pass
