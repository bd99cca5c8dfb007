"""ObjectClerk: verified, retried S3 object operations."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from object_clerk import _download, _resume, _transfer, _verify
from object_clerk._checksum import Etag
from object_clerk._client import Connection, ProcessClient, RetryingClient, Secret
from object_clerk._errors import translated_errors
from object_clerk._headers import upload_headers
from object_clerk._layout import upload_part_size
from object_clerk._progress import Progress, ProgressCallback
from object_clerk._resume import IncompleteUpload
from object_clerk._retry import RetryPolicy
from object_clerk._settings import DEFAULT_LIST_PAGE_SIZE, Settings, page_size, settings_from_env
from object_clerk._source import UploadData, open_source
from object_clerk.exceptions import (
    ObjectSaveException,
    ObjectVerificationException,
)

__all__ = ["ObjectClerk"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
SinkT = TypeVar("SinkT", bound=_download.Sink)

# A transfer whose result does not match its checksum is done again this
# many times in all before the mismatch is reported.
VERIFY_ATTEMPTS = 3
# Where the store does not tell a multipart source's part size, copies try
# at most this many of the part sizes that give its part count.
MAX_COPY_LAYOUTS = 4


class ObjectClerk:
    """Get, upload, copy, move, list and delete objects in existing buckets
    of an S3-compatible store, retrying transient failures and verifying
    every transfer against the checksum the store holds.

    The environment (MULTIPART_THRESHOLD, S3_CLIENT_CONFIG, S3_UPLOAD_CONFIG,
    S3_DOWNLOAD_CONFIG) is read once, here. A clerk may be shared by threads,
    and pickled to other processes (multiprocessing, Dask workers): it
    travels with its endpoint, credentials, retry policy and configuration,
    and makes its boto3 client once in each process, again after a fork.
    """

    def __init__(
        self,
        host: str,
        port: int | str,
        access_key: str,
        secret_key: str,
        retry_delay: float = 1,
        retry_backoff: float = 2,
        retry_jitter: float | tuple[float, float] = 0,
        retry_max_delay: float | None = 60,
        retry_tries: int = -1,
        use_ssl: bool = False,
        list_objects_page_size: int = DEFAULT_LIST_PAGE_SIZE,
        client_config: dict[str, Any] | None = None,
        transfer_config: dict[str, Any] | None = None,
        verify: bool | str | None = None,
    ) -> None:
        """
        :param host: host name or address of the S3 endpoint
        :param port: its port
        :param access_key: access key id
        :param secret_key: secret key (kept for the clients the clerk makes, shown nowhere)
        :param retry_delay: seconds to wait after the first transient failure
        :param retry_backoff: multiplier applied to the wait after each failure
        :param retry_jitter: seconds added to the wait after each failure: a
            number, or a (min, max) range for a random amount
        :param retry_max_delay: the longest wait (None: no limit)
        :param retry_tries: attempts per request in all; -1 retries for ever
        :param use_ssl: https instead of http
        :param list_objects_page_size: entries per listing request, where
            list_objects is not given max_keys
        :param client_config: botocore Config keywords, used instead of
            S3_CLIENT_CONFIG (merged onto the same defaults)
        :param transfer_config: TransferConfig keywords for uploads and
            copies, used instead of S3_UPLOAD_CONFIG; its multipart_threshold
            and multipart_chunksize, where given, replace MULTIPART_THRESHOLD
        :param verify: for https, False to skip certificate verification or
            the path of a CA bundle; None uses the system's
        """
        if isinstance(retry_jitter, list):
            retry_jitter = (retry_jitter[0], retry_jitter[1])
        self._policy = RetryPolicy(
            delay=retry_delay,
            backoff=retry_backoff,
            jitter=retry_jitter,
            max_delay=retry_max_delay,
            tries=retry_tries,
        )
        self._settings: Settings = settings_from_env(
            client_config=client_config,
            transfer_config=transfer_config,
            list_objects_page_size=list_objects_page_size,
        )
        self.host = host
        self.port = port
        self.access_key = access_key
        self.use_ssl = use_ssl
        self.endpoint_url = f"{'https' if use_ssl else 'http'}://{host}:{port}"
        connection = Connection(
            self.endpoint_url, access_key, Secret(secret_key), self._settings.client_config, verify
        )
        self._clients = ProcessClient(connection, self._policy)
        self._clients.get()  # a bad endpoint or CA bundle is refused here, not later

    @property
    def _s3(self) -> RetryingClient:
        """This process's retrying client."""
        return self._clients.get()

    def __repr__(self) -> str:
        p = self._policy
        return (
            f"ObjectClerk(host={self.host!r}, port={self.port!r}, "
            f"access_key={self.access_key!r}, secret_key='***', retry_delay={p.delay!r}, "
            f"retry_backoff={p.backoff!r}, retry_jitter={p.jitter!r}, "
            f"retry_max_delay={p.max_delay!r}, retry_tries={p.tries!r}, use_ssl={self.use_ssl!r})"
        )

    # -- reading -----------------------------------------------------------

    def get_object_info(self, bucket: str, object_key: str) -> dict[str, str]:
        """The object's HTTP headers, names in lower case (etag,
        content-length, content-type, last-modified, x-amz-meta-*...)."""
        with translated_errors(f"head_object {bucket}/{object_key}"):
            response = self._s3.head_object(Bucket=bucket, Key=object_key)
        return dict(response["ResponseMetadata"]["HTTPHeaders"])

    def get_object(
        self,
        bucket: str,
        object_key: str,
        verify_checksum: bool = True,
        callback: ProgressCallback | None = None,
    ) -> bytes:
        """The object's bytes, checked against its ETag (and full-object
        checksum, where the store keeps one) unless verify_checksum is False.
        callback, if given, is called with the number of bytes received."""
        with translated_errors(f"get_object {bucket}/{object_key}"):
            sink = self._fetch(bucket, object_key, _download.MemorySink, verify_checksum, callback)
            return sink.value()

    def download_object(
        self,
        bucket: str,
        object_key: str,
        path: str | os.PathLike[str],
        verify_checksum: bool = True,
        callback: ProgressCallback | None = None,
    ) -> None:
        """Write the object to the file at path, in constant memory, checked
        unless verify_checksum is False. The bytes go to a temporary file
        beside path, renamed onto path only once complete and verified: on
        any failure path is untouched and no temporary file is left."""
        target = Path(path)
        with translated_errors(f"download_object {bucket}/{object_key} to {str(target)!r}"):
            fd, partial = tempfile.mkstemp(  # a name short enough for any target's
                dir=target.parent, prefix=f".{target.name[:200]}.", suffix=".part"
            )
            try:
                with os.fdopen(fd, "r+b") as file:
                    self._fetch(
                        bucket,
                        object_key,
                        lambda size: _download.FileSink(file.fileno(), size),
                        verify_checksum,
                        callback,
                    )
                    file.flush()
                    os.fsync(file.fileno())
                    os.chmod(partial, _new_file_mode(target))
                os.replace(partial, target)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(partial)
                raise

    def _fetch(
        self,
        bucket: str,
        key: str,
        make_sink: Callable[[int], SinkT],
        verify: bool,
        callback: ProgressCallback | None,
    ) -> SinkT:
        """The object's bytes in a new sink of its size, verified if asked."""
        progress = Progress(callback)
        config = self._settings.download_config

        def attempt() -> SinkT:
            progress.restart()
            stored = _verify.head(self._s3, bucket, key)
            layouts = None
            if verify:
                _verify.ensure_verifiable(stored)
                layouts = self._layouts(stored)
            # Parts are hashed as they arrive in the likeliest layout: when it
            # is right, no second pass over the bytes is needed.
            likely = layouts.sizes[0] if layouts and layouts.sizes else None
            sink = make_sink(stored.size)
            try:
                arrived = _download.fetch(self._s3, stored, sink, config, progress, likely, verify)
                if verify:
                    _verify.check_bytes(sink.chunks, stored, layouts, arrived)
            except BaseException:
                sink.discard()
                raise
            return sink

        return self._verified(attempt) if verify else attempt()

    def list_objects(
        self, bucket: str, max_keys: int | str | None = None, prefix: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every object in bucket (under prefix), in key order, lazily:
        dicts with Key, Size, ETag, LastModified... Each page of max_keys
        entries (default: the clerk's list_objects_page_size) is one request,
        retried on its own.

        Both published call forms work: list_objects(bucket, 1000) (0.0.18)
        and list_objects(bucket, "prefix/") (1.1.0, whose second parameter
        was the prefix)."""
        if isinstance(max_keys, str):
            if prefix is not None:
                raise TypeError("list_objects got a prefix twice: as max_keys and as prefix")
            max_keys, prefix = None, max_keys
        if prefix is not None and not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str, not {type(prefix).__name__}")
        page = self._settings.list_page_size if max_keys is None else max_keys
        return self._list_pages(bucket, page_size("max_keys", page), prefix)

    def _list_pages(
        self, bucket: str, max_keys: int, prefix: str | None
    ) -> Iterator[dict[str, Any]]:
        request: dict[str, Any] = {"Bucket": bucket, "MaxKeys": max_keys}
        if prefix:
            request["Prefix"] = prefix
        last_key = None
        while True:
            with translated_errors(f"list_objects_v2 {bucket}"):
                page = self._s3.list_objects_v2(**request)
            contents = page.get("Contents", [])
            yield from contents
            if contents:
                last_key = contents[-1]["Key"]
            if not page.get("IsTruncated"):
                return
            # Some gateways omit the token; StartAfter continues just as well.
            token = page.get("NextContinuationToken")
            if token:
                request["ContinuationToken"] = token
            elif last_key is not None:
                request["StartAfter"] = last_key
            else:
                return

    # -- writing -----------------------------------------------------------

    def upload_object(
        self,
        object_data: UploadData,
        bucket: str,
        object_key: str,
        verify_checksum: bool = True,
        content_type: str = "application/octet-stream",
        metadata: dict[str, str] | None = None,
        storage_class: str | None = None,
        *,
        callback: ProgressCallback | None = None,
        resume: bool = False,
    ) -> None:
        """Store object_data (bytes, a str or Path naming a file, or a
        readable binary file object) under bucket/object_key with its
        Content-Type, user metadata (x-amz-meta-*) and storage class, and
        check that the store holds exactly those bytes unless
        verify_checksum is False. callback, if given, is called with the
        number of bytes sent. The positional order is the published one.

        With resume, an upload in parts continues an earlier unfinished
        upload of the same key as far as its parts are provably this data,
        and when it fails its parts stay in the store for the next call to
        continue (the exception names the upload id). Without, nothing
        earlier is continued and a failed upload leaves nothing."""
        progress = Progress(callback)
        where = f"{bucket}/{object_key}"
        headers = upload_headers(content_type, metadata, storage_class)
        with translated_errors(f"upload_object {where}"), open_source(object_data) as source:
            config = self._settings.upload_config

            def store() -> None:
                progress.restart()
                before = source.fingerprint()
                source.refresh()
                sent = _transfer.upload(
                    self._s3, source, bucket, object_key, config, progress, headers, resume
                )
                if source.fingerprint() != before:
                    raise _verify.Mismatch(f"{source.description} changed while it was uploaded")
                if verify_checksum:
                    self._check_stored(bucket, object_key, sent, f"upload of {source.description}")

            self._verified(store) if verify_checksum else store()

    def copy_object(
        self,
        source_bucket: str,
        source_object_key: str,
        destination_bucket: str,
        destination_object_key: str,
        verify_checksum: bool = True,
        callback: ProgressCallback | None = None,
    ) -> None:
        """Copy an object server-side, part for part on the source's own part
        boundaries so the copy's ETag equals the source's, and check it unless
        verify_checksum is False. callback, if given, is called with the
        number of bytes copied. The copy keeps the source's content headers,
        user metadata and storage class."""
        progress = Progress(callback)
        src_bucket, src_key = source_bucket, source_object_key
        dst_bucket, dst_key = destination_bucket, destination_object_key
        source_name, target_name = f"{src_bucket}/{src_key}", f"{dst_bucket}/{dst_key}"
        if (src_bucket, src_key) == (dst_bucket, dst_key):
            raise ObjectSaveException(f"cannot copy {source_name} onto itself")

        def copy() -> None:
            source = _verify.head(self._s3, src_bucket, src_key)
            layouts = self._copy_layouts(source, verify_checksum)
            for part_size in layouts.sizes:
                progress.restart()
                _transfer.copy(
                    self._s3,
                    source,
                    dst_bucket,
                    dst_key,
                    part_size,
                    self._settings.upload_config,
                    progress,
                )
                if not verify_checksum:
                    return
                copied = _verify.head(self._s3, dst_bucket, dst_key)
                if copied.etag == source.etag:
                    return
                _refuse_unverifiable(copied, f"copy of {source_name}")  # e.g. KMS buckets
            if not layouts.known:
                self._remove_unverified(copied)
                raise _verify.unverifiable_layout(source, layouts, "copies")
            self._remove_damaged(copied, f"copy of {source_name}", source.etag)

        with translated_errors(f"copy_object {source_name} to {target_name}"):
            self._verified(copy) if verify_checksum else copy()

    def move_object(
        self,
        source_bucket: str,
        source_object_key: str,
        destination_bucket: str,
        destination_object_key: str,
        verify_checksum: bool = True,
    ) -> None:
        """Copy an object, then delete the source once the copy is in place
        (and verified unless verify_checksum is False). A move that fails
        leaves the source where it was."""
        src_bucket, src_key = source_bucket, source_object_key
        dst_bucket, dst_key = destination_bucket, destination_object_key
        source_name = f"{src_bucket}/{src_key}"
        if (src_bucket, src_key) == (dst_bucket, dst_key):
            raise ObjectSaveException(f"cannot move {source_name} onto itself")
        self.copy_object(src_bucket, src_key, dst_bucket, dst_key, verify_checksum)
        if not verify_checksum:
            self.get_object_info(dst_bucket, dst_key)  # at least in place
        self.delete_object(src_bucket, src_key)

    def delete_object(self, bucket: str, object_key: str) -> None:
        """Delete bucket/object_key; a key that does not exist is not an error."""
        with translated_errors(f"delete_object {bucket}/{object_key}"):
            self._s3.delete_object(Bucket=bucket, Key=object_key)

    # -- unfinished uploads ----------------------------------------------------

    def list_incomplete_uploads(
        self, bucket: str, prefix: str | None = None
    ) -> list[IncompleteUpload]:
        """The multipart uploads under prefix begun and neither completed nor
        aborted (each with .key, .upload_id, .initiated, .parts, .bytes):
        what a resumable upload continues, and what takes space until then."""
        with translated_errors(f"list_multipart_uploads {bucket}"):
            return list(_resume.incomplete_uploads(self._s3, bucket, prefix))

    def abort_incomplete_uploads(
        self,
        bucket: str,
        prefix: str | None = None,
        older_than: timedelta = timedelta(days=1),
    ) -> list[IncompleteUpload]:
        """Abort the unfinished uploads under prefix begun more than
        older_than ago, freeing their parts; the ones aborted. Younger ones
        may be uploads still under way, and are left alone."""
        if not isinstance(older_than, timedelta):
            raise TypeError(f"older_than must be a timedelta, not {type(older_than).__name__}")
        cutoff = datetime.now(UTC) - older_than
        aborted = []
        for upload in self.list_incomplete_uploads(bucket, prefix):
            if upload.initiated <= cutoff:
                with translated_errors(f"abort_multipart_upload {bucket}/{upload.key}"):
                    self._s3.abort_multipart_upload(
                        Bucket=bucket, Key=upload.key, UploadId=upload.upload_id
                    )
                aborted.append(upload)
        return aborted

    # -- verification --------------------------------------------------------

    def _verified(self, attempt: Callable[[], T]) -> T:
        """Run attempt again while it ends in a checksum mismatch."""
        return self._policy.retry(attempt, _verify.Mismatch, tries=VERIFY_ATTEMPTS)

    def _check_stored(self, bucket: str, key: str, expected: Etag, what: str) -> None:
        """Compare what the store holds for bucket/key with expected; on a
        mismatch remove the object this call wrote and raise."""
        stored = _verify.head(self._s3, bucket, key)
        if stored.etag == expected:
            return
        _refuse_unverifiable(stored, what)
        self._remove_damaged(stored, what, expected)

    def _remove_damaged(self, stored: _verify.StoredObject, what: str, expected: Etag) -> None:
        logger.warning(
            "%s: %s has ETag %s, not %s; removing it", what, stored.name, stored.etag, expected
        )
        self._remove_unverified(stored)
        raise _verify.Mismatch(
            f"{what} to {stored.name}: the store holds ETag {stored.etag}, expected {expected}; "
            "the damaged object was removed"
        )

    def _remove_unverified(self, stored: _verify.StoredObject) -> None:
        """Remove an object this call wrote and could not verify."""
        self._s3.delete_object(Bucket=stored.bucket, Key=stored.key)

    def _own_part_size(self, size: int) -> int | None:
        """The part size this clerk's uploads use for size bytes."""
        settings = self._settings
        return upload_part_size(size, settings.multipart_threshold, settings.multipart_chunksize)

    def _layouts(self, stored: _verify.StoredObject) -> _verify.PartLayouts:
        """stored's part layout as the store reports it, else the guesses,
        the part size this clerk's own uploads would use first."""
        return _verify.part_layouts(self._s3, stored, [self._own_part_size(stored.size)])

    def _copy_layouts(self, source: _verify.StoredObject, verify: bool) -> _verify.PartLayouts:
        """Part sizes to copy source with, most likely first: None (one
        CopyObject) for a single-part source; for a multipart one, part 1's
        size where the store tells it, else a few of the sizes that give its
        part count (each costs a whole copy)."""
        reason = source.unverifiable_reason()
        if verify and reason is not None:
            raise ObjectVerificationException(
                f"{source.name} cannot be copied verifiably: {reason}; {_verify.SKIP_HINT}"
            )
        layouts = self._layouts(source)
        if not layouts.sizes:
            raise ObjectVerificationException(
                f"{source.name} cannot be copied verifiably: no part size splits its "
                f"{source.size} bytes into {source.etag.parts} parts; {_verify.SKIP_HINT}"
            )
        return _verify.PartLayouts(layouts.sizes[:MAX_COPY_LAYOUTS], layouts.known)


def _refuse_unverifiable(stored: _verify.StoredObject, what: str) -> None:
    """An object whose ETag is not an MD5 was written but cannot be checked:
    reported, and left in place rather than removed as damaged."""
    reason = stored.unverifiable_reason()
    if reason is not None:
        raise ObjectVerificationException(
            f"{what} to {stored.name} was stored but cannot be verified: {reason}; "
            f"{_verify.SKIP_HINT}"
        )


def _new_file_mode(target: Path) -> int:
    """The mode of the file replaced, or of a new file under this process's
    umask (read from /proc where it can be, without changing it)."""
    try:
        return target.stat().st_mode & 0o7777
    except FileNotFoundError:
        pass
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    return 0o644
