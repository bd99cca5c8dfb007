"""Fixtures: an S3 endpoint (an embedded moto server on 127.0.0.1, or a live
one named by HOST/PORT/ACCESS_KEY/SECRET_KEY), fresh buckets, plain boto3
clients to check what the store holds, and clerks that never sleep."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from botocore.config import Config

from object_clerk import ObjectClerk
from object_clerk._client import forget_shared_clients

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


def _live_endpoint() -> Endpoint | None:
    names = ("HOST", "PORT", "ACCESS_KEY", "SECRET_KEY")
    if not all(os.environ.get(name) for name in names):
        return None
    return Endpoint(
        host=os.environ["HOST"],
        port=int(os.environ["PORT"]),
        access_key=os.environ["ACCESS_KEY"],
        secret_key=os.environ["SECRET_KEY"],
        use_ssl=os.environ.get("USE_SSL", "").lower() in ("1", "true", "yes"),
        live=True,
    )


@pytest.fixture(scope="session")
def endpoint() -> Iterator[Endpoint]:
    live = _live_endpoint()
    if live is not None:
        yield live
        return
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield Endpoint(host, port, "test-access-key", "test-secret-key", False, live=False)
    finally:
        server.stop()


@pytest.fixture
def moto_only(endpoint: Endpoint) -> None:
    if endpoint.live:
        pytest.skip("shows a behaviour of the embedded moto server only")


def plain_client(endpoint: Endpoint) -> Any:
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


@pytest.fixture(scope="session")
def s3(endpoint: Endpoint) -> Any:
    """Plain boto3, to prepare objects and to check what the store holds."""
    return plain_client(endpoint)


def empty_and_delete(s3: Any, bucket: str) -> None:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for entry in page.get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=entry["Key"])
    for upload in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    s3.delete_bucket(Bucket=bucket)


@pytest.fixture
def make_bucket(s3: Any) -> Iterator[Callable[[], str]]:
    made: list[str] = []

    def make() -> str:
        name = f"clerk-test-{uuid.uuid4().hex[:16]}"
        s3.create_bucket(Bucket=name)
        made.append(name)
        return name

    yield make
    for name in made:
        empty_and_delete(s3, name)


@pytest.fixture
def bucket(make_bucket: Callable[[], str]) -> str:
    return make_bucket()


@pytest.fixture(autouse=True)
def fresh_clients() -> None:
    """Each test's clerks share no client with an earlier test's: tests
    register event handlers (faults, counters) on their clerks' clients."""
    forget_shared_clients()


@pytest.fixture
def make_clerk(endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch) -> Callable[..., ObjectClerk]:
    """Clerks on the endpoint with zero retry delays and a 5 MiB threshold;
    keyword arguments override constructor arguments, env= the environment.
    Each has a client of its own (tests register event handlers on it),
    unless own_client=False: then it shares the one of its connection."""

    def make(
        env: dict[str, str] | None = None, *, own_client: bool = True, **overrides: Any
    ) -> ObjectClerk:
        settings = {"MULTIPART_THRESHOLD": str(TEST_THRESHOLD), **(env or {})}
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        arguments: dict[str, Any] = {
            "host": endpoint.host,
            "port": endpoint.port,
            "access_key": endpoint.access_key,
            "secret_key": endpoint.secret_key,
            "retry_delay": 0,
            "retry_backoff": 1,
            "retry_jitter": 0,
            "retry_max_delay": 0,
            "retry_tries": 3,
            "use_ssl": endpoint.use_ssl,
            "verify": os.environ.get("CA_BUNDLE") or None,
        }
        arguments.update(overrides)
        if own_client:
            forget_shared_clients()
        return ObjectClerk(**arguments)

    return make


@pytest.fixture
def clerk(make_clerk: Callable[..., ObjectClerk]) -> ObjectClerk:
    return make_clerk()


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
