"""Downloads that cannot be turned against the user: a symbolic link (or
another file) planted where a download writes is never written through, a
temporary file swapped mid-download is never renamed onto the target, a
link in the destination tree of a sync never leads a write out of it, and
a new file never takes its mode through a link or keeps set-id bits.

Every test keeps another file of the user's (mode 0600) beside the
download, and checks it is left byte for byte and mode for mode."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from object_clerk import ObjectClerk, ObjectSaveException, _partial, _sync_run
from object_clerk._checksum import Etag
from object_clerk._location import LocalTree
from tests.test_download import GetRanges

DATA = os.urandom(300 * 1024)
SECRET = b"the user's own file, not to be touched\n"


class Kept:
    """A file of the user's, with its bytes and mode as they were."""

    def __init__(self, path: Path, data: bytes, mode: int = 0o600) -> None:
        path.write_bytes(data)
        path.chmod(mode)
        self.path = path
        self.data = data
        self.mode = mode

    def assert_untouched(self) -> None:
        """Its bytes and mode as they were, and nothing written beside it."""
        assert not self.path.is_symlink()
        assert self.path.read_bytes() == self.data
        assert stat.S_IMODE(self.path.lstat().st_mode) == self.mode
        assert names(self.path.parent) == [self.path.name]


def names(directory: Path) -> list[str]:
    return sorted(entry.name for entry in directory.iterdir())


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory beside the download's: nothing may appear in it."""
    directory = tmp_path / "outside"
    directory.mkdir()
    return directory


@pytest.fixture
def here(tmp_path: Path) -> Path:
    """The directory the downloads write in."""
    directory = tmp_path / "here"
    directory.mkdir()
    return directory


@pytest.fixture
def umask_077() -> Iterator[None]:
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


def stored_etag(s3: Any, bucket: str, key: str) -> Etag:
    return Etag.parse(s3.head_object(Bucket=bucket, Key=key)["ETag"])


# -- the partial file of a resumable download ----------------------------------


@pytest.mark.parametrize("length", [len(DATA) * 2, 100], ids=["larger", "smaller"])
def test_a_link_planted_at_the_partial_name_is_discarded_not_followed(
    clerk: ObjectClerk, s3: Any, bucket: str, here: Path, outside: Path, length: int
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=DATA)
    other = Kept(outside / "other", os.urandom(length))
    target = here / "f"
    partial = _partial.partial_path(target, stored_etag(s3, bucket, "k"))
    partial.symlink_to(other.path)

    clerk.download_object(bucket, "k", target, resume=True)
    other.assert_untouched()
    assert not target.is_symlink()
    assert target.read_bytes() == DATA
    assert names(here) == ["f"], "the planted link was removed, nothing else left"


@pytest.mark.parametrize("kind", ["hard-link", "fifo", "other-owner"])
def test_a_partial_file_that_is_not_the_users_own_regular_file_is_discarded(
    clerk: ObjectClerk, s3: Any, bucket: str, here: Path, outside: Path, kind: str
) -> None:
    """Each holds (or leads to) a true prefix of the object: were it used,
    the download would continue after it; it is discarded instead, its
    name only, and the object fetched from its first byte."""
    s3.put_object(Bucket=bucket, Key="k", Body=DATA)
    other = Kept(outside / "other", DATA[:100])
    target = here / "f"
    partial = _partial.partial_path(target, stored_etag(s3, bucket, "k"))
    if kind == "hard-link":
        os.link(other.path, partial)
    elif kind == "fifo":
        os.mkfifo(partial)
    else:
        if os.geteuid() != 0:
            pytest.skip("only root can give a file to another user")
        partial.write_bytes(DATA[:100])
        os.chown(partial, 12345, 12345)

    gets = GetRanges(clerk)
    clerk.download_object(bucket, "k", target, resume=True)
    other.assert_untouched()
    assert gets.ranges == [None], "fetched whole: nothing planted was continued"
    assert target.read_bytes() == DATA
    assert names(here) == ["f"]


def test_a_directory_at_the_partial_name_is_refused_and_left(
    clerk: ObjectClerk, s3: Any, bucket: str, here: Path, outside: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=DATA)
    other = Kept(outside / "other", SECRET)
    target = here / "f"
    partial = _partial.partial_path(target, stored_etag(s3, bucket, "k"))
    partial.mkdir()
    (partial / "inside").write_bytes(SECRET)
    with pytest.raises(ObjectSaveException, match="is a directory: it was left in place"):
        clerk.download_object(bucket, "k", target, resume=True)
    assert names(here) == [partial.name]
    assert (partial / "inside").read_bytes() == SECRET
    other.assert_untouched()


def test_another_versions_partial_name_planted_as_a_link_is_unlinked_only(
    clerk: ObjectClerk, s3: Any, bucket: str, here: Path, outside: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=DATA)
    other = Kept(outside / "other", SECRET)
    target = here / "f"
    stale = _partial.partial_path(target, Etag.parse('"0123456789abcdef0123456789abcdef"'))
    stale.symlink_to(other.path)

    clerk.download_object(bucket, "k", target, resume=True)
    other.assert_untouched()
    assert target.read_bytes() == DATA
    assert names(here) == ["f"]


# -- a temporary file swapped for a link while the bytes arrive ------------------


def swap_on_first_progress(directory: Path, other: Path) -> Callable[[int], None]:
    """A progress callback that, on its first call, replaces the download's
    temporary (or partial) file by a link to other: as another process
    could, between the fetch and the rename."""
    done: list[bool] = []

    def callback(amount: int) -> None:
        if done:
            return
        done.append(True)
        [temporary] = [p for p in directory.iterdir() if p.name.endswith((".part", ".partial"))]
        temporary.unlink()
        temporary.symlink_to(other)

    return callback


@pytest.mark.parametrize("resume", [False, True], ids=["temporary", "resumable"])
def test_a_temporary_file_swapped_for_a_link_is_never_renamed_onto_the_target(
    clerk: ObjectClerk, s3: Any, bucket: str, here: Path, outside: Path, resume: bool
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=DATA)
    other = Kept(outside / "other", SECRET)
    target = here / "f"
    target.write_bytes(b"precious")

    with pytest.raises(ObjectSaveException, match="no longer names the file") as failure:
        clerk.download_object(
            bucket, "k", target, callback=swap_on_first_progress(here, other.path), resume=resume
        )
    assert "kept" not in str(failure.value), "the link is no partial file to continue"
    other.assert_untouched()
    assert not target.is_symlink()
    assert target.read_bytes() == b"precious"


# -- the target name ---------------------------------------------------------------


@pytest.mark.parametrize("resume", [False, True], ids=["temporary", "resumable"])
def test_a_link_at_the_target_name_is_replaced_itself_never_written_through(
    clerk: ObjectClerk, s3: Any, bucket: str, here: Path, outside: Path, resume: bool
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=DATA)
    other = Kept(outside / "other", SECRET)
    target = here / "f"
    target.symlink_to(other.path)

    clerk.download_object(bucket, "k", target, resume=resume)
    other.assert_untouched()
    assert not target.is_symlink()
    assert target.read_bytes() == DATA
    assert names(here) == ["f"]


@pytest.mark.usefixtures("umask_077")
@pytest.mark.parametrize("resume", [False, True], ids=["temporary", "resumable"])
def test_a_new_file_takes_the_umask_not_the_mode_of_a_linked_file(
    clerk: ObjectClerk, s3: Any, bucket: str, here: Path, outside: Path, resume: bool
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=DATA)
    other = Kept(outside / "other", SECRET, mode=0o666)
    target = here / "f"
    target.symlink_to(other.path)

    clerk.download_object(bucket, "k", target, resume=resume)
    other.assert_untouched()
    assert target.read_bytes() == DATA
    assert stat.S_IMODE(target.lstat().st_mode) == 0o600


@pytest.mark.usefixtures("umask_077")
@pytest.mark.parametrize("resume", [False, True], ids=["temporary", "resumable"])
def test_a_new_file_takes_the_umask(
    clerk: ObjectClerk, s3: Any, bucket: str, here: Path, outside: Path, resume: bool
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=DATA)
    other = Kept(outside / "other", SECRET, mode=0o666)
    target = here / "f"
    clerk.download_object(bucket, "k", target, resume=resume)
    assert stat.S_IMODE(target.lstat().st_mode) == 0o600
    assert names(here) == ["f"]
    other.assert_untouched()


@pytest.mark.parametrize("resume", [False, True], ids=["temporary", "resumable"])
@pytest.mark.parametrize("mode", [0o4755, 0o2750, 0o1644], ids=["setuid", "setgid", "sticky"])
def test_a_replaced_targets_set_id_bits_are_never_kept(
    clerk: ObjectClerk, s3: Any, bucket: str, here: Path, outside: Path, resume: bool, mode: int
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=DATA)
    other = Kept(outside / "other", SECRET)
    target = here / "f"
    target.write_bytes(b"a program")
    target.chmod(mode)
    assert stat.S_IMODE(target.stat().st_mode) == mode

    clerk.download_object(bucket, "k", target, resume=resume)
    assert target.read_bytes() == DATA
    assert stat.S_IMODE(target.lstat().st_mode) == mode & 0o777
    assert names(here) == ["f"]
    other.assert_untouched()


# -- sync into a tree holding a link to a directory outside it ----------------------


def test_sync_never_writes_through_a_linked_directory_of_the_destination(
    clerk: ObjectClerk, s3: Any, bucket: str, here: Path, outside: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="sub/in.txt", Body=b"object bytes")
    s3.put_object(Bucket=bucket, Key="top.txt", Body=b"top")
    s3.put_object(Bucket=bucket, Key="deep/er/in.txt", Body=b"deep")
    other = Kept(outside / "other", SECRET)
    (here / "sub").symlink_to(outside, target_is_directory=True)

    for _ in range(2):  # the linked directory is never walked: each run tries again
        report = clerk.sync(f"s3://{bucket}/", here)
        assert not report.ok
        [failure] = report.failures
        assert failure.key == "sub/in.txt"
        assert isinstance(failure.error, ObjectSaveException)
        message = str(failure.error)
        assert "sub" in message and "symbolic link" in message
        assert report.to_dict()["totals"]["failed"] == 1
        other.assert_untouched()
        assert (here / "top.txt").read_bytes() == b"top"
        assert (here / "deep" / "er" / "in.txt").read_bytes() == b"deep"
        assert (here / "sub").is_symlink()


def test_sync_never_makes_directories_through_a_link(
    clerk: ObjectClerk, s3: Any, bucket: str, here: Path, outside: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="sub/new/in.txt", Body=b"object bytes")
    (here / "sub").symlink_to(outside, target_is_directory=True)

    report = clerk.sync(f"s3://{bucket}/", here)
    [failure] = report.failures
    assert failure.key == "sub/new/in.txt"
    assert isinstance(failure.error, ObjectSaveException)
    assert "symbolic link" in str(failure.error)
    assert names(outside) == []


def test_sync_reports_a_file_where_a_directory_is_needed(
    clerk: ObjectClerk, s3: Any, bucket: str, here: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="sub/in.txt", Body=b"object bytes")
    (here / "sub").write_bytes(b"a file")
    report = clerk.sync(f"s3://{bucket}/", here)
    [failure] = report.failures
    assert failure.key == "sub/in.txt"
    assert isinstance(failure.error, ObjectSaveException)
    assert "not a directory" in str(failure.error)
    assert (here / "sub").read_bytes() == b"a file"


def test_a_dry_run_reports_what_a_linked_directory_would_refuse(
    clerk: ObjectClerk, s3: Any, bucket: str, here: Path, outside: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="sub/in.txt", Body=b"object bytes")
    s3.put_object(Bucket=bucket, Key="new/in.txt", Body=b"object bytes")
    (here / "sub").symlink_to(outside, target_is_directory=True)
    report = clerk.sync(f"s3://{bucket}/", here, dry_run=True)
    [failure] = report.failures
    assert failure.key == "sub/in.txt"
    assert "symbolic link" in str(failure.error)
    assert names(here) == ["sub"], "a dry run makes no directory"
    assert names(outside) == []


def test_a_deletion_never_goes_through_a_linked_directory(
    clerk: ObjectClerk, here: Path, outside: Path
) -> None:
    """The walk never yields such a key, but a directory swapped for a link
    after the walk must not turn a deletion against the place it leads to."""
    other = Kept(outside / "in.txt", SECRET)
    (here / "sub").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ObjectSaveException, match="symbolic link"):
        _sync_run.delete(clerk, LocalTree(here), "sub/in.txt")
    other.assert_untouched()


def test_sync_replaces_a_linked_file_of_the_destination_never_writing_through_it(
    clerk: ObjectClerk, s3: Any, bucket: str, here: Path, outside: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="in.txt", Body=b"object bytes")
    other = Kept(outside / "other", SECRET)
    (here / "in.txt").symlink_to(other.path)
    report = clerk.sync(f"s3://{bucket}/", here)
    assert report.ok
    assert not (here / "in.txt").is_symlink()
    assert (here / "in.txt").read_bytes() == b"object bytes"
    other.assert_untouched()
