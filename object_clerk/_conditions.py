"""Whether a store honours the conditions that keep writes and deletes from
destroying someone else's object, found out once per clerk and bucket.

S3 refuses ``If-None-Match: *`` on PutObject and CompleteMultipartUpload
with 412 when the key exists, and a DeleteObject whose ``If-Match`` no
longer holds. A store that does not know a condition ignores it and does
the unconditional thing: Ceph RGW 16 completes a multipart upload over an
existing object, and deletes whatever ETag it was given. That cannot be
seen afterwards, so it is asked beforehand, on a throwaway key of the
bucket (``.object-clerk-probe-<random>``), removed again. What a probe
costs, once per clerk and bucket, and only when a call needs to know:

* ``put``: PutObject If-None-Match (a new key), the same again (must be
  412), DeleteObject: 3 small requests;
* ``complete``: PutObject, CreateMultipartUpload, UploadPart (5 bytes),
  CompleteMultipartUpload If-None-Match (must be 412), AbortMultipartUpload,
  DeleteObject: 6;
* ``delete``: PutObject, DeleteObject If-Match another ETag (must be 412),
  DeleteObject: 3.

A full-object checksum (CRC64NVME, CRC32C, CRC32) is asked of the store in
the same way, once per clerk, bucket, algorithm and kind of write, before
an upload that asks for one: a store that does not know the checksum
stores the object without it (Ceph RGW 16), which would replace the key's
object before anyone could tell. Kept means a HEAD with ChecksumMode
answers the value sent:

* a single PutObject: PutObject with the checksum, HeadObject,
  DeleteObject: 3;
* a multipart upload: CreateMultipartUpload (FULL_OBJECT), UploadPart,
  CompleteMultipartUpload with the checksum, HeadObject,
  AbortMultipartUpload (of a failed probe), DeleteObject: 5 or 6.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from typing import Any, Literal

from botocore.exceptions import ClientError

from object_clerk._checksum import crc_of, encoded
from object_clerk._client import RetryingClient
from object_clerk._errors import http_status, is_precondition_failed

Feature = Literal["put", "complete", "delete"]
PROBE_PREFIX = ".object-clerk-probe-"
# An ETag no object has: the condition of the delete probe.
_NO_ETAG = '"00000000000000000000000000000000"'
_REFUSED_STATUS = frozenset({401, 403})
_PROBE_BODY = b"probe"


class StoreConditions:
    """What this clerk found out about each bucket's conditions. Shared by
    a clerk's threads; a pickled clerk finds out again in its new process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: dict[tuple[str, str], bool] = {}

    def __reduce__(self) -> tuple[Any, ...]:
        return (StoreConditions, ())

    def honours(self, s3: RetryingClient, bucket: str, feature: Feature) -> bool:
        """Whether bucket's store honours feature's condition (probed once)."""
        with self._lock:
            known = self._known.get((bucket, feature))
            if known is None:
                known = self._known[(bucket, feature)] = _PROBES[feature](s3, bucket)
            return known

    def keeps_checksum(
        self, s3: RetryingClient, bucket: str, algorithm: str, multipart: bool
    ) -> bool:
        """Whether bucket's store keeps a full-object checksum of algorithm
        (one of _checksum.FULL_OBJECT_CRCS) written by a PutObject, or by a
        multipart upload (probed once each)."""
        kind = f"{algorithm} checksum {'complete' if multipart else 'put'}"
        with self._lock:
            known = self._known.get((bucket, kind))
            if known is None:
                probe = _probe_multipart_checksum if multipart else _probe_put_checksum
                known = self._known[(bucket, kind)] = probe(s3, bucket, algorithm)
            return known


def _refused_by_condition(error: ClientError) -> bool:
    """True for the 412 of a condition that held not; False for a store that
    refuses the condition itself (400, 501); a refused permission is raised."""
    if http_status(error) in _REFUSED_STATUS:
        raise error
    return is_precondition_failed(error)


def _probe_key() -> str:
    return f"{PROBE_PREFIX}{uuid.uuid4().hex}"


def _probe_put(s3: RetryingClient, bucket: str) -> bool:
    key = _probe_key()
    try:
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=b"probe", IfNoneMatch="*")
            s3.put_object(Bucket=bucket, Key=key, Body=b"again", IfNoneMatch="*")
        except ClientError as error:
            return _refused_by_condition(error)
        return False
    finally:
        s3.delete_object(Bucket=bucket, Key=key)


def _probe_complete(s3: RetryingClient, bucket: str) -> bool:
    key = _probe_key()
    s3.put_object(Bucket=bucket, Key=key, Body=b"probe")
    try:
        upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        try:
            part = s3.upload_part(
                Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=b"again"
            )
            parts = [{"PartNumber": 1, "ETag": part["ETag"]}]
            s3.complete_multipart_upload(
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
                IfNoneMatch="*",
            )
        except ClientError as error:
            return _refused_by_condition(error)
        finally:
            with contextlib.suppress(ClientError):
                s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        return False
    finally:
        s3.delete_object(Bucket=bucket, Key=key)


def _probe_delete(s3: RetryingClient, bucket: str) -> bool:
    key = _probe_key()
    s3.put_object(Bucket=bucket, Key=key, Body=b"probe")
    try:
        try:
            s3.delete_object(Bucket=bucket, Key=key, IfMatch=_NO_ETAG)
        except ClientError as error:
            return _refused_by_condition(error)
        return False
    finally:
        s3.delete_object(Bucket=bucket, Key=key)


_PROBES = {"put": _probe_put, "complete": _probe_complete, "delete": _probe_delete}


def _probe_put_checksum(s3: RetryingClient, bucket: str, algorithm: str) -> bool:
    key = _probe_key()
    member, value = _checksum_of_probe(algorithm)
    try:
        try:
            s3.put_object(
                Bucket=bucket,
                Key=key,
                Body=_PROBE_BODY,
                ChecksumAlgorithm=algorithm,
                **{member: value},
            )
        except ClientError as error:
            return _refused_checksum(error)
        return _keeps(s3, bucket, key, member, value)
    finally:
        s3.delete_object(Bucket=bucket, Key=key)


def _probe_multipart_checksum(s3: RetryingClient, bucket: str, algorithm: str) -> bool:
    key = _probe_key()
    member, value = _checksum_of_probe(algorithm)
    try:
        upload_id = None
        try:
            upload_id = s3.create_multipart_upload(
                Bucket=bucket, Key=key, ChecksumAlgorithm=algorithm, ChecksumType="FULL_OBJECT"
            )["UploadId"]
            part = s3.upload_part(
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                PartNumber=1,
                Body=_PROBE_BODY,
                ChecksumAlgorithm=algorithm,
                **{member: value},
            )
            s3.complete_multipart_upload(
                Bucket=bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"], member: value}]},
                ChecksumType="FULL_OBJECT",
                **{member: value},
            )
        except ClientError as error:
            if upload_id is not None:
                with contextlib.suppress(ClientError):
                    s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
            return _refused_checksum(error)
        # Ceph RGW 20.2 keeps a one-part upload's checksum as COMPOSITE
        # ("<crc>-1") whatever the type asked for, and uploads of two parts
        # or more as FULL_OBJECT; a probe of two parts would cost 5 MiB.
        return _keeps(s3, bucket, key, member, value, f"{value}-1")
    finally:
        s3.delete_object(Bucket=bucket, Key=key)


def _checksum_of_probe(algorithm: str) -> tuple[str, str]:
    """The request member and the value of the probe body's checksum."""
    return f"Checksum{algorithm}", encoded(algorithm, crc_of(algorithm, _PROBE_BODY))


def _keeps(s3: RetryingClient, bucket: str, key: str, member: str, *values: str) -> bool:
    """Whether the probe object holds one of values as its checksum."""
    head = s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    stored: object = head.get(member)
    return stored in values


def _refused_checksum(error: ClientError) -> bool:
    """False for a store that refuses the checksum (400, 501): it keeps
    none; a refused permission, or a store that kept failing, is raised."""
    status = http_status(error) or 0
    if status in _REFUSED_STATUS or status >= 500:
        raise error
    return False
