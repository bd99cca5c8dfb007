"""Multipart uploads that continue where an earlier one stopped.

The store is the source of truth. An unfinished upload of the key
(ListMultipartUploads, ListParts) is continued only as far as its parts are
provably this data: a part is kept when its size is the one this upload
would send and its ETag equals the MD5 of the local bytes at that position;
every other part is sent again. Among several unfinished uploads of the key
the one holding most of this data is continued; an upload holding none of
it is someone else's and is never touched. The finished object is verified
against the whole data by the caller, as every upload is.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from itertools import zip_longest
from typing import Any, Protocol

from botocore.exceptions import ClientError

from object_clerk import _listing
from object_clerk._checksum import read_chunks
from object_clerk._client import RetryingClient
from object_clerk._errors import is_upload_gone, translate
from object_clerk._progress import Progress
from object_clerk._source import Reader, SourceChanged


@dataclass(frozen=True)
class StoredPart:
    number: int
    size: int
    md5: str  # the part's ETag: the hex MD5 of its bytes


@dataclass(frozen=True)
class IncompleteUpload:
    """A multipart upload begun and neither completed nor aborted: its parts
    take space in the store until someone does one or the other."""

    bucket: str
    key: str
    upload_id: str
    initiated: datetime
    stored_parts: tuple[StoredPart, ...]

    @property
    def parts(self) -> int:
        return len(self.stored_parts)

    @property
    def bytes(self) -> int:
        return sum(part.size for part in self.stored_parts)


@dataclass(frozen=True)
class PartPlan:
    """Where each part of an upload comes from in the local data."""

    number: int
    offset: int
    size: int


class PartClient(Protocol):
    """The digesting client of one upload (see _transfer)."""

    def create_multipart_upload(self, **request: Any) -> Any: ...
    def upload_part(self, **request: Any) -> Any: ...
    def complete_multipart_upload(self, **request: Any) -> Any: ...
    def keep_part(self, number: int, digest: bytes) -> None: ...
    def part_digests(self) -> dict[int, bytes]: ...
    def forget_parts(self) -> None: ...


Window = Callable[[int, int], Reader]  # (offset, size) -> a body of those bytes


def plan_parts(size: int, part_size: int) -> list[PartPlan]:
    return [
        PartPlan(number, offset, min(part_size, size - offset))
        for number, offset in enumerate(range(0, size, part_size), start=1)
    ]


def incomplete_uploads(
    s3: RetryingClient, bucket: str, prefix: str | None = None
) -> Iterator[IncompleteUpload]:
    """Every unfinished upload under prefix, with its parts; each page of
    either listing is one request, retried on its own."""
    request: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix or ""}
    # Uploads of one key may span pages: only the markers must be new.
    chain = _listing.Chain(f"list_multipart_uploads {bucket}", max_empty=None)
    while True:
        page = s3.list_multipart_uploads(**request)
        for upload in page.get("Uploads", []):
            parts = tuple(_stored_parts(s3, bucket, upload["Key"], upload["UploadId"]))
            yield IncompleteUpload(
                bucket, upload["Key"], upload["UploadId"], upload["Initiated"], parts
            )
        if not page.get("IsTruncated"):
            return
        request["KeyMarker"] = page.get("NextKeyMarker", "")
        request["UploadIdMarker"] = page.get("NextUploadIdMarker", "")
        if not request["KeyMarker"]:
            return  # a store that pages without markers cannot be followed further
        chain.advance((request["KeyMarker"], request["UploadIdMarker"]))


def _stored_parts(
    s3: RetryingClient, bucket: str, key: str, upload_id: str
) -> Iterator[StoredPart]:
    request: dict[str, Any] = {"Bucket": bucket, "Key": key, "UploadId": upload_id}
    chain = _listing.Chain(f"list_parts {bucket}/{key}")
    while True:
        page = s3.list_parts(**request)
        for part in page.get("Parts", []):
            md5 = str(part.get("ETag", "")).strip().strip('"').lower()
            yield StoredPart(part["PartNumber"], part["Size"], md5)
        marker = page.get("NextPartNumberMarker")
        if not page.get("IsTruncated") or not marker:
            return
        chain.advance(marker, int(marker))  # part numbers ascend
        request["PartNumberMarker"] = marker


def upload_parts(
    s3: RetryingClient,
    client: PartClient,
    window: Window,
    bucket: str,
    key: str,
    plan: list[PartPlan],
    headers: dict[str, Any],
    progress: Progress,
    workers: int,
) -> None:
    """Upload the planned parts of bucket/key, continuing the unfinished
    upload that holds most of them, and complete it. On failure the upload
    is left in the store for the next call, and the exception says so."""
    for attempt in range(2):
        chosen = _continue_or_create(s3, client, window, bucket, key, plan, headers)
        try:
            _send_missing(client, window, bucket, key, chosen, plan, progress, workers)
            digests = client.part_digests()
            parts = [{"PartNumber": n, "ETag": f'"{digests[n].hex()}"'} for n in sorted(digests)]
            client.complete_multipart_upload(
                Bucket=bucket, Key=key, UploadId=chosen.upload_id, MultipartUpload={"Parts": parts}
            )
            return
        except ClientError as error:
            # Another process completed (or aborted) this upload meanwhile:
            # begin again; the store ends with this data either way.
            if attempt == 0 and is_upload_gone(error):
                client.forget_parts()
                continue
            raise _kept(error, key, chosen.upload_id, s3, bucket) from error
        except Exception as error:
            raise _kept(error, key, chosen.upload_id, s3, bucket) from error


@dataclass(frozen=True)
class Continued:
    """The upload parts are sent to: the parts of it proven to be this data
    (kept), and those of the planned size not yet compared (their stored
    MD5s, by number), which are compared as the upload goes."""

    upload_id: str
    kept: frozenset[int] = frozenset()
    unproven: dict[int, str] = field(default_factory=dict)


def _continue_or_create(
    s3: RetryingClient,
    client: PartClient,
    window: Window,
    bucket: str,
    key: str,
    plan: list[PartPlan],
    headers: dict[str, Any],
) -> Continued:
    """The upload to send parts to: the unfinished one of the key holding
    most of this data, else a new one."""
    by_number = {part.number: part for part in plan}
    comparable: list[tuple[IncompleteUpload, dict[int, str]]] = []
    for upload in incomplete_uploads(s3, bucket, key):
        if upload.key != key:  # the listing is by prefix
            continue
        stored = {
            part.number: part.md5
            for part in upload.stored_parts
            if _planned_size(by_number, part) == part.size
        }
        if stored:
            comparable.append((upload, stored))
    digests: dict[int, bytes] = {}

    def matches(number: int, md5: str) -> bool:
        if number not in digests:
            planned = by_number[number]
            digests[number] = _md5(window(planned.offset, planned.size))
        return digests[number].hex() == md5

    chosen: Continued | None = None
    if len(comparable) == 1:
        # The common case (one earlier attempt): the upload is this data's
        # once one of its parts is; the rest are compared while the missing
        # parts are sent, not before.
        upload, stored = comparable[0]
        for number in sorted(stored):
            if matches(number, stored.pop(number)):
                chosen = Continued(upload.upload_id, frozenset({number}), stored)
                break
    elif comparable:
        best: tuple[int, datetime, IncompleteUpload, set[int]] | None = None
        for upload, stored in comparable:
            matching = {number for number, md5 in stored.items() if matches(number, md5)}
            held = sum(by_number[n].size for n in matching)
            if held and (best is None or (held, upload.initiated) > best[:2]):
                best = (held, upload.initiated, upload, matching)
        if best is not None:
            chosen = Continued(best[2].upload_id, frozenset(best[3]))
    if chosen is None:
        created = client.create_multipart_upload(Bucket=bucket, Key=key, **headers)
        return Continued(created["UploadId"])
    for number in chosen.kept:
        client.keep_part(number, digests[number])
    return chosen


def _planned_size(by_number: dict[int, PartPlan], stored: StoredPart) -> int | None:
    planned = by_number.get(stored.number)
    return None if planned is None else planned.size


def _send_missing(
    client: PartClient,
    window: Window,
    bucket: str,
    key: str,
    chosen: Continued,
    plan: list[PartPlan],
    progress: Progress,
    workers: int,
) -> None:
    """Send every part not kept; a part the upload holds but that is not
    proven yet is hashed first, from the same read that would be sent, and
    kept when it is this data."""
    progress.add(sum(part.size for part in plan if part.number in chosen.kept))

    def send(part: PartPlan) -> None:
        # Read whole, once: windows on one file take turns for every read,
        # and the request body would be read 8 KiB at a time.
        data = window(part.offset, part.size).read()
        stored = chosen.unproven.get(part.number)
        if stored is not None:
            digest = hashlib.md5(data).digest()
            if digest.hex() == stored:
                client.keep_part(part.number, digest)
                progress.add(part.size)
                return
        client.upload_part(
            Bucket=bucket,
            Key=key,
            UploadId=chosen.upload_id,
            PartNumber=part.number,
            Body=io.BytesIO(data),
        )
        progress.add(part.size)

    # Comparisons (local work) alternate with sends (network and store work),
    # so that each goes on while the other waits.
    unproven = [part for part in plan if part.number in chosen.unproven]
    held = chosen.kept | chosen.unproven.keys()
    absent = [part for part in plan if part.number not in held]
    missing = [part for pair in zip_longest(absent, unproven) for part in pair if part]
    with ThreadPoolExecutor(max(1, workers), thread_name_prefix="object-clerk-part") as pool:
        for future in [pool.submit(send, part) for part in missing]:
            future.result()


def _md5(body: Reader) -> bytes:
    digest = hashlib.md5()
    for chunk in read_chunks(body):
        digest.update(chunk)
    return digest.digest()


def _kept(
    error: Exception, key: str, upload_id: str, s3: RetryingClient, bucket: str
) -> BaseException:
    """error, translated, saying what stays in the store for the next call
    (a source that changed too: the next call proves each part again)."""
    translated = translate(error, f"upload_object {bucket}/{key}")
    if not isinstance(translated, Exception) or (
        translated is error and not isinstance(error, SourceChanged)
    ):
        return error
    try:
        parts = sum(1 for _ in _stored_parts(s3, bucket, key, upload_id))
    except Exception:
        parts = None
    kept = "its parts" if parts is None else f"{parts} parts"
    return type(translated)(
        f"{translated}; upload id {upload_id} keeps {kept} in the store: "
        "upload_object(..., resume=True) continues it"
    )
