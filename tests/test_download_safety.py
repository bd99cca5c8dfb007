"""Downloads that cannot be turned against the user: a symbolic link (or
another file) planted where a download writes is never written through, a
temporary file swapped mid-download is never renamed onto the target, a
link in the destination tree of a sync never leads a write out of it, and
a new file never takes its mode through a link or keeps set-id bits.

Every test keeps another file of the user's (mode 0600) beside the
download, and checks it is left byte for byte and mode for mode."""

from __future__ import annotations

import errno
import logging
import os
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from object_clerk import ObjectClerk, ObjectSaveException, _download, _partial, _sync_run
from object_clerk._checksum import Etag
from object_clerk._location import LocalTree
from tests.support import GetRanges

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


# -- a directory swapped for a link after it was checked ------------------------------


class SwapAfterCheck:
    """Replaces directory by a link to elsewhere right after the code under
    test has examined it (lstat by path, or opened it relative to its
    parent): as another process could (rename, or renameat2 with
    RENAME_EXCHANGE), between a check and the use of the path. The
    directory itself is moved aside to moved, and is where the writes and
    deletions are to go."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, directory: Path, elsewhere: Path) -> None:
        self.directory = directory
        self.elsewhere = elsewhere
        self.moved = directory.with_name(directory.name + ".moved")
        self.swapped = False
        real_lstat, real_open = os.lstat, os.open

        def lstat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
            found = real_lstat(path, *args, **kwargs)
            if kwargs.get("dir_fd") is None and Path(os.fsdecode(path)) == directory:
                self.swap()
            return found

        def open_(path: Any, *args: Any, **kwargs: Any) -> int:
            fd = real_open(path, *args, **kwargs)
            if kwargs.get("dir_fd") is not None and os.fsdecode(path) == directory.name:
                self.swap()
            return fd

        monkeypatch.setattr(os, "lstat", lstat)
        monkeypatch.setattr(os, "open", open_)

    def swap(self) -> None:
        if self.swapped:
            return
        self.swapped = True
        os.rename(self.directory, self.moved)
        os.symlink(self.elsewhere, self.directory, target_is_directory=True)


def test_sync_writes_into_a_directory_swapped_for_a_link_never_through_the_link(
    clerk: ObjectClerk,
    s3: Any,
    bucket: str,
    here: Path,
    outside: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The directory is opened once, without following a link, and the
    file made and renamed relative to it: the link put in its place after
    the check leads nothing out of the tree."""
    s3.put_object(Bucket=bucket, Key="sub/in.txt", Body=b"object bytes")
    (here / "sub").mkdir()
    other = Kept(outside / "in.txt", SECRET)
    swap = SwapAfterCheck(monkeypatch, here / "sub", outside)

    report = clerk.sync(f"s3://{bucket}/", here, workers=1)
    assert swap.swapped
    other.assert_untouched()
    assert report.ok, report.failures
    assert names(swap.moved) == ["in.txt"]
    assert (swap.moved / "in.txt").read_bytes() == b"object bytes"


def test_sync_deletes_in_a_directory_swapped_for_a_link_never_through_the_link(
    clerk: ObjectClerk,
    s3: Any,
    bucket: str,
    here: Path,
    outside: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s3.put_object(Bucket=bucket, Key="keep.txt", Body=b"kept")
    (here / "keep.txt").write_bytes(b"kept")
    (here / "sub").mkdir()
    (here / "sub" / "in.txt").write_bytes(b"extra")
    other = Kept(outside / "in.txt", SECRET)
    swap = SwapAfterCheck(monkeypatch, here / "sub", outside)

    report = clerk.sync(f"s3://{bucket}/", here, delete=True, workers=1)
    assert swap.swapped
    other.assert_untouched()
    assert report.ok, report.failures
    assert names(swap.moved) == [], "the extra file was deleted where it was"


# -- the mode of a new file ----------------------------------------------------------------


@pytest.mark.usefixtures("umask_077")
@pytest.mark.parametrize("resume", [False, True], ids=["temporary", "resumable"])
@pytest.mark.parametrize("kind", ["other-owner", "hard-link"])
def test_a_planted_file_at_the_target_lends_no_mode(
    clerk: ObjectClerk,
    s3: Any,
    bucket: str,
    here: Path,
    outside: Path,
    resume: bool,
    kind: str,
) -> None:
    """Only the user's own regular file with no other name keeps its
    permission bits; a file another user planted, or a hard link to some
    other file, does not choose the mode of the user's new file."""
    s3.put_object(Bucket=bucket, Key="k", Body=DATA)
    target = here / "f"
    if kind == "other-owner":
        if os.geteuid() != 0:
            pytest.skip("only root can give a file to another user")
        target.write_bytes(b"planted")
        target.chmod(0o777)
        os.chown(target, 12345, 12345)
        other = Kept(outside / "other", SECRET)
    else:
        other = Kept(outside / "other", SECRET, mode=0o666)
        os.link(other.path, target)

    clerk.download_object(bucket, "k", target, resume=resume)
    assert target.read_bytes() == DATA
    assert stat.S_IMODE(target.lstat().st_mode) == 0o600
    assert names(here) == ["f"]
    assert other.path.read_bytes() == other.data
    assert stat.S_IMODE(other.path.lstat().st_mode) == other.mode


# -- a swap between the last check and the rename ------------------------------------------


@pytest.mark.parametrize("resume", [False, True], ids=["temporary", "resumable"])
def test_a_swap_between_the_check_and_the_rename_is_found_and_undone(
    clerk: ObjectClerk,
    s3: Any,
    bucket: str,
    here: Path,
    outside: Path,
    resume: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The temporary name is swapped for a link right after it was found
    to be the file written: the rename moves the link onto the target, is
    found to have done so, and the link is removed, never followed."""
    s3.put_object(Bucket=bucket, Key="k", Body=DATA)
    other = Kept(outside / "other", SECRET)
    target = here / "f"
    real_named = _download.named
    swapped: list[str] = []

    def named(*args: Any) -> Any:
        found = real_named(*args)
        name = os.fsdecode(args[1] if isinstance(args[0], int) else args[0])
        if found is not None and not swapped and name.endswith((".part", ".partial")):
            swapped.append(name)
            temporary = here / Path(name).name
            temporary.unlink()
            temporary.symlink_to(other.path)
        return found

    monkeypatch.setattr(_download, "named", named)
    with pytest.raises(ObjectSaveException, match="was replaced just before it was renamed"):
        clerk.download_object(bucket, "k", target, resume=resume)
    assert swapped
    other.assert_untouched()
    assert not target.is_symlink()
    assert names(here) == []


# -- partial names another user holds in a sticky directory ---------------------------------


def refuse_unlink(monkeypatch: pytest.MonkeyPatch, name: str) -> list[str]:
    """os.unlink refused (EPERM) for name only, as in a sticky directory
    (/tmp) for another user's file. The tests run as root, who may remove
    anything, so the refusal is simulated; the names refused are listed."""
    real_unlink = os.unlink
    refused: list[str] = []

    def unlink(path: Any, *args: Any, **kwargs: Any) -> None:
        if Path(os.fsdecode(path)).name == name:
            refused.append(name)
            raise PermissionError(errno.EPERM, "Operation not permitted", os.fsdecode(path))
        real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", unlink)
    return refused


def test_this_versions_partial_name_that_cannot_be_removed_fails_saying_why(
    clerk: ObjectClerk,
    s3: Any,
    bucket: str,
    here: Path,
    outside: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=DATA)
    other = Kept(outside / "other", SECRET)
    target = here / "f"
    partial = _partial.partial_path(target, stored_etag(s3, bucket, "k"))
    partial.symlink_to(other.path)
    refused = refuse_unlink(monkeypatch, partial.name)

    refusal = r"is a symbolic link and cannot be removed .*resume=False downloads without it"
    with (
        caplog.at_level(logging.DEBUG, logger="object_clerk.download"),
        pytest.raises(ObjectSaveException, match=refusal) as failure,
    ):
        clerk.download_object(bucket, "k", target, resume=True)
    assert refused
    assert str(partial) in str(failure.value)
    assert "was removed" not in caplog.text, "nothing is said removed that was not"
    other.assert_untouched()
    assert names(here) == [partial.name], "nothing written"
    assert partial.is_symlink()


def test_another_versions_partial_name_that_cannot_be_removed_is_left_alone(
    clerk: ObjectClerk,
    s3: Any,
    bucket: str,
    here: Path,
    outside: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=DATA)
    other = Kept(outside / "other", SECRET)
    target = here / "f"
    stale = _partial.partial_path(target, Etag.parse('"0123456789abcdef0123456789abcdef"'))
    stale.symlink_to(other.path)
    refused = refuse_unlink(monkeypatch, stale.name)

    with caplog.at_level(logging.DEBUG, logger="object_clerk.download"):
        clerk.download_object(bucket, "k", target, resume=True)
    assert refused
    assert "was removed" not in caplog.text
    assert "cannot be removed: left alone" in caplog.text
    other.assert_untouched()
    assert target.read_bytes() == DATA
    assert names(here) == sorted(["f", stale.name])


def test_a_fifo_at_another_versions_partial_name_never_blocks_the_download(
    clerk: ObjectClerk, s3: Any, bucket: str, here: Path
) -> None:
    """Opened without O_NONBLOCK, a FIFO would wait for a writer forever:
    the download runs on a thread, given a few seconds."""
    s3.put_object(Bucket=bucket, Key="k", Body=DATA)
    target = here / "f"
    fifo = _partial.partial_path(target, Etag.parse('"0123456789abcdef0123456789abcdef"'))
    os.mkfifo(fifo)
    failures: list[BaseException] = []

    def download() -> None:
        try:
            clerk.download_object(bucket, "k", target, resume=True)
        except BaseException as error:
            failures.append(error)

    thread = threading.Thread(target=download, daemon=True)
    thread.start()
    thread.join(timeout=10)
    hung = thread.is_alive()
    if hung:  # a writer lets the blocked open return, so the thread ends
        writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(writer)
        thread.join(timeout=10)
    assert not hung, "the download blocked on the FIFO"
    assert failures == []
    assert target.read_bytes() == DATA
    assert names(here) == ["f"]


# -- names long in bytes ------------------------------------------------------------------


@pytest.mark.parametrize("resume", [False, True], ids=["temporary", "resumable"])
def test_a_target_name_of_252_bytes_in_63_characters_is_downloaded(
    clerk: ObjectClerk, s3: Any, bucket: str, here: Path, resume: bool
) -> None:
    """The temporary name is cut to fit by bytes, not characters."""
    s3.put_object(Bucket=bucket, Key="k", Body=DATA)
    name = "\N{GRINNING FACE}" * 63
    assert len(os.fsencode(name)) == 252
    target = here / name
    clerk.download_object(bucket, "k", target, resume=resume)
    assert target.read_bytes() == DATA
    assert names(here) == [name]
