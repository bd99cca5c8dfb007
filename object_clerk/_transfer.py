"""Moving bytes: uploads and server-side copies, done by
s3transfer's managers over the retrying client.

s3transfer splits, parallelises and reassembles; the client it is given
retries each request. Nothing here checks what was stored: the clerk does
that afterwards by looking at the store, against the ETag an upload returns.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError, HTTPClientError
from s3transfer import exceptions as s3transfer_errors
from s3transfer.futures import NonThreadedExecutor
from s3transfer.manager import TransferManager
from s3transfer.subscribers import BaseSubscriber
from s3transfer.utils import ChunksizeAdjuster

from object_clerk import _native, _resume
from object_clerk._checksum import (
    Etag,
    PartCrc,
    combined_crc,
    crc_of,
    encoded,
    multipart_etag,
    read_chunks,
)
from object_clerk._client import IN_ONE_WRITE, RetryingClient
from object_clerk._errors import is_precondition_failed, is_upload_gone
from object_clerk._headers import copied_headers
from object_clerk._layout import upload_part_size
from object_clerk._progress import Progress
from object_clerk._source import READ_SIZE, Reader, SourceChanged, UploadSource
from object_clerk._verify import Mismatch, StoredObject
from object_clerk.exceptions import ObjectExistsException, ObjectSaveException

# How a copy reports a source that changed under it (its ETag no longer
# matches): s3transfer >= 0.15 raises S3CopyFailedError, older ones the
# store's PreconditionFailed ClientError itself.
COPY_FAILED = (ClientError, getattr(s3transfer_errors, "S3CopyFailedError", ClientError))
# Objects up to this size are sent by one PutObject from the calling thread.
SMALL_OBJECT = 8 * 1024 * 1024
# S3's most parts of one upload.
MAX_PARTS = 10_000


@dataclass(frozen=True)
class WriteOptions:
    """How a write may land. if_none_match: only where the key holds no
    object (If-None-Match: * on PutObject and CompleteMultipartUpload; a
    412 is ObjectExistsException, and the upload is aborted). checksum: a
    CRC (one of _checksum.FULL_OBJECT_CRCS) stored as a FULL_OBJECT
    checksum, which the store checks as the bytes arrive."""

    if_none_match: bool = False
    checksum: str | None = None


@dataclass(frozen=True)
class Written:
    """What an upload sent: the ETag of its bytes as the store computes it,
    the ETag the store answered the write with (None where it said none),
    and the base64 full-object checksum sent (None: none asked)."""

    etag: Etag
    answered_etag: str | None
    checksum: str | None


def _exists(request: dict[str, Any]) -> ObjectExistsException:
    return ObjectExistsException(
        f"{request['Bucket']}/{request['Key']} already exists: overwrite=False left it as it "
        "was, and nothing of this write was kept"
    )


def _abort(s3: RetryingClient, request: dict[str, Any]) -> None:
    with contextlib.suppress(Exception):
        s3.raw.abort_multipart_upload(
            Bucket=request["Bucket"], Key=request["Key"], UploadId=request["UploadId"]
        )


def complete(
    s3: RetryingClient,
    request: dict[str, Any],
    etag: Callable[[], Etag],
    conditional: bool,
) -> tuple[Any, str | None]:
    """CompleteMultipartUpload, retried, conditional (If-None-Match) where
    asked; its answer, and the ETag the store gave the object.

    An attempt whose answer was lost may have completed the upload, and then
    a repeat finds the upload id gone (moto: NoSuchUpload; Ceph RGW: a 500
    for ever) or, when conditional, the object it made (412). So after a
    failure, before each repeat and once the repeats end, the store is asked
    whether an earlier attempt completed it (see _holds). A 412 that is not
    this upload's own object is another writer's: ObjectExistsException,
    the upload aborted."""
    if conditional:
        request["IfNoneMatch"] = "*"
    failures: list[BaseException] = []

    def attempt() -> Any:
        if failures and (held := _holds(s3, request, etag())) is not None:
            return {"ETag": held}
        try:
            return s3.raw.complete_multipart_upload(**request)
        except Exception as error:
            failures.append(error)
            raise

    try:
        response = s3.retried(attempt)
    except Exception as error:
        held = _holds(s3, request, etag()) if failures else None
        if held is not None:
            return {"ETag": held}, held
        if conditional and is_precondition_failed(error):
            _abort(s3, request)
            raise _exists(request) from error
        raise
    return response, response.get("ETag")


def _holds(s3: RetryingClient, request: dict[str, Any], etag: Etag) -> str | None:
    """The ETag the store answers for the key when an earlier attempt
    completed this very upload: the object has the ETag of its parts
    (etag) and the upload id is gone. An object of the same bytes written
    by another, or before, leaves the upload id in place: None."""
    try:
        stored = s3.raw.head_object(Bucket=request["Bucket"], Key=request["Key"])
    except Exception:
        return None
    if Etag.parse(stored.get("ETag") or "") != etag or _upload_open(s3, request):
        return None
    answered: str | None = stored.get("ETag")
    return answered


def _upload_open(s3: RetryingClient, request: dict[str, Any]) -> bool:
    """Whether the upload id still takes parts; when the store cannot say,
    it is taken to (nothing is then claimed done). A completed upload's
    ListParts is a 404: NoSuchUpload (moto, AWS) or NoSuchKey (Ceph RGW)."""
    try:
        s3.raw.list_parts(
            Bucket=request["Bucket"], Key=request["Key"], UploadId=request["UploadId"], MaxParts=1
        )
    except ClientError as error:
        return not is_upload_gone(error)
    except Exception:
        return True
    return True


# Without types-s3transfer installed, s3transfer's classes are untyped (Any).
class _KnownObject(BaseSubscriber):  # type: ignore[misc, unused-ignore]
    """Tells s3transfer the size (and ETag) already known from our HEAD, so
    it does not send a HEAD of its own; with the ETag it makes every ranged
    GET conditional (If-Match) on the object not changing."""

    def __init__(self, size: int, etag: str | None = None) -> None:
        self._size = size
        self._etag = etag

    def on_queued(self, future: Any, **kwargs: Any) -> None:
        future.meta.provide_transfer_size(self._size)
        # s3transfer before 0.13 takes no ETag; copies are conditional on it
        # all the same, by the CopySourceIfMatch they are given.
        if self._etag is not None and hasattr(future.meta, "provide_object_etag"):
            future.meta.provide_object_etag(self._etag)


class _Window:
    """size bytes of the caller's file object from offset start, seekable
    within them and never closing the file (s3transfer closes the body of a
    PutObject when done, which would end the caller's file and every later
    attempt): a request body that can be sent again. A read that comes
    short raises the source's SourceChanged (see UploadSource.ended_early)."""

    def __init__(
        self,
        fileobj: Reader,
        start: int,
        size: int,
        source: UploadSource,
        shared: threading.Lock | None = None,
    ) -> None:
        self._fileobj, self._start, self.size = fileobj, start, size
        self._source = source
        self._position = 0
        # Windows on one file object read in turns: each read is a seek and a read.
        self._shared = shared or contextlib.nullcontext()

    def read(self, amount: int = -1) -> bytes:
        left = self.size - self._position
        amount = left if amount is None or amount < 0 else min(amount, left)
        with self._shared:
            self._fileobj.seek(self._start + self._position)
            data = self._fileobj.read(amount)
        if len(data) < amount:  # the file shrank: never send a short body
            raise self._source.ended_early()
        self._position += len(data)
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self.size}[whence]
        self._position = max(0, min(self.size, base + offset))
        return self._position

    def tell(self) -> int:
        return self._position

    def close(self) -> None:
        """Left to the caller."""


class _Exact:
    """A body s3transfer read from a file by name, of the length it
    declares (len, its Content-Length), that raises the source's
    SourceChanged rather than end early: s3transfer's own reader would send
    a shrunk file's short body under the full Content-Length."""

    def __init__(self, body: Any, source: UploadSource) -> None:
        self._body = body
        self._source = source

    def __getattr__(self, name: str) -> Any:
        return getattr(self._body, name)  # s3transfer's progress signals

    def __len__(self) -> int:
        return len(self._body)

    def read(self, amount: int | None = -1) -> bytes:
        left = max(0, len(self._body) - self._body.tell())
        wanted = left if amount is None or amount < 0 else min(amount, left)
        data: bytes = self._body.read(wanted)
        if len(data) < wanted:
            raise self._source.ended_early()
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        position: int = self._body.seek(offset, whence)
        return position

    def tell(self) -> int:
        position: int = self._body.tell()
        return position


class _DigestingClient:
    """The client of one upload: it computes the MD5 of each PutObject and
    UploadPart body once, from the bytes s3transfer read to send, sends it
    as Content-MD5 so that the store refuses a body damaged on the way
    (BadDigest, retried), and keeps it to reproduce the upload's ETag.

    Before each body is sent and before the upload is completed, the
    source must still be as it was when the attempt began: what was read
    is then one version of it. A changed source raises SourceChanged with
    nothing sent or completed, and s3transfer aborts its upload (a
    resumable upload is left to be continued, see _resume)."""

    def __init__(
        self, s3: RetryingClient, source: UploadSource, options: WriteOptions | None = None
    ) -> None:
        self._s3 = s3
        self._source = source
        self._options = options or WriteOptions()
        self._lock = threading.Lock()
        self._single: bytes | None = None
        self._parts: dict[int, bytes] = {}
        self._crcs: dict[int, PartCrc] = {}
        self._put_attempts = 0
        # The ETag the store answered the write that made the object with:
        # what a removal of this object is made conditional on.
        self.answered_etag: str | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s3, name)

    @property
    def s3(self) -> RetryingClient:
        return self._s3

    @property
    def checksum(self) -> str | None:
        """The full-object checksum algorithm the upload stores, if any."""
        return self._options.checksum

    def put_object(self, **request: Any) -> Any:
        return self.put_object_by(self._s3.raw.put_object, request)

    def put_object_by(self, operation: Callable[..., Any], request: dict[str, Any]) -> Any:
        """PutObject sent by operation (botocore's, or the native client's:
        one attempt each, retried here), hashed, conditional and checked as
        put_object is."""
        if self._options.if_none_match:
            request["IfNoneMatch"] = "*"
        try:
            response = self._send(operation, None, request)
        except ClientError as error:
            if not self._options.if_none_match or not is_precondition_failed(error):
                raise
            if not self._holds_own_put(request):
                raise _exists(request) from error
            return {}
        self.answered_etag = response.get("ETag")
        return response

    def upload_part(self, **request: Any) -> Any:
        return self._send(self._s3.raw.upload_part, request["PartNumber"], request)

    def create_multipart_upload(self, **request: Any) -> Any:
        if self._options.checksum:
            request.update(ChecksumAlgorithm=self._options.checksum, ChecksumType="FULL_OBJECT")
        return self._s3.create_multipart_upload(**request)

    def _send(self, operation: Any, part_number: int | None, request: dict[str, Any]) -> Any:
        body = request["Body"]
        if not isinstance(body, _Window) and hasattr(body, "__len__"):
            body = _Exact(body, self._source)
        start = body.tell()
        algorithm = self._options.checksum
        in_one_write = isinstance(body, _Window) and body.size - start <= IN_ONE_WRITE

        def attempt() -> Any:
            """From the body's start, read and hashed again each time: a
            body that changed since the last attempt must not go with a
            stale Content-MD5 (the store would refuse it on every retry)."""
            body.seek(start)
            # Read whole, a small body goes in one write, not 8 KiB at a time.
            payload = body.read() if in_one_write else body
            digest, crc = _digests_of_body(payload, algorithm)
            self._source.ensure_unchanged()  # what was hashed is one version
            checksum: dict[str, str] = {}
            with self._lock:
                if part_number is None:
                    self._put_attempts += 1
                    self._single = digest
                else:
                    self._parts[part_number] = digest
                if algorithm is not None and crc is not None:
                    self._crcs[part_number or 1] = crc
                    checksum = {
                        "ChecksumAlgorithm": algorithm,
                        f"Checksum{algorithm}": encoded(algorithm, crc.value),
                    }
            # Ours replaces a ChecksumAlgorithm s3transfer < 0.12 puts in itself.
            sent = {**request, **checksum, "Body": payload}
            try:
                return operation(**sent, ContentMD5=_base64(digest))
            except HTTPClientError as error:
                # The body ran short while it was sent: botocore wraps what
                # the read raised, which is no network failure to retry.
                cause = error.kwargs.get("error")
                if isinstance(cause, SourceChanged):
                    raise cause from None
                raise

        return self._s3.retried(attempt)

    def _holds_own_put(self, request: dict[str, Any]) -> bool:
        """After a 412 to a conditional PutObject: whether an earlier attempt
        of it, whose answer was lost, stored these very bytes."""
        if self._put_attempts < 2:
            return False
        try:
            stored = self._s3.raw.head_object(Bucket=request["Bucket"], Key=request["Key"])
        except Exception:
            return False
        if Etag.parse(stored.get("ETag") or "") != self.etag():
            return False
        self.answered_etag = stored.get("ETag")
        return True

    def complete_multipart_upload(self, **request: Any) -> Any:
        # Parts read from two versions of the source must never be made an
        # object: a changed source's upload is not completed.
        self._source.ensure_unchanged()
        if self._options.checksum:
            self._add_checksums(request, self._options.checksum)
        response, self.answered_etag = complete(
            self._s3, request, self.etag, conditional=self._options.if_none_match
        )
        return response

    def _add_checksums(self, request: dict[str, Any], algorithm: str) -> None:
        """Each part's CRC, and the whole object's from them, for the store
        to check the object it assembles against."""
        member = f"Checksum{algorithm}"
        with self._lock:
            crcs = dict(self._crcs)
        parts = request["MultipartUpload"]["Parts"]
        for part in parts:
            part[member] = encoded(algorithm, crcs[part["PartNumber"]].value)
        ordered = [crcs[part["PartNumber"]] for part in parts]
        request[member] = encoded(algorithm, combined_crc(algorithm, ordered))
        request["ChecksumType"] = "FULL_OBJECT"

    def keep_part(self, number: int, digest: bytes) -> None:
        """A part already in the store, proven to be these bytes."""
        with self._lock:
            self._parts[number] = digest

    def part_digests(self) -> dict[int, bytes]:
        with self._lock:
            return dict(self._parts)

    def forget_parts(self) -> None:
        with self._lock:
            self._parts.clear()
            self._crcs.clear()

    def written(self) -> Written:
        checksum = None
        if self._options.checksum:
            with self._lock:
                crcs = [self._crcs[n] for n in sorted(self._crcs)]
            value = combined_crc(self._options.checksum, crcs)
            checksum = encoded(self._options.checksum, value)
        return Written(self.etag(), self.answered_etag, checksum)

    def etag(self) -> Etag:
        with self._lock:
            if self._parts:
                return multipart_etag([self._parts[n] for n in sorted(self._parts)])
            assert self._single is not None, "nothing was uploaded"
            return Etag(self._single.hex(), None)


# Without types-s3transfer installed, s3transfer's classes are untyped (Any).
class _Reporting(BaseSubscriber):  # type: ignore[misc, unused-ignore]
    """Passes s3transfer's progress (negative when it rewinds) on."""

    def __init__(self, progress: Progress) -> None:
        self._progress = progress

    def on_progress(self, future: Any, bytes_transferred: int, **kwargs: Any) -> None:
        self._progress.add(bytes_transferred)


def upload(
    s3: RetryingClient,
    source: UploadSource,
    bucket: str,
    key: str,
    config: TransferConfig,
    progress: Progress,
    headers: dict[str, Any],
    resume: bool = False,
    options: WriteOptions | None = None,
) -> Written:
    """Store source under bucket/key with headers (Content-Type, Metadata,
    StorageClass), multipart at config's threshold, as options allow; what
    was written (see Written). With resume, a multipart upload continues an
    unfinished one of the same data (see _resume) and is left in the store
    when it fails."""
    source.rewind()
    client = _DigestingClient(s3, source, options)
    if source.size <= min(SMALL_OBJECT, config.multipart_threshold - 1):
        _put_small(client, source, bucket, key, headers)
        progress.add(source.size)
        return client.written()
    if resume:
        _upload_resumable(s3, client, source, bucket, key, config, progress, headers)
        return client.written()
    target: str | _Window
    if source.filename is not None:
        target = source.filename
    else:
        assert source.fileobj is not None
        target = _Window(source.fileobj, source.start, source.size, source)
    with _manager(client, config) as manager:
        subscribers = [_KnownObject(source.size), _Reporting(progress)]
        # s3transfer reads any file-like object; types-s3transfer asks for an IO.
        future = manager.upload(target, bucket, key, headers, subscribers)  # type: ignore[arg-type, unused-ignore]
        future.result()
    return client.written()


def upload_stream(
    s3: RetryingClient,
    source: UploadSource,
    stream: Any,
    bucket: str,
    key: str,
    config: TransferConfig,
    progress: Progress,
    headers: dict[str, Any],
) -> Written:
    """Store what stream holds as it arrives, read once: a stream that
    ends before config's threshold is one PutObject, a longer one is sent
    in parts of its part size, each read whole into memory, sent (retried
    from that copy) and dropped: what is held is bounded by a few parts
    (the threshold read first, the part being read, the part being sent),
    whatever the stream's length. Each body carries its Content-MD5 and the ETag of the bytes
    read is returned (see _DigestingClient); a failure aborts the upload,
    leaving nothing. source.size is the stream's length once read."""
    client = _DigestingClient(s3, source, None)
    threshold = int(config.multipart_threshold)
    first = _read_up_to(stream, threshold)
    source.size = len(first)
    if len(first) < threshold:
        source.refuse_empty()
        client.put_object(Bucket=bucket, Key=key, Body=io.BytesIO(first), **headers)
        progress.add(len(first))
        return client.written()
    part_size: int = ChunksizeAdjuster().adjust_chunksize(int(config.multipart_chunksize))
    request = {"Bucket": bucket, "Key": key}
    created = client.create_multipart_upload(**request, **headers)
    request["UploadId"] = created["UploadId"]
    try:
        parts = _send_stream_parts(client, request, stream, first, part_size, source, progress)
        client.complete_multipart_upload(**request, MultipartUpload={"Parts": parts})
    except BaseException:
        _abort(s3, request)
        raise
    return client.written()


def _send_stream_parts(
    client: _DigestingClient,
    request: dict[str, Any],
    stream: Any,
    buffer: bytearray,
    part_size: int,
    source: UploadSource,
    progress: Progress,
) -> list[dict[str, Any]]:
    """Send buffer, then the rest of stream, in parts of part_size; the
    parts' numbers and ETags."""
    parts: list[dict[str, Any]] = []
    ended = False
    while True:
        while len(buffer) >= part_size or (ended and buffer):
            if len(parts) == MAX_PARTS:
                raise ObjectSaveException(
                    f"{source.description} is longer than {MAX_PARTS} parts of {part_size} "
                    "bytes, the most one upload takes: set a larger multipart_chunksize"
                )
            with memoryview(buffer) as view:  # one copy of the part, not two
                part = bytes(view[:part_size])
            del buffer[:part_size]
            number = len(parts) + 1
            answer = client.upload_part(**request, PartNumber=number, Body=io.BytesIO(part))
            parts.append({"PartNumber": number, "ETag": answer["ETag"]})
            progress.add(len(part))
        if ended:
            return parts
        more = _read_up_to(stream, part_size)
        source.size += len(more)
        ended = len(more) < part_size
        buffer += more


def _read_up_to(stream: Any, amount: int) -> bytearray:
    """The next amount bytes of stream, fewer only at its end: a pipe's
    read may return less than asked before it ends."""
    read = bytearray()
    while len(read) < amount:
        chunk = stream.read(min(amount - len(read), READ_SIZE))
        if not chunk:
            break
        read += chunk
    return read


def _upload_resumable(
    s3: RetryingClient,
    client: _DigestingClient,
    source: UploadSource,
    bucket: str,
    key: str,
    config: TransferConfig,
    progress: Progress,
    headers: dict[str, Any],
) -> None:
    part_size = upload_part_size(
        source.size, config.multipart_threshold, config.multipart_chunksize
    )
    assert part_size is not None, "a multipart upload has a part size"
    with contextlib.ExitStack() as opened:
        fileobj, start = _opened(source, opened)
        shared = threading.Lock()

        def window(offset: int, size: int) -> _Window:
            return _Window(fileobj, start + offset, size, source, shared)

        plan = _resume.plan_parts(source.size, part_size)
        workers = config.max_concurrency if config.use_threads else 1
        _resume.upload_parts(s3, client, window, bucket, key, plan, headers, progress, workers)


def _opened(source: UploadSource, opened: contextlib.ExitStack) -> tuple[Reader, int]:
    """The file object source reads from, and its start."""
    if source.filename is not None:
        return opened.enter_context(open(source.filename, "rb")), 0
    assert source.fileobj is not None
    return source.fileobj, source.start


def _put_small(
    client: _DigestingClient,
    source: UploadSource,
    bucket: str,
    key: str,
    headers: dict[str, Any],
) -> None:
    """One PutObject from the calling thread: for a small object, the
    thread pool of a transfer manager costs more than the transfer. Sent by
    the native client where it may (see _native: a third of botocore's
    client CPU); an upload that stores a full-object checksum goes by
    botocore, as the native client sends none."""
    with contextlib.ExitStack() as opened:
        fileobj, start = _opened(source, opened)
        request = {"Bucket": bucket, "Key": key, **headers}
        native = None if client.checksum else _native.put_sender(client.s3, source.size, request)
        request["Body"] = _Window(fileobj, start, source.size, source)
        client.put_object_by(native or client.s3.raw.put_object, request)


def _manager(client: Any, config: TransferConfig) -> TransferManager:
    """A TransferManager honouring use_threads, as boto3's own helper does."""
    executor = None if config.use_threads else NonThreadedExecutor
    return TransferManager(client, config, executor_cls=executor)


def _digests_of_body(body: Any, algorithm: str | None) -> tuple[bytes, PartCrc | None]:
    """The body's MD5 and, with an algorithm, its CRC: in one pass."""
    if isinstance(body, (bytes, bytearray, memoryview)):
        crc = PartCrc(crc_of(algorithm, body), len(body)) if algorithm else None
        return hashlib.md5(body).digest(), crc
    start = body.tell()
    digest = hashlib.md5()
    value = length = 0
    for chunk in read_chunks(body):
        digest.update(chunk)
        if algorithm:
            value, length = crc_of(algorithm, chunk, value), length + len(chunk)
    body.seek(start)
    return digest.digest(), PartCrc(value, length) if algorithm else None


def _base64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


class _CopyingClient:
    """The client of one copy: its CompleteMultipartUpload is conditional as
    options say (a copy with if_none_match is always a multipart one: CopyObject
    has no If-None-Match in botocore 1.36, and moto ignores it), and it keeps
    the ETag the store answered the copy with."""

    def __init__(self, s3: RetryingClient, options: WriteOptions) -> None:
        self._s3 = s3
        self._options = options
        self.answered_etag: str | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s3, name)

    def copy_object(self, **request: Any) -> Any:
        assert not self._options.if_none_match, "a conditional copy is a multipart one"
        response = self._s3.copy_object(**request)
        self.answered_etag = response.get("CopyObjectResult", {}).get("ETag")
        return response

    def complete_multipart_upload(self, **request: Any) -> Any:
        def etag() -> Etag:
            parts = request["MultipartUpload"]["Parts"]
            return multipart_etag([bytes.fromhex(Etag.parse(p["ETag"]).digest) for p in parts])

        response, self.answered_etag = complete(
            self._s3, request, etag, conditional=self._options.if_none_match
        )
        return response


def copy(
    s3: RetryingClient,
    source: StoredObject,
    bucket: str,
    key: str,
    part_size: int | None,
    config: TransferConfig,
    progress: Progress,
    options: WriteOptions | None = None,
) -> str | None:
    """Copy source server-side to bucket/key: one CopyObject when part_size
    is None, else UploadPartCopy on part_size boundaries; every request
    conditional on the source's ETag (CopySourceIfMatch). The ETag the store
    answered the copy with (None where it did not say)."""
    copy_config = TransferConfig(
        multipart_threshold=source.size + 1 if part_size is None else 1,
        multipart_chunksize=part_size or config.multipart_chunksize,
        max_concurrency=config.max_concurrency,
        use_threads=config.use_threads,
    )
    # CopyObject keeps the source's content headers itself; a multipart copy
    # is a new upload that has to be given them.
    extra_args = {
        "CopySourceIfMatch": source.raw_etag,
        **copied_headers(source.head, content=part_size is not None),
    }
    copy_source = {"Bucket": source.bucket, "Key": source.key}
    subscribers = [_KnownObject(source.size, source.raw_etag), _Reporting(progress)]
    client = _CopyingClient(s3, options or WriteOptions())
    try:
        with _manager(client, copy_config) as manager:
            manager.copy(copy_source, bucket, key, extra_args, subscribers=subscribers).result()
    except COPY_FAILED as error:
        if isinstance(error, ClientError) and not is_precondition_failed(error):
            raise
        raise Mismatch(f"{source.name} changed while it was copied") from error
    return client.answered_etag
