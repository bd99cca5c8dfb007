"""Streams that cannot seek (pipes, standard input): uploaded as they
arrive, in parts past the threshold, each part retried from its copy in
memory, and the whole verified against the ETag of the bytes read."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from object_clerk import (
    ObjectClerk,
    ObjectClerkException,
    ObjectSaveException,
    ObjectVerificationException,
)
from tests.faults import inject
from tests.support import (
    TEST_THRESHOLD,
    Endpoint,
    MiB,
    client_of,
    engine_of,
    reference_multipart_etag,
    stored_bytes,
    stored_keys,
)

DATA = os.urandom(2 * TEST_THRESHOLD + MiB + 17)  # three parts of the test size
# How long a writer waits to see a part sent before the stream ends.
WAIT_FOR_A_PART = 10


@contextmanager
def pipe(
    data: bytes,
    hold_back: int = 0,
    released: threading.Event | None = None,
    in_time: list[bool] | None = None,
) -> Iterator[io.BufferedReader]:
    """An io.BufferedReader over a pipe that a thread writes data into;
    with hold_back, the last hold_back bytes wait for released (at most
    WAIT_FOR_A_PART seconds; in_time gets whether it came before)."""
    read_fd, write_fd = os.pipe()

    def write() -> None:
        # An upload that failed stops reading: the pipe then breaks.
        with contextlib.suppress(BrokenPipeError), os.fdopen(write_fd, "wb") as writer:
            writer.write(data[: len(data) - hold_back])
            writer.flush()
            if released is not None:
                came = released.wait(WAIT_FOR_A_PART)
                if in_time is not None:
                    in_time.append(came)
            writer.write(data[len(data) - hold_back :])

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    with os.fdopen(read_fd, "rb") as reader:
        try:
            yield reader
        finally:
            reader.close()  # a writer blocked on a full pipe gets an error, and ends
            writer.join(WAIT_FOR_A_PART + 5)


def counting(clerk: ObjectClerk, operation: str) -> Callable[[], int]:
    sent: list[int] = []
    client_of(clerk).raw.meta.events.register(
        f"before-send.s3.{operation}", lambda **_: sent.append(1)
    )
    return lambda: len(sent)


def test_a_pipe_is_sent_in_parts_as_it_arrives(clerk: ObjectClerk, s3: Any, bucket: str) -> None:
    """The last part's bytes are held back until a part was sent: an upload
    that read the stream whole first would wait, and find none sent."""
    first_part = threading.Event()
    client_of(clerk).raw.meta.events.register(
        "before-send.s3.UploadPart", lambda **_: first_part.set()
    )
    in_time: list[bool] = []
    with pipe(DATA, hold_back=MiB, released=first_part, in_time=in_time) as reader:
        clerk.upload_object(reader, bucket, "streamed")
    assert in_time == [True], "a part was sent before the stream ended"
    assert stored_bytes(s3, bucket, "streamed") == DATA
    head = s3.head_object(Bucket=bucket, Key="streamed")
    assert head["ETag"] == f'"{reference_multipart_etag(DATA, TEST_THRESHOLD)}"'


def test_a_short_stream_is_one_put(clerk: ObjectClerk, s3: Any, bucket: str) -> None:
    puts = counting(clerk, "PutObject")
    data = os.urandom(TEST_THRESHOLD - 1)
    with pipe(data) as reader:
        clerk.upload_object(reader, bucket, "short")
    assert puts() == 1
    head = s3.head_object(Bucket=bucket, Key="short")
    assert head["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'


def test_an_empty_stream_is_refused_unless_allowed(
    clerk: ObjectClerk, s3: Any, bucket: str
) -> None:
    with pipe(b"") as reader, pytest.raises(ObjectSaveException, match="empty"):
        clerk.upload_object(reader, bucket, "empty")
    assert stored_keys(s3, bucket) == []
    with pipe(b"") as reader:
        clerk.upload_object(reader, bucket, "empty", allow_empty=True)
    assert stored_bytes(s3, bucket, "empty") == b""


def test_a_failed_part_is_sent_again_from_memory(clerk: ObjectClerk, s3: Any, bucket: str) -> None:
    faults = inject(clerk)
    faults.fail("UploadPart", "internal_error", times=1, skip=1)
    with pipe(DATA) as reader:
        clerk.upload_object(reader, bucket, "healed")
    assert faults.sent["UploadPart"] == 4  # three parts, the second twice
    assert stored_bytes(s3, bucket, "healed") == DATA


def test_a_body_damaged_on_the_way_is_never_kept(clerk: ObjectClerk, s3: Any, bucket: str) -> None:
    """A store that checks Content-MD5 (Ceph RGW, AWS) refuses the damaged
    part, which is sent again from memory; one that does not (moto) keeps
    it, and then the whole does not verify: removed, and not sent again,
    since the stream cannot be read again."""
    faults = inject(clerk)
    faults.fail("UploadPart", "corrupt_request", times=1, skip=1)
    with pipe(DATA) as reader:
        try:
            clerk.upload_object(reader, bucket, "damaged")
        except ObjectVerificationException as error:
            assert "only once" in str(error)
            assert stored_keys(s3, bucket) == []
        else:
            assert stored_bytes(s3, bucket, "damaged") == DATA
    assert faults.sent["CreateMultipartUpload"] == 1
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_a_failed_stream_upload_leaves_nothing(clerk: ObjectClerk, s3: Any, bucket: str) -> None:
    faults = inject(clerk)
    faults.fail("UploadPart", "internal_error", times=100, skip=1)
    with pipe(DATA) as reader, pytest.raises(ObjectClerkException):
        clerk.upload_object(reader, bucket, "failed")
    assert stored_keys(s3, bucket) == []
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_a_conditional_stream_upload_still_works(clerk: ObjectClerk, s3: Any, bucket: str) -> None:
    """overwrite=False needs to know the kind of write first: the stream is
    copied aside, as before."""
    if not engine_of(clerk).conditions.honours(client_of(clerk), bucket, "put"):
        pytest.skip("this store ignores If-None-Match on PutObject (older moto)")
    with pipe(DATA[:1000]) as reader:
        clerk.upload_object(reader, bucket, "once", overwrite=False)
    assert stored_bytes(s3, bucket, "once") == DATA[:1000]


@pytest.mark.slow
def test_put_dash_uploads_standard_input(endpoint: Endpoint, s3: Any, bucket: str) -> None:
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AWS_") and name not in ("HOST", "PORT", "ACCESS_KEY", "SECRET_KEY")
    }
    environment.update(
        AWS_ENDPOINT_URL=endpoint.url,
        AWS_ACCESS_KEY_ID=endpoint.access_key,
        AWS_SECRET_ACCESS_KEY=endpoint.secret_key,
        MULTIPART_THRESHOLD=str(TEST_THRESHOLD),
    )
    command = [sys.executable, "-m", "object_clerk", "--retry-delay", "0", "put", "-"]
    with subprocess.Popen(
        [*command, f"s3://{bucket}/from-stdin"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment,
    ) as process:
        assert process.stdin is not None
        for start in range(0, len(DATA), MiB):
            process.stdin.write(DATA[start : start + MiB])
        _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert b"Traceback" not in err
    assert stored_bytes(s3, bucket, "from-stdin") == DATA
    head = s3.head_object(Bucket=bucket, Key="from-stdin")
    assert head["ETag"] == f'"{reference_multipart_etag(DATA, TEST_THRESHOLD)}"'

    with subprocess.Popen(
        [*command, f"s3://{bucket}/empty"],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment,
    ) as process:
        _, err = process.communicate(b"", timeout=120)
    assert process.returncode == 0, err
    assert stored_bytes(s3, bucket, "empty") == b""
