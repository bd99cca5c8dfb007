"""The single-object engine: every verified operation on one object, and
the working parts it needs, in one picklable object.

The facade (ObjectClerk) and the dataset layer (sync and check) both work
through an Engine: the facade turns the published call forms into one call
here each, the dataset layer runs its steps on it. An Engine travels to
other processes (multiprocessing, Dask workers) with its connection, retry
policy and settings, and makes its client once in each process (see
_client.ProcessClient); what it found out about a store's conditions is
found out again there.

Every transfer that is verified runs as an attempt that a mismatch starts
again (VERIFY_ATTEMPTS in all): a damaged body is removed (see _guards) and
sent again, never kept.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

from object_clerk import (
    _download,
    _guards,
    _listing,
    _localfs,
    _partial,
    _resume,
    _transfer,
    _verify,
)
from object_clerk._checksum import Etag, multipart_etag
from object_clerk._client import Connection, ProcessClient, RetryingClient
from object_clerk._conditions import StoreConditions
from object_clerk._errors import translated_errors
from object_clerk._headers import upload_headers
from object_clerk._layout import MAX_TRIED_LAYOUTS, PartLayouts, upload_part_size
from object_clerk._progress import Progress, ProgressCallback
from object_clerk._resume import IncompleteUpload
from object_clerk._retry import RetryPolicy
from object_clerk._settings import Settings
from object_clerk._source import UploadData, is_stream, open_source, stream_source
from object_clerk.exceptions import (
    ObjectClerkConfigurationException,
    ObjectSaveException,
    ObjectVerificationException,
)

T = TypeVar("T")
SinkT = TypeVar("SinkT", bound=_download.Sink)

# A transfer whose result does not match its checksum is done again this
# many times in all before the mismatch is reported.
VERIFY_ATTEMPTS = 3


class Engine:
    """One connection's verified single-object operations. Shared by
    threads; pickled without its client."""

    def __init__(self, connection: Connection, policy: RetryPolicy, settings: Settings) -> None:
        self.policy = policy
        self.settings = settings
        self.conditions = StoreConditions()
        self._clients = ProcessClient(connection, policy)

    @property
    def client(self) -> RetryingClient:
        """This process's retrying client."""
        return self._clients.get()

    def connect(self) -> None:
        """Make this process's client now, so that a bad endpoint or CA
        bundle is refused by whoever made the engine."""
        self._clients.get()

    def verified(self, attempt: Callable[[], T]) -> T:
        """Run attempt again while it ends in a checksum mismatch."""
        return self.policy.retry(attempt, _verify.Mismatch, tries=VERIFY_ATTEMPTS)

    def own_part_size(self, size: int) -> int | None:
        """The part size this engine's uploads use for size bytes."""
        settings = self.settings
        return upload_part_size(size, settings.multipart_threshold, settings.multipart_chunksize)

    def layouts(self, stored: _verify.StoredObject) -> PartLayouts:
        """stored's part layout as the store reports it, else the guesses,
        the part size this engine's own uploads would use first."""
        return _verify.part_layouts(self.client, stored, [self.own_part_size(stored.size)])

    # -- reading -----------------------------------------------------------

    def info(self, bucket: str, key: str) -> dict[str, str]:
        """The object's HTTP headers, names in lower case."""
        with translated_errors(f"head_object {bucket}/{key}"):
            response = self.client.head_object(Bucket=bucket, Key=key)
        return dict(response["ResponseMetadata"]["HTTPHeaders"])

    def objects(self, bucket: str, prefix: str | None, page_size: int) -> Iterator[dict[str, Any]]:
        """Every object under prefix, in key order, a page per request."""
        return _listing.objects(self.client, bucket, prefix, page_size)

    def level(self, bucket: str, prefix: str, page_size: int) -> Iterator[dict[str, Any]]:
        """One level under prefix, as the store groups keys by "/": each
        object (its listing entry) and each common prefix ({"Prefix": ...}),
        in key order; pages checked to advance, as every listing is."""
        request = {"Bucket": bucket, "Prefix": prefix, "Delimiter": "/", "MaxKeys": page_size}
        for page in _listing.pages(self.client, request):
            found = [*page.get("CommonPrefixes", []), *page.get("Contents", [])]
            yield from sorted(
                found, key=lambda entry: (entry.get("Prefix") or entry["Key"]).encode()
            )

    def fetch(
        self,
        bucket: str,
        key: str,
        make_sink: Callable[[int], SinkT],
        verify: bool,
        callback: ProgressCallback | None,
        opened: _download.Opened | None = None,
    ) -> SinkT:
        """The object's bytes in a new sink of its size, verified if asked.
        Parts are hashed as they arrive in the likeliest layout: when it is
        right, no second pass over the bytes is needed. opened (a GET
        already answered, which this closes) stands for the first attempt's
        HEAD and GET."""
        progress = Progress(callback)
        config = self.settings.download_config

        def attempt() -> SinkT:
            nonlocal opened
            first, opened = opened, None
            try:
                progress.restart()
                s3 = self.client
                stored = first.stored if first is not None else _verify.head(s3, bucket, key)
                layouts = None
                if verify:
                    _verify.ensure_verifiable(stored)
                    layouts = self.layouts(stored)
                likely = layouts.sizes[0] if layouts and layouts.sizes else None
                sink = make_sink(stored.size)
                try:
                    arrived = _download.fetch(
                        s3, stored, sink, config, progress, likely, verify, first
                    )
                    if verify:
                        _verify.check_bytes(sink.chunks, stored, layouts, arrived)
                except BaseException:
                    sink.discard()
                    raise
                return sink
            finally:
                if first is not None:
                    first.close()

        return self.verified(attempt) if verify else attempt()

    def read(self, bucket: str, key: str, verify: bool, callback: ProgressCallback | None) -> bytes:
        """The object's bytes, in memory."""
        with translated_errors(f"get_object {bucket}/{key}"):
            return self.fetch(bucket, key, _download.MemorySink, verify, callback).value()

    def download(
        self,
        bucket: str,
        key: str,
        target: Path,
        verify: bool,
        callback: ProgressCallback | None,
        resume: bool,
    ) -> None:
        """The object written to target (see ObjectClerk.download_object).
        The directory the user named is opened once (followed: it is the
        user's); every name in it is then found relative to it."""
        what = f"download_object {bucket}/{key} to {str(target)!r}"
        with translated_errors(what), _localfs.opened(target.parent) as directory:
            if not resume:
                self.download_at(bucket, key, directory, target, verify, callback)
                return
            download = _partial.Download(directory, target)
            with download.reporting_kept(), translated_errors(what):
                download.run(
                    lambda make_sink: self.fetch(bucket, key, make_sink, verify, callback),
                    lambda: _localfs.new_file_mode(directory, target.name),
                )

    def download_at(
        self,
        bucket: str,
        key: str,
        directory: int,
        target: Path,
        verify: bool = True,
        callback: ProgressCallback | None = None,
        *,
        size: int | None = None,
        flushes: _localfs.Flushes | None = None,
    ) -> None:
        """A download without resume to the name target.name in the open
        directory (target is its path, for messages): a download into a
        tree finds every name relative to a directory it opened without
        following links (see _localfs), never by a path looked up again.
        The temporary file is made exclusively, never through a link, under
        a random name cut to fit any file system's limit in bytes, and
        renamed onto the target only once complete and verified.

        Without flushes it is on disk (fsync) before the rename: the target
        holds the old file or the whole new one, whatever happens. With
        flushes (a sync's batch) the fsync is left to flushes.flush(), one
        for the batch. The first GET asks for the whole object: a small one
        (see small_bound) is read into memory and verified there before
        anything is written, a large one goes on the large way (fetch) from
        that GET. size is the object's size where a listing told it: a large
        one then goes the large way at once."""
        what = f"download_object {bucket}/{key} to {str(target)!r}"
        with translated_errors(what):
            name, fd = _localfs.create_temporary(
                directory, f".{_partial.name_part(target.name)}.", ".part"
            )
            with os.fdopen(fd, "r+b") as file:
                created = os.fstat(fd)
                try:
                    fetched = None
                    if size is None or size <= self.small_bound():
                        fetched = self._fetch_small(bucket, key, verify, callback)
                    if isinstance(fetched, bytearray):
                        _download.write_at(fd, 0, fetched)
                    else:
                        self.fetch(
                            bucket,
                            key,
                            lambda length: _download.FileSink(fd, length),
                            verify,
                            callback,
                            fetched,
                        )
                        file.flush()
                    if flushes is None:
                        os.fsync(fd)
                    else:  # held before the rename: a failure here renames nothing
                        flushes.add(fd, directory)
                    # On the descriptor, and renamed while it is open: the name
                    # may have been swapped meanwhile (see _download.replace_own).
                    os.fchmod(fd, _localfs.new_file_mode(directory, target.name))
                    _download.replace_own(fd, directory, name, target.name, target)
                except BaseException:
                    _download.unlink_own(directory, name, created)  # while open
                    raise

    def small_bound(self) -> int:
        """The largest object fetched by one GET into memory: SMALL_OBJECT,
        or less where the download threshold is lower."""
        threshold: int = self.settings.download_config.multipart_threshold
        return min(_download.SMALL_OBJECT, threshold)

    def _fetch_small(
        self, bucket: str, key: str, verify: bool, callback: ProgressCallback | None
    ) -> bytearray | _download.Opened | None:
        """The bytes of a small object, verified if asked, by one GET (and,
        for a multipart object, the HEAD that tells its part size); for a
        larger one its GET unread (see _download.fetch_small), or None. The
        same checks as fetch: the ETag (its MD5, or its part layout),
        full-object checksums, a mismatch fetched again."""
        progress = Progress(callback)
        bound = self.small_bound()

        def attempt() -> bytearray | _download.Opened | None:
            progress.restart()
            fetched = _download.fetch_small(self.client, bucket, key, bound, progress)
            if not isinstance(fetched, _download.Fetched):
                return fetched
            if not verify:
                return fetched.data
            stored = fetched.stored
            _verify.ensure_verifiable(stored)
            layouts = self.layouts(stored)  # a request only for a multipart object
            arrived = Etag(fetched.md5.hex(), None) if stored.etag.parts is None else None
            _verify.check_bytes(lambda: [fetched.data], stored, layouts, arrived)
            return fetched.data

        return self.verified(attempt) if verify else attempt()

    # -- writing -----------------------------------------------------------

    def upload(
        self,
        object_data: UploadData,
        bucket: str,
        key: str,
        verify: bool,
        headers: dict[str, Any] | None = None,
        callback: ProgressCallback | None = None,
        resume: bool = False,
        overwrite: bool = True,
        allow_empty: bool = True,
    ) -> Etag:
        """object_data stored under bucket/key (see ObjectClerk.upload_object);
        the ETag of the bytes sent (and, when verified, stored): what a sync
        compares its listing with. Empty data is an empty object unless
        allow_empty is False (upload_object's published refusal)."""
        headers = upload_headers() if headers is None else headers
        progress = Progress(callback)
        where = f"{bucket}/{key}"
        algorithm = self.settings.checksum_algorithm
        if is_stream(object_data) and overwrite and not resume and not algorithm:
            return self._upload_stream(
                object_data, bucket, key, verify, headers, progress, allow_empty
            )
        if resume and algorithm:
            raise ObjectClerkConfigurationException(
                f"upload_object {where}: resume=True does not keep a full-object "
                f"{algorithm} checksum (parts kept from an earlier upload carry none)"
            )
        with (
            translated_errors(f"upload_object {where}"),
            open_source(object_data, allow_empty=allow_empty) as source,
        ):
            config = self.settings.upload_config
            options = _transfer.WriteOptions(if_none_match=not overwrite, checksum=algorithm)
            if not overwrite:
                multipart = source.size >= config.multipart_threshold
                feature: Literal["put", "complete"] = "complete" if multipart else "put"
                _guards.refuse_overwrite(self.client, self.conditions, bucket, key, feature)

            def store() -> Etag:
                # Each request that sends or completes what was read first
                # proves the source unchanged since refresh (see _transfer):
                # a changed source is refused before it is stored.
                progress.restart()
                source.refresh()
                s3 = self.client
                if algorithm:
                    multipart = source.size >= config.multipart_threshold
                    _guards.check_checksum_keepable(
                        s3, self.conditions, bucket, key, algorithm, multipart
                    )
                sent = _transfer.upload(
                    s3, source, bucket, key, config, progress, headers, resume, options
                )
                what = f"upload of {source.description}"
                if verify:
                    _guards.check_stored(s3, bucket, key, sent, what, algorithm)
                elif algorithm:
                    stored = _verify.head(s3, bucket, key)
                    _guards.check_checksum_kept(s3, stored, sent, what, algorithm)
                # Changed after it was read whole: stored is one version of
                # it, not the file as it is now, which the next attempt sends.
                kept = "verified" if verify else "not verified"
                source.ensure_unchanged(f"the store holds it as it was read ({kept})")
                return sent.etag

            return self.verified(store) if verify else store()

    def _upload_stream(
        self,
        stream: Any,
        bucket: str,
        key: str,
        verify: bool,
        headers: dict[str, Any],
        progress: Progress,
        allow_empty: bool,
    ) -> Etag:
        """A stream (a pipe, standard input) stored as it arrives, read once
        (see _transfer.upload_stream). A part that fails is sent again from
        its copy in memory; the whole cannot be read again, so a stored
        object that is not what was read is removed and reported, not sent
        again. A conditional write, a resumable one, or one with a
        full-object checksum needs the sizes or the bytes again: those
        copy the stream aside first (see _source), as every stream did."""
        where = f"{bucket}/{key}"
        with translated_errors(f"upload_object {where}"):
            source = stream_source(stream, allow_empty)
            s3 = self.client
            config = self.settings.upload_config
            sent = _transfer.upload_stream(
                s3, source, stream, bucket, key, config, progress, headers
            )
            if verify:
                try:
                    _guards.check_stored(
                        s3, bucket, key, sent, f"upload of {source.description}", None
                    )
                except _verify.Mismatch as error:
                    raise ObjectVerificationException(
                        f"{error}; {source.description} can be read only once, so it was not "
                        "sent again"
                    ) from error
            return sent.etag

    def copy(
        self,
        src_bucket: str,
        src_key: str,
        dst_bucket: str,
        dst_key: str,
        verify: bool,
        callback: ProgressCallback | None,
        overwrite: bool,
    ) -> _verify.StoredObject:
        """A server-side copy (see ObjectClerk.copy_object); the source as it
        was copied (CopySourceIfMatch holds every request to its ETag)."""
        progress = Progress(callback)
        source_name, target_name = f"{src_bucket}/{src_key}", f"{dst_bucket}/{dst_key}"
        if (src_bucket, src_key) == (dst_bucket, dst_key):
            raise ObjectSaveException(f"cannot copy {source_name} onto itself")
        options = _transfer.WriteOptions(if_none_match=not overwrite)
        what = f"copy of {source_name}"

        def copy() -> _verify.StoredObject:
            s3 = self.client
            source = _verify.head(s3, src_bucket, src_key)
            if not overwrite and source.size == 0:
                raise ObjectSaveException(
                    f"{source_name} is empty: overwrite=False copies in parts, and S3 has no "
                    "part of an empty object"
                )
            layouts = self._copy_layouts(source, verify)
            for tried, part_size in enumerate(layouts.sizes, 1):
                progress.restart()
                expected = source.etag
                if part_size is None and not overwrite:  # one part, conditional
                    part_size = source.size
                    if verify:
                        expected = multipart_etag([bytes.fromhex(source.etag.digest)])
                config = self.settings.upload_config
                answered = _transfer.copy(
                    s3, source, dst_bucket, dst_key, part_size, config, progress, options
                )
                if not verify:
                    return source
                copied = _verify.head(s3, dst_bucket, dst_key)
                if copied.etag == expected:
                    _guards.check_same_checksums(s3, source, copied, what, answered)
                    return source
                _guards.refuse_unverifiable(copied, what)  # e.g. KMS buckets
                if not overwrite and tried < len(layouts.sizes):
                    # The next layout's conditional copy needs the key free.
                    _guards.remove_unverified(s3, copied, what, answered)
            if not layouts.known:
                _guards.remove_unverified(s3, copied, what, answered)
                raise _verify.unverifiable_layout(source, layouts, "copies")
            _guards.remove_damaged(s3, copied, what, expected, answered)

        with translated_errors(f"copy_object {source_name} to {target_name}"):
            if not overwrite:
                _guards.refuse_overwrite(
                    self.client, self.conditions, dst_bucket, dst_key, "complete"
                )
            return self.verified(copy) if verify else copy()

    def move(
        self,
        src_bucket: str,
        src_key: str,
        dst_bucket: str,
        dst_key: str,
        verify: bool,
        overwrite: bool,
    ) -> None:
        """A copy, then the source deleted while it is still the version
        copied (see ObjectClerk.move_object)."""
        source_name = f"{src_bucket}/{src_key}"
        if (src_bucket, src_key) == (dst_bucket, dst_key):
            raise ObjectSaveException(f"cannot move {source_name} onto itself")
        copied = self.copy(src_bucket, src_key, dst_bucket, dst_key, verify, None, overwrite)
        if not verify:
            self.info(dst_bucket, dst_key)  # at least in place
        with translated_errors(f"delete_object {source_name}"):
            target_name = f"{dst_bucket}/{dst_key}"
            _guards.delete_moved(self.client, self.conditions, copied, target_name)

    def delete(self, bucket: str, key: str) -> None:
        """Delete bucket/key; a key that does not exist is not an error."""
        with translated_errors(f"delete_object {bucket}/{key}"):
            self.client.delete_object(Bucket=bucket, Key=key)

    # -- unfinished uploads ------------------------------------------------

    def incomplete_uploads(self, bucket: str, prefix: str | None) -> list[IncompleteUpload]:
        """The multipart uploads under prefix begun and not ended."""
        with translated_errors(f"list_multipart_uploads {bucket}"):
            return list(_resume.incomplete_uploads(self.client, bucket, prefix))

    def abort_incomplete_uploads(
        self, bucket: str, prefix: str | None, older_than: timedelta
    ) -> list[IncompleteUpload]:
        """Abort the unfinished uploads under prefix begun more than
        older_than ago; the ones aborted."""
        cutoff = datetime.now(UTC) - older_than
        aborted = []
        for upload in self.incomplete_uploads(bucket, prefix):
            if upload.initiated <= cutoff:
                with translated_errors(f"abort_multipart_upload {bucket}/{upload.key}"):
                    self.client.abort_multipart_upload(
                        Bucket=bucket, Key=upload.key, UploadId=upload.upload_id
                    )
                aborted.append(upload)
        return aborted

    def _copy_layouts(self, source: _verify.StoredObject, verify: bool) -> PartLayouts:
        """Part sizes to copy source with, most likely first: None (one
        CopyObject) for a single-part source; for a multipart one, part 1's
        size where the store tells it, else a few of the sizes that give its
        part count (each costs a whole copy)."""
        reason = source.unverifiable_reason()
        if verify and reason is not None:
            raise ObjectVerificationException(
                f"{source.name} cannot be copied verifiably: {reason}; {_verify.SKIP_HINT}"
            )
        layouts = self.layouts(source)
        if not layouts.sizes:
            raise ObjectVerificationException(
                f"{source.name} cannot be copied verifiably: no part size splits its "
                f"{source.size} bytes into {source.etag.parts} parts; {_verify.SKIP_HINT}"
            )
        return PartLayouts(layouts.sizes[:MAX_TRIED_LAYOUTS], layouts.known)
