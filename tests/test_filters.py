"""include/exclude filters and max_delete of sync and check: which keys a
sync works on at both sides, and a cap on what it may delete."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from object_clerk import (
    ObjectClerk,
    ObjectClerkConfigurationException,
    ObjectSaveException,
)
from object_clerk._tree import Filters, filters
from tests.support import Endpoint, make_tree, run_cli, stored_keys

TREE = {
    "a.fits": b"a",
    "b.txt": b"b",
    "raw/c.fits": b"c",
    "raw/deep/d.fits": b"d",
    "tmp/e.fits": b"e",
}


def actions(report: Any) -> dict[str, str]:
    return {entry.key: entry.action for entry in report.entries}


# -- the matching rule ------------------------------------------------------------


@pytest.mark.parametrize(
    ("include", "exclude", "key", "taken"),
    [
        ((), (), "anything", True),
        ((), ("*",), "anything", False),
        (("*.fits",), ("*",), "raw/deep/d.fits", True),  # "*" crosses "/"
        (("*.fits",), ("*",), "b.txt", False),
        (("*.fits",), (), "b.txt", True),  # includes alone leave everything in
        ((), ("tmp/*",), "tmp/e.fits", False),
        ((), ("tmp/*",), "raw/tmp/e.fits", True),  # matched from the root
        ((), ("?.txt",), "b.txt", False),
        ((), ("?.txt",), "bb.txt", True),
        ((), ("[ab].*",), "a.fits", False),
        ((), ("[!ab].*",), "a.fits", True),
        ((), ("*.FITS",), "a.fits", True),  # case matters
    ],
)
def test_a_key_is_taken_unless_excluded_and_not_included(
    include: tuple[str, ...], exclude: tuple[str, ...], key: str, taken: bool
) -> None:
    assert Filters(include, exclude).takes(key) is taken


def test_patterns_are_a_str_or_a_list_of_them() -> None:
    assert filters("*.fits", ["a", "b"]) == Filters(("*.fits",), ("a", "b"))
    assert filters(None, None) == Filters()
    with pytest.raises(TypeError, match="include"):
        filters(42, None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="exclude"):
        filters(None, [b"bytes"])  # type: ignore[list-item]
    with pytest.raises(ObjectClerkConfigurationException, match="empty pattern"):
        filters(None, [""])


# -- sync and check ------------------------------------------------------------------


def test_excluded_entries_are_neither_sent_nor_deleted_nor_reported(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path
) -> None:
    root = make_tree(tmp_path / "set", TREE)
    s3.put_object(Bucket=bucket, Key="set/tmp/old.fits", Body=b"old")  # extra, excluded
    s3.put_object(Bucket=bucket, Key="set/stale.fits", Body=b"stale")  # extra, taken

    report = clerk.sync(
        root, f"s3://{bucket}/set", delete=True, exclude=["*", "tmp/*"], include="*.fits"
    )
    assert report.ok, report.failures
    assert actions(report) == {
        "a.fits": "uploaded",
        "raw/c.fits": "uploaded",
        "raw/deep/d.fits": "uploaded",
        "tmp/e.fits": "uploaded",  # "*.fits" includes it again
        "tmp/old.fits": "deleted",
        "stale.fits": "deleted",
    }
    assert sorted(stored_keys(s3, bucket)) == [
        "set/a.fits",
        "set/raw/c.fits",
        "set/raw/deep/d.fits",
        "set/tmp/e.fits",
    ]


def test_an_excluded_extra_is_kept_and_unreported(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path
) -> None:
    root = make_tree(tmp_path / "set", TREE)
    s3.put_object(Bucket=bucket, Key="tmp/old.fits", Body=b"old")
    report = clerk.sync(root, f"s3://{bucket}", delete=True, exclude="tmp/*")
    assert report.ok
    assert "tmp/old.fits" not in actions(report) and "tmp/e.fits" not in actions(report)
    assert "tmp/old.fits" in stored_keys(s3, bucket)
    assert "tmp/e.fits" not in stored_keys(s3, bucket)

    checked = clerk.check(root, f"s3://{bucket}", exclude="tmp/*")
    assert checked.ok and "tmp/old.fits" not in actions(checked)
    assert not clerk.check(root, f"s3://{bucket}").ok  # unfiltered: missing and extra


def test_a_store_to_local_sync_filters_both_sides(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path
) -> None:
    for key, data in TREE.items():
        s3.put_object(Bucket=bucket, Key=f"set/{key}", Body=data)
    target = make_tree(tmp_path / "down", {"notes.txt": b"mine"})
    report = clerk.sync(f"s3://{bucket}/set", target, delete=True, exclude="*.txt")
    assert report.ok
    assert actions(report) == {
        "a.fits": "downloaded",
        "raw/c.fits": "downloaded",
        "raw/deep/d.fits": "downloaded",
        "tmp/e.fits": "downloaded",
    }
    assert (target / "notes.txt").read_bytes() == b"mine"
    assert not (target / "b.txt").exists()


def test_max_delete_withholds_every_deletion_and_says_why(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path
) -> None:
    root = make_tree(tmp_path / "set", {"kept": b"kept"})
    for key in ("x", "y", "z"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"extra")

    for dry_run in (True, False):
        report = clerk.sync(root, f"s3://{bucket}", delete=True, max_delete=2, dry_run=dry_run)
        assert not report.ok
        failed = {entry.key: entry.error for entry in report.failures}
        assert sorted(failed) == ["x", "y", "z"]
        assert all(isinstance(error, ObjectSaveException) for error in failed.values())
        assert "max_delete=2" in str(failed["x"]) and "3 entries" in str(failed["x"])
    assert sorted(stored_keys(s3, bucket)) == ["kept", "x", "y", "z"]

    allowed = clerk.sync(root, f"s3://{bucket}", delete=True, max_delete=3)
    assert allowed.ok and allowed.totals["deleted"] == 3
    assert stored_keys(s3, bucket) == ["kept"]


def test_max_delete_zero_allows_a_sync_that_deletes_nothing(
    clerk: ObjectClerk, bucket: str, tmp_path: Path
) -> None:
    root = make_tree(tmp_path / "set", {"kept": b"kept"})
    assert clerk.sync(root, f"s3://{bucket}", delete=True, max_delete=0).ok


@pytest.mark.parametrize(
    ("value", "error"),
    [(-1, ObjectClerkConfigurationException), (True, TypeError), ("3", TypeError)],
)
def test_a_wrong_max_delete_is_refused(
    clerk: ObjectClerk, bucket: str, tmp_path: Path, value: Any, error: type[Exception]
) -> None:
    with pytest.raises(error, match="max_delete"):
        clerk.sync(tmp_path, f"s3://{bucket}", delete=True, max_delete=value)


# -- the command line ------------------------------------------------------------------


def test_the_command_line_filters_and_caps_deletions(
    endpoint: Endpoint,
    s3: Any,
    bucket: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = make_tree(tmp_path / "set", TREE)
    destination = f"s3://{bucket}/set"
    sync = ("--json", "sync", str(root), destination)
    assert run_cli(endpoint, *sync, "--exclude", "*", "--include", "raw/*") == 0
    assert sorted(stored_keys(s3, bucket)) == ["set/raw/c.fits", "set/raw/deep/d.fits"]
    assert (
        run_cli(endpoint, "check", str(root), destination, "--exclude", "*", "--include", "raw/*")
        == 0
    )
    assert run_cli(endpoint, "check", str(root), destination) == 1

    empty = tmp_path / "empty"
    empty.mkdir()
    capsys.readouterr()
    emptied = ("--json", "sync", str(empty), destination, "--delete", "--max-delete", "1")
    assert run_cli(endpoint, *emptied) == 1
    report = json.loads(capsys.readouterr().out)
    failed = [entry for entry in report["entries"] if entry["action"] == "failed"]
    assert sorted(entry["key"] for entry in failed) == ["raw/c.fits", "raw/deep/d.fits"]
    assert "max_delete=1" in failed[0]["error"]["message"]
    assert len(stored_keys(s3, bucket)) == 2
    assert run_cli(endpoint, *emptied[:-1], "2") == 0
    assert stored_keys(s3, bucket) == []
