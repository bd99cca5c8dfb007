"""Verification of objects whoever wrote them (issue: foreign layouts,
full-object checksums, unverifiable ETags, verifiable copies, safe moves)."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig

from object_clerk import (
    ObjectClerk,
    ObjectClerkServerInternalException,
    ObjectVerificationException,
)
from object_clerk._checksum import Etag, full_object_checksum
from object_clerk._verify import StoredObject, check_bytes
from tests.faults import inject, once
from tests.support import MiB, client_of, stored_bytes, stored_keys


def upload_with_parts(s3: Any, bucket: str, key: str, data: bytes, part_size: int) -> None:
    config = TransferConfig(multipart_threshold=part_size, multipart_chunksize=part_size)
    s3.upload_fileobj(io.BytesIO(data), bucket, key, Config=config)


def etag_of_stored(s3: Any, bucket: str, key: str) -> Etag:
    return Etag.parse(s3.head_object(Bucket=bucket, Key=key)["ETag"])


# -- pure checks -----------------------------------------------------------------


def stored(data: bytes, etag: str, **head: Any) -> StoredObject:
    return StoredObject.from_head("b", "k", {"ContentLength": len(data), "ETag": etag, **head})


def test_check_bytes_accepts_a_matching_md5() -> None:
    check_bytes(lambda: [b"abc"], stored(b"abc", hashlib.md5(b"abc").hexdigest()))


def test_check_bytes_refuses_other_bytes() -> None:
    with pytest.raises(ObjectVerificationException, match="do not match"):
        check_bytes(lambda: [b"abd"], stored(b"abc", hashlib.md5(b"abc").hexdigest()))


@pytest.mark.parametrize(
    ("etag", "head"),
    [
        ("0123456789abcdef0123456789abcdef0123", {}),
        ("", {}),
        ("900150983cd24fb0d6963f7d28e17f72", {"ServerSideEncryption": "aws:kms"}),
        ("900150983cd24fb0d6963f7d28e17f72", {"SSECustomerAlgorithm": "AES256"}),
    ],
)
def test_an_etag_that_is_not_an_md5_cannot_be_verified(etag: str, head: dict[str, str]) -> None:
    with pytest.raises(ObjectVerificationException, match=r"cannot be verified.*verify_checksum"):
        check_bytes(lambda: [b"abc"], stored(b"abc", etag, **head))


def test_a_full_object_crc32_verifies_an_object_whose_etag_cannot() -> None:
    crc = full_object_checksum("CRC32", [b"abc"])
    check_bytes(lambda: [b"abc"], stored(b"abc", "not-an-md5", ChecksumCRC32=crc))
    with pytest.raises(ObjectVerificationException, match="CRC32"):
        check_bytes(lambda: [b"abd"], stored(b"abc", "not-an-md5", ChecksumCRC32=crc))


def test_a_composite_checksum_is_not_taken_for_a_full_object_one() -> None:
    head = {"ChecksumCRC32": "AAAAAA==", "ChecksumType": "COMPOSITE"}
    data = os.urandom(100)
    etag = hashlib.md5(hashlib.md5(data).digest()).hexdigest() + "-1"
    check_bytes(lambda: [data], stored(data, etag, **head))


# -- objects written by other tools ------------------------------------------------


@pytest.mark.parametrize(
    ("part_size", "size"),
    [
        (5 * MiB, 11 * MiB + 3),  # S3's minimum part size, uneven last part
        (8 * MiB, 17 * MiB),  # aws-cli and boto3
        (15 * MiB, 31 * MiB),  # s3cmd
        (16 * MiB, 33 * MiB),  # minio clients
        (6 * MiB, 13 * MiB),  # another object-clerk with a 6 MiB threshold
    ],
)
def test_get_verifies_foreign_multipart_layouts(
    clerk: ObjectClerk, s3: Any, bucket: str, part_size: int, size: int
) -> None:
    data = os.urandom(size)
    upload_with_parts(s3, bucket, "foreign", data, part_size)
    assert etag_of_stored(s3, bucket, "foreign").parts is not None
    assert clerk.get_object(bucket, "foreign") == data


def test_get_verifies_a_single_part_object_above_the_threshold(
    clerk: ObjectClerk, s3: Any, bucket: str
) -> None:
    data = os.urandom(12 * MiB)
    s3.put_object(Bucket=bucket, Key="k", Body=data)
    assert clerk.get_object(bucket, "k") == data


def test_get_refuses_an_etag_that_is_not_an_md5(clerk: ObjectClerk, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"data")
    faults = inject(clerk)
    faults.rewrite("HeadObject", "ETag", '"6b1f3c8e9d2a4f5b7c0e1d2a3b4c5d6e7f8a9b0c"')
    with pytest.raises(ObjectVerificationException, match=r"cannot be verified.*verify_checksum"):
        clerk.get_object(bucket, "k")
    assert faults.sent["GetObject"] == 0, "refused before any byte is fetched"


def test_an_object_replaced_while_it_is_read_is_read_again(
    clerk: ObjectClerk, s3: Any, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"old")
    replace = once(lambda: s3.put_object(Bucket=bucket, Key="k", Body=b"new bytes"))
    client_of(clerk).raw.meta.events.register("before-call.s3.GetObject", replace)
    assert clerk.get_object(bucket, "k") == b"new bytes"


@pytest.mark.usefixtures("moto_only")  # the test gateway has no KMS
def test_get_refuses_an_sse_kms_object_as_unverifiable(
    clerk: ObjectClerk, s3: Any, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"data", ServerSideEncryption="aws:kms")
    with pytest.raises(ObjectVerificationException, match="SSE-KMS"):
        clerk.get_object(bucket, "k")
    assert clerk.get_object(bucket, "k", verify_checksum=False) == b"data"


def test_get_checks_a_full_object_crc32_too(clerk: ObjectClerk, s3: Any, bucket: str) -> None:
    """The ETag matches, the CRC32 the store reports does not: refused."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"data")
    faults = inject(clerk)
    faults.rewrite("HeadObject", "ChecksumCRC32", full_object_checksum("CRC32", [b"other"]))
    with pytest.raises(ObjectVerificationException, match="CRC32"):
        clerk.get_object(bucket, "k")
    assert faults.sent["GetObject"] == 3, "fetched again before giving up"


# -- copies that stay verifiable -----------------------------------------------------


@pytest.mark.parametrize(("part_size", "size"), [(8 * MiB, 17 * MiB), (16 * MiB, 20 * MiB)])
def test_copy_reproduces_a_foreign_layout(
    clerk: ObjectClerk, s3: Any, bucket: str, part_size: int, size: int
) -> None:
    data = os.urandom(size)
    upload_with_parts(s3, bucket, "src", data, part_size)
    faults = inject(clerk)
    clerk.copy_object(bucket, "src", bucket, "dst")
    assert etag_of_stored(s3, bucket, "dst") == etag_of_stored(s3, bucket, "src")
    assert stored_bytes(s3, bucket, "dst") == data
    assert faults.sent["GetObject"] == 0, "no bytes travel through the client"


@pytest.mark.slow
def test_copy_finds_the_layout_where_the_store_ignores_part_number(
    clerk: ObjectClerk, s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As on Ceph RGW (HEAD ignores PartNumber): 20 MiB in 2 parts may be
    15 MiB or 16 MiB parts; the copy tries both and keeps the one whose ETag
    equals the source's."""
    monkeypatch.setattr("object_clerk._verify.first_part_size", lambda s3, stored: None)
    data = os.urandom(20 * MiB)
    upload_with_parts(s3, bucket, "src", data, 16 * MiB)
    clerk.copy_object(bucket, "src", bucket, "dst")
    assert etag_of_stored(s3, bucket, "dst") == etag_of_stored(s3, bucket, "src")


def test_first_part_size_is_read_from_the_store_where_supported(
    clerk: ObjectClerk, s3: Any, bucket: str, endpoint: Any
) -> None:
    from object_clerk._verify import first_part_size, head

    upload_with_parts(s3, bucket, "src", os.urandom(11 * MiB), 8 * MiB)
    found = first_part_size(client_of(clerk), head(client_of(clerk), bucket, "src"))
    # moto answers PartNumber; Ceph RGW ignores it, and then nothing is guessed
    assert found in (8 * MiB, None)
    if not endpoint.live:
        assert found == 8 * MiB


# -- moves that never lose data -------------------------------------------------------


def test_a_move_whose_source_cannot_be_deleted_keeps_both(
    clerk: ObjectClerk, s3: Any, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"data")
    inject(clerk).fail("DeleteObject", "internal_error", times=1000)
    with pytest.raises(ObjectClerkServerInternalException):
        clerk.move_object(bucket, "src", bucket, "dst")
    assert stored_bytes(s3, bucket, "dst") == b"data", "the verified copy stays"
    assert stored_bytes(s3, bucket, "src") == b"data"


@pytest.mark.parametrize("operation", ["CopyObject", "HeadObject"])
def test_a_move_whose_copy_fails_keeps_the_source(
    clerk: ObjectClerk, s3: Any, bucket: str, operation: str
) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"data")
    inject(clerk).fail(operation, "slowdown", times=1000)
    with pytest.raises(ObjectClerkServerInternalException):
        clerk.move_object(bucket, "src", bucket, "dst")
    assert stored_bytes(s3, bucket, "src") == b"data"


def test_an_unverifiable_move_keeps_the_source(clerk: ObjectClerk, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"data")
    inject(clerk).rewrite("HeadObject", "ETag", '"not-an-md5"')
    with pytest.raises(ObjectVerificationException, match="cannot be copied verifiably"):
        clerk.move_object(bucket, "src", bucket, "dst")
    assert stored_keys(s3, bucket) == ["src"]


def test_a_clerk_with_another_threshold_reads_what_this_one_wrote(
    make_clerk: Callable[..., ObjectClerk], s3: Any, bucket: str
) -> None:
    data = os.urandom(14 * MiB)
    make_clerk(env={"MULTIPART_THRESHOLD": str(6 * MiB)}).upload_object(data, bucket, "k")
    other = make_clerk(env={"MULTIPART_THRESHOLD": str(500 * MiB)})
    assert other.get_object(bucket, "k") == data
    other.copy_object(bucket, "k", bucket, "copy")
    assert etag_of_stored(s3, bucket, "copy") == etag_of_stored(s3, bucket, "k")


def test_a_checksum_this_machine_cannot_compute_verifies_nothing() -> None:
    """An SSE-KMS object whose only checksum is CRC32C: without awscrt to
    compute CRC32C it cannot be verified, and is not passed as verified."""
    from object_clerk._checksum import CHECKSUM_ALGORITHMS

    head = {"ChecksumCRC32C": "yZRlqg==", "ServerSideEncryption": "aws:kms"}
    target = stored(b"abc", "900150983cd24fb0d6963f7d28e17f72", **head)
    if "CRC32C" in CHECKSUM_ALGORITHMS:
        with pytest.raises(ObjectVerificationException, match="CRC32C"):
            check_bytes(lambda: [b"abd"], target)
    else:
        with pytest.raises(ObjectVerificationException, match="cannot be verified"):
            check_bytes(lambda: [b"abd"], target)


def test_a_copy_whose_destination_etag_is_not_an_md5_is_kept_and_reported(
    clerk: ObjectClerk, s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As in a bucket that encrypts with KMS: the copy cannot be checked, so
    it is reported, neither deleted as damaged nor copied again."""
    from object_clerk import _verify

    real_head = _verify.head

    def kms_destination(s3_client: Any, bucket_name: str, key: str) -> StoredObject:
        found = real_head(s3_client, bucket_name, key)
        if key != "dst":
            return found
        return StoredObject.from_head(bucket_name, key, {**found.head, "ETag": '"kms-etag"'})

    monkeypatch.setattr(_verify, "head", kms_destination)
    s3.put_object(Bucket=bucket, Key="src", Body=b"data")
    faults = inject(clerk)
    with pytest.raises(ObjectVerificationException, match="cannot be verified"):
        clerk.move_object(bucket, "src", bucket, "dst")
    assert sorted(stored_keys(s3, bucket)) == ["dst", "src"]
    assert faults.sent["CopyObject"] == 1


def test_a_source_replaced_during_a_copy_is_copied_again(
    clerk: ObjectClerk, s3: Any, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"old")
    replace = once(lambda: s3.put_object(Bucket=bucket, Key="src", Body=b"new bytes"))
    client_of(clerk).raw.meta.events.register("before-call.s3.CopyObject", replace)
    clerk.copy_object(bucket, "src", bucket, "dst")
    assert stored_bytes(s3, bucket, "dst") == b"new bytes"
