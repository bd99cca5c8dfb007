"""Zero-byte objects: stored, verified, compared and synced like any other
entry (their ETag is the MD5 of nothing), while upload_object keeps its
published refusal of empty data unless asked."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from object_clerk import ObjectClerk, ObjectSaveException
from tests.support import Endpoint, make_tree, run_cli, stored_bytes, stored_keys

EMPTY_ETAG = '"d41d8cd98f00b204e9800998ecf8427e"'
TREE = {"empty": b"", "dir/also-empty": b"", "full": b"some bytes"}


def actions(report: Any) -> dict[str, str]:
    return {entry.key: entry.action for entry in report.entries}


@pytest.mark.parametrize("kind", ["bytes", "fileobj", "file"])
def test_upload_object_still_refuses_empty_data_by_default(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path, kind: str
) -> None:
    data: Any = {"bytes": b"", "fileobj": io.BytesIO(), "file": tmp_path / "empty"}[kind]
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(ObjectSaveException, match="empty"):
        clerk.upload_object(data, bucket, "k")
    assert stored_keys(s3, bucket) == []


@pytest.mark.parametrize("kind", ["bytes", "fileobj", "file"])
def test_allow_empty_stores_a_verified_empty_object(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path, kind: str
) -> None:
    data: Any = {"bytes": b"", "fileobj": io.BytesIO(), "file": tmp_path / "empty"}[kind]
    (tmp_path / "empty").write_bytes(b"")
    clerk.upload_object(data, bucket, "k", allow_empty=True)
    head = s3.head_object(Bucket=bucket, Key="k")
    assert (head["ContentLength"], head["ETag"]) == (0, EMPTY_ETAG)
    assert clerk.get_object(bucket, "k") == b""


def test_sync_up_stores_empty_files_then_skips_them_and_deletes(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path
) -> None:
    root = make_tree(tmp_path / "set", TREE)
    s3.put_object(Bucket=bucket, Key="set/stale", Body=b"stale")

    report = clerk.sync(root, f"s3://{bucket}/set", delete=True)
    assert report.ok, report.entries
    assert actions(report) == {
        "empty": "uploaded",
        "dir/also-empty": "uploaded",
        "full": "uploaded",
        "stale": "deleted",
    }
    assert report.deletions_withheld == 0
    assert sorted(stored_keys(s3, bucket)) == ["set/dir/also-empty", "set/empty", "set/full"]
    assert s3.head_object(Bucket=bucket, Key="set/empty")["ETag"] == EMPTY_ETAG

    again = clerk.sync(root, f"s3://{bucket}/set", delete=True)
    assert again.ok
    assert {entry.key: (entry.action, entry.evidence) for entry in again.entries}["empty"] == (
        "skipped",
        "md5",
    )

    checked = clerk.check(root, f"s3://{bucket}/set")
    assert checked.ok
    assert set(actions(checked).values()) == {"same"}


def test_a_dry_run_plans_an_empty_file_as_an_upload(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path
) -> None:
    root = make_tree(tmp_path / "set", {"empty": b""})
    report = clerk.sync(root, f"s3://{bucket}", dry_run=True)
    assert report.ok and actions(report) == {"empty": "uploaded"}
    assert stored_keys(s3, bucket) == []


def test_sync_down_and_across_keep_empty_objects(
    clerk: ObjectClerk, s3: Any, make_bucket: Any, tmp_path: Path
) -> None:
    source, target = make_bucket(), make_bucket()
    s3.put_object(Bucket=source, Key="set/empty", Body=b"")
    s3.put_object(Bucket=source, Key="set/full", Body=b"full")

    down = clerk.sync(f"s3://{source}/set", tmp_path / "down")
    assert down.ok and actions(down) == {"empty": "downloaded", "full": "downloaded"}
    assert (tmp_path / "down" / "empty").read_bytes() == b""
    assert actions(clerk.sync(f"s3://{source}/set", tmp_path / "down")) == {
        "empty": "skipped",
        "full": "skipped",
    }

    across = clerk.sync(f"s3://{source}/set", f"s3://{target}/copy")
    assert across.ok and actions(across) == {"empty": "copied", "full": "copied"}
    assert s3.head_object(Bucket=target, Key="copy/empty")["ETag"] == EMPTY_ETAG
    assert stored_bytes(s3, target, "copy/empty") == b""
    assert clerk.check(f"s3://{source}/set", f"s3://{target}/copy").ok


def test_a_changed_empty_object_is_told_from_its_empty_file(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path
) -> None:
    root = make_tree(tmp_path / "set", {"empty": b""})
    s3.put_object(Bucket=bucket, Key="empty", Body=b"now full")
    report = clerk.check(root, f"s3://{bucket}")
    assert not report.ok and actions(report) == {"empty": "differ"}


def test_the_command_line_puts_and_syncs_empty_files(
    endpoint: Endpoint,
    s3: Any,
    bucket: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "empty").write_bytes(b"")
    assert run_cli(endpoint, "put", str(tmp_path / "empty"), f"s3://{bucket}/one") == 0
    assert s3.head_object(Bucket=bucket, Key="one")["ETag"] == EMPTY_ETAG

    root = make_tree(tmp_path / "set", TREE)
    s3.put_object(Bucket=bucket, Key="set/stale", Body=b"stale")
    capsys.readouterr()
    assert run_cli(endpoint, "--json", "sync", str(root), f"s3://{bucket}/set", "--delete") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True
    assert "set/stale" not in stored_keys(s3, bucket)
    assert run_cli(endpoint, "check", str(root), f"s3://{bucket}/set") == 0
