"""Uploads cut off by a crash or a failure continue where they stopped,
keeping only the parts the store holds that are provably this data; and the
clean-up of unfinished uploads."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from object_clerk import ObjectClerk, ObjectClerkServerInternalException
from tests.faults import inject
from tests.support import TEST_THRESHOLD, Endpoint, child_environment, stored_bytes

PARTS = 6
DATA = os.urandom(PARTS * TEST_THRESHOLD - 54321)  # six parts, the last one short

# A child that uploads with resume=True, one part at a time, and kills itself
# (SIGKILL: no clean-up of any kind) once `after` parts are in the store.
CRASHING_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from object_clerk import ObjectClerk

    path, bucket, key, after = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    clerk = ObjectClerk(
        os.environ["HOST"], int(os.environ["PORT"]), os.environ["ACCESS_KEY"],
        os.environ["SECRET_KEY"], 0, 1, 0, 0, 3, os.environ.get("USE_SSL") == "1",
        transfer_config={"max_concurrency": 1}, verify=os.environ.get("CA_BUNDLE") or None,
    )
    part = int(os.environ["MULTIPART_THRESHOLD"])
    sent = 0

    def count(amount):
        global sent
        sent += amount
        if sent >= after * part:
            os.kill(os.getpid(), signal.SIGKILL)

    clerk.upload_object(path, bucket, key, callback=count, resume=True)
    sys.exit("the upload finished before the crash")
    """
)


def crash_after(endpoint: Endpoint, path: Path, bucket: str, key: str, parts: int) -> None:
    env = child_environment(endpoint)
    child = subprocess.run(
        [sys.executable, "-c", CRASHING_CHILD, str(path), bucket, key, str(parts)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr


def unfinished(s3: Any, bucket: str, key: str) -> list[str]:
    uploads = s3.list_multipart_uploads(Bucket=bucket, Prefix=key).get("Uploads", [])
    return [upload["UploadId"] for upload in uploads if upload["Key"] == key]


def stored_part_count(s3: Any, bucket: str, key: str, upload_id: str) -> int:
    return len(s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id).get("Parts", []))


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "frame.fits"
    path.write_bytes(DATA)
    return path


@pytest.mark.slow
def test_an_upload_killed_after_two_parts_sends_only_the_other_four(
    clerk: ObjectClerk, endpoint: Endpoint, s3: Any, bucket: str, data_file: Path
) -> None:
    crash_after(endpoint, data_file, bucket, "k", parts=2)
    (upload_id,) = unfinished(s3, bucket, "k")
    assert stored_part_count(s3, bucket, "k", upload_id) == 2
    faults = inject(clerk)
    clerk.upload_object(data_file, bucket, "k", resume=True)
    assert faults.sent["UploadPart"] == PARTS - 2
    assert faults.sent["CreateMultipartUpload"] == 0, "the earlier upload is continued"
    assert stored_bytes(s3, bucket, "k") == DATA
    assert unfinished(s3, bucket, "k") == []


@pytest.mark.slow
def test_parts_of_a_file_changed_since_are_sent_again(
    clerk: ObjectClerk, endpoint: Endpoint, s3: Any, bucket: str, data_file: Path
) -> None:
    crash_after(endpoint, data_file, bucket, "k", parts=3)
    changed = bytearray(DATA)
    changed[TEST_THRESHOLD + 10] ^= 0xFF  # in part 2, which the store holds
    data_file.write_bytes(changed)
    faults = inject(clerk)
    clerk.upload_object(data_file, bucket, "k", resume=True)
    assert faults.sent["UploadPart"] == PARTS - 3 + 1
    assert stored_bytes(s3, bucket, "k") == bytes(changed)
    assert unfinished(s3, bucket, "k") == []


@pytest.mark.slow
def test_an_upload_whose_first_part_changed_is_continued_from_the_others(
    clerk: ObjectClerk, endpoint: Endpoint, s3: Any, bucket: str, data_file: Path
) -> None:
    crash_after(endpoint, data_file, bucket, "k", parts=3)
    changed = bytearray(DATA)
    changed[10] ^= 0xFF  # in part 1: parts 2 and 3 still prove the upload is this file's
    data_file.write_bytes(changed)
    faults = inject(clerk)
    clerk.upload_object(data_file, bucket, "k", resume=True)
    assert faults.sent["CreateMultipartUpload"] == 0
    assert faults.sent["UploadPart"] == PARTS - 3 + 1
    assert stored_bytes(s3, bucket, "k") == bytes(changed)


@pytest.mark.slow
def test_of_two_crashed_uploads_the_one_holding_more_is_continued(
    clerk: ObjectClerk, endpoint: Endpoint, s3: Any, bucket: str, data_file: Path
) -> None:
    crash_after(endpoint, data_file, bucket, "k", parts=2)
    (fewer,) = unfinished(s3, bucket, "k")
    more = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    for number in range(1, 5):
        body = DATA[(number - 1) * TEST_THRESHOLD : number * TEST_THRESHOLD]
        s3.upload_part(Bucket=bucket, Key="k", UploadId=more, PartNumber=number, Body=body)
    faults = inject(clerk)
    clerk.upload_object(data_file, bucket, "k", resume=True)
    assert faults.sent["UploadPart"] == PARTS - 4
    assert stored_bytes(s3, bucket, "k") == DATA
    assert unfinished(s3, bucket, "k") == [fewer], "the other attempt is left to clean-up"


@pytest.mark.slow
def test_without_resume_nothing_earlier_is_continued(
    clerk: ObjectClerk, endpoint: Endpoint, s3: Any, bucket: str, data_file: Path
) -> None:
    crash_after(endpoint, data_file, bucket, "k", parts=2)
    faults = inject(clerk)
    clerk.upload_object(data_file, bucket, "k")
    assert faults.sent["UploadPart"] == PARTS
    assert stored_bytes(s3, bucket, "k") == DATA


@pytest.mark.slow
def test_a_failed_resumable_upload_keeps_its_parts_and_says_so(
    make_clerk: Callable[..., ObjectClerk], s3: Any, bucket: str
) -> None:
    clerk = make_clerk()
    faults = inject(clerk)
    faults.fail("UploadPart", "internal_error", times=1000, skip=3)
    with pytest.raises(ObjectClerkServerInternalException) as raised:
        clerk.upload_object(DATA, bucket, "k", resume=True, callback=None)
    (upload_id,) = unfinished(s3, bucket, "k")
    assert f"upload id {upload_id} keeps" in str(raised.value)
    assert "resume=True" in str(raised.value)
    kept = stored_part_count(s3, bucket, "k", upload_id)
    assert kept >= 1
    clerk = make_clerk()  # the faults stay with the first one
    faults = inject(clerk)
    clerk.upload_object(DATA, bucket, "k", resume=True)
    assert faults.sent["UploadPart"] == PARTS - kept
    assert stored_bytes(s3, bucket, "k") == DATA
    assert unfinished(s3, bucket, "k") == []


def test_a_failed_upload_without_resume_leaves_nothing(
    clerk: ObjectClerk, s3: Any, bucket: str
) -> None:
    inject(clerk).fail("UploadPart", "internal_error", times=1000, skip=3)
    with pytest.raises(ObjectClerkServerInternalException):
        clerk.upload_object(DATA, bucket, "k")
    assert unfinished(s3, bucket, "k") == []


def test_an_unrelated_unfinished_upload_of_the_key_is_left_alone(
    clerk: ObjectClerk, s3: Any, bucket: str
) -> None:
    other = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    s3.upload_part(
        Bucket=bucket, Key="k", UploadId=other, PartNumber=1, Body=os.urandom(TEST_THRESHOLD)
    )
    faults = inject(clerk)
    clerk.upload_object(DATA, bucket, "k", resume=True)
    assert faults.sent["UploadPart"] == PARTS
    assert stored_bytes(s3, bucket, "k") == DATA
    assert unfinished(s3, bucket, "k") == [other]
    assert stored_part_count(s3, bucket, "k", other) == 1


@pytest.mark.slow
def test_two_uploads_of_the_same_file_at_once_both_succeed(
    make_clerk: Callable[..., ObjectClerk], s3: Any, bucket: str, data_file: Path
) -> None:
    clerks = [make_clerk(transfer_config={"max_concurrency": 2}) for _ in range(2)]
    errors: list[BaseException] = []

    def upload(clerk: ObjectClerk) -> None:
        try:
            clerk.upload_object(data_file, bucket, "k", resume=True)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=upload, args=(clerk,)) for clerk in clerks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []
    assert stored_bytes(s3, bucket, "k") == DATA


# -- the clean-up ---------------------------------------------------------------------


def test_incomplete_uploads_are_listed_and_aborted_by_age(
    clerk: ObjectClerk, s3: Any, bucket: str
) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="runs/k")["UploadId"]
    body = os.urandom(TEST_THRESHOLD)
    s3.upload_part(Bucket=bucket, Key="runs/k", UploadId=upload_id, PartNumber=1, Body=body)
    s3.put_object(Bucket=bucket, Key="other", Body=b"x")
    (listed,) = clerk.list_incomplete_uploads(bucket, "runs/")
    assert (listed.key, listed.upload_id, listed.parts, listed.bytes) == (
        "runs/k",
        upload_id,
        1,
        TEST_THRESHOLD,
    )
    assert clerk.list_incomplete_uploads(bucket, "other/") == []
    aborted = clerk.abort_incomplete_uploads(bucket, "runs/", older_than=timedelta(0))
    assert [upload.upload_id for upload in aborted] == [upload_id]
    assert unfinished(s3, bucket, "runs/k") == []
    assert stored_bytes(s3, bucket, "other") == b"x"


def test_a_fresh_incomplete_upload_is_not_aborted_by_default(
    clerk: ObjectClerk, s3: Any, bucket: str, endpoint: Endpoint
) -> None:
    if not endpoint.live:
        pytest.skip("moto reports every upload as initiated in 2010")
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    assert clerk.abort_incomplete_uploads(bucket) == [], "it may be under way"
    assert unfinished(s3, bucket, "k") == [upload_id]


def test_older_than_must_be_a_timedelta(clerk: ObjectClerk, bucket: str) -> None:
    with pytest.raises(TypeError, match="older_than"):
        clerk.abort_incomplete_uploads(bucket, older_than=3600)  # type: ignore[arg-type]
