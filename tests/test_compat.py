"""Code written for the published releases (0.0.18, 1.1.0) runs unchanged:
their call forms, constructor keywords and upload headers; and copies that
are the same object elsewhere, headers included."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig

from object_clerk import (
    ObjectClerk,
    ObjectClerkConfigurationException,
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
    stored_bytes,
    stored_keys,
)

SMALL = b"frame 7 of the observing run\n" * 50
BIG = os.urandom(2 * TEST_THRESHOLD + 4321)  # three parts
PIPELINE_METADATA = {"groupname": "DATASET", "groupid": "4711", "objecttype": "FILE"}
# A storage class moto accepts and the CI's Ceph gateways are configured with.
STORAGE_CLASS = "STANDARD_IA"


def as_source(kind: str, data: bytes, tmp_path: Path) -> Any:
    if kind == "bytes":
        return data
    path = tmp_path / "frame.fits"
    path.write_bytes(data)
    return str(path) if kind == "path" else path.open("rb")


# -- upload_object(data, bucket, key, verify_checksum, content_type, metadata, storage_class)


@pytest.mark.parametrize("data", [SMALL, BIG], ids=["single-part", "multipart"])
@pytest.mark.parametrize("kind", ["bytes", "path", "file"])
def test_upload_in_the_published_positional_order_stores_every_header(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path, kind: str, data: bytes
) -> None:
    source = as_source(kind, data, tmp_path)
    clerk.upload_object(source, bucket, "k", True, "image/fits", PIPELINE_METADATA, STORAGE_CLASS)
    head = s3.head_object(Bucket=bucket, Key="k")
    assert head["ContentType"] == "image/fits"
    assert head["Metadata"] == PIPELINE_METADATA
    assert head.get("StorageClass") == STORAGE_CLASS
    assert stored_bytes(s3, bucket, "k") == data


def test_upload_defaults_to_octet_stream_and_no_metadata(
    clerk: ObjectClerk, s3: Any, bucket: str
) -> None:
    clerk.upload_object(SMALL, bucket, "k")
    head = s3.head_object(Bucket=bucket, Key="k")
    assert (head["ContentType"], head["Metadata"]) == ("application/octet-stream", {})


def test_the_published_keyword_names_are_accepted(clerk: ObjectClerk, s3: Any, bucket: str) -> None:
    clerk.upload_object(
        object_data=SMALL,
        bucket=bucket,
        object_key="a",
        verify_checksum=True,
        content_type="text/plain",
        metadata={"k": "v"},
    )
    assert clerk.get_object(bucket=bucket, object_key="a", verify_checksum=True) == SMALL
    assert clerk.get_object_info(bucket=bucket, object_key="a")["content-type"] == "text/plain"
    clerk.copy_object(
        source_bucket=bucket,
        source_object_key="a",
        destination_bucket=bucket,
        destination_object_key="b",
        verify_checksum=True,
    )
    clerk.move_object(
        source_bucket=bucket,
        source_object_key="b",
        destination_bucket=bucket,
        destination_object_key="c",
    )
    clerk.delete_object(bucket=bucket, object_key="a")
    assert stored_keys(s3, bucket) == ["c"]
    assert stored_bytes(s3, bucket, "c") == SMALL


@pytest.mark.parametrize(
    ("metadata", "named"),
    [
        ({"größe": "1"}, "größe"),
        ({"frame id": "1"}, "frame id"),
        ({"instrument": "Ångström"}, "instrument"),
        ({"note": "two\nlines"}, "note"),
        ({"a": "x" * 1000, "b": "y" * 1000, "c": "z" * 100}, "'c'"),
    ],
)
def test_metadata_s3_cannot_carry_is_refused_before_anything_is_sent(
    make_clerk: Callable[..., ObjectClerk], metadata: dict[str, str], named: str
) -> None:
    # Nothing listens on port 9: any request would be a connection error.
    unreachable = make_clerk(host="127.0.0.1", port=9, use_ssl=False, retry_tries=1)
    with pytest.raises(ObjectSaveException, match=named):
        unreachable.upload_object(BIG, "bucket", "k", metadata=metadata)


@pytest.mark.parametrize(
    "arguments",
    [
        {"metadata": [("a", "b")]},
        {"metadata": {"a": 1}},
        {"content_type": None},
        {"storage_class": 3},
    ],
)
def test_wrong_header_types_are_type_errors(clerk: ObjectClerk, arguments: Any) -> None:
    with pytest.raises(TypeError):
        clerk.upload_object(SMALL, "bucket", "k", **arguments)


def test_metadata_of_exactly_two_kib_is_stored(clerk: ObjectClerk, s3: Any, bucket: str) -> None:
    metadata = {"a": "x" * 1023, "b": "y" * 1023}  # 2,048 bytes of keys and values
    clerk.upload_object(SMALL, bucket, "k", metadata=metadata)
    assert s3.head_object(Bucket=bucket, Key="k")["Metadata"] == metadata


# -- the 1.1.0 constructor keywords ------------------------------------------------------


def test_the_1_1_0_positional_constructor_works(
    endpoint: Endpoint, s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MULTIPART_THRESHOLD", str(TEST_THRESHOLD))
    clerk = ObjectClerk(
        endpoint.host,
        endpoint.port,
        endpoint.access_key,
        endpoint.secret_key,
        0,
        1,
        0,
        0,
        3,
        endpoint.use_ssl,
        2,
        {"read_timeout": 9},
        {"max_concurrency": 2},
        verify=os.environ.get("CA_BUNDLE") or None,
    )
    clerk.upload_object(BIG, bucket, "k")
    assert clerk.get_object(bucket, "k") == BIG
    assert client_of(clerk).raw.meta.config.read_timeout == 9


def test_client_config_is_used_instead_of_the_variable_on_the_same_defaults(
    make_clerk: Callable[..., ObjectClerk],
) -> None:
    env = {"S3_CLIENT_CONFIG": '{"read_timeout": 3, "connect_timeout": 4}'}
    clerk = make_clerk(env=env, client_config={"read_timeout": 7})
    config = client_of(clerk).raw.meta.config
    assert (config.read_timeout, config.connect_timeout) == (7, 60)
    assert config.retries["total_max_attempts"] == 1, "the clerk retries, botocore does not"
    assert config.s3["payload_signing_enabled"] is False


def test_transfer_config_sets_the_part_size_over_the_variable(
    make_clerk: Callable[..., ObjectClerk], s3: Any, bucket: str
) -> None:
    data = os.urandom(16 * MiB)  # 4 parts of 5 MiB, 3 parts of 6 MiB
    clerk = make_clerk(transfer_config={"multipart_threshold": 6 * MiB, "max_concurrency": 2})
    clerk.upload_object(data, bucket, "k")
    assert s3.head_object(Bucket=bucket, Key="k")["ETag"].strip('"').endswith("-3")
    assert clerk.get_object(bucket, "k") == data


def test_transfer_config_is_used_instead_of_the_variable(
    make_clerk: Callable[..., ObjectClerk],
) -> None:
    env = {"S3_UPLOAD_CONFIG": '{"max_concurrency": 3, "use_threads": false}'}
    config = engine_of(
        make_clerk(env=env, transfer_config={"max_concurrency": 2})
    ).settings.upload_config
    assert (config.max_concurrency, config.use_threads) == (2, True)
    assert config.multipart_threshold == config.multipart_chunksize == TEST_THRESHOLD


def test_list_objects_page_size_sets_the_requests_of_a_listing(
    make_clerk: Callable[..., ObjectClerk], s3: Any, bucket: str
) -> None:
    for n in range(5):
        s3.put_object(Bucket=bucket, Key=f"k{n}", Body=b"x")
    clerk = make_clerk(list_objects_page_size=2)
    faults = inject(clerk)
    assert [entry["Key"] for entry in clerk.list_objects(bucket)] == [f"k{n}" for n in range(5)]
    assert faults.sent["ListObjectsV2"] == 3


@pytest.mark.parametrize(
    ("keywords", "error", "named"),
    [
        ({"client_config": {"no_such_option": 1}}, ObjectClerkConfigurationException, None),
        ({"client_config": {"read_timeout": "soon"}}, ObjectClerkConfigurationException, None),
        ({"client_config": '{"read_timeout": 1}'}, TypeError, None),
        ({"transfer_config": {"max_concurrency": 0}}, ObjectClerkConfigurationException, None),
        ({"transfer_config": {"multipart_threshold": 0}}, ObjectClerkConfigurationException, None),
        (
            {"transfer_config": {"multipart_chunksize": "big"}},
            ObjectClerkConfigurationException,
            None,
        ),
        ({"transfer_config": ["max_concurrency"]}, TypeError, None),
        ({"list_objects_page_size": 0}, ObjectClerkConfigurationException, None),
        ({"list_objects_page_size": "100"}, TypeError, None),
    ],
)
def test_bad_constructor_keywords_name_the_keyword(
    make_clerk: Callable[..., ObjectClerk],
    keywords: dict[str, Any],
    error: type[Exception],
    named: str | None,
) -> None:
    (keyword,) = keywords
    with pytest.raises(error, match=named or keyword):
        make_clerk(**keywords)


# -- list_objects(bucket, prefix) as 1.1.0 wrote it -----------------------------------


def test_list_objects_with_a_str_second_argument_lists_under_that_prefix(
    clerk: ObjectClerk, s3: Any, bucket: str
) -> None:
    for key in ("frames/1", "frames/2", "logs/1"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    assert [e["Key"] for e in clerk.list_objects(bucket, "frames/")] == ["frames/1", "frames/2"]
    assert [e["Key"] for e in clerk.list_objects(bucket, 1000)] == [
        "frames/1",
        "frames/2",
        "logs/1",
    ]
    with pytest.raises(TypeError, match="prefix twice"):
        clerk.list_objects(bucket, "frames/", prefix="logs/")


# -- copies keep every header --------------------------------------------------------

SOURCE_HEADERS = {
    "ContentType": "image/fits",
    "ContentEncoding": "gzip",
    "ContentDisposition": 'attachment; filename="frame.fits"',
    "ContentLanguage": "en",
    "CacheControl": "max-age=3600",
    "Expires": datetime(2031, 1, 2, 3, 4, 5, tzinfo=UTC),
    "Metadata": PIPELINE_METADATA,
    "StorageClass": STORAGE_CLASS,
}
# The same, as the store answers a HEAD.
OBJECT_HEADERS = (
    "content-type",
    "content-encoding",
    "content-disposition",
    "content-language",
    "cache-control",
    "expires",
    "x-amz-storage-class",
    *(f"x-amz-meta-{name}" for name in PIPELINE_METADATA),
)


def object_headers(s3: Any, bucket: str, key: str) -> dict[str, str | None]:
    headers = s3.head_object(Bucket=bucket, Key=key)["ResponseMetadata"]["HTTPHeaders"]
    return {name: headers.get(name) for name in OBJECT_HEADERS}


@pytest.mark.parametrize("operation", ["copy_object", "move_object"])
@pytest.mark.parametrize("data", [SMALL, BIG], ids=["single-part", "multipart"])
def test_a_copy_is_the_same_object_headers_included(
    clerk: ObjectClerk, s3: Any, bucket: str, operation: str, data: bytes
) -> None:
    config = TransferConfig(multipart_threshold=TEST_THRESHOLD, multipart_chunksize=TEST_THRESHOLD)
    s3.upload_fileobj(io.BytesIO(data), bucket, "src", Config=config, ExtraArgs=SOURCE_HEADERS)
    expected = object_headers(s3, bucket, "src")
    assert None not in expected.values(), f"the store keeps every header: {expected}"
    getattr(clerk, operation)(bucket, "src", bucket, "dst")
    assert object_headers(s3, bucket, "dst") == expected
    assert stored_bytes(s3, bucket, "dst") == data


# -- verification that says what it knows -------------------------------------------

# Parts of 5 MiB + 12,345 bytes: three parts, as three 5 MiB parts would
# also give, but no guessed layout reproduces the ETag.
ODD_PART = 5 * MiB + 12345
ODD = os.urandom(2 * ODD_PART + 1000)


@pytest.fixture
def odd_layout(s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """An object of an unusual part size on a store that does not tell part
    sizes (as Ceph RGW 16 ignores PartNumber)."""
    monkeypatch.setattr("object_clerk._verify.first_part_size", lambda s3, stored: None)
    config = TransferConfig(multipart_threshold=ODD_PART, multipart_chunksize=ODD_PART)
    s3.upload_fileobj(io.BytesIO(ODD), bucket, "odd", Config=config)
    return "odd"


def test_a_get_in_an_unknown_layout_says_it_cannot_verify_after_one_read(
    clerk: ObjectClerk, bucket: str, odd_layout: str
) -> None:
    faults = inject(clerk)
    with pytest.raises(ObjectVerificationException) as raised:
        clerk.get_object(bucket, odd_layout)
    message = str(raised.value)
    assert "cannot be verified on this store" in message
    assert "5242880 bytes" in message, "the layouts tried are named"
    assert "verify_checksum=False" in message
    assert faults.sent["GetObject"] == 1, "read once, not once per attempt"
    assert clerk.get_object(bucket, odd_layout, verify_checksum=False) == ODD


def test_a_download_in_an_unknown_layout_leaves_no_file(
    clerk: ObjectClerk, bucket: str, odd_layout: str, tmp_path: Path
) -> None:
    target = tmp_path / "frame.fits"
    target.write_bytes(b"previous")
    with pytest.raises(ObjectVerificationException, match="cannot be verified on this store"):
        clerk.download_object(bucket, odd_layout, target)
    assert [p.name for p in tmp_path.iterdir()] == ["frame.fits"]
    assert target.read_bytes() == b"previous"


@pytest.mark.parametrize("operation", ["copy_object", "move_object"])
def test_a_copy_in_an_unknown_layout_leaves_no_destination_and_keeps_the_source(
    clerk: ObjectClerk, s3: Any, bucket: str, odd_layout: str, operation: str
) -> None:
    faults = inject(clerk)
    with pytest.raises(ObjectVerificationException, match="cannot be verified on this store"):
        getattr(clerk, operation)(bucket, odd_layout, bucket, "dst")
    assert stored_keys(s3, bucket) == [odd_layout]
    assert stored_bytes(s3, bucket, odd_layout) == ODD
    uploads = faults.sent["CreateMultipartUpload"]
    assert 1 <= uploads <= 4, "a few layouts tried once each, not again per attempt"
