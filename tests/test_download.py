"""download_object: verified, atomic, nothing left behind on failure."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from object_clerk import (
    ObjectClerk,
    ObjectClerkException,
    ObjectNotFoundException,
    ObjectVerificationException,
)
from object_clerk._download import plan_ranges
from object_clerk._settings import settings_from_env
from tests.conftest import TEST_THRESHOLD, MiB
from tests.faults import inject

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
    clerk.download_object(bucket, "k", tmp_path / "f")
    assert (tmp_path / "f").read_bytes() == DATA


def test_a_missing_directory_is_an_object_clerk_exception(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    with pytest.raises(ObjectClerkException, match="no-such-dir"):
        clerk.download_object(bucket, "k", tmp_path / "no-such-dir" / "f")


def test_a_multipart_object_is_fetched_part_by_part(
    clerk: ObjectClerk, bucket: str, tmp_path: Path
) -> None:
    """Ranges on the part boundaries: each part's MD5 is computed as it
    arrives, and the ETag needs no second pass."""
    clerk.upload_object(DATA, bucket, "k")
    ranges: list[str] = []
    clerk._s3.raw.meta.events.register(
        "before-call.s3.GetObject", lambda params, **kw: ranges.append(params["headers"]["Range"])
    )
    clerk.download_object(bucket, "k", tmp_path / "f")
    part = TEST_THRESHOLD
    assert sorted(ranges) == sorted(
        [f"bytes=0-{part - 1}", f"bytes={part}-{2 * part - 1}", f"bytes={2 * part}-{len(DATA) - 1}"]
    )


def test_ranges_follow_the_download_config_without_a_known_layout() -> None:
    config = settings_from_env({"S3_DOWNLOAD_CONFIG": '{"multipart_chunksize": 8388608}'})
    ranges = plan_ranges(20 * MiB, None, config.download_config)
    assert ranges == [(0, 8 * MiB), (8 * MiB, 16 * MiB), (16 * MiB, 20 * MiB)]
    assert plan_ranges(100, None, config.download_config) == [(0, 100)]
    assert plan_ranges(0, None, config.download_config) == [(0, 0)]


def test_a_target_with_a_long_name(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    target = tmp_path / ("n" * 250)
    clerk.download_object(bucket, "k", target)
    assert target.read_bytes() == b"x"
    assert leftovers(tmp_path) == []
