"""Local trees that cannot be read whole, and keys that cannot be local
file names: each such entry of a sync or a check is reported (failed, or
unverifiable for a check) with its reason, and the rest of the tree is
still done."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from object_clerk import ObjectClerk, ObjectSaveException, cli
from object_clerk._sync_report import ReportEntry
from tests.support import Endpoint, make_tree, stored_keys

FILES = {"a.txt": b"first file", "sub/b.txt": b"second file"}
LONG = "n" * 300  # more than the 255 bytes of a file name


def entry_of(entries: list[ReportEntry], key: str) -> ReportEntry:
    (found,) = [entry for entry in entries if entry.key == key]
    return found


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "tree", FILES)


def test_a_symlink_loop_is_a_failed_entry_and_the_rest_is_synced(
    clerk: ObjectClerk, s3: Any, bucket: str, tree: Path
) -> None:
    (tree / "loop").symlink_to("loop")
    report = clerk.sync(tree, f"s3://{bucket}/")
    failed = entry_of(report.entries, "loop")
    assert failed.action == "failed" and isinstance(failed.error, ObjectSaveException)
    assert "symbolic link" in str(failed.error) and "levels" in str(failed.error)
    assert not report.ok
    assert sorted(stored_keys(s3, bucket)) == ["a.txt", "sub/b.txt"]


def test_a_dangling_link_is_a_failed_entry_not_skipped_in_silence(
    clerk: ObjectClerk, s3: Any, bucket: str, tree: Path
) -> None:
    (tree / "sub" / "gone").symlink_to(tree / "nowhere")
    report = clerk.sync(tree, f"s3://{bucket}/", dry_run=True)
    failed = entry_of(report.entries, "sub/gone")
    assert failed.action == "failed" and "No such file" in str(failed.error)
    assert {e.key: e.action for e in report.entries}["a.txt"] == "uploaded"
    assert stored_keys(s3, bucket) == []  # a dry run writes nothing


def test_a_link_to_a_file_is_still_followed(
    clerk: ObjectClerk, s3: Any, bucket: str, tree: Path
) -> None:
    (tree / "c.txt").symlink_to(tree / "a.txt")
    report = clerk.sync(tree, f"s3://{bucket}/")
    assert report.ok and entry_of(report.entries, "c.txt").action == "uploaded"


def test_check_reports_a_symlink_loop_as_unverifiable(
    clerk: ObjectClerk, bucket: str, tree: Path
) -> None:
    assert clerk.sync(tree, f"s3://{bucket}/").ok
    (tree / "sub" / "loop").symlink_to("loop")
    report = clerk.check(tree, f"s3://{bucket}/")
    loop = entry_of(report.entries, "sub/loop")
    assert loop.action == "unverifiable" and "symbolic link" in str(loop.error)
    assert entry_of(report.entries, "sub/b.txt").action == "same"
    assert not report.ok


def test_the_command_line_names_a_symlink_loop_and_exits_1(
    endpoint: Endpoint, bucket: str, tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tree / "loop").symlink_to("loop")
    environ = {
        "AWS_ACCESS_KEY_ID": endpoint.access_key,
        "AWS_SECRET_ACCESS_KEY": endpoint.secret_key,
    }
    if os.environ.get("CA_BUNDLE"):
        environ["AWS_CA_BUNDLE"] = os.environ["CA_BUNDLE"]
    argv = ["--endpoint-url", endpoint.url, "--retry-tries", "2", "--retry-delay", "0"]
    status = cli.main([*argv, "sync", str(tree), f"s3://{bucket}/"], environ=environ)
    captured = capsys.readouterr()
    assert status == cli.FAILED
    assert "failed      loop: " in captured.err and "symbolic link" in captured.err
    assert "uploaded    sub/b.txt" in captured.out


@pytest.fixture
def unreadable(tree: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """tree/locked, a directory that cannot be listed. Tests run as root,
    who reads a mode-000 directory all the same: os.scandir is made to
    refuse that directory as it refuses anyone else (EACCES)."""
    locked = tree / "locked"
    make_tree(locked, {"hidden.txt": b"hidden"})
    locked.chmod(0)
    real_scandir = os.scandir

    def scandir(path: Any = ".") -> Iterator[os.DirEntry[str]]:
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    yield locked
    locked.chmod(0o755)


def test_an_unreadable_directory_is_a_failed_entry_and_the_rest_is_synced(
    clerk: ObjectClerk, s3: Any, bucket: str, tree: Path, unreadable: Path
) -> None:
    report = clerk.sync(tree, f"s3://{bucket}/", delete=True)
    failed = entry_of(report.entries, "locked/")
    assert failed.action == "failed" and "Permission denied" in str(failed.error)
    assert sorted(stored_keys(s3, bucket)) == ["a.txt", "sub/b.txt"]


def test_an_unreadable_directory_withholds_deletions(
    clerk: ObjectClerk, s3: Any, bucket: str, tree: Path, unreadable: Path
) -> None:
    """What the destination holds under it may be what the source holds:
    nothing is deleted on a listing that could not be made."""
    s3.put_object(Bucket=bucket, Key="locked/hidden.txt", Body=b"hidden")
    report = clerk.sync(tree, f"s3://{bucket}/", delete=True)
    assert report.deletions_withheld == 1
    assert "locked/hidden.txt" in stored_keys(s3, bucket)


def test_an_unreadable_source_root_is_refused(
    clerk: ObjectClerk, bucket: str, tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def scandir(path: Any = ".") -> Any:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(ObjectSaveException, match="cannot read the directory"):
        clerk.sync(tree, f"s3://{bucket}/")


@pytest.mark.parametrize("dry_run", [True, False])
def test_a_key_part_longer_than_a_file_name_fails_alone(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path, dry_run: bool
) -> None:
    s3.put_object(Bucket=bucket, Key="ok.txt", Body=b"fine")
    s3.put_object(Bucket=bucket, Key=f"dir/{LONG}", Body=b"too long a name")
    report = clerk.sync(f"s3://{bucket}/", tmp_path / "out", dry_run=dry_run)
    failed = entry_of(report.entries, f"dir/{LONG}")
    assert failed.action == "failed"
    assert "300 bytes long: a local file name has 255 at most" in str(failed.error)
    assert entry_of(report.entries, "ok.txt").action == "downloaded"
    assert (tmp_path / "out" / "ok.txt").exists() is not dry_run
