"""RetryingClient: every S3 operation retried, request bodies rewound."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest

from object_clerk import ObjectClerk
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
