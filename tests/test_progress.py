"""Progress reports: boto3's Callback convention, never going backwards."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from object_clerk import ObjectClerk
from object_clerk._progress import Progress
from tests.faults import inject
from tests.support import TEST_THRESHOLD


def test_progress_reports_growth_only() -> None:
    calls: list[int] = []
    progress = Progress(calls.append)
    for amount in (10, 5, -15, 10, 10, 0, 3):
        progress.add(amount)
    assert calls == [10, 5, 5, 3]
    assert sum(calls) == 23


def test_a_restarted_transfer_is_reported_past_its_earlier_reach() -> None:
    calls: list[int] = []
    progress = Progress(calls.append)
    progress.add(70)
    progress.restart()
    progress.add(50)
    progress.add(50)
    assert calls == [70, 30]


def test_no_callback_is_fine() -> None:
    Progress(None).add(5)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[int] = []

    def __call__(self, amount: int) -> None:
        self.calls.append(amount)


DATA = os.urandom(2 * TEST_THRESHOLD + 999)


@pytest.mark.parametrize("fault", [None, "cut_body", "corrupt_body"])
def test_get_and_download_report_every_byte_once(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path, fault: str | None
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=DATA)
    if fault:
        inject(clerk).fail("GetObject", fault, times=2)
    got, downloaded = Recorder(), Recorder()
    assert clerk.get_object(bucket, "k", callback=got) == DATA
    clerk.download_object(bucket, "k", tmp_path / "k", callback=downloaded)
    for recorder in (got, downloaded):
        assert all(amount > 0 for amount in recorder.calls)
        assert sum(recorder.calls) == len(DATA)


@pytest.mark.parametrize("fault", [None, "closed", "corrupt_request"])
def test_upload_reports_every_byte_once(
    clerk: ObjectClerk, bucket: str, tmp_path: Path, fault: str | None
) -> None:
    path = tmp_path / "f"
    path.write_bytes(DATA)
    faults = inject(clerk)
    if fault:
        faults.fail("UploadPart", fault, times=2)
    recorder = Recorder()
    clerk.upload_object(path, bucket, "k", callback=recorder)
    assert all(amount > 0 for amount in recorder.calls)
    assert sum(recorder.calls) == len(DATA)


def test_copy_reports_the_bytes_copied(
    make_clerk: Callable[..., ObjectClerk], clerk: ObjectClerk, bucket: str
) -> None:
    clerk.upload_object(DATA, bucket, "k")
    recorder = Recorder()
    clerk.copy_object(bucket, "k", bucket, "copy", callback=recorder)
    assert sum(recorder.calls) == len(DATA)
