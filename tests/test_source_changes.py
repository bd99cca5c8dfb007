"""A source that changes while it is uploaded is never stored: each request
that sends or completes what was read first proves the file unchanged, so
the key keeps its earlier object (or, once an attempt reads one version
whole, holds that version, verified), never parts of two versions. A file
that shrinks is seen at the first short read, before a short body is sent."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from object_clerk import ObjectClerk, ObjectSaveException, ObjectSourceChangedException, cli
from tests.faults import inject
from tests.support import (
    TEST_THRESHOLD,
    MiB,
    client_of,
    store_keeps_checksum,
    stored_bytes,
    stored_keys,
)

OLD = os.urandom(3 * MiB + 11)  # the good object the key holds before
SIZE = 4 * TEST_THRESHOLD + 5  # five parts
# A request left waiting for a body that never comes would end only here.
READ_TIMEOUT = 10


def changes(path: Path, kind: str) -> Callable[[], None]:
    """A change of the file at path: rewritten in place (same size, other
    bytes), grown, or truncated; each time a distinct modification time."""
    times = iter(range(1, 1000))

    def change() -> None:
        size = path.stat().st_size
        with path.open("r+b") as file:
            if kind == "rewritten":
                file.write(os.urandom(size))
            elif kind == "grown":
                file.seek(0, io.SEEK_END)
                file.write(os.urandom(MiB))
            else:
                file.truncate(size - 3 * MiB)
        tick = next(times)
        os.utime(path, ns=(tick, tick))

    return change


def after_first_part_of_each_attempt(clerk: ObjectClerk, change: Callable[[], None]) -> None:
    """change() once each upload (each CreateMultipartUpload) has sent a part."""
    armed: list[bool] = []
    events = client_of(clerk).raw.meta.events
    events.register("after-call.s3.CreateMultipartUpload", lambda **kwargs: armed.append(True))

    def fire(**kwargs: Any) -> None:
        if armed:
            armed.clear()
            change()

    events.register("after-call.s3.UploadPart", fire)


def incomplete(s3: Any, bucket: str) -> list[Any]:
    return s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])


@pytest.fixture
def one_part_at_a_time(make_clerk: Callable[..., ObjectClerk]) -> ObjectClerk:
    """Parts sent one after the other, so that a change after the first
    comes before the others are read; a short read timeout, so that a
    request waiting for a body would show."""
    return make_clerk(
        env={"S3_UPLOAD_CONFIG": '{"max_concurrency": 1}'},
        client_config={"read_timeout": READ_TIMEOUT, "connect_timeout": READ_TIMEOUT},
    )


@pytest.mark.parametrize("given", ["path", "open file"])
@pytest.mark.parametrize("kind", ["rewritten", "grown", "truncated"])
def test_a_source_changed_in_every_attempt_leaves_the_earlier_object(
    one_part_at_a_time: ObjectClerk, s3: Any, bucket: str, tmp_path: Path, kind: str, given: str
) -> None:
    clerk = one_part_at_a_time
    s3.put_object(Bucket=bucket, Key="k", Body=OLD)
    path = tmp_path / "frame.fits"
    path.write_bytes(os.urandom(SIZE))
    after_first_part_of_each_attempt(clerk, changes(path, kind))
    began = time.monotonic()
    with path.open("rb") as opened:
        data: Any = path if given == "path" else opened
        with pytest.raises(ObjectSourceChangedException, match=r"frame\.fits") as raised:
            clerk.upload_object(data, bucket, "k")
    assert time.monotonic() - began < READ_TIMEOUT, "no request waited for a missing body"
    assert "the key keeps what it held" in str(raised.value)
    assert stored_bytes(s3, bucket, "k") == OLD
    assert incomplete(s3, bucket) == []


def test_a_shrunk_part_is_never_sent_short(
    one_part_at_a_time: ObjectClerk, s3: Any, bucket: str, tmp_path: Path
) -> None:
    """Truncated inside part 2 once part 1 is sent: part 2's read comes
    short, and the upload ends at once with nothing more sent (one attempt:
    verify_checksum=False does not upload again)."""
    clerk = one_part_at_a_time
    s3.put_object(Bucket=bucket, Key="k", Body=OLD)
    path = tmp_path / "frame.fits"
    path.write_bytes(os.urandom(SIZE))
    faults = inject(clerk)
    after_first_part_of_each_attempt(clerk, lambda: os.truncate(path, TEST_THRESHOLD + 2 * MiB))
    began = time.monotonic()
    with pytest.raises(ObjectSourceChangedException, match=r"frame\.fits.* ended early"):
        clerk.upload_object(path, bucket, "k", verify_checksum=False)
    assert time.monotonic() - began < READ_TIMEOUT
    assert faults.sent["UploadPart"] == 1
    assert stored_bytes(s3, bucket, "k") == OLD
    assert incomplete(s3, bucket) == []


class RewrittenWhileRead(io.FileIO):
    """A file rewritten on disk (same size, other bytes) after each read
    from its start: the bytes an upload reads are a mix of two versions."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, "rb")
        self._path = path
        self.rewrites = 0

    def read(self, size: int | None = -1) -> bytes:
        at_start = self.tell() == 0
        data = super().read(size)
        if at_start and data:
            self.rewrites += 1
            with self._path.open("r+b") as file:
                file.write(os.urandom(self._path.stat().st_size))
            os.utime(self._path, ns=(self.rewrites, self.rewrites))
        return data


def test_a_single_put_of_a_file_rewritten_while_it_is_hashed_is_not_sent(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path
) -> None:
    """Read in 1 MiB pieces to hash it, the file changes after the first:
    the PutObject is not sent, in any attempt, and the key keeps its object."""
    s3.put_object(Bucket=bucket, Key="k", Body=OLD)
    path = tmp_path / "small.bin"
    path.write_bytes(os.urandom(2 * MiB + 3))  # one PutObject, hashed in pieces
    faults = inject(clerk)
    with RewrittenWhileRead(path) as file, pytest.raises(ObjectSourceChangedException):
        clerk.upload_object(file, bucket, "k")
    assert faults.sent["PutObject"] == 0
    assert stored_bytes(s3, bucket, "k") == OLD


@pytest.mark.slow
def test_a_changed_source_of_a_resumable_upload_keeps_its_parts_for_the_next_call(
    one_part_at_a_time: ObjectClerk, s3: Any, bucket: str, tmp_path: Path
) -> None:
    """resume=True: the upload is not completed, and is left in the store
    (as every failed resumable upload is); the next call proves each of its
    parts against the file as it is then, sends the others, and completes."""
    clerk = one_part_at_a_time
    s3.put_object(Bucket=bucket, Key="k", Body=OLD)
    path = tmp_path / "frame.fits"
    path.write_bytes(os.urandom(SIZE))
    grow = changes(path, "grown")
    faults = inject(clerk)
    # Every attempt lists the unfinished uploads first; the file grows
    # once the attempt has sent a part.
    armed: list[bool] = []
    events = client_of(clerk).raw.meta.events
    events.register("after-call.s3.ListMultipartUploads", lambda **kwargs: armed.append(True))

    def fire(**kwargs: Any) -> None:
        if armed:
            armed.clear()
            grow()

    events.register("after-call.s3.UploadPart", fire)
    with pytest.raises(ObjectSourceChangedException, match=r"resume=True\) continues it"):
        clerk.upload_object(path, bucket, "k", resume=True)
    assert stored_bytes(s3, bucket, "k") == OLD
    assert len(incomplete(s3, bucket)) == 1

    events.unregister("after-call.s3.UploadPart", fire)
    sent_before = faults.sent["UploadPart"]
    clerk.upload_object(path, bucket, "k", resume=True)
    assert stored_bytes(s3, bucket, "k") == path.read_bytes()
    assert incomplete(s3, bucket) == []
    # Appended to: the parts before the end are this data and are kept.
    assert faults.sent["UploadPart"] - sent_before < 5


@pytest.mark.slow
def test_sync_reports_the_entry_failed_and_keeps_the_earlier_object(
    make_clerk: Callable[..., ObjectClerk], s3: Any, bucket: str, tmp_path: Path
) -> None:
    clerk = make_clerk(env={"S3_UPLOAD_CONFIG": '{"max_concurrency": 1}'})
    s3.put_object(Bucket=bucket, Key="data/frame.fits", Body=OLD)
    root = tmp_path / "tree"
    root.mkdir()
    path = root / "frame.fits"
    path.write_bytes(os.urandom(SIZE))
    after_first_part_of_each_attempt(clerk, changes(path, "rewritten"))
    report = clerk.sync(root, f"s3://{bucket}/data", workers=1)
    assert not report.ok
    [entry] = report.entries
    assert entry.action == "failed"
    assert stored_bytes(s3, bucket, "data/frame.fits") == OLD
    assert isinstance(entry.error, ObjectSourceChangedException)
    assert incomplete(s3, bucket) == []


def test_put_reports_the_size_stored(
    one_part_at_a_time: ObjectClerk, s3: Any, bucket: str, tmp_path: Path
) -> None:
    """Measured at 20 MiB, truncated to 10 MiB while it is sent: the line
    names what the store holds."""
    clerk = one_part_at_a_time
    path = tmp_path / "frame.fits"
    path.write_bytes(os.urandom(SIZE))
    shrink = [True]

    def truncate() -> None:
        if shrink:
            shrink.clear()
            os.truncate(path, 2 * TEST_THRESHOLD)

    after_first_part_of_each_attempt(clerk, truncate)
    printed = io.StringIO()
    cli._upload(clerk, path, f"s3://{bucket}/k", cli.Output(False, False, stdout=printed))
    assert len(stored_bytes(s3, bucket, "k")) == 2 * TEST_THRESHOLD
    assert "(10.0 MiB), verified" in printed.getvalue()


# -- full-object checksums the store would not keep ---------------------------------------


@pytest.mark.parametrize("size", [1024, 2 * TEST_THRESHOLD + 5], ids=["single", "multipart"])
def test_a_checksum_the_store_would_not_keep_is_refused_with_nothing_written(
    make_clerk: Callable[..., ObjectClerk], s3: Any, bucket: str, size: int
) -> None:
    """As on Ceph RGW 16, which stores the object and drops the checksum."""
    if store_keeps_checksum(s3, bucket, "CRC32C"):
        pytest.skip("the store keeps full-object CRC32C checksums")
    s3.put_object(Bucket=bucket, Key="k", Body=OLD)
    clerk = make_clerk(checksum_algorithm="CRC32C")
    faults = inject(clerk)
    with pytest.raises(ObjectSaveException, match="S3_CHECKSUM_ALGORITHM") as raised:
        clerk.upload_object(os.urandom(size), bucket, "k")
    assert stored_bytes(s3, bucket, "k") == OLD
    assert "did not keep its full-object CRC32C" in str(raised.value)
    assert "nothing was sent" in str(raised.value)
    assert stored_keys(s3, bucket) == ["k"]  # the probe object removed
    assert incomplete(s3, bucket) == []
    # The answer is kept: a second upload asks nothing of the store again.
    before = sum(faults.sent.values())
    with pytest.raises(ObjectSaveException, match="S3_CHECKSUM_ALGORITHM"):
        clerk.upload_object(os.urandom(size), bucket, "k")
    assert sum(faults.sent.values()) == before


@pytest.mark.parametrize("size", [1024, 2 * TEST_THRESHOLD + 5], ids=["single", "multipart"])
def test_where_the_store_keeps_checksums_the_probe_is_made_once(
    make_clerk: Callable[..., ObjectClerk], s3: Any, bucket: str, size: int
) -> None:
    if not store_keeps_checksum(s3, bucket, "CRC32"):
        pytest.skip("the store keeps no full-object CRC32 checksums")
    clerk = make_clerk(checksum_algorithm="CRC32")
    data = os.urandom(size)
    clerk.upload_object(data, bucket, "k")
    faults = inject(clerk)
    clerk.upload_object(data, bucket, "k")
    assert faults.sent["DeleteObject"] == 0  # no probe object made and removed again
    assert stored_bytes(s3, bucket, "k") == data
    assert stored_keys(s3, bucket) == ["k"]
    # A checksum dropped by this write after the probe is still reported.
    faults.rewrite("HeadObject", "ChecksumCRC32", "")
    with pytest.raises(ObjectSaveException, match="did not keep its full-object CRC32 "):
        clerk.upload_object(data, bucket, "k")
