"""RetryingClient: every S3 operation retried, request bodies rewound."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import botocore.utils
import pytest

from object_clerk import ObjectClerk
from object_clerk._client import parse_timestamp
from tests.conftest import Endpoint, stored_bytes
from tests.faults import inject
from tests.proxy import FaultProxy, request_matcher


def test_operations_are_retried_and_other_attributes_pass_through(
    clerk: ObjectClerk, bucket: str
) -> None:
    faults = inject(clerk)
    faults.fail("ListObjectsV2", "slowdown", times=2)
    assert clerk._s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    assert faults.sent["ListObjectsV2"] == 3
    assert clerk._s3.meta is clerk._s3.raw.meta


def test_a_stream_body_is_rewound_for_each_attempt(
    endpoint: Endpoint, make_clerk: Callable[..., ObjectClerk], s3: Any, bucket: str
) -> None:
    """The first attempt's body is sent whole before the connection drops
    (the proxy reads it, then closes): the repeat must send it again."""
    if endpoint.use_ssl:
        pytest.skip("the test proxy speaks plain http")
    with FaultProxy(endpoint.port) as proxy:
        clerk = make_clerk(host="127.0.0.1", port=proxy.port)
        proxy.inject(request_matcher("PUT", f"/{bucket}/k"), "close_before", times=2)
        body = io.BytesIO(b"0123456789" * 1000)
        body.seek(10)  # sent from where it stood when the call was made
        clerk._s3.put_object(Bucket=bucket, Key="k", Body=body)
        assert proxy.matched["close_before"] == 2
    assert stored_bytes(s3, bucket, "k") == (b"0123456789" * 1000)[10:]


@pytest.mark.parametrize(
    "value",
    [
        "2026-12-01T11:22:33.000Z",
        "2026-12-01T11:22:33Z",
        "2026-12-01T11:22:33.123456Z",
        "2026-12-01T11:22:33.1Z",
        "2026-12-01T13:22:33+02:00",
        "Tue, 01 Dec 2026 11:22:33 GMT",
        "1796124153",
    ],
)
def test_timestamps_parse_to_the_instant_botocore_gives(value: str) -> None:
    parsed = parse_timestamp(value)
    assert parsed == botocore.utils.parse_timestamp(value)
    assert parsed.utcoffset() is not None


@pytest.mark.parametrize("value", ["2026-12-01Z", "2026-12-01T11:22:33+02:00Z", "soon Z"])
def test_odd_timestamps_are_left_to_botocore(value: str) -> None:
    def outcome(parse: Callable[[str], datetime]) -> object:
        try:
            return parse(value)
        except Exception as error:
            return type(error)

    assert outcome(parse_timestamp) == outcome(botocore.utils.parse_timestamp)


def test_a_listing_gives_aware_timestamps(clerk: ObjectClerk, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    (entry,) = clerk._s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert entry["LastModified"].tzinfo is UTC, "parsed by parse_timestamp"
    age = datetime.now(UTC) - entry["LastModified"]
    assert abs(age.total_seconds()) < 3600
