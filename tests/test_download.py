"""download_object: verified, atomic, nothing left behind on failure."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.response import StreamingBody

from object_clerk import (
    ObjectClerk,
    ObjectClerkConnectionException,
    ObjectClerkException,
    ObjectNotFoundException,
    ObjectVerificationException,
    _download,
    _verify,
)
from object_clerk._download import STREAM_BYTES, plan
from object_clerk._settings import settings_from_env
from tests.faults import inject
from tests.support import TEST_THRESHOLD, GetRanges, MiB, client_of, hides_part_sizes

DATA = os.urandom(2 * TEST_THRESHOLD + 321)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".part"))


@pytest.mark.parametrize("data", [b"small object", DATA, b""], ids=["single", "multipart", "empty"])
def test_download_writes_the_object(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path, data: bytes
) -> None:
    if data == DATA:
        clerk.upload_object(data, bucket, "k")
    else:
        s3.put_object(Bucket=bucket, Key="k", Body=data)
    target = tmp_path / "frame.fits"
    clerk.download_object(bucket, "k", target)
    assert target.read_bytes() == data
    assert leftovers(tmp_path) == []


def test_download_replaces_an_existing_file_and_keeps_its_mode(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"new")
    target = tmp_path / "f"
    target.write_bytes(b"old")
    target.chmod(0o640)
    clerk.download_object(bucket, "k", str(target))
    assert target.read_bytes() == b"new"
    assert target.stat().st_mode & 0o777 == 0o640


def test_a_new_file_gets_the_usual_mode(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"new")
    umask = os.umask(0o022)
    try:
        clerk.download_object(bucket, "k", tmp_path / "f")
    finally:
        os.umask(umask)
    assert (tmp_path / "f").stat().st_mode & 0o777 == 0o644


def test_a_missing_object_leaves_the_target_untouched(
    clerk: ObjectClerk, bucket: str, tmp_path: Path
) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"precious")
    with pytest.raises(ObjectNotFoundException):
        clerk.download_object(bucket, "no-such-key", target)
    assert target.read_bytes() == b"precious"
    assert leftovers(tmp_path) == []


def test_bytes_that_stay_damaged_leave_the_target_untouched(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path
) -> None:
    clerk.upload_object(DATA, bucket, "k")
    target = tmp_path / "f"
    target.write_bytes(b"precious")
    inject(clerk).fail("GetObject", "corrupt_body", times=1000)
    with pytest.raises(ObjectVerificationException):
        clerk.download_object(bucket, "k", target)
    assert target.read_bytes() == b"precious"
    assert leftovers(tmp_path) == []


def test_damaged_bytes_are_fetched_again(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path
) -> None:
    clerk.upload_object(DATA, bucket, "k")
    inject(clerk).fail("GetObject", "corrupt_body", times=1)
    if hides_part_sizes(s3, bucket, "k"):
        with pytest.raises(ObjectVerificationException, match="cannot be verified on this store"):
            clerk.download_object(bucket, "k", tmp_path / "f")
        assert leftovers(tmp_path) == [] and not (tmp_path / "f").exists()
        return
    clerk.download_object(bucket, "k", tmp_path / "f")
    assert (tmp_path / "f").read_bytes() == DATA


def test_a_missing_directory_is_an_object_clerk_exception(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ObjectClerkException, match="no-such-dir"):
        clerk.download_object(bucket, "k", tmp_path / "no-such-dir" / "f")


def test_a_negative_content_length_is_refused_by_get_object(
    clerk: ObjectClerk, s3: Any, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"small object")
    inject(clerk).rewrite("HeadObject", "ContentLength", -5)  # type: ignore[arg-type]
    with pytest.raises(ObjectVerificationException, match=r"negative Content-Length \(-5\)"):
        clerk.get_object(bucket, "k")


def no_second_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make a second pass over the bytes (reproducing an ETag from them
    after they arrived) fail the test."""

    def second_pass(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the bytes were hashed a second time")

    monkeypatch.setattr(_verify, "etag_of", second_pass)


def fetched(clerk: ObjectClerk, bucket: str, tmp_path: Path, to_file: bool) -> bytes:
    """Object "k" by get_object, or by download_object and read back."""
    if not to_file:
        return clerk.get_object(bucket, "k")
    clerk.download_object(bucket, "k", tmp_path / "f")
    return (tmp_path / "f").read_bytes()


@pytest.mark.parametrize("to_file", [False, True], ids=["get", "download"])
def test_an_object_arrives_in_one_get_hashed_part_by_part(
    clerk: ObjectClerk,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    to_file: bool,
) -> None:
    """One stream for the whole object, each part hashed as it arrives: the
    ETag needs no second pass over the bytes."""
    clerk.upload_object(DATA, bucket, "k")
    gets = GetRanges(clerk)
    no_second_pass(monkeypatch)
    assert fetched(clerk, bucket, tmp_path, to_file) == DATA
    assert gets.ranges == [None]


def test_a_single_part_object_is_hashed_whole_as_it_arrives(
    clerk: ObjectClerk, s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=DATA)
    no_second_pass(monkeypatch)
    assert clerk.get_object(bucket, "k") == DATA


@pytest.mark.parametrize("to_file", [False, True], ids=["get", "download"])
def test_a_cut_stream_goes_on_from_the_range_that_failed(
    make_clerk: Any,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    to_file: bool,
) -> None:
    """Ranges of 1 MiB inside parts of 5 MiB: the body is cut in the middle
    of part 2; the next GET asks from the start of the range that failed,
    and that part's hash is taken back to there, so the ETag still needs no
    second pass."""
    clerk = make_clerk(env={"S3_DOWNLOAD_CONFIG": '{"multipart_chunksize": 1048576}'})
    data = os.urandom(2 * TEST_THRESHOLD + 3 * MiB)  # cut at half: in part 2, not at its start
    clerk.upload_object(data, bucket, "k")
    gets = GetRanges(clerk)
    inject(clerk).fail("GetObject", "cut_body")
    no_second_pass(monkeypatch)
    assert fetched(clerk, bucket, tmp_path, to_file) == data
    cut_in = len(data) // 2 // MiB * MiB
    assert TEST_THRESHOLD < cut_in < 2 * TEST_THRESHOLD
    assert gets.ranges == [None, f"bytes={cut_in}-{len(data) - 1}"]


def test_big_objects_come_in_parallel_streams_on_part_boundaries(
    clerk: ObjectClerk, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clerk.upload_object(DATA, bucket, "k")
    monkeypatch.setattr(_download, "STREAM_BYTES", TEST_THRESHOLD)
    gets = GetRanges(clerk)
    no_second_pass(monkeypatch)
    assert clerk.get_object(bucket, "k") == DATA
    part = TEST_THRESHOLD
    assert len(gets.ranges) == 3
    assert set(gets.ranges) == {
        f"bytes=0-{part - 1}",
        f"bytes={part}-{2 * part - 1}",
        f"bytes={2 * part}-{len(DATA) - 1}",
    }


def test_a_stream_that_fails_for_good_ends_the_others(
    make_clerk: Any, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clerk = make_clerk(retry_tries=2)
    clerk.upload_object(DATA, bucket, "k")
    monkeypatch.setattr(_download, "STREAM_BYTES", TEST_THRESHOLD)
    inject(clerk).fail("GetObject", "refused", times=100)
    with pytest.raises(ObjectClerkConnectionException):
        clerk.get_object(bucket, "k")


NEW_CONNECTION = ("Starting new HTTP", "Resetting dropped connection")


def new_connections(caplog: pytest.LogCaptureFixture, action: Callable[[], object]) -> int:
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="urllib3.connectionpool"):
        action()
    return sum(r.getMessage().startswith(NEW_CONNECTION) for r in caplog.records)


def test_a_connection_read_to_its_end_is_used_again(
    clerk: ObjectClerk, s3: Any, bucket: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Bytes are read straight from the connection; once a body is read to
    its end the connection goes back to the pool, as urllib3 does. (The
    clerk has sent nothing yet: its pool is empty.)"""
    s3.put_object(Bucket=bucket, Key="k", Body=DATA)
    heads = new_connections(caplog, lambda: [clerk.get_object_info(bucket, "k") for _ in range(3)])
    if heads > 1:
        pytest.skip("this server closes every connection (moto's does); Ceph RGW keeps them")
    gets = new_connections(caplog, lambda: [clerk.get_object(bucket, "k") for _ in range(3)])
    assert gets == 0
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    empty = new_connections(caplog, lambda: [clerk.get_object(bucket, "empty") for _ in range(3)])
    assert empty == 0


def test_plan_streams_start_on_span_boundaries() -> None:
    config = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB)
    size = 3 * STREAM_BYTES + 5
    parts = plan(size, config, 100 * MiB)
    assert len(parts.streams) == 4
    assert all(stream[0][0] % (100 * MiB) == 0 for stream in parts.streams)
    assert [r for stream in parts.streams for r in stream] == parts.ranges
    assert all(end - start <= 8 * MiB for start, end in parts.ranges)
    assert len(plan(size, config, size).streams) == 1  # one span: the whole object


def test_plan_streams_are_bounded_by_the_config() -> None:
    size = 10 * STREAM_BYTES
    capped = TransferConfig(max_concurrency=3)
    assert len(plan(size, capped, None).streams) == 3
    unthreaded = TransferConfig(use_threads=False)
    assert len(plan(size, unthreaded, None).streams) == 1
    assert len(plan(STREAM_BYTES, TransferConfig(), None).streams) == 1


def test_ranges_follow_the_download_config_without_a_known_layout() -> None:
    config = settings_from_env({"S3_DOWNLOAD_CONFIG": '{"multipart_chunksize": 8388608}'})
    ranges = plan(20 * MiB, config.download_config, None).ranges
    assert ranges == [(0, 8 * MiB), (8 * MiB, 16 * MiB), (16 * MiB, 20 * MiB)]
    assert plan(100, config.download_config, None).ranges == [(0, 100)]
    assert plan(0, config.download_config, None).ranges == [(0, 0)]


def test_a_target_with_a_long_name(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    target = tmp_path / ("n" * 250)
    clerk.download_object(bucket, "k", target)
    assert target.read_bytes() == b"x"
    assert leftovers(tmp_path) == []


def test_a_slow_hashing_lane_holds_the_reader_back(
    clerk: ObjectClerk, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks read for a file wait in a few scratch buffers until they are
    hashed and written: a reader that ran ahead would overwrite them."""
    clerk.upload_object(DATA, bucket, "k")
    monkeypatch.setattr(_download, "READ_AHEAD", 2)
    task = _download._Stream._task

    def slow_task(self: Any, *args: Any) -> Callable[[], None]:
        run = task(self, *args)

        def slowly() -> None:
            time.sleep(0.01)
            run()

        return slowly

    monkeypatch.setattr(_download._Stream, "_task", slow_task)
    clerk.download_object(bucket, "k", tmp_path / "f")
    assert (tmp_path / "f").read_bytes() == DATA


def test_a_write_that_fails_ends_the_download(
    clerk: ObjectClerk, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A chunk that could not be written is not healed by reading a later
    range again: the download fails and leaves nothing behind."""
    clerk.upload_object(DATA, bucket, "k")
    write = _download.FileSink.write
    failed: list[int] = []

    def fail_once(self: Any, offset: int, data: Any) -> None:
        if not failed:
            failed.append(offset)
            raise TimeoutError("the disk did not answer")
        write(self, offset, data)

    monkeypatch.setattr(_download.FileSink, "write", fail_once)
    with pytest.raises(ObjectClerkException, match="the disk did not answer"):
        clerk.download_object(bucket, "k", tmp_path / "f")
    assert not (tmp_path / "f").exists()
    assert leftovers(tmp_path) == []


def test_a_body_that_checks_itself_is_read_through_botocore(
    make_clerk: Any, s3: Any, bucket: str
) -> None:
    """With response_checksum_validation "when_supported" botocore checks
    the body as it is read: the clerk then reads it through botocore."""
    s3.put_object(Bucket=bucket, Key="k", Body=DATA, ChecksumAlgorithm="CRC32")
    clerk = make_clerk(
        env={"S3_CLIENT_CONFIG": '{"response_checksum_validation": "when_supported"}'}
    )
    answer = client_of(clerk).raw.get_object(Bucket=bucket, Key="k")
    body = answer["Body"]
    if "ChecksumCRC32" not in answer:
        body.close()
        pytest.skip("this store keeps no CRC32 of the object (Ceph RGW before 18 does not)")
    assert type(body) is not StreamingBody
    assert not _download._Response(body, 0).direct
    body.close()
    plain = client_of(clerk).raw.get_object(Bucket=bucket, Key="k", ChecksumMode="DISABLED")["Body"]
    response = _download._Response(plain, 0)
    assert response.direct
    response.close(done=False)
    assert clerk.get_object(bucket, "k") == DATA


def test_a_discarded_memory_sink_stops_growing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fetch that failed before its first byte leaves no helper thread
    zeroing memory for nothing (the next attempt allocates its own)."""
    monkeypatch.setattr(_download, "GROW_STEP", MiB)
    sink = _download.MemorySink(256 * MiB)  # about 0.1 s of growing, a MiB at a time
    sink.discard()
    grown = len(sink._buffer.getbuffer())
    assert grown < 256 * MiB
