"""ObjectClerk: verified, retried S3 object operations."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, NoReturn, TypeVar

from botocore.exceptions import ClientError

from object_clerk import _download, _listing, _localfs, _partial, _resume, _sync, _transfer, _verify
from object_clerk._checksum import Etag, multipart_etag
from object_clerk._client import Connection, ProcessClient, RetryingClient, Secret
from object_clerk._conditions import StoreConditions
from object_clerk._errors import is_not_found, is_precondition_failed, translated_errors
from object_clerk._headers import DEFAULT_CONTENT_TYPE, upload_headers
from object_clerk._layout import upload_part_size
from object_clerk._progress import Progress
from object_clerk._retry import RetryPolicy
from object_clerk._settings import DEFAULT_LIST_PAGE_SIZE, Settings, page_size, settings_from_env
from object_clerk._source import open_source
from object_clerk.exceptions import (
    ObjectClerkConfigurationException,
    ObjectExistsException,
    ObjectSaveException,
    ObjectSourceChangedException,
    ObjectVerificationException,
)
from object_clerk.typing import (
    CheckReport,
    IncompleteUpload,
    ProgressCallback,
    SyncReport,
    UploadData,
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
        *,
        checksum_algorithm: str | None = None,
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
        :param checksum_algorithm: CRC64NVME, CRC32C or CRC32: uploads also
            store a full-object checksum of it, used instead of
            S3_CHECKSUM_ALGORITHM (None: that variable; unset: none)
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
            checksum_algorithm=checksum_algorithm,
        )
        self._conditions = StoreConditions()
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
        *,
        resume: bool = False,
    ) -> None:
        """Write the object to the file at path, in constant memory, checked
        unless verify_checksum is False. The bytes go to a temporary file
        beside path, renamed onto path only once complete and verified: on
        any failure path is untouched and no temporary file is left.

        With resume=True they go to a partial file beside path named after
        path and the object's ETag, which a failure (or the process's end)
        leaves in place, the exception saying so: the next call with
        resume=True for the same version of the object continues after the
        bytes it holds, which are hashed again from the disk and verified
        with the rest. A partial file of another version is removed; held
        bytes that fail verification are removed and fetched again.

        Nothing is written through a symbolic link: a link at path is
        replaced itself, and one planted where the temporary or partial
        file goes is never followed (see _partial). The new file keeps the
        permission bits of the user's own regular file with no other name
        that it replaces, else takes the umask's; never set-id or sticky
        bits."""
        target = Path(path)
        what = f"download_object {bucket}/{object_key} to {str(target)!r}"
        # The directory the user named is opened once (followed: it is the
        # user's); every name in it is then found relative to it.
        with translated_errors(what), _localfs.opened(target.parent) as directory:
            if not resume:
                self._download_at(bucket, object_key, directory, target, verify_checksum, callback)
                return
            download = _partial.Download(directory, target)
            with download.reporting_kept(), translated_errors(what):
                download.run(
                    lambda make_sink: self._fetch(
                        bucket, object_key, make_sink, verify_checksum, callback
                    ),
                    lambda: _new_file_mode(directory, target.name),
                )

    def _download_at(
        self,
        bucket: str,
        object_key: str,
        directory: int,
        target: Path,
        verify_checksum: bool = True,
        callback: ProgressCallback | None = None,
    ) -> None:
        """download_object without resume, to the name target.name in the
        open directory (target is its path, for messages): a download into
        a tree finds every name relative to a directory it opened without
        following links (see _localfs), never by a path looked up again.
        The temporary file is made exclusively, never through a link, under
        a random name cut to fit any file system's limit in bytes."""
        what = f"download_object {bucket}/{object_key} to {str(target)!r}"
        with translated_errors(what):
            name, fd = _localfs.create_temporary(
                directory, f".{_partial.name_part(target.name)}.", ".part"
            )
            with os.fdopen(fd, "r+b") as file:
                created = os.fstat(fd)
                try:
                    self._fetch(
                        bucket,
                        object_key,
                        lambda size: _download.FileSink(fd, size),
                        verify_checksum,
                        callback,
                    )
                    file.flush()
                    os.fsync(fd)
                    # On the descriptor, and renamed while it is open: the name
                    # may have been swapped meanwhile (see _download.replace_own).
                    os.fchmod(fd, _new_file_mode(directory, target.name))
                    _download.replace_own(fd, directory, name, target.name, target)
                except BaseException:
                    _download.unlink_own(directory, name, created)  # while open
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
        return _listing.objects(self._s3, bucket, prefix, page_size("max_keys", page))

    # -- writing -----------------------------------------------------------

    def upload_object(
        self,
        object_data: UploadData,
        bucket: str,
        object_key: str,
        verify_checksum: bool = True,
        content_type: str = DEFAULT_CONTENT_TYPE,
        metadata: dict[str, str] | None = None,
        storage_class: str | None = None,
        *,
        callback: ProgressCallback | None = None,
        resume: bool = False,
        overwrite: bool = True,
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
        earlier is continued and a failed upload leaves nothing.

        With overwrite=False an object already under the key is never
        replaced: the write is conditional (If-None-Match), and
        ObjectExistsException says the key exists, nothing of this upload
        kept. On a store that would ignore the condition ObjectSaveException
        refuses before anything is sent, as it does where the store would
        not keep the full-object checksum asked for.

        A file that changes while it is read (size, times, inode, device) is
        never stored as a mix of two versions: no body is sent and no upload
        completed unless the file is as it was when the attempt began, and
        a short read sends nothing. The key keeps what it held, the upload
        is tried again (VERIFY_ATTEMPTS in all when verified), and then
        ObjectSourceChangedException says so."""
        self._upload(
            object_data,
            bucket,
            object_key,
            verify_checksum,
            upload_headers(content_type, metadata, storage_class),
            callback,
            resume,
            overwrite,
        )

    def _upload(
        self,
        object_data: UploadData,
        bucket: str,
        object_key: str,
        verify_checksum: bool,
        headers: dict[str, Any] | None = None,
        callback: ProgressCallback | None = None,
        resume: bool = False,
        overwrite: bool = True,
    ) -> Etag:
        """upload_object, returning the ETag of the bytes sent (and, when
        verified, stored): what a sync compares its listing with."""
        headers = upload_headers() if headers is None else headers
        progress = Progress(callback)
        where = f"{bucket}/{object_key}"
        algorithm = self._settings.checksum_algorithm
        if resume and algorithm:
            raise ObjectClerkConfigurationException(
                f"upload_object {where}: resume=True does not keep a full-object "
                f"{algorithm} checksum (parts kept from an earlier upload carry none)"
            )
        with translated_errors(f"upload_object {where}"), open_source(object_data) as source:
            config = self._settings.upload_config
            options = _transfer.WriteOptions(if_none_match=not overwrite, checksum=algorithm)
            if not overwrite:
                multipart = source.size >= config.multipart_threshold
                self._refuse_overwrite(bucket, object_key, "complete" if multipart else "put")

            def store() -> Etag:
                # Each request that sends or completes what was read first
                # proves the source unchanged since refresh (see _transfer):
                # a changed source is refused before it is stored.
                progress.restart()
                source.refresh()
                if algorithm:
                    multipart = source.size >= config.multipart_threshold
                    self._check_checksum_keepable(bucket, object_key, algorithm, multipart)
                sent = _transfer.upload(
                    self._s3, source, bucket, object_key, config, progress, headers, resume, options
                )
                what = f"upload of {source.description}"
                if verify_checksum:
                    self._check_stored(bucket, object_key, sent, what)
                elif algorithm:
                    self._check_checksum_kept(
                        _verify.head(self._s3, bucket, object_key), sent, what
                    )
                # Changed after it was read whole: stored is one version of
                # it, not the file as it is now, which the next attempt sends.
                kept = "verified" if verify_checksum else "not verified"
                source.ensure_unchanged(f"the store holds it as it was read ({kept})")
                return sent.etag

            return self._verified(store) if verify_checksum else store()

    def copy_object(
        self,
        source_bucket: str,
        source_object_key: str,
        destination_bucket: str,
        destination_object_key: str,
        verify_checksum: bool = True,
        callback: ProgressCallback | None = None,
        *,
        overwrite: bool = True,
    ) -> None:
        """Copy an object server-side, part for part on the source's own part
        boundaries so the copy's ETag equals the source's, and check it unless
        verify_checksum is False. callback, if given, is called with the
        number of bytes copied. The copy keeps the source's content headers,
        user metadata and storage class.

        With overwrite=False an object already at the destination is never
        replaced (ObjectExistsException): the copy is a multipart one whose
        completion is conditional (If-None-Match), so a single-part source's
        copy has the one-part ETag md5(MD5)-1 instead of the source's."""
        self._copy(
            source_bucket,
            source_object_key,
            destination_bucket,
            destination_object_key,
            verify_checksum,
            callback,
            overwrite,
        )

    def _copy(
        self,
        src_bucket: str,
        src_key: str,
        dst_bucket: str,
        dst_key: str,
        verify_checksum: bool,
        callback: ProgressCallback | None,
        overwrite: bool,
    ) -> _verify.StoredObject:
        """copy_object; the source as it was copied (CopySourceIfMatch holds
        every request to its ETag)."""
        progress = Progress(callback)
        source_name, target_name = f"{src_bucket}/{src_key}", f"{dst_bucket}/{dst_key}"
        if (src_bucket, src_key) == (dst_bucket, dst_key):
            raise ObjectSaveException(f"cannot copy {source_name} onto itself")
        options = _transfer.WriteOptions(if_none_match=not overwrite)
        what = f"copy of {source_name}"

        def copy() -> _verify.StoredObject:
            source = _verify.head(self._s3, src_bucket, src_key)
            if not overwrite and source.size == 0:
                raise ObjectSaveException(
                    f"{source_name} is empty: overwrite=False copies in parts, and S3 has no "
                    "part of an empty object"
                )
            layouts = self._copy_layouts(source, verify_checksum)
            for tried, part_size in enumerate(layouts.sizes, 1):
                progress.restart()
                expected = source.etag
                if part_size is None and not overwrite:  # one part, conditional
                    part_size = source.size
                    if verify_checksum:
                        expected = multipart_etag([bytes.fromhex(source.etag.digest)])
                answered = _transfer.copy(
                    self._s3,
                    source,
                    dst_bucket,
                    dst_key,
                    part_size,
                    self._settings.upload_config,
                    progress,
                    options,
                )
                if not verify_checksum:
                    return source
                copied = _verify.head(self._s3, dst_bucket, dst_key)
                if copied.etag == expected:
                    self._check_same_checksums(source, copied, what, answered)
                    return source
                _refuse_unverifiable(copied, what)  # e.g. KMS buckets
                if not overwrite and tried < len(layouts.sizes):
                    # The next layout's conditional copy needs the key free.
                    self._remove_unverified(copied, what, answered)
            if not layouts.known:
                self._remove_unverified(copied, what, answered)
                raise _verify.unverifiable_layout(source, layouts, "copies")
            self._remove_damaged(copied, what, expected, answered)

        with translated_errors(f"copy_object {source_name} to {target_name}"):
            if not overwrite:
                self._refuse_overwrite(dst_bucket, dst_key, "complete")
            return self._verified(copy) if verify_checksum else copy()

    def move_object(
        self,
        source_bucket: str,
        source_object_key: str,
        destination_bucket: str,
        destination_object_key: str,
        verify_checksum: bool = True,
        *,
        overwrite: bool = True,
    ) -> None:
        """Copy an object, then delete the source once the copy is in place
        (and verified unless verify_checksum is False). A move that fails
        leaves the source where it was. overwrite as for copy_object.

        The source is deleted only while it is the object copied (DeleteObject
        If-Match its ETag): one rewritten in the meantime is kept, and
        ObjectSourceChangedException says so, the copy kept too."""
        src_bucket, src_key = source_bucket, source_object_key
        dst_bucket, dst_key = destination_bucket, destination_object_key
        source_name = f"{src_bucket}/{src_key}"
        if (src_bucket, src_key) == (dst_bucket, dst_key):
            raise ObjectSaveException(f"cannot move {source_name} onto itself")
        copied = self._copy(
            src_bucket, src_key, dst_bucket, dst_key, verify_checksum, None, overwrite
        )
        if not verify_checksum:
            self.get_object_info(dst_bucket, dst_key)  # at least in place
        with translated_errors(f"delete_object {source_name}"):
            self._delete_moved(copied, f"{dst_bucket}/{dst_key}")

    def _delete_moved(self, copied: _verify.StoredObject, target_name: str) -> None:
        """Delete a moved source while it is still the version copied. Where
        the store ignores If-Match on DeleteObject, a HEAD just before the
        delete is all that guards it (a rewrite between the two is lost)."""
        if not self._conditions.honours(self._s3, copied.bucket, "delete"):
            try:
                now = _verify.head(self._s3, copied.bucket, copied.key)
            except ClientError as error:
                if is_not_found(error):
                    return
                raise
            if now.raw_etag != copied.raw_etag:
                raise _source_changed(copied, target_name, now.raw_etag)
        try:
            self._s3.delete_object(Bucket=copied.bucket, Key=copied.key, IfMatch=copied.raw_etag)
        except ClientError as error:
            if is_precondition_failed(error):
                raise _source_changed(copied, target_name, None) from error
            if not is_not_found(error):
                raise

    def delete_object(self, bucket: str, object_key: str) -> None:
        """Delete bucket/object_key; a key that does not exist is not an error."""
        with translated_errors(f"delete_object {bucket}/{object_key}"):
            self._s3.delete_object(Bucket=bucket, Key=object_key)

    # -- datasets ------------------------------------------------------------

    def sync(
        self,
        source: str | os.PathLike[str],
        destination: str | os.PathLike[str],
        *,
        delete: bool = False,
        dry_run: bool = False,
        workers: int = 8,
        callback: ProgressCallback | None = None,
        executor: Executor | None = None,
    ) -> SyncReport:
        """Make destination hold what source holds: a local directory or an
        "s3://bucket/prefix" each (local to store uploads, store to local
        downloads, store to store copies server-side), each entry by the
        verified single-object operation. An entry at the destination of the
        same size is left alone only when its content is proven equal (its
        ETag in its own part layout, or a full-object checksum); delete=True
        then removes destination entries absent at the source, and only if
        every transfer succeeded. dry_run decides and writes nothing. A
        failed entry is in the report with its exception; the others go on.
        Steps run on executor (default: a pool of workers threads); callback
        is called with the bytes transferred."""
        return _sync.sync(
            self,
            source,
            destination,
            delete=delete,
            dry_run=dry_run,
            workers=workers,
            callback=callback,
            executor=executor,
        )

    def check(
        self,
        source: str | os.PathLike[str],
        destination: str | os.PathLike[str],
        *,
        workers: int = 8,
        executor: Executor | None = None,
    ) -> CheckReport:
        """Compare destination with source, entry by entry, writing nothing:
        same, differ, missing (not at the destination), extra (only there),
        or unverifiable (nothing the store keeps can tell). The report is ok
        only when every entry is the same."""
        return _sync.check(self, source, destination, workers=workers, executor=executor)

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

    def _check_stored(self, bucket: str, key: str, written: _transfer.Written, what: str) -> None:
        """Compare what the store holds for bucket/key with what was written;
        on a mismatch remove the object this call wrote and raise."""
        stored = _verify.head(self._s3, bucket, key)
        if stored.etag == written.etag:
            self._check_checksum_kept(stored, written, what)
            return
        _refuse_unverifiable(stored, what)
        self._remove_damaged(stored, what, written.etag, written.answered_etag)

    def _check_checksum_keepable(
        self, bucket: str, key: str, algorithm: str, multipart: bool
    ) -> None:
        """Refuse, before anything is sent, an upload whose full-object
        checksum the store would not keep: it would store the object without
        it, replacing the key's object, and only then could that be seen."""
        if not self._conditions.keeps_checksum(self._s3, bucket, algorithm, multipart):
            kind = "multipart upload" if multipart else "PutObject"
            raise ObjectSaveException(
                f"upload_object {bucket}/{key}: the store did not keep its full-object "
                f"{algorithm} checksum when asked to (a {kind} of a probe object, removed "
                "again), so it would not keep this object's; nothing was sent, and the key "
                "keeps what it held. Unset S3_CHECKSUM_ALGORITHM (or checksum_algorithm) "
                "for this store"
            )

    def _check_checksum_kept(
        self, stored: _verify.StoredObject, written: _transfer.Written, what: str
    ) -> None:
        """The full-object checksum asked for must be in the store: one it
        dropped is reported, never taken for kept; a different one is damage."""
        algorithm = self._settings.checksum_algorithm
        if algorithm is None or written.checksum is None:
            return
        kept = stored.full_object_checksums().get(algorithm)
        if kept is None:
            raise ObjectSaveException(
                f"{what} to {stored.name}: the store did not keep its full-object {algorithm} "
                "checksum (it reports none); the object is stored"
                + (" and verified by its ETag" if stored.etag == written.etag else "")
                + ", and left in place. Unset S3_CHECKSUM_ALGORITHM (or checksum_algorithm) "
                "for this store"
            )
        if kept != written.checksum:
            logger.warning("%s: %s has %s %s, not %s", what, stored.name, algorithm, kept, written)
            self._remove_unverified(stored, what, written.answered_etag)
            raise _verify.Mismatch(
                f"{what} to {stored.name}: the store holds {algorithm} {kept}, expected "
                f"{written.checksum}; the damaged object was removed"
            )

    def _check_same_checksums(
        self,
        source: _verify.StoredObject,
        copied: _verify.StoredObject,
        what: str,
        answered: str | None,
    ) -> None:
        """A copy whose full-object checksum differs from its source's (where
        both report one of the same algorithm) is damaged, its ETag equal or not."""
        theirs = source.full_object_checksums()
        for algorithm, value in copied.full_object_checksums().items():
            if algorithm in theirs and theirs[algorithm] != value:
                self._remove_unverified(copied, what, answered)
                raise _verify.Mismatch(
                    f"{what} to {copied.name}: the copy has {algorithm} {value}, the source "
                    f"{theirs[algorithm]}; the damaged copy was removed"
                )

    def _remove_damaged(
        self,
        stored: _verify.StoredObject,
        what: str,
        expected: Etag,
        answered: str | None = None,
    ) -> NoReturn:
        logger.warning(
            "%s: %s has ETag %s, not %s; removing it", what, stored.name, stored.etag, expected
        )
        self._remove_unverified(stored, what, answered)
        raise _verify.Mismatch(
            f"{what} to {stored.name}: the store holds ETag {stored.etag}, expected {expected}; "
            "the damaged object was removed"
        )

    def _remove_unverified(
        self, stored: _verify.StoredObject, what: str, answered: str | None = None
    ) -> None:
        """Remove an object this call wrote and could not verify, and only
        that one: the HEAD (stored) must still show the ETag the store
        answered the write with, and the delete is conditional on it
        (If-Match), so that an object another writer put under the key
        meanwhile is never removed. Where the store ignores If-Match, a
        rewrite between the HEAD and the delete is not guarded."""
        ours = answered or stored.raw_etag
        if Etag.parse(ours) == stored.etag:
            try:
                self._s3.delete_object(Bucket=stored.bucket, Key=stored.key, IfMatch=ours)
                return
            except ClientError as error:
                if is_not_found(error):
                    return
                if not is_precondition_failed(error):
                    raise
        raise ObjectVerificationException(
            f"{what} to {stored.name} could not be verified, and the key was rewritten by "
            f"another writer meanwhile (the store answered this write with ETag {ours}): the "
            "other writer's object was left in place"
        )

    def _refuse_overwrite(self, bucket: str, key: str, feature: Literal["put", "complete"]) -> None:
        """Before an overwrite=False write: refuse where the store would
        ignore If-None-Match on the request that makes the object ("put":
        PutObject, "complete": CompleteMultipartUpload), and where the key
        already holds an object, so that nothing is sent in vain."""
        if not self._conditions.honours(self._s3, bucket, feature):
            operation = "PutObject" if feature == "put" else "CompleteMultipartUpload"
            raise ObjectSaveException(
                f"{bucket}/{key}: overwrite=False cannot be kept on this store: it ignores "
                f"If-None-Match on {operation}; nothing was sent"
            )
        try:
            self._s3.head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if is_not_found(error):
                return
            raise
        raise ObjectExistsException(
            f"{bucket}/{key} already exists: overwrite=False left it as it was; nothing was sent"
        )

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


def _source_changed(
    copied: _verify.StoredObject, target_name: str, now: str | None
) -> ObjectSourceChangedException:
    found = f" (now ETag {now})" if now else ""
    return ObjectSourceChangedException(
        f"move of {copied.name}: the source was rewritten after it was copied{found}; it was "
        f"kept, and so was the verified copy at {target_name} of the version copied (ETag "
        f"{copied.raw_etag})"
    )


def _new_file_mode(directory: int, name: str) -> int:
    """The permission bits of the file replaced (name, in the open
    directory) if it is the user's own regular file with no other name,
    else those of a new file under this process's umask (read from /proc
    where it can be, without changing it). The target is never followed:
    a link there is replaced, and lends no mode; nor does a file planted by
    another user, or a hard link to some other file. Set-id and sticky
    bits are never kept: the content is the store's, not what they were
    given to."""
    found = _localfs.lstat(directory, name)
    if found is not None and _localfs.not_own_file(found) is None:
        return found.st_mode & 0o777
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    return 0o644
