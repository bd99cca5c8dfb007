"""Plain helpers shared by the test files: sizes, the endpoint's description,
the environment of child processes, and reads of what the store holds.

Fixtures stay in conftest.py; everything a test file imports by name lives
here, so that no test file imports another test file or conftest."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from object_clerk import ObjectClerk
from object_clerk._client import RetryingClient
from object_clerk._engine import Engine

MiB = 1024 * 1024
# S3's smallest part: the smallest threshold that exercises multipart paths.
TEST_THRESHOLD = 5 * MiB


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    access_key: str
    secret_key: str
    use_ssl: bool
    live: bool

    @property
    def url(self) -> str:
        return f"{'https' if self.use_ssl else 'http'}://{self.host}:{self.port}"


def child_environment(endpoint: Endpoint, **extra: str) -> dict[str, str]:
    """The environment of a child process that makes its own clerk for
    endpoint (HOST, PORT, ACCESS_KEY, SECRET_KEY, USE_SSL), with parts of
    the tests' size."""
    return {
        **os.environ,
        "HOST": endpoint.host,
        "PORT": str(endpoint.port),
        "ACCESS_KEY": endpoint.access_key,
        "SECRET_KEY": endpoint.secret_key,
        "USE_SSL": "1" if endpoint.use_ssl else "0",
        "MULTIPART_THRESHOLD": str(TEST_THRESHOLD),
        **extra,
    }


def plain_client(endpoint: Endpoint) -> Any:
    """Plain boto3 on endpoint, to prepare objects and check what it holds."""
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint.url,
        aws_access_key_id=endpoint.access_key,
        aws_secret_access_key=endpoint.secret_key,
        region_name="us-east-1",
        config=Config(
            retries={"max_attempts": 2},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
        verify=os.environ.get("CA_BUNDLE") or None,
    )


def empty_and_delete(s3: Any, bucket: str) -> None:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for entry in page.get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=entry["Key"])
    for upload in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    s3.delete_bucket(Bucket=bucket)


def stored_bytes(s3: Any, bucket: str, key: str) -> bytes:
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def stored_keys(s3: Any, bucket: str) -> list[str]:
    return [
        entry["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for entry in page.get("Contents", [])
    ]


def hides_part_sizes(s3: Any, bucket: str, key: str) -> bool:
    """Whether the store ignores PartNumber on a HEAD of a multipart object
    (Ceph RGW before 19): then damaged bytes cannot be told from a part size
    nobody guessed, and the clerk says so rather than fetch again."""
    return "PartsCount" not in s3.head_object(Bucket=bucket, Key=key, PartNumber=1)


def reference_multipart_etag(data: bytes, part_size: int) -> str:
    """The ETag S3 gives a multipart upload of data in parts of part_size,
    computed here from the bytes alone.

    A reference written independently of object_clerk._checksum (whose
    multipart_etag combines part digests the clerk already holds): a test
    that checked the clerk's ETags with the clerk's own code would pass
    however that code were wrong."""
    parts = [data[i : i + part_size] for i in range(0, len(data), part_size)] or [b""]
    joined = b"".join(hashlib.md5(part).digest() for part in parts)
    return f"{hashlib.md5(joined).hexdigest()}-{len(parts)}"


def client_error(code: str, status: int) -> ClientError:
    """The ClientError botocore raises for an answer of status with code."""
    return ClientError(
        {
            "Error": {"Code": code, "Message": "m"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        "GetObject",
    )


def make_tree(root: Path, files: dict[str, bytes]) -> Path:
    """Files under root, one per key ("/" separates directories)."""
    for key, data in files.items():
        path = root.joinpath(*key.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


class GetRanges:
    """The Range header of each GetObject the clerk sends (None: no Range)."""

    def __init__(self, clerk: ObjectClerk) -> None:
        self.ranges: list[str | None] = []
        client_of(clerk).raw.meta.events.register("before-call.s3.GetObject", self._record)

    def _record(self, params: dict[str, Any], **kwargs: Any) -> None:
        self.ranges.append(params["headers"].get("Range"))


def engine_of(clerk: ObjectClerk) -> Engine:
    """The engine under a clerk: the one seam through which tests reach its
    client, settings, retry policy and store conditions."""
    return clerk._engine


def client_of(clerk: ObjectClerk) -> RetryingClient:
    """The clerk's retrying client in this process (its .raw is boto3's,
    whose events tests hook)."""
    return engine_of(clerk).client


def run_cli(endpoint: Endpoint, *args: str) -> int:
    """The command line, in this process, on endpoint, never sleeping."""
    from object_clerk import cli

    environ = {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint.url,
        "AWS_ACCESS_KEY_ID": endpoint.access_key,
        "AWS_SECRET_ACCESS_KEY": endpoint.secret_key,
    }
    return cli.main(["--retry-tries", "2", "--retry-delay", "0", *args], environ)


def store_keeps_checksum(s3: Any, bucket: str, algorithm: str) -> bool:
    """Whether the store keeps a checksum given with a PutObject (plain boto3)."""
    import uuid

    from object_clerk._checksum import full_object_checksum

    key, member = f"detect-{uuid.uuid4().hex}", f"Checksum{algorithm}"
    value = full_object_checksum(algorithm, [b"x"])
    s3.put_object(Bucket=bucket, Key=key, Body=b"x", ChecksumAlgorithm=algorithm, **{member: value})
    try:
        head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
        return bool(head.get(member) == value)
    finally:
        s3.delete_object(Bucket=bucket, Key=key)
