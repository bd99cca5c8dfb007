"""What the clerk never destroys: an existing object under overwrite=False,
a source rewritten during a move, another writer's object under a key whose
own write is being removed as damaged; and full-object checksums that are
kept, checked, and verify objects whose part layout cannot be found.

Each test runs on the embedded moto server and on a live gateway; where the
store lacks a condition, the test of the guarantee is skipped with the
reason, and the clerk's refusal is tested instead."""

from __future__ import annotations

import base64
import hashlib
import io
import itertools
import os
from collections.abc import Callable
from typing import Any

import pytest
from awscrt import checksums  # type: ignore[import-untyped]
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ConnectionClosedError

from object_clerk import (
    ObjectClerk,
    ObjectClerkConfigurationException,
    ObjectExistsException,
    ObjectSaveException,
    ObjectSourceChangedException,
    ObjectVerificationException,
)
from object_clerk._checksum import Etag, multipart_etag
from object_clerk._conditions import PROBE_PREFIX
from object_clerk._layout import upload_part_size
from object_clerk._settings import settings_from_env
from tests.faults import inject, once
from tests.support import MiB, client_of, engine_of, stored_bytes, stored_keys

SMALL = b"the object that was there first"


def honours(clerk: ObjectClerk, bucket: str, feature: str) -> bool:
    """Probe the store now, so that the probe's own requests are done before
    a test hooks the requests of the operation it watches."""
    return engine_of(clerk).conditions.honours(client_of(clerk), bucket, feature)  # type: ignore[arg-type]


def uploads_left(s3: Any, bucket: str) -> list[str]:
    return [u["Key"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


def on_call(clerk: ObjectClerk, operation: str, action: Callable[[], object]) -> None:
    """Run action (once) just before the clerk's next request of operation."""
    client_of(clerk).raw.meta.events.register(f"before-call.s3.{operation}", once(action))


def on_key(clerk: ObjectClerk, operation: str, key: str, action: Callable[[], object]) -> None:
    """Run action (once) just before the clerk's first request of operation on key."""
    done: list[bool] = []

    def handler(params: dict[str, Any], **kwargs: Any) -> None:
        if not done and params.get("Key") == key:
            done.append(True)
            action()

    client_of(clerk).raw.meta.events.register(f"provide-client-params.s3.{operation}", handler)


# -- overwrite=False -----------------------------------------------------------------


@pytest.mark.parametrize(("size", "feature"), [(1024, "put"), (11 * MiB, "complete")])
def test_an_existing_object_is_not_replaced(
    clerk: ObjectClerk, s3: Any, bucket: str, size: int, feature: str
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=SMALL)
    expected: type[Exception] = ObjectExistsException
    if not honours(clerk, bucket, feature):
        expected = ObjectSaveException  # refused: the store would ignore If-None-Match
    faults = inject(clerk)
    with pytest.raises(expected) as raised:
        clerk.upload_object(os.urandom(size), bucket, "k", overwrite=False)
    assert f"{bucket}/k" in str(raised.value)
    assert stored_bytes(s3, bucket, "k") == SMALL
    assert stored_keys(s3, bucket) == ["k"]
    assert uploads_left(s3, bucket) == []
    assert faults.sent["PutObject"] + faults.sent["UploadPart"] == 0, "nothing was sent"


@pytest.mark.parametrize(("size", "operation"), [(1024, "PutObject"), (11 * MiB, "UploadPart")])
def test_an_object_written_meanwhile_is_not_replaced(
    clerk: ObjectClerk, s3: Any, bucket: str, size: int, operation: str
) -> None:
    """Another writer puts the key after the clerk looked (a HEAD found
    nothing) and before its write lands: the conditional write is refused
    with 412, taken for "exists" (not retried as a mismatch), the other
    object stays, and the multipart upload is aborted."""
    feature = "put" if operation == "PutObject" else "complete"
    if not honours(clerk, bucket, feature):
        pytest.skip(f"the store ignores If-None-Match on {feature}; refusal tested above")
    on_call(clerk, operation, lambda: s3.put_object(Bucket=bucket, Key="k", Body=SMALL))
    faults = inject(clerk)
    with pytest.raises(ObjectExistsException, match=f"{bucket}/k"):
        clerk.upload_object(os.urandom(size), bucket, "k", overwrite=False)
    assert stored_bytes(s3, bucket, "k") == SMALL
    assert uploads_left(s3, bucket) == [], "no parts left behind"
    assert faults.sent["PutObject"] + faults.sent["CompleteMultipartUpload"] == 1, "not retried"


@pytest.mark.slow
def test_the_same_bytes_written_meanwhile_by_another_are_not_taken_for_this_upload(
    clerk: ObjectClerk, s3: Any, bucket: str
) -> None:
    """Another writer stores the very same bytes in the same layout before
    the completion: its 412 on the first attempt is theirs (nothing of this
    upload was lost), so the key exists, and this upload is aborted."""
    if not honours(clerk, bucket, "complete"):
        pytest.skip("the store ignores If-None-Match on CompleteMultipartUpload")
    data = os.urandom(11 * MiB)
    config = engine_of(clerk).settings.upload_config
    part_size = upload_part_size(len(data), config.multipart_threshold, config.multipart_chunksize)
    same_layout = TransferConfig(multipart_threshold=part_size, multipart_chunksize=part_size)
    on_call(
        clerk,
        "CompleteMultipartUpload",
        lambda: s3.upload_fileobj(io.BytesIO(data), bucket, "k", Config=same_layout),
    )
    with pytest.raises(ObjectExistsException, match=f"{bucket}/k"):
        clerk.upload_object(data, bucket, "k", overwrite=False)
    assert stored_bytes(s3, bucket, "k") == data
    assert uploads_left(s3, bucket) == [], "no parts left behind"


@pytest.mark.parametrize(
    ("size", "operation"), [(1024, "PutObject"), (11 * MiB, "CompleteMultipartUpload")]
)
def test_a_412_to_a_write_whose_answer_was_lost_is_that_write(
    clerk: ObjectClerk, s3: Any, bucket: str, size: int, operation: str
) -> None:
    """The store made the object but its answer was lost; the repeat is
    refused with 412 by the object the first attempt made. That is this
    upload, done, not another writer's object."""
    feature = "put" if operation == "PutObject" else "complete"
    if not honours(clerk, bucket, feature):
        pytest.skip(f"the store ignores If-None-Match on {feature}")

    def lose_answer(**kwargs: Any) -> None:
        raise ConnectionClosedError(endpoint_url=clerk.endpoint_url)

    client_of(clerk).raw.meta.events.register(f"after-call.s3.{operation}", once(lose_answer))
    data = os.urandom(size)
    clerk.upload_object(data, bucket, "k", overwrite=False)
    assert stored_bytes(s3, bucket, "k") == data
    assert uploads_left(s3, bucket) == []


@pytest.mark.parametrize("size", [1024, 11 * MiB])
def test_overwrite_false_writes_a_new_key(
    clerk: ObjectClerk, s3: Any, bucket: str, size: int
) -> None:
    feature = "put" if size < 5 * MiB else "complete"
    if not honours(clerk, bucket, feature):
        pytest.skip(f"the store ignores If-None-Match on {feature}")
    data = os.urandom(size)
    clerk.upload_object(data, bucket, "k", overwrite=False)
    assert stored_bytes(s3, bucket, "k") == data
    assert stored_keys(s3, bucket) == ["k"], "the probe's key is removed"


def test_a_copy_does_not_replace_an_existing_destination(
    clerk: ObjectClerk, s3: Any, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"source")
    s3.put_object(Bucket=bucket, Key="dst", Body=SMALL)
    expected = ObjectExistsException if honours(clerk, bucket, "complete") else ObjectSaveException
    with pytest.raises(expected, match=f"{bucket}/dst"):
        clerk.copy_object(bucket, "src", bucket, "dst", overwrite=False)
    with pytest.raises(expected, match=f"{bucket}/dst"):
        clerk.move_object(bucket, "src", bucket, "dst", overwrite=False)
    assert stored_bytes(s3, bucket, "dst") == SMALL
    assert stored_bytes(s3, bucket, "src") == b"source", "a refused move keeps its source"
    assert uploads_left(s3, bucket) == []


def test_a_copy_onto_a_destination_written_meanwhile_leaves_it(
    clerk: ObjectClerk, s3: Any, bucket: str
) -> None:
    if not honours(clerk, bucket, "complete"):
        pytest.skip("the store ignores If-None-Match on CompleteMultipartUpload")
    s3.put_object(Bucket=bucket, Key="src", Body=b"source")
    on_call(clerk, "UploadPartCopy", lambda: s3.put_object(Bucket=bucket, Key="dst", Body=SMALL))
    with pytest.raises(ObjectExistsException, match=f"{bucket}/dst"):
        clerk.copy_object(bucket, "src", bucket, "dst", overwrite=False)
    assert stored_bytes(s3, bucket, "dst") == SMALL
    assert uploads_left(s3, bucket) == []


def test_a_conditional_copy_of_a_single_part_object_is_verified(
    clerk: ObjectClerk, s3: Any, bucket: str
) -> None:
    if not honours(clerk, bucket, "complete"):
        pytest.skip("the store ignores If-None-Match on CompleteMultipartUpload")
    s3.put_object(Bucket=bucket, Key="src", Body=b"source")
    clerk.move_object(bucket, "src", bucket, "dst", overwrite=False)
    assert stored_keys(s3, bucket) == ["dst"]
    assert stored_bytes(s3, bucket, "dst") == b"source"
    etag = Etag.parse(s3.head_object(Bucket=bucket, Key="dst")["ETag"])
    assert etag == multipart_etag([hashlib.md5(b"source").digest()]), "one part, conditional"


@pytest.mark.slow
def test_a_conditional_copy_tries_the_guessed_layouts_in_turn(
    clerk: ObjectClerk, s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the store hides part sizes, 20 MiB in 2 parts may be 15 or 16
    MiB parts: the first guess's copy is removed so that the second one's
    conditional completion finds the key free, and is not taken for
    another writer's object."""
    if not honours(clerk, bucket, "complete"):
        pytest.skip("the store ignores If-None-Match on CompleteMultipartUpload")
    monkeypatch.setattr("object_clerk._verify.first_part_size", lambda s3, stored: None)
    config = TransferConfig(multipart_threshold=16 * MiB, multipart_chunksize=16 * MiB)
    s3.upload_fileobj(io.BytesIO(os.urandom(20 * MiB)), bucket, "src", Config=config)
    clerk.copy_object(bucket, "src", bucket, "dst", overwrite=False)
    source, copy = (s3.head_object(Bucket=bucket, Key=k)["ETag"] for k in ("src", "dst"))
    assert copy == source
    assert uploads_left(s3, bucket) == []


# -- moves ------------------------------------------------------------------------------


def test_a_source_rewritten_before_its_delete_survives_the_move(
    clerk: ObjectClerk, s3: Any, bucket: str
) -> None:
    """The rewrite lands between the copy's verification and the source's
    DeleteObject: only a delete conditional on the copied ETag keeps it."""
    if not honours(clerk, bucket, "delete"):
        pytest.skip("the store ignores If-Match on DeleteObject (see README: unguarded)")
    s3.put_object(Bucket=bucket, Key="src", Body=b"old")
    on_call(clerk, "DeleteObject", lambda: s3.put_object(Bucket=bucket, Key="src", Body=b"new"))
    with pytest.raises(ObjectSourceChangedException, match=f"{bucket}/src.*{bucket}/dst"):
        clerk.move_object(bucket, "src", bucket, "dst")
    assert stored_bytes(s3, bucket, "src") == b"new"
    assert stored_bytes(s3, bucket, "dst") == b"old", "the verified copy is kept"


def test_a_source_rewritten_while_the_copy_is_verified_survives_the_move(
    clerk: ObjectClerk, s3: Any, bucket: str
) -> None:
    """The rewrite lands while the copy is checked: on every store, the
    delete conditional (or, where the store ignores If-Match, the HEAD
    just before it) keeps the new source."""
    s3.put_object(Bucket=bucket, Key="src", Body=b"old")
    honours(clerk, bucket, "delete")
    on_key(clerk, "HeadObject", "dst", lambda: s3.put_object(Bucket=bucket, Key="src", Body=b"new"))
    with pytest.raises(ObjectSourceChangedException, match=f"{bucket}/src"):
        clerk.move_object(bucket, "src", bucket, "dst")
    assert stored_bytes(s3, bucket, "src") == b"new"
    assert stored_bytes(s3, bucket, "dst") == b"old"


def test_an_unchanged_source_is_moved(clerk: ObjectClerk, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"data")
    clerk.move_object(bucket, "src", bucket, "dst")
    assert stored_keys(s3, bucket) == ["dst"]


# -- removing a damaged write ---------------------------------------------------------------


@pytest.fixture
def damaging(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every upload looks damaged: the ETag the clerk expects is another."""
    from object_clerk import _transfer

    monkeypatch.setattr(_transfer._DigestingClient, "etag", lambda self: Etag("0" * 32, None))


@pytest.mark.usefixtures("damaging")
def test_a_damaged_write_is_removed(clerk: ObjectClerk, s3: Any, bucket: str) -> None:
    with pytest.raises(ObjectVerificationException, match="damaged object was removed"):
        clerk.upload_object(b"data", bucket, "k")
    assert stored_keys(s3, bucket) == []


@pytest.mark.usefixtures("damaging")
def test_another_writers_object_survives_the_removal_of_a_damaged_write(
    clerk: ObjectClerk, s3: Any, bucket: str
) -> None:
    """Another writer's object lands after the clerk's write and before the
    HEAD that finds it damaged: the HEAD shows another ETag than the one
    the store answered the write with, so nothing is deleted."""
    on_key(clerk, "HeadObject", "k", lambda: s3.put_object(Bucket=bucket, Key="k", Body=SMALL))
    faults = inject(clerk)
    with pytest.raises(ObjectVerificationException, match="another writer"):
        clerk.upload_object(b"data", bucket, "k")
    assert stored_bytes(s3, bucket, "k") == SMALL
    assert faults.sent["DeleteObject"] == 0


@pytest.mark.usefixtures("damaging")
def test_another_writers_object_survives_a_conditional_removal(
    clerk: ObjectClerk, s3: Any, bucket: str
) -> None:
    """It lands between the HEAD and the DeleteObject: the delete is
    conditional on the damaged object's ETag, and refused."""
    if not honours(clerk, bucket, "delete"):
        pytest.skip("the store ignores If-Match on DeleteObject (see README: unguarded)")
    on_call(clerk, "DeleteObject", lambda: s3.put_object(Bucket=bucket, Key="k", Body=SMALL))
    with pytest.raises(ObjectVerificationException, match="another writer"):
        clerk.upload_object(b"data", bucket, "k")
    assert stored_bytes(s3, bucket, "k") == SMALL


# -- full-object checksums ------------------------------------------------------------------


def crc64nvme(data: bytes) -> str:
    return base64.b64encode(checksums.crc64nvme(data).to_bytes(8, "big")).decode()


def test_an_aws_cli_style_crc64nvme_object_is_verified_without_its_layout(
    clerk: ObjectClerk, s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written by plain boto3 in parts of an odd size, as aws-cli writes
    with its FULL_OBJECT CRC64NVME; the store does not tell the part size
    (as Ceph RGW before 19): no guessed layout reproduces the ETag, and the
    CRC64NVME verifies the bytes instead. Damaged bytes are still refused."""
    data, part_size = os.urandom(13 * MiB + 17), 5 * MiB + 12345
    upload = s3.create_multipart_upload(
        Bucket=bucket, Key="k", ChecksumAlgorithm="CRC64NVME", ChecksumType="FULL_OBJECT"
    )
    parts = []
    for number, offset in enumerate(range(0, len(data), part_size), 1):
        body = data[offset : offset + part_size]
        answer = s3.upload_part(
            Bucket=bucket,
            Key="k",
            UploadId=upload["UploadId"],
            PartNumber=number,
            Body=body,
            ChecksumAlgorithm="CRC64NVME",
            ChecksumCRC64NVME=crc64nvme(body),
        )
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
        parts[-1]["ChecksumCRC64NVME"] = crc64nvme(body)
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="k",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": parts},
        ChecksumType="FULL_OBJECT",
        ChecksumCRC64NVME=crc64nvme(data),
    )
    head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    if head.get("ChecksumCRC64NVME") != crc64nvme(data):
        pytest.skip("the store keeps no full-object CRC64NVME")
    monkeypatch.setattr("object_clerk._verify.first_part_size", lambda s3, stored: None)
    assert clerk.get_object(bucket, "k") == data
    inject(clerk).fail("GetObject", "corrupt_body", times=1000)
    with pytest.raises(ObjectVerificationException, match="CRC64NVME"):
        clerk.get_object(bucket, "k")


@pytest.mark.parametrize("algorithm", ["CRC64NVME", "CRC32C", "CRC32"])
@pytest.mark.parametrize("size", [1024, 11 * MiB + 5])
def test_uploads_store_the_full_object_checksum_asked_for(
    make_clerk: Callable[..., ObjectClerk],
    s3: Any,
    bucket: str,
    endpoint: Any,
    algorithm: str,
    size: int,
) -> None:
    from object_clerk._checksum import full_object_checksum

    if algorithm == "CRC32C" and size > 5 * MiB and not endpoint.live:
        try:
            import crc32c  # noqa: F401
        except ImportError:
            pytest.skip("moto without the crc32c package stores a CRC32 as the CRC32C of parts")
    clerk = make_clerk(checksum_algorithm=algorithm)
    data = os.urandom(size)
    try:
        clerk.upload_object(io.BytesIO(data), bucket, "k")
    except ObjectSaveException as refused:
        assert f"did not keep its full-object {algorithm}" in str(refused)
        pytest.skip(f"the store keeps no full-object {algorithm}; the upload says so")
    head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == full_object_checksum(algorithm, [data])
    assert head.get("ChecksumType", "FULL_OBJECT") == "FULL_OBJECT"
    assert clerk.get_object(bucket, "k") == data


def test_a_checksum_the_store_drops_is_reported(
    make_clerk: Callable[..., ObjectClerk], s3: Any, bucket: str
) -> None:
    """As on Ceph RGW 16: the HEAD after the upload shows no checksum."""
    clerk = make_clerk(checksum_algorithm="CRC64NVME")
    faults = inject(clerk)
    faults.rewrite("HeadObject", "ChecksumCRC64NVME", "")
    with pytest.raises(ObjectSaveException, match="did not keep its full-object CRC64NVME"):
        clerk.upload_object(b"data", bucket, "k")


def test_the_checksum_setting_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    assert settings_from_env({}).checksum_algorithm is None
    env = {"S3_CHECKSUM_ALGORITHM": "crc64nvme"}
    assert settings_from_env(env).checksum_algorithm == "CRC64NVME"
    assert settings_from_env(env, checksum_algorithm="CRC32").checksum_algorithm == "CRC32"
    with pytest.raises(ObjectClerkConfigurationException, match="S3_CHECKSUM_ALGORITHM"):
        settings_from_env({"S3_CHECKSUM_ALGORITHM": "SHA256"})
    with pytest.raises(ObjectClerkConfigurationException, match="checksum_algorithm"):
        settings_from_env({}, checksum_algorithm="MD5")
    with pytest.raises(TypeError):
        settings_from_env({}, checksum_algorithm=32)  # type: ignore[arg-type]


def test_no_probe_key_is_left(clerk: ObjectClerk, s3: Any, bucket: str) -> None:
    for feature in ("put", "complete", "delete"):
        honours(clerk, bucket, feature)
    assert not [k for k in stored_keys(s3, bucket) if k.startswith(PROBE_PREFIX)]
    assert uploads_left(s3, bucket) == []


@pytest.mark.parametrize("algorithm", ["CRC64NVME", "CRC32C", "CRC32"])
@pytest.mark.parametrize("awscrt_combines", [True, False])
def test_the_whole_objects_crc_follows_from_its_parts(
    monkeypatch: pytest.MonkeyPatch, algorithm: str, awscrt_combines: bool
) -> None:
    """As a multipart upload sends it: from the parts' CRCs, the bytes not
    read again; also with an awscrt too old to combine CRCs itself."""
    from object_clerk import _checksum

    if not awscrt_combines:
        for name in ("combine_crc32", "combine_crc32c", "combine_crc64nvme"):
            monkeypatch.delattr(_checksum.checksums, name, raising=False)
    data = os.urandom(200_003)
    cuts = [0, 1, 65_536, 65_537, 150_000, len(data)]
    parts = [
        _checksum.PartCrc(_checksum.crc_of(algorithm, data[start:end]), end - start)
        for start, end in itertools.pairwise(cuts)
    ]
    whole = _checksum.crc_of(algorithm, data)
    assert _checksum.combined_crc(algorithm, parts) == whole
    assert _checksum.combined_crc(algorithm, parts[:1]) == parts[0].value
    assert _checksum.encoded(algorithm, whole) == _checksum.full_object_checksum(algorithm, [data])
