"""Every operation over https, against a live gateway's TLS endpoint
(HTTPS_PORT, with the CA certificate in CA_BUNDLE). Over https botocore's
default aws-chunked checksum trailers break Ceph RGW before 18.2.5 (411
MissingContentLength on every PutObject/UploadPart): the clerk's defaults
must not send them."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

from object_clerk import ObjectClerk, ObjectClerkConnectionException
from tests.support import TEST_THRESHOLD, Endpoint, stored_bytes, stored_keys


@pytest.fixture
def https_clerk(endpoint: Endpoint, make_clerk: Callable[..., ObjectClerk]) -> ObjectClerk:
    if not (endpoint.live and os.environ.get("HTTPS_PORT") and os.environ.get("CA_BUNDLE")):
        pytest.skip("needs a live gateway's TLS endpoint: HTTPS_PORT and CA_BUNDLE")
    return make_clerk(
        port=int(os.environ["HTTPS_PORT"]), use_ssl=True, verify=os.environ["CA_BUNDLE"]
    )


def test_every_operation_works_over_https(https_clerk: ObjectClerk, s3: Any, bucket: str) -> None:
    assert https_clerk.endpoint_url.startswith("https://")
    small, big = b"over tls" * 100, os.urandom(2 * TEST_THRESHOLD + 11)
    https_clerk.upload_object(small, bucket, "small")
    https_clerk.upload_object(big, bucket, "big")
    assert https_clerk.get_object(bucket, "small") == small
    assert https_clerk.get_object(bucket, "big") == big
    assert https_clerk.get_object_info(bucket, "big")["content-length"] == str(len(big))
    https_clerk.copy_object(bucket, "big", bucket, "big-copy")
    https_clerk.move_object(bucket, "small", bucket, "small-moved")
    assert [e["Key"] for e in https_clerk.list_objects(bucket, 1)] == [
        "big",
        "big-copy",
        "small-moved",
    ]
    https_clerk.delete_object(bucket, "big")
    assert stored_bytes(s3, bucket, "big-copy") == big
    assert stored_keys(s3, bucket) == ["big-copy", "small-moved"]


def test_an_untrusted_certificate_is_refused_not_ignored(
    https_clerk: ObjectClerk, make_clerk: Callable[..., ObjectClerk], bucket: str
) -> None:
    """Without the CA bundle the self-signed certificate is not trusted: the
    clerk fails, at once, rather than turning verification off."""
    untrusting = make_clerk(port=int(os.environ["HTTPS_PORT"]), use_ssl=True, verify=None)
    with pytest.raises(ObjectClerkConnectionException, match="TLS"):
        untrusting.get_object_info(bucket, "anything")
