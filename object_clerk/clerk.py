"""ObjectClerk: verified, retried S3 object operations."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import Executor
from datetime import timedelta
from pathlib import Path
from typing import Any

from object_clerk import _aws_config, _sync
from object_clerk._aws_config import DEFAULT_REGION
from object_clerk._client import Connection, Secret, aws_config_connection
from object_clerk._engine import Engine
from object_clerk._hash_cache import HashCache
from object_clerk._headers import DEFAULT_CONTENT_TYPE, upload_headers
from object_clerk._retry import RetryPolicy
from object_clerk._settings import (
    DEFAULT_LIST_PAGE_SIZE,
    Settings,
    page_size,
    settings_from_env,
)
from object_clerk._sync import DEFAULT_WORKERS
from object_clerk.typing import (
    CheckReport,
    EntryCallback,
    IncompleteUpload,
    ProgressCallback,
    SyncReport,
    UploadData,
)

__all__ = ["DEFAULT_WORKERS", "ObjectClerk"]


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
        policy, settings = _policy_and_settings(
            retry_delay=retry_delay,
            retry_backoff=retry_backoff,
            retry_jitter=retry_jitter,
            retry_max_delay=retry_max_delay,
            retry_tries=retry_tries,
            list_objects_page_size=list_objects_page_size,
            client_config=client_config,
            transfer_config=transfer_config,
            checksum_algorithm=checksum_algorithm,
        )
        # None for a clerk of AWS's own endpoint (see from_aws_config).
        self.host: str | None = host
        self.port: int | str | None = port
        self.access_key = access_key
        self.use_ssl = use_ssl
        self.endpoint_url: str | None = f"{'https' if use_ssl else 'http'}://{host}:{port}"
        self.region = DEFAULT_REGION
        self.profile: str | None = None
        connection = Connection(
            self.endpoint_url, access_key, Secret(secret_key), settings.client_config, verify
        )
        self._start(connection, policy, settings)

    @classmethod
    def from_aws_config(
        cls,
        profile: str | None = None,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        verify: bool | str | None = None,
        **options: Any,
    ) -> ObjectClerk:
        """A clerk configured as boto3 and the aws command line are: by
        botocore's own resolution of the environment (AWS_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_PROFILE,
        AWS_DEFAULT_REGION, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL,
        AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE), the profile (None:
        AWS_PROFILE, else "default") of ~/.aws/credentials and ~/.aws/config
        (keys, session token, role to assume, region, endpoint_url, the s3
        entry of its services section, ca_bundle) and the instance's role.

        endpoint_url and region, where given, take precedence over the
        configuration's; with no endpoint configured the clerk talks to AWS
        S3, and with no region it is us-east-1. Credentials that expire (an
        assumed role) are refreshed by botocore as they do. options are the
        constructor's other keywords (retry_delay, retry_tries, ...,
        client_config, transfer_config, checksum_algorithm).

        Pickled to another process (multiprocessing, Dask), the clerk
        carries its profile, endpoint and region but no credentials: the
        other process resolves the profile's credentials again, as boto3
        there would, so that a long-lived worker's never go stale and no
        pickled task holds a secret. That process needs the same
        configuration (environment, files or instance role).

        No credentials, a missing profile or an unreadable configuration
        file: ObjectClerkConfigurationException naming what is missing."""
        resolved = _aws_config.resolve(profile, endpoint_url, region)
        policy, settings = _policy_and_settings(**options)
        clerk = cls.__new__(cls)
        clerk.endpoint_url = resolved.endpoint_url
        clerk.host, clerk.port, clerk.use_ssl = _aws_config.host_port_ssl(resolved.endpoint_url)
        clerk.access_key = resolved.access_key
        clerk.region = resolved.region
        clerk.profile = resolved.profile
        connection = aws_config_connection(resolved, settings.client_config, verify)
        clerk._start(connection, policy, settings)
        return clerk

    def _start(self, connection: Connection, policy: RetryPolicy, settings: Settings) -> None:
        self._engine = Engine(connection, policy, settings)
        self._engine.connect()  # a bad endpoint or CA bundle is refused here, not later

    def __repr__(self) -> str:
        p = self._engine.policy
        made_from = "" if self.profile is None else f"profile={self.profile!r}, "
        if self.profile is not None or self.region != DEFAULT_REGION:
            made_from += f"region={self.region!r}, "
        return (
            f"ObjectClerk({made_from}host={self.host!r}, port={self.port!r}, "
            f"access_key={self.access_key!r}, secret_key='***', retry_delay={p.delay!r}, "
            f"retry_backoff={p.backoff!r}, retry_jitter={p.jitter!r}, "
            f"retry_max_delay={p.max_delay!r}, retry_tries={p.tries!r}, use_ssl={self.use_ssl!r})"
        )

    # -- reading -----------------------------------------------------------

    def get_object_info(self, bucket: str, object_key: str) -> dict[str, str]:
        """The object's HTTP headers, names in lower case (etag,
        content-length, content-type, last-modified, x-amz-meta-*...)."""
        return self._engine.info(bucket, object_key)

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
        return self._engine.read(bucket, object_key, verify_checksum, callback)

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
        self._engine.download(bucket, object_key, Path(path), verify_checksum, callback, resume)

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
        page = self._engine.settings.list_page_size if max_keys is None else max_keys
        return self._engine.objects(bucket, prefix, page_size("max_keys", page))

    def list_level(self, bucket: str, prefix: str | None = None) -> Iterator[dict[str, Any]]:
        """One level under prefix, as ``aws s3 ls`` shows it: the objects
        directly under it (dicts as list_objects yields) and the common
        prefixes below it ({"Prefix": "a/b/"}), in key order, lazily."""
        if prefix is not None and not isinstance(prefix, str):
            raise TypeError(f"prefix must be a str, not {type(prefix).__name__}")
        return self._engine.level(bucket, prefix or "", self._engine.settings.list_page_size)

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
        allow_empty: bool = False,
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
        ObjectSourceChangedException says so.

        Empty data is refused (ObjectSaveException), as it always was,
        unless allow_empty=True: then it is stored as an empty object,
        verified like any other (its ETag is the MD5 of nothing)."""
        headers = upload_headers(content_type, metadata, storage_class)
        self._engine.upload(
            object_data,
            bucket,
            object_key,
            verify_checksum,
            headers,
            callback,
            resume,
            overwrite,
            allow_empty,
        )

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
        self._engine.copy(
            source_bucket,
            source_object_key,
            destination_bucket,
            destination_object_key,
            verify_checksum,
            callback,
            overwrite,
        )

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
        self._engine.move(
            source_bucket,
            source_object_key,
            destination_bucket,
            destination_object_key,
            verify_checksum,
            overwrite,
        )

    def delete_object(self, bucket: str, object_key: str) -> None:
        """Delete bucket/object_key; a key that does not exist is not an error."""
        self._engine.delete(bucket, object_key)

    # -- datasets ------------------------------------------------------------

    def sync(
        self,
        source: str | os.PathLike[str],
        destination: str | os.PathLike[str],
        *,
        delete: bool = False,
        dry_run: bool = False,
        workers: int = DEFAULT_WORKERS,
        callback: ProgressCallback | None = None,
        executor: Executor | None = None,
        on_entry: EntryCallback | None = None,
        include: str | Sequence[str] | None = None,
        exclude: str | Sequence[str] | None = None,
        max_delete: int | None = None,
        hash_cache: str | os.PathLike[str] | None = None,
        report_path: str | os.PathLike[str] | None = None,
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
        is called with the bytes transferred.

        include and exclude (a pattern or a list of them) choose the keys,
        relative to the source and destination roots, that the sync works
        on at both sides: fnmatch patterns ("*" matching "/" too) where a
        key matching an exclude pattern is left out unless it matches an
        include pattern too (see README, "Filters"). A key left out is
        neither transferred, nor deleted, nor reported. With max_delete=N a
        sync that would delete more than N entries deletes none: each is
        reported failed, saying why. hash_cache names a file (outside both
        trees) that keeps local files' digests between runs.

        Each entry is passed to on_entry as it is done, and written to
        report_path where given (JSON Lines: one object per entry, then the
        report without its entries; see README). The report keeps every
        entry of a run of up to ENTRIES_KEPT (10,000), of a larger one only
        the failed ones, the others counted in entries_left_out: memory does
        not grow with the dataset."""
        return _sync.sync(
            self._engine,
            source,
            destination,
            delete=delete,
            dry_run=dry_run,
            workers=workers,
            callback=callback,
            executor=executor,
            on_entry=on_entry,
            include=include,
            exclude=exclude,
            max_delete=max_delete,
            hash_cache=HashCache.at(hash_cache) if hash_cache is not None else None,
            report_path=report_path,
        )

    def check(
        self,
        source: str | os.PathLike[str],
        destination: str | os.PathLike[str],
        *,
        workers: int = DEFAULT_WORKERS,
        executor: Executor | None = None,
        on_entry: EntryCallback | None = None,
        include: str | Sequence[str] | None = None,
        exclude: str | Sequence[str] | None = None,
        hash_cache: str | os.PathLike[str] | None = None,
        report_path: str | os.PathLike[str] | None = None,
    ) -> CheckReport:
        """Compare destination with source, entry by entry, writing nothing:
        same, differ, missing (not at the destination), extra (only there),
        or unverifiable (nothing the store keeps can tell). The report is ok
        only when every entry is the same. include and exclude choose the
        keys compared, and hash_cache keeps local digests, as for sync;
        on_entry and report_path as for sync: past ENTRIES_KEPT entries,
        only those not the same are kept."""
        return _sync.check(
            self._engine,
            source,
            destination,
            workers=workers,
            executor=executor,
            on_entry=on_entry,
            include=include,
            exclude=exclude,
            hash_cache=HashCache.at(hash_cache) if hash_cache is not None else None,
            report_path=report_path,
        )

    # -- unfinished uploads ----------------------------------------------------

    def list_incomplete_uploads(
        self, bucket: str, prefix: str | None = None
    ) -> list[IncompleteUpload]:
        """The multipart uploads under prefix begun and neither completed nor
        aborted (each with .key, .upload_id, .initiated, .parts, .bytes):
        what a resumable upload continues, and what takes space until then."""
        return self._engine.incomplete_uploads(bucket, prefix)

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
        return self._engine.abort_incomplete_uploads(bucket, prefix, older_than)


def _policy_and_settings(
    retry_delay: float = 1,
    retry_backoff: float = 2,
    retry_jitter: float | tuple[float, float] = 0,
    retry_max_delay: float | None = 60,
    retry_tries: int = -1,
    list_objects_page_size: int = DEFAULT_LIST_PAGE_SIZE,
    client_config: dict[str, Any] | None = None,
    transfer_config: dict[str, Any] | None = None,
    checksum_algorithm: str | None = None,
) -> tuple[RetryPolicy, Settings]:
    """The retry policy and settings of the constructor's keywords (see
    ObjectClerk.__init__), with the environment's variables."""
    if isinstance(retry_jitter, list):
        retry_jitter = (retry_jitter[0], retry_jitter[1])
    policy = RetryPolicy(
        delay=retry_delay,
        backoff=retry_backoff,
        jitter=retry_jitter,
        max_delay=retry_max_delay,
        tries=retry_tries,
    )
    settings = settings_from_env(
        client_config=client_config,
        transfer_config=transfer_config,
        list_objects_page_size=list_objects_page_size,
        checksum_algorithm=checksum_algorithm,
    )
    return policy, settings
