"""Uploads carry a Content-MD5 of every body, so a store that checks it
refuses bytes damaged on the way."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import threading
from typing import Any

import pytest
from botocore.exceptions import ClientError

from object_clerk import ObjectClerk
from tests.faults import inject, once
from tests.support import TEST_THRESHOLD, client_of, stored_bytes


class SentBodies:
    """Records the Content-MD5 header and the body of each upload request."""

    def __init__(self, clerk: ObjectClerk) -> None:
        self.requests: list[tuple[str, str | None, bytes]] = []
        self.payload_hashes: list[str] = []
        self._lock = threading.Lock()
        client_of(clerk).raw.meta.events.register("before-send.s3", self._record)

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
            signed = request.headers.get("X-Amz-Content-SHA256")
            self.payload_hashes.append(signed.decode() if isinstance(signed, bytes) else signed)


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


@pytest.mark.parametrize("size", [1000, 2 * TEST_THRESHOLD + 7], ids=["single", "multipart"])
def test_bodies_are_not_hashed_again_to_sign_them(
    clerk: ObjectClerk, bucket: str, size: int
) -> None:
    """The signed Content-MD5 protects the body; a SHA-256 of it in the
    signature (botocore's default over http) would cost a second pass."""
    sent = SentBodies(clerk)
    clerk.upload_object(os.urandom(size), bucket, "k")
    assert sent.payload_hashes
    assert set(sent.payload_hashes) == {"UNSIGNED-PAYLOAD"}


def test_a_real_store_refuses_a_body_that_does_not_match_its_content_md5(
    s3: Any, bucket: str, endpoint: Any
) -> None:
    if not endpoint.live:
        pytest.skip("moto does not check Content-MD5; a real store (Ceph RGW, AWS, MinIO) does")
    wrong = base64.b64encode(hashlib.md5(b"other bytes").digest()).decode()
    with pytest.raises(ClientError) as raised:
        s3.put_object(Bucket=bucket, Key="k", Body=b"these bytes", ContentMD5=wrong)
    assert raised.value.response["Error"]["Code"] == "BadDigest"


def test_a_retried_body_is_hashed_again(clerk: ObjectClerk, bucket: str) -> None:
    """The caller's buffer changes between two attempts: the second attempt
    carries the Content-MD5 of what it sends, not the first attempt's."""
    data = io.BytesIO(b"first version of the bytes")
    sent = SentBodies(clerk)
    faults = inject(clerk)
    faults.fail("PutObject", "closed", times=1)

    def change_after_first(**kwargs: Any) -> None:
        if faults.sent["PutObject"] == 1:
            data.getbuffer()[:5] = b"FIRST"

    client_of(clerk).raw.meta.events.register("after-call-error.s3.PutObject", change_after_first)
    clerk.upload_object(data, bucket, "k", verify_checksum=False)
    assert len(sent.requests) == 2
    for _operation, content_md5, body in sent.requests:
        assert content_md5 == base64.b64encode(hashlib.md5(body).digest()).decode()
    assert sent.requests[1][2].startswith(b"FIRST")


def test_a_file_rewritten_during_its_upload_is_uploaded_again(
    make_clerk: Any, s3: Any, bucket: str, tmp_path: Any
) -> None:
    """Part 1 is stored from the old file, parts 2 and 3 from the new one:
    each part matches its digest, and only the file's change tells."""
    clerk = make_clerk(env={"S3_UPLOAD_CONFIG": '{"max_concurrency": 1}'})
    path = tmp_path / "frame.fits"
    path.write_bytes(os.urandom(2 * TEST_THRESHOLD + 5))
    new_version = os.urandom(2 * TEST_THRESHOLD + 5)
    rewritten = []

    def rewrite_after_first_part(**kwargs: Any) -> None:
        if not rewritten:
            rewritten.append(True)
            path.write_bytes(new_version)
            os.utime(path, ns=(1, 1))  # a distinct modification time

    client_of(clerk).raw.meta.events.register("after-call.s3.UploadPart", rewrite_after_first_part)
    clerk.upload_object(path, bucket, "k")
    assert stored_bytes(s3, bucket, "k") == new_version


def test_use_threads_false_uploads_and_copies_on_the_calling_thread(
    make_clerk: Any, bucket: str
) -> None:
    clerk = make_clerk(env={"S3_UPLOAD_CONFIG": '{"use_threads": false}'})
    threads: set[str] = set()
    client_of(clerk).raw.meta.events.register(
        "before-send.s3", lambda **kwargs: threads.add(threading.current_thread().name)
    )
    clerk.upload_object(os.urandom(2 * TEST_THRESHOLD), bucket, "k")
    clerk.copy_object(bucket, "k", bucket, "copy")
    assert threads == {threading.current_thread().name}


@pytest.mark.parametrize("size", [1000, 2 * TEST_THRESHOLD + 5], ids=["single", "multipart"])
def test_a_file_that_grows_during_its_upload_is_uploaded_whole(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Any, size: int
) -> None:
    path = tmp_path / "growing.log"
    path.write_bytes(os.urandom(size))

    def grow() -> None:
        with path.open("ab") as file:
            file.write(os.urandom(50_000))

    grow_once = once(grow)
    client_of(clerk).raw.meta.events.register("after-call.s3.PutObject", grow_once)
    client_of(clerk).raw.meta.events.register("after-call.s3.UploadPart", grow_once)
    clerk.upload_object(path, bucket, "k")
    assert stored_bytes(s3, bucket, "k") == path.read_bytes()
    assert len(stored_bytes(s3, bucket, "k")) == size + 50_000


def test_a_file_that_shrinks_while_it_is_sent_is_sent_again(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Any
) -> None:
    path = tmp_path / "shrinking.log"
    path.write_bytes(os.urandom(100_000))
    shrink = once(lambda: os.truncate(path, 60_000))
    client_of(clerk).raw.meta.events.register("before-send.s3.PutObject", shrink)
    clerk.upload_object(path, bucket, "k")
    assert stored_bytes(s3, bucket, "k") == path.read_bytes()
    assert len(path.read_bytes()) == 60_000


@pytest.mark.parametrize("earlier", ["the same bytes", "other bytes"])
def test_a_completion_that_fails_is_an_error_and_leaves_no_upload_behind(
    clerk: ObjectClerk, s3: Any, bucket: str, earlier: str
) -> None:
    """Every completion fails. An object of the same bytes stored before is
    not this upload (whose headers it may not have): the upload id is still
    open, so the failure is reported, the earlier object stays, and the
    parts are not left behind."""
    from object_clerk import ObjectClerkServerInternalException

    data = os.urandom(2 * TEST_THRESHOLD + 5)
    stored = data if earlier == "the same bytes" else os.urandom(len(data))
    clerk.upload_object(stored, bucket, "k")
    inject(clerk).fail("CompleteMultipartUpload", "internal_error", times=1000)
    with pytest.raises(ObjectClerkServerInternalException):
        clerk.upload_object(data, bucket, "k", content_type="image/fits")
    assert stored_bytes(s3, bucket, "k") == stored
    assert s3.head_object(Bucket=bucket, Key="k")["ContentType"] == "application/octet-stream"
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


@pytest.mark.parametrize(("size", "expects"), [(64 * 1024, False), (2 * 1024 * 1024, True)])
def test_a_small_body_goes_in_one_write_without_waiting_for_100_continue(
    clerk: ObjectClerk, bucket: str, tmp_path: Any, size: int, expects: bool
) -> None:
    """Up to 1 MiB the body is read whole and sent as bytes: no Expect
    header, so no round trip of the store's before the body; larger bodies
    still ask first."""
    sent: list[dict[str, str]] = []
    client_of(clerk).raw.meta.events.register(
        "before-send.s3.PutObject", lambda request, **_: sent.append(dict(request.headers))
    )
    data = os.urandom(size)
    path = tmp_path / "f"
    path.write_bytes(data)
    clerk.upload_object(path, bucket, "k")
    (headers,) = sent
    assert ("Expect" in headers) is expects
    assert stored_bytes(client_of(clerk), bucket, "k") == data
