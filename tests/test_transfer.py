"""Uploads carry a Content-MD5 of every body, so a store that checks it
refuses bytes damaged on the way."""

from __future__ import annotations

import base64
import hashlib
import os
import threading
from typing import Any

import pytest
from botocore.exceptions import ClientError

from object_clerk import ObjectClerk
from tests.conftest import TEST_THRESHOLD


class SentBodies:
    """Records the Content-MD5 header and the body of each upload request."""

    def __init__(self, clerk: ObjectClerk) -> None:
        self.requests: list[tuple[str, str | None, bytes]] = []
        self._lock = threading.Lock()
        clerk._s3.raw.meta.events.register("before-send.s3", self._record)

    def _record(self, request: Any, event_name: str, **kwargs: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        if operation not in ("PutObject", "UploadPart"):
            return
        body = request.body
        if hasattr(body, "read"):
            start = body.tell()
            data = body.read()
            body.seek(start)
        else:
            data = bytes(body or b"")
        with self._lock:
            header = request.headers.get("Content-MD5")
            if isinstance(header, bytes):
                header = header.decode()
            self.requests.append((operation, header, data))


@pytest.mark.parametrize("size", [1000, 2 * TEST_THRESHOLD + 7], ids=["single", "multipart"])
def test_every_upload_body_carries_its_content_md5(
    clerk: ObjectClerk, bucket: str, size: int
) -> None:
    sent = SentBodies(clerk)
    data = os.urandom(size)
    clerk.upload_object(data, bucket, "k")
    assert sent.requests, "upload requests were recorded"
    for _operation, content_md5, body in sent.requests:
        assert content_md5 == base64.b64encode(hashlib.md5(body).digest()).decode()
    assert sum(len(body) for _, _, body in sent.requests) == size


def test_a_real_store_refuses_a_body_that_does_not_match_its_content_md5(
    s3: Any, bucket: str, endpoint: Any
) -> None:
    if not endpoint.live:
        pytest.skip("moto does not check Content-MD5; a real store (Ceph RGW, AWS, MinIO) does")
    wrong = base64.b64encode(hashlib.md5(b"other bytes").digest()).decode()
    with pytest.raises(ClientError) as raised:
        s3.put_object(Bucket=bucket, Key="k", Body=b"these bytes", ContentMD5=wrong)
    assert raised.value.response["Error"]["Code"] == "BadDigest"
