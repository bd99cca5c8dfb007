"""ObjectClerk against a real S3 server: each operation's contract,
checked with plain boto3 against what the store holds."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig

from object_clerk import (
    ObjectClerk,
    ObjectClerkConfigurationException,
    ObjectClerkException,
    ObjectNotFoundException,
    ObjectSaveException,
    ObjectVerificationException,
)
from tests.faults import inject
from tests.support import (
    TEST_THRESHOLD,
    MiB,
    client_of,
    reference_multipart_etag,
    stored_bytes,
    stored_keys,
)

SMALL = b"solar observatory frame\n" * 40
BIG = os.urandom(2 * TEST_THRESHOLD + 12345)  # three parts, the last one short


def stored_etag(s3: Any, bucket: str, key: str) -> str:
    return s3.head_object(Bucket=bucket, Key=key)["ETag"].strip('"')


# -- upload ----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["bytes", "str", "path", "open file", "bytesio"])
@pytest.mark.parametrize("data", [SMALL, BIG], ids=["single", "multipart"])
def test_upload_from_every_kind_of_source(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path, kind: str, data: bytes
) -> None:
    path = tmp_path / "frame.fits"
    path.write_bytes(data)
    if kind == "bytes":
        clerk.upload_object(data, bucket, "frame")
    elif kind == "str":
        clerk.upload_object(str(path), bucket, "frame")
    elif kind == "path":
        clerk.upload_object(path, bucket, "frame")
    elif kind == "open file":
        with path.open("rb") as file:
            clerk.upload_object(file, bucket, "frame")
    else:
        clerk.upload_object(io.BytesIO(data), bucket, "frame")
    assert stored_bytes(s3, bucket, "frame") == data


def test_single_put_etag_is_the_md5(clerk: ObjectClerk, s3: Any, bucket: str) -> None:
    clerk.upload_object(SMALL, bucket, "k")
    assert stored_etag(s3, bucket, "k") == hashlib.md5(SMALL).hexdigest()


def test_multipart_upload_uses_the_threshold_as_part_size(
    clerk: ObjectClerk, s3: Any, bucket: str
) -> None:
    clerk.upload_object(BIG, bucket, "k")
    assert stored_etag(s3, bucket, "k") == reference_multipart_etag(BIG, TEST_THRESHOLD)


def test_an_object_of_exactly_the_threshold_is_one_part_multipart(
    clerk: ObjectClerk, s3: Any, bucket: str
) -> None:
    data = os.urandom(TEST_THRESHOLD)
    clerk.upload_object(data, bucket, "k")
    assert stored_etag(s3, bucket, "k").endswith("-1")
    clerk.upload_object(data[:-1], bucket, "k2")
    assert "-" not in stored_etag(s3, bucket, "k2")


@pytest.mark.parametrize("empty", [b"", io.BytesIO(), "FILE"])
def test_an_empty_upload_is_refused_and_nothing_stored(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path, empty: Any
) -> None:
    if empty == "FILE":
        empty = tmp_path / "empty"
        empty.write_bytes(b"")
    with pytest.raises(ObjectSaveException, match="empty"):
        clerk.upload_object(empty, bucket, "k")
    assert stored_keys(s3, bucket) == []


def test_an_unreadable_path_is_named(clerk: ObjectClerk, bucket: str, tmp_path: Path) -> None:
    with pytest.raises(ObjectSaveException, match=r"missing\.fits"):
        clerk.upload_object(tmp_path / "missing.fits", bucket, "k")


def test_unsupported_data_is_a_type_error(clerk: ObjectClerk, bucket: str) -> None:
    with pytest.raises(TypeError):
        clerk.upload_object(12345, bucket, "k")  # type: ignore[arg-type]


def test_upload_without_verification_stores_the_bytes(
    clerk: ObjectClerk, s3: Any, bucket: str
) -> None:
    clerk.upload_object(BIG, bucket, "k", verify_checksum=False)
    assert stored_bytes(s3, bucket, "k") == BIG


def test_upload_into_a_missing_bucket(clerk: ObjectClerk) -> None:
    with pytest.raises(ObjectNotFoundException):
        clerk.upload_object(SMALL, "clerk-no-such-bucket-0", "k")


# -- get -------------------------------------------------------------------


@pytest.mark.parametrize("data", [SMALL, BIG], ids=["single", "multipart"])
def test_get_returns_the_stored_bytes(
    clerk: ObjectClerk, s3: Any, bucket: str, data: bytes
) -> None:
    clerk.upload_object(data, bucket, "k")
    assert clerk.get_object(bucket, "k") == data
    assert clerk.get_object(bucket, "k", verify_checksum=False) == data


@pytest.mark.parametrize(
    "part_size", [5 * MiB, 8 * MiB], ids=["5MiB parts", "8MiB parts like aws-cli"]
)
def test_get_verifies_objects_written_by_other_tools(
    clerk: ObjectClerk, s3: Any, bucket: str, part_size: int
) -> None:
    data = os.urandom(2 * part_size + 1000)
    config = TransferConfig(multipart_threshold=part_size, multipart_chunksize=part_size)
    s3.upload_fileobj(io.BytesIO(data), bucket, "foreign", Config=config)
    assert clerk.get_object(bucket, "foreign") == data


def test_get_uses_the_download_config_for_ranged_parts(
    make_clerk: Callable[..., ObjectClerk], s3: Any, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=BIG)
    clerk = make_clerk(
        env={
            "S3_DOWNLOAD_CONFIG": '{"multipart_threshold": 5242880, "multipart_chunksize": 5242880}'
        }
    )
    ranges: list[str | None] = []
    client_of(clerk).raw.meta.events.register(
        "before-call.s3.GetObject",
        lambda params, **kw: ranges.append(params["headers"].get("Range")),
    )
    inject(clerk).fail("GetObject", "cut_body")  # cut in the second range of 5 MiB
    assert clerk.get_object(bucket, "k") == BIG
    assert ranges == [None, f"bytes=5242880-{len(BIG) - 1}"]  # the first one is not fetched again


def test_get_of_a_missing_key_or_bucket(clerk: ObjectClerk, bucket: str) -> None:
    with pytest.raises(ObjectNotFoundException, match="no-such-key"):
        clerk.get_object(bucket, "no-such-key")
    with pytest.raises(ObjectNotFoundException):
        clerk.get_object("clerk-no-such-bucket-0", "k")


def test_get_object_info_returns_lower_case_headers(
    clerk: ObjectClerk, s3: Any, bucket: str
) -> None:
    s3.put_object(
        Bucket=bucket,
        Key="k",
        Body=SMALL,
        ContentType="image/fits",
        Metadata={"frame": "7"},
    )
    info = clerk.get_object_info(bucket, "k")
    assert info["etag"].strip('"') == hashlib.md5(SMALL).hexdigest()
    assert info["content-length"] == str(len(SMALL))
    assert info["content-type"] == "image/fits"
    assert "last-modified" in info
    assert info["x-amz-meta-frame"] == "7"


def test_get_object_info_of_a_missing_key(clerk: ObjectClerk, bucket: str) -> None:
    with pytest.raises(ObjectNotFoundException):
        clerk.get_object_info(bucket, "no-such-key")


# -- copy and move ---------------------------------------------------------


@pytest.mark.parametrize("data", [SMALL, BIG], ids=["single", "multipart"])
def test_copy_keeps_the_etag_and_the_source(
    clerk: ObjectClerk, s3: Any, make_bucket: Callable[[], str], data: bytes
) -> None:
    source, target = make_bucket(), make_bucket()
    clerk.upload_object(data, source, "k")
    clerk.copy_object(source, "k", target, "copy")
    assert stored_bytes(s3, target, "copy") == data
    assert stored_etag(s3, target, "copy") == stored_etag(s3, source, "k")
    assert stored_bytes(s3, source, "k") == data


def test_copy_of_a_foreign_multipart_object_copies_part_for_part(
    clerk: ObjectClerk, s3: Any, bucket: str
) -> None:
    data = os.urandom(2 * 8 * MiB + 1000)
    config = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB)
    s3.upload_fileobj(io.BytesIO(data), bucket, "foreign", Config=config)
    clerk.copy_object(bucket, "foreign", bucket, "copy")
    assert stored_etag(s3, bucket, "copy") == stored_etag(s3, bucket, "foreign")
    assert stored_bytes(s3, bucket, "copy") == data


def test_multipart_copy_keeps_content_type_and_metadata(
    clerk: ObjectClerk, s3: Any, bucket: str
) -> None:
    config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    extra = {"ContentType": "image/fits", "Metadata": {"frame": "7"}}
    s3.upload_fileobj(io.BytesIO(BIG), bucket, "k", Config=config, ExtraArgs=extra)
    clerk.copy_object(bucket, "k", bucket, "copy")
    head = s3.head_object(Bucket=bucket, Key="copy")
    assert (head["ContentType"], head["Metadata"]) == ("image/fits", {"frame": "7"})


def test_copy_of_a_missing_source(clerk: ObjectClerk, bucket: str) -> None:
    with pytest.raises(ObjectNotFoundException):
        clerk.copy_object(bucket, "no-such-key", bucket, "copy")


@pytest.mark.parametrize("operation", ["copy_object", "move_object"])
def test_copy_or_move_onto_itself_is_refused_and_keeps_the_object(
    clerk: ObjectClerk, s3: Any, bucket: str, operation: str
) -> None:
    clerk.upload_object(SMALL, bucket, "k")
    with pytest.raises(ObjectSaveException, match="onto itself"):
        getattr(clerk, operation)(bucket, "k", bucket, "k")
    assert stored_bytes(s3, bucket, "k") == SMALL


@pytest.fixture
def broken_copy(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A copy step that stores other bytes, as a broken gateway might."""

    def copy(client: Any, source: Any, dst_bucket: str, dst_key: str, *_: Any) -> None:
        s3.put_object(Bucket=dst_bucket, Key=dst_key, Body=b"not the source")

    monkeypatch.setattr("object_clerk._transfer.copy", copy)


@pytest.mark.usefixtures("broken_copy")
def test_a_copy_that_does_not_match_is_removed_and_reported(
    clerk: ObjectClerk, s3: Any, bucket: str
) -> None:
    """Caught by the check of what the store holds afterwards."""
    clerk.upload_object(SMALL, bucket, "k")
    with pytest.raises(ObjectVerificationException, match="removed"):
        clerk.copy_object(bucket, "k", bucket, "copy")
    assert stored_keys(s3, bucket) == ["k"]


@pytest.mark.parametrize("verify", [True, False])
@pytest.mark.parametrize("data", [SMALL, BIG], ids=["single", "multipart"])
def test_move_copies_then_deletes_the_source(
    clerk: ObjectClerk,
    s3: Any,
    make_bucket: Callable[[], str],
    data: bytes,
    verify: bool,
) -> None:
    source, target = make_bucket(), make_bucket()
    clerk.upload_object(data, source, "k")
    clerk.move_object(source, "k", target, "moved", verify_checksum=verify)
    assert stored_bytes(s3, target, "moved") == data
    assert stored_keys(s3, source) == []


def test_move_into_a_missing_bucket_keeps_the_source(
    clerk: ObjectClerk, s3: Any, bucket: str
) -> None:
    clerk.upload_object(SMALL, bucket, "k")
    with pytest.raises(ObjectNotFoundException):
        clerk.move_object(bucket, "k", "clerk-no-such-bucket-0", "k")
    assert stored_bytes(s3, bucket, "k") == SMALL


@pytest.mark.usefixtures("broken_copy")
def test_a_move_whose_copy_cannot_be_verified_keeps_the_source(
    clerk: ObjectClerk, s3: Any, bucket: str
) -> None:
    clerk.upload_object(SMALL, bucket, "k")
    with pytest.raises(ObjectVerificationException):
        clerk.move_object(bucket, "k", bucket, "moved")
    assert stored_keys(s3, bucket) == ["k"]
    assert stored_bytes(s3, bucket, "k") == SMALL


# -- delete ------------------------------------------------------------------


def test_delete_removes_the_object(clerk: ObjectClerk, s3: Any, bucket: str) -> None:
    clerk.upload_object(SMALL, bucket, "k")
    clerk.delete_object(bucket, "k")
    assert stored_keys(s3, bucket) == []


def test_deleting_a_missing_key_succeeds(clerk: ObjectClerk, bucket: str) -> None:
    clerk.delete_object(bucket, "never-was")


def test_deleting_in_a_missing_bucket_is_not_found(clerk: ObjectClerk) -> None:
    with pytest.raises(ObjectNotFoundException):
        clerk.delete_object("clerk-no-such-bucket-0", "k")


# -- list --------------------------------------------------------------------


@pytest.fixture
def listed_bucket(s3: Any, bucket: str) -> tuple[str, list[str]]:
    keys = sorted([f"frames/{i:03d}" for i in range(23)] + ["other/a", "other/b"])
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    return bucket, keys


def test_list_returns_every_entry_once_in_key_order(
    clerk: ObjectClerk, listed_bucket: tuple[str, list[str]]
) -> None:
    bucket, keys = listed_bucket
    entries = list(clerk.list_objects(bucket, 4))
    assert [e["Key"] for e in entries] == keys
    assert {"Key", "Size", "ETag", "LastModified"} <= set(entries[0])
    assert entries[0]["Size"] == len(keys[0])


def test_list_fetches_max_keys_per_request_lazily(
    clerk: ObjectClerk, listed_bucket: tuple[str, list[str]]
) -> None:
    bucket, keys = listed_bucket
    faults = inject(clerk)
    listing = clerk.list_objects(bucket, max_keys=10)
    assert faults.sent["ListObjectsV2"] == 0
    first = [next(listing) for _ in range(10)]
    assert faults.sent["ListObjectsV2"] == 1
    rest = list(listing)
    assert [e["Key"] for e in first + rest] == keys
    assert faults.sent["ListObjectsV2"] == 3


def test_list_with_prefix(clerk: ObjectClerk, listed_bucket: tuple[str, list[str]]) -> None:
    bucket, _ = listed_bucket
    assert [e["Key"] for e in clerk.list_objects(bucket, 1, prefix="other/")] == [
        "other/a",
        "other/b",
    ]


def test_list_of_an_empty_bucket(clerk: ObjectClerk, bucket: str) -> None:
    assert list(clerk.list_objects(bucket)) == []


def test_list_of_a_missing_bucket(clerk: ObjectClerk) -> None:
    with pytest.raises(ObjectNotFoundException):
        list(clerk.list_objects("clerk-no-such-bucket-0"))


@pytest.mark.parametrize(
    ("max_keys", "error"), [(0, ObjectClerkConfigurationException), (2.5, TypeError)]
)
def test_list_refuses_bad_max_keys(
    clerk: ObjectClerk, bucket: str, max_keys: Any, error: type[Exception]
) -> None:
    with pytest.raises(error, match="max_keys"):
        clerk.list_objects(bucket, max_keys)


def test_every_failure_is_an_object_clerk_exception(clerk: ObjectClerk) -> None:
    with pytest.raises(ObjectClerkException, match="Bucket"):
        clerk.get_object_info("", "k")


def test_a_stream_that_fails_while_read_is_an_object_clerk_exception(
    clerk: ObjectClerk, bucket: str
) -> None:
    class Broken(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            raise ConnectionResetError(104, "the sender went away")

    with pytest.raises(ObjectClerkException, match="went away"):
        clerk.upload_object(io.BufferedReader(Broken()), bucket, "k")


def test_upload_leaves_the_callers_file_open(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path
) -> None:
    path = tmp_path / "f"
    path.write_bytes(SMALL)
    with path.open("rb") as file:
        clerk.upload_object(file, bucket, "k")
        assert not file.closed


def test_a_closed_file_is_refused(clerk: ObjectClerk, bucket: str, tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"data")
    file = path.open("rb")
    file.close()
    with pytest.raises(ObjectSaveException, match="closed"):
        clerk.upload_object(file, bucket, "k")
