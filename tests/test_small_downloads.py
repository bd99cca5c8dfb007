"""Small objects: one GET each (no HEAD), hashed in memory on the caller's
thread, verified as strictly as large ones, and on disk when reported done
(a single download before its rename, a sync's files per batch)."""

from __future__ import annotations

import base64
import errno
import os
import stat
import threading
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from object_clerk import ObjectClerk, ObjectSaveException, ObjectVerificationException
from object_clerk._sync_report import Action
from object_clerk._verify import CHECKSUM_FIELDS
from tests.faults import inject
from tests.support import MiB, hides_part_sizes

SMALL = os.urandom(64 * 1024)
# Download threshold of 16 MiB: objects up to 8 MiB (_download.SMALL_OBJECT)
# take the small way, multipart ones of parts of 5 MiB among them.
BIG_THRESHOLD = {"MULTIPART_THRESHOLD": str(16 * MiB)}


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".part"))


def put_tree(s3: Any, bucket: str, count: int) -> dict[str, bytes]:
    """count small objects under tree/, some in a subdirectory."""
    objects = {f"tree/{'sub/' if n % 2 else ''}{n:03d}": os.urandom(1000 + n) for n in range(count)}
    for key, data in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=data)
    return objects


def put_multipart(s3: Any, bucket: str, key: str, parts: list[bytes]) -> None:
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    done = []
    for number, data in enumerate(parts, 1):
        answer = s3.upload_part(
            Bucket=bucket, Key=key, UploadId=upload, PartNumber=number, Body=data
        )
        done.append({"PartNumber": number, "ETag": answer["ETag"]})
    s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": done}
    )


@pytest.fixture
def started_threads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The names of the clerk's threads started meanwhile (the embedded
    server starts threads of its own)."""
    names: list[str] = []
    real_start = threading.Thread.start

    def start(thread: threading.Thread) -> None:
        if thread.name.startswith("object-clerk"):
            names.append(thread.name)
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", start)
    yield names


@pytest.fixture
def fsynced(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """(device, inode) of every file or directory fsync'ed meanwhile."""
    synced: list[tuple[int, int]] = []
    real_fsync = os.fsync

    def fsync(fd: Any) -> None:
        found = os.fstat(fd)
        synced.append((found.st_dev, found.st_ino))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return synced


def identity(path: Path) -> tuple[int, int]:
    found = path.stat()
    return found.st_dev, found.st_ino


# -- one GET, hashed inline -------------------------------------------------------


def test_a_small_object_is_downloaded_by_one_get_without_a_head(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path, started_threads: list[str]
) -> None:
    """The GET's own headers give the ETag, size and checksums: no HEAD
    first, and the bytes are hashed on the caller's thread."""
    s3.put_object(Bucket=bucket, Key="k", Body=SMALL)
    faults = inject(clerk)
    clerk.download_object(bucket, "k", tmp_path / "f")
    assert (tmp_path / "f").read_bytes() == SMALL
    assert faults.sent == {"GetObject": 1}
    assert started_threads == []
    assert leftovers(tmp_path) == []


def test_an_empty_object_is_downloaded_by_one_get(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"")
    faults = inject(clerk)
    clerk.download_object(bucket, "k", tmp_path / "f")
    assert (tmp_path / "f").read_bytes() == b""
    assert faults.sent == {"GetObject": 1}


def test_sync_downloads_each_small_object_by_one_get(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path
) -> None:
    objects = put_tree(s3, bucket, 20)
    faults = inject(clerk)
    report = clerk.sync(f"s3://{bucket}/tree/", tmp_path / "out", workers=4)
    assert {entry.action for entry in report.entries} == {Action.DOWNLOADED}
    for key, data in objects.items():
        assert (tmp_path / "out" / key.removeprefix("tree/")).read_bytes() == data
    assert faults.sent["GetObject"] == len(objects)
    assert faults.sent["HeadObject"] == 0


def test_a_large_object_of_a_sync_is_fetched_the_large_way_at_once(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path
) -> None:
    """The listing tells it is larger than the bound: no GET is spent on
    finding that out."""
    data = os.urandom(6 * MiB)  # above the tests' 5 MiB threshold
    s3.put_object(Bucket=bucket, Key="tree/big", Body=data)
    faults = inject(clerk)
    clerk.sync(f"s3://{bucket}/tree/", tmp_path / "out")
    assert (tmp_path / "out" / "big").read_bytes() == data
    assert faults.sent["GetObject"] == 1


def test_a_large_object_goes_on_from_the_first_get(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path
) -> None:
    """download_object does not know the size: its first GET, found to be of
    a large object, is read by the large way instead of asked again."""
    data = os.urandom(6 * MiB)
    s3.put_object(Bucket=bucket, Key="k", Body=data)
    faults = inject(clerk)
    clerk.download_object(bucket, "k", tmp_path / "f")
    assert (tmp_path / "f").read_bytes() == data
    assert faults.sent == {"GetObject": 1}


def test_a_small_multipart_object_is_verified_by_its_part_layout(
    make_clerk: Callable[..., ObjectClerk], s3: Any, bucket: str, tmp_path: Path
) -> None:
    """The part count comes only with PartNumber: one HEAD asks for part 1's
    size, then the bytes in memory reproduce the multipart ETag."""
    clerk = make_clerk(env=BIG_THRESHOLD)
    parts = [os.urandom(5 * MiB), os.urandom(MiB)]
    put_multipart(s3, bucket, "k", parts)
    faults = inject(clerk)
    clerk.download_object(bucket, "k", tmp_path / "f")
    assert (tmp_path / "f").read_bytes() == b"".join(parts)
    assert faults.sent["GetObject"] == 1
    assert faults.sent["HeadObject"] <= 1  # part 1's size, where the store tells it


# -- verified as strictly as ever ----------------------------------------------------


@pytest.mark.parametrize("multipart", [False, True], ids=["single", "multipart"])
def test_a_damaged_small_body_is_refused_and_fetched_again(
    make_clerk: Callable[..., ObjectClerk], s3: Any, bucket: str, tmp_path: Path, multipart: bool
) -> None:
    clerk = make_clerk(env=BIG_THRESHOLD)
    if multipart:
        parts = [os.urandom(5 * MiB), SMALL]
        put_multipart(s3, bucket, "k", parts)
        data = b"".join(parts)
    else:
        data = SMALL
        s3.put_object(Bucket=bucket, Key="k", Body=data)
    faults = inject(clerk)
    faults.fail("GetObject", "corrupt_body")
    if multipart and hides_part_sizes(s3, bucket, "k"):
        # Damage and a part size nobody guessed look the same: said, not kept.
        with pytest.raises(ObjectVerificationException, match="cannot be verified on this store"):
            clerk.download_object(bucket, "k", tmp_path / "f")
        assert list(tmp_path.iterdir()) == []
        return
    clerk.download_object(bucket, "k", tmp_path / "f")
    assert (tmp_path / "f").read_bytes() == data
    assert faults.sent["GetObject"] == 2


def test_a_small_body_damaged_every_time_is_never_kept(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=SMALL)
    target = tmp_path / "f"
    target.write_bytes(b"precious")
    inject(clerk).fail("GetObject", "corrupt_body", times=10)
    with pytest.raises(ObjectVerificationException, match="do not match the stored ETag"):
        clerk.download_object(bucket, "k", target)
    assert target.read_bytes() == b"precious"
    assert leftovers(tmp_path) == []


def test_a_cut_small_body_is_fetched_again_whole(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=SMALL)
    faults = inject(clerk)
    faults.fail("GetObject", "cut_body")
    reported: list[int] = []
    clerk.download_object(bucket, "k", tmp_path / "f", callback=reported.append)
    assert (tmp_path / "f").read_bytes() == SMALL
    assert faults.sent["GetObject"] == 2
    assert sum(reported) == len(SMALL)  # the bytes read again are not counted twice


def test_the_get_answers_full_object_checksum_is_checked(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path
) -> None:
    """A checksum the GET's answer reports is checked against the bytes: a
    wrong one is a mismatch, whatever the ETag says."""
    s3.put_object(Bucket=bucket, Key="k", Body=SMALL)
    wrong = base64.b64encode((zlib.crc32(SMALL) ^ 1).to_bytes(4, "big")).decode()
    inject(clerk).rewrite("GetObject", "ChecksumCRC32", wrong)
    with pytest.raises(ObjectVerificationException, match="CRC32"):
        clerk.download_object(bucket, "k", tmp_path / "f")
    assert list(tmp_path.iterdir()) == []


def test_the_get_answers_right_checksum_passes(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=SMALL)
    right = base64.b64encode(zlib.crc32(SMALL).to_bytes(4, "big")).decode()
    inject(clerk).rewrite("GetObject", "ChecksumCRC32", right)
    clerk.download_object(bucket, "k", tmp_path / "f")
    assert (tmp_path / "f").read_bytes() == SMALL


def test_an_unverifiable_small_object_is_refused_unwritten(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=SMALL)
    faults = inject(clerk)
    faults.rewrite("GetObject", "ETag", '"not-an-md5"')
    for field in CHECKSUM_FIELDS:  # none to stand in for the ETag, on any store
        faults.rewrite("GetObject", field, "")
    with pytest.raises(ObjectVerificationException, match="cannot be verified"):
        clerk.download_object(bucket, "k", tmp_path / "f")
    assert list(tmp_path.iterdir()) == []
    clerk.download_object(bucket, "k", tmp_path / "f", verify_checksum=False)
    assert (tmp_path / "f").read_bytes() == SMALL


# -- on disk when reported done -------------------------------------------------------


def test_a_single_download_is_on_disk_before_it_returns(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path, fsynced: list[tuple[int, int]]
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=SMALL)
    clerk.download_object(bucket, "k", tmp_path / "f")
    assert identity(tmp_path / "f") in fsynced


def test_a_syncs_files_and_their_directories_are_on_disk_when_it_returns(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path, fsynced: list[tuple[int, int]]
) -> None:
    """Each file and each directory that received one (the renames) is
    flushed before its batch is reported: fewer commits than a file each,
    the same promise for what is reported done."""
    objects = put_tree(s3, bucket, 40)
    root = tmp_path / "out"
    report = clerk.sync(f"s3://{bucket}/tree/", root, workers=2)
    assert {entry.action for entry in report.entries} == {Action.DOWNLOADED}
    for key in objects:
        path = root / key.removeprefix("tree/")
        assert identity(path) in fsynced
        assert identity(path.parent) in fsynced


def test_a_failed_flush_fails_the_batchs_downloads(
    clerk: ObjectClerk,
    s3: Any,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A download whose bytes may not be on disk is never reported done."""
    put_tree(s3, bucket, 4)

    def failing_fsync(fd: Any) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    report = clerk.sync(f"s3://{bucket}/tree/", tmp_path / "out")
    assert [entry.action for entry in report.entries] == [Action.FAILED] * 4
    for entry in report.entries:
        assert isinstance(entry.error, ObjectSaveException)
        assert "Input/output error" in str(entry.error)


def test_a_file_system_that_cannot_flush_a_directory_still_syncs(
    clerk: ObjectClerk,
    s3: Any,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Some network and FUSE file systems answer EINVAL to an fsync of a
    directory: the files are flushed, the renames kept as that file system
    keeps them."""
    objects = put_tree(s3, bucket, 4)
    real_fsync = os.fsync

    def fsync(fd: Any) -> None:
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "Invalid argument")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    report = clerk.sync(f"s3://{bucket}/tree/", tmp_path / "out")
    assert [entry.action for entry in report.entries] == [Action.DOWNLOADED] * len(objects)
