"""download_object(..., resume=True): a download that failed, or whose
process was killed, continues after the bytes its partial file holds; those
bytes are verified with the rest, and only a verified file reaches the
target."""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from object_clerk import (
    ObjectClerk,
    ObjectClerkConnectionException,
    ObjectClerkException,
    ObjectSaveException,
    ObjectVerificationException,
    _partial,
)
from object_clerk._checksum import Etag
from tests.faults import inject
from tests.support import TEST_THRESHOLD, Endpoint, MiB, child_environment, client_of

CHUNK = MiB
# Ranges of 1 MiB: a break costs at most one of them.
ENV = {"S3_DOWNLOAD_CONFIG": f'{{"multipart_chunksize": {CHUNK}}}'}
DATA = os.urandom(2 * TEST_THRESHOLD + 3 * MiB + 321)  # three parts of 5 MiB


class Gets:
    """The Range header (None: none) and the length of the answer of each
    GetObject a clerk sends, and whether the target was untouched then."""

    def __init__(self, clerk: ObjectClerk, target: Path | None = None) -> None:
        self.ranges: list[str | None] = []
        self.lengths: list[int] = []
        self.target_seen: list[bytes | None] = []
        self._target = target
        events = client_of(clerk).raw.meta.events
        events.register("before-call.s3.GetObject", self._before)
        events.register("after-call.s3.GetObject", self._after)

    def _before(self, params: dict[str, Any], **kwargs: Any) -> None:
        self.ranges.append(params["headers"].get("Range"))
        if self._target is not None:
            seen = self._target.read_bytes() if self._target.exists() else None
            self.target_seen.append(seen)

    def _after(self, parsed: dict[str, Any], **kwargs: Any) -> None:
        self.lengths.append(parsed.get("ContentLength", 0))


def partials(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.name.endswith(".partial"))


def leftovers(directory: Path) -> list[str]:
    """Temporary and partial files: what a download may leave beside its target."""
    return sorted(p.name for p in directory.iterdir() if p.name.endswith((".part", ".partial")))


def the_partial(directory: Path) -> Path:
    found = partials(directory)
    assert len(found) == 1, found
    return found[0]


def fail_part_way(clerk: ObjectClerk, bucket: str, key: str, target: Path) -> int:
    """A resumable download whose every GET is cut off until its retries
    run out: the partial file it keeps holds a prefix of the object. Returns
    the number of bytes the partial file holds, as the exception says."""
    inject(clerk).fail("GetObject", "cut_body", times=1000)
    with pytest.raises(ObjectClerkConnectionException) as failure:
        clerk.download_object(bucket, key, target, resume=True)
    message = str(failure.value)
    partial = the_partial(target.parent)
    kept = re.search(r"partial file '([^']+)' was kept with (\d+) of (\d+) bytes", message)
    assert kept is not None, message
    assert kept.group(1) == str(partial)
    held = partial.stat().st_size
    assert int(kept.group(2)) == held
    return held


def flip(path: Path, offset: int) -> None:
    with path.open("r+b") as file:
        file.seek(offset)
        byte = file.read(1)
        file.seek(offset)
        file.write(bytes([byte[0] ^ 0xFF]))


@pytest.mark.parametrize(
    "data, name",
    [(b"small object", "f"), (DATA, "f"), (b"", "f"), (b"x", "n" * 250)],
    ids=["single", "multipart", "empty", "long-name"],
)
def test_a_resumable_download_leaves_only_the_target(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path, data: bytes, name: str
) -> None:
    if data == DATA:
        clerk.upload_object(data, bucket, "k")
    else:
        s3.put_object(Bucket=bucket, Key="k", Body=data)
    target = tmp_path / name
    clerk.download_object(bucket, "k", target, resume=True)
    assert target.read_bytes() == data
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("threads", [True, False], ids=["threads", "no-threads"])
def test_a_failed_download_keeps_its_prefix_and_the_next_call_completes_it(
    make_clerk: Callable[..., ObjectClerk], bucket: str, tmp_path: Path, threads: bool
) -> None:
    env = ENV
    if not threads:
        env = {"S3_DOWNLOAD_CONFIG": f'{{"multipart_chunksize": {CHUNK}, "use_threads": false}}'}
    failing = make_clerk(env=env)
    failing.upload_object(DATA, bucket, "k")
    target = tmp_path / "f"
    target.write_bytes(b"precious")
    held = fail_part_way(failing, bucket, "k", target)
    partial = the_partial(tmp_path)
    assert 0 < held < len(DATA)
    assert partial.read_bytes() == DATA[:held]  # a prefix: no gaps
    assert target.read_bytes() == b"precious"

    clerk = make_clerk(env=env)
    gets = Gets(clerk, target)
    reported: list[int] = []
    clerk.download_object(bucket, "k", target, callback=reported.append, resume=True)
    assert target.read_bytes() == DATA
    assert gets.ranges[0] == f"bytes={held}-{len(DATA) - 1}"
    assert sum(gets.lengths) == len(DATA) - held
    assert gets.target_seen == [b"precious"] * len(gets.ranges)
    assert sum(reported) == len(DATA)  # the bytes held, then the rest
    assert leftovers(tmp_path) == []


def test_a_failure_to_flush_the_held_bytes_is_raised_and_nothing_is_renamed(
    make_clerk: Callable[..., ObjectClerk],
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    failing = make_clerk(env=ENV)
    failing.upload_object(DATA, bucket, "k")
    target = tmp_path / "f"
    target.write_bytes(b"precious")
    fail_part_way(failing, bucket, "k", target)

    def broken_disk(fd: int) -> None:
        raise OSError(5, "Input/output error")

    # The held bytes are flushed on a thread of their own while the rest
    # arrives; the error reaches the caller (the disk reports it only once).
    monkeypatch.setattr(_partial, "_sync_data", broken_disk)
    with pytest.raises(ObjectSaveException, match="Input/output error"):
        make_clerk(env=ENV).download_object(bucket, "k", target, resume=True)
    assert target.read_bytes() == b"precious"
    assert partials(tmp_path) == [], "held bytes the disk may have lost are not kept"

    monkeypatch.undo()
    clerk = make_clerk(env=ENV)
    gets = Gets(clerk)
    clerk.download_object(bucket, "k", target, resume=True)
    assert target.read_bytes() == DATA
    assert gets.ranges[0] in (None, f"bytes=0-{len(DATA) - 1}"), "from the first byte"


@pytest.mark.parametrize("layout", ["single", "multipart", "guessed"])
def test_a_partial_file_damaged_on_disk_is_fetched_again(
    make_clerk: Callable[..., ObjectClerk], s3: Any, bucket: str, tmp_path: Path, layout: str
) -> None:
    """The held bytes are hashed with the rest: a flipped byte fails the
    verification, and the object comes again from its first byte, the
    target untouched until then. With a guessed part layout (a store that
    does not report it, as Ceph RGW) the failure cannot call itself damage;
    the held bytes are refused all the same."""
    failing = make_clerk(env=ENV)
    if layout == "single":
        s3.put_object(Bucket=bucket, Key="k", Body=DATA)
    else:
        failing.upload_object(DATA, bucket, "k")
    target = tmp_path / "f"
    target.write_bytes(b"precious")
    held = fail_part_way(failing, bucket, "k", target)
    flip(the_partial(tmp_path), held // 2)

    clerk = make_clerk(env=ENV)
    if layout == "guessed":
        inject(clerk).rewrite("HeadObject", "PartsCount", None)  # type: ignore[arg-type]
    gets = Gets(clerk, target)
    clerk.download_object(bucket, "k", target, resume=True)
    assert target.read_bytes() == DATA
    assert gets.ranges == [f"bytes={held}-{len(DATA) - 1}", None]
    assert gets.target_seen == [b"precious", b"precious"]
    assert leftovers(tmp_path) == []


@pytest.mark.slow
def test_a_partial_file_of_another_version_is_discarded(
    make_clerk: Callable[..., ObjectClerk], bucket: str, tmp_path: Path
) -> None:
    failing = make_clerk(env=ENV)
    failing.upload_object(DATA, bucket, "k")
    target = tmp_path / "f"
    fail_part_way(failing, bucket, "k", target)
    old = the_partial(tmp_path)

    newer = os.urandom(len(DATA))  # as long: only the ETag tells them apart
    clerk = make_clerk(env=ENV)
    clerk.upload_object(newer, bucket, "k")
    gets = Gets(clerk)
    clerk.download_object(bucket, "k", target, resume=True)
    assert target.read_bytes() == newer
    assert gets.ranges == [None]
    assert not old.exists()
    assert leftovers(tmp_path) == []


def test_a_complete_partial_file_is_verified_and_renamed_without_a_get(
    make_clerk: Callable[..., ObjectClerk],
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Stopped after the last byte, before the rename: nothing is fetched."""
    clerk = make_clerk(env=ENV)
    clerk.upload_object(DATA, bucket, "k")
    target = tmp_path / "f"

    def no_rename(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(_partial.os, "replace", no_rename)
        with pytest.raises(ObjectSaveException, match=f"kept with {len(DATA)} of {len(DATA)}"):
            clerk.download_object(bucket, "k", target, resume=True)
    assert the_partial(tmp_path).read_bytes() == DATA

    gets = Gets(clerk)
    clerk.download_object(bucket, "k", target, resume=True)
    assert gets.ranges == []
    assert target.read_bytes() == DATA
    assert leftovers(tmp_path) == []


def test_unverified_downloads_resume_too(
    make_clerk: Callable[..., ObjectClerk], bucket: str, tmp_path: Path
) -> None:
    failing = make_clerk(env=ENV)
    failing.upload_object(DATA, bucket, "k")
    target = tmp_path / "f"
    held = fail_part_way(failing, bucket, "k", target)
    clerk = make_clerk(env=ENV)
    gets = Gets(clerk)
    clerk.download_object(bucket, "k", target, verify_checksum=False, resume=True)
    assert gets.ranges[0] == f"bytes={held}-{len(DATA) - 1}"
    assert target.read_bytes() == DATA
    assert leftovers(tmp_path) == []


def test_without_resume_a_failure_leaves_nothing_and_partial_files_are_not_used(
    make_clerk: Callable[..., ObjectClerk], bucket: str, tmp_path: Path
) -> None:
    failing = make_clerk(env=ENV)
    failing.upload_object(DATA, bucket, "k")
    target = tmp_path / "f"
    inject(failing).fail("GetObject", "cut_body", times=1000)
    with pytest.raises(ObjectClerkConnectionException) as failure:
        failing.download_object(bucket, "k", target)
    assert "partial" not in str(failure.value)
    assert leftovers(tmp_path) == []

    fail_part_way(failing, bucket, "k", target)
    partial = the_partial(tmp_path)
    held = partial.read_bytes()
    clerk = make_clerk(env=ENV)
    gets = Gets(clerk)
    clerk.download_object(bucket, "k", target)
    assert gets.ranges == [None]  # the whole object: resume=False reads no partial file
    assert target.read_bytes() == DATA
    assert partial.read_bytes() == held  # nor removes one


def test_a_full_disk_reports_the_bytes_really_kept_and_the_next_call_continues_them(
    make_clerk: Callable[..., ObjectClerk],
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The disk fills in the middle of a write: the bytes written before it
    did are on the disk, and the message counts them, as the next call does."""
    clerk = make_clerk(env=ENV)
    clerk.upload_object(DATA, bucket, "k")
    target = tmp_path / "f"
    room = 3 * CHUNK + 12345  # within a write: it is cut short
    write = os.pwrite

    def full_disk(fd: int, data: Any, offset: int) -> int:
        if offset >= room:
            raise OSError(errno.ENOSPC, "No space left on device")
        return write(fd, memoryview(data)[: room - offset], offset)

    with monkeypatch.context() as patch:
        patch.setattr(os, "pwrite", full_disk)
        with pytest.raises(ObjectSaveException, match="No space left") as failure:
            clerk.download_object(bucket, "k", target, resume=True)
    partial = the_partial(tmp_path)
    assert partial.read_bytes() == DATA[:room]
    assert f"kept with {room} of {len(DATA)} bytes" in str(failure.value)

    gets = Gets(clerk)
    clerk.download_object(bucket, "k", target, resume=True)
    assert gets.ranges[0] == f"bytes={room}-{len(DATA) - 1}"
    assert target.read_bytes() == DATA
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("resume", [True, False], ids=["resumable", "temporary"])
def test_a_negative_content_length_is_refused_and_nothing_is_left(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path, resume: bool
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"small object")
    faults = inject(clerk)
    faults.rewrite("HeadObject", "ContentLength", -5)  # type: ignore[arg-type]
    faults.rewrite("GetObject", "ContentLength", -5)  # type: ignore[arg-type]
    target = tmp_path / "f"
    with pytest.raises(ObjectVerificationException, match=r"negative Content-Length \(-5\)"):
        clerk.download_object(bucket, "k", target, resume=resume)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(_partial.fcntl is None, reason="no flock on this system")
def test_a_partial_file_in_use_by_another_download_is_left_alone(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=DATA)
    etag = Etag.parse(s3.head_object(Bucket=bucket, Key="k")["ETag"])
    target = tmp_path / "f"
    partial = _partial.partial_path(target, etag)
    partial.write_bytes(DATA[:100])
    assert _partial.fcntl is not None
    with partial.open("rb") as other:
        _partial.fcntl.flock(other.fileno(), _partial.fcntl.LOCK_EX | _partial.fcntl.LOCK_NB)
        with pytest.raises(ObjectClerkException, match="being written by another download"):
            clerk.download_object(bucket, "k", target, resume=True)
    assert partial.read_bytes() == DATA[:100]
    assert not target.exists()
    clerk.download_object(bucket, "k", target, resume=True)
    assert target.read_bytes() == DATA
    assert leftovers(tmp_path) == []


def test_partial_file_names_fit_any_file_system() -> None:
    etag = Etag.parse('"0123456789abcdef0123456789abcdef-3"')
    odd = Etag.parse('"not an md5"')
    long_ascii, long_utf8 = "n" * 255, "é" * 127 + "x"
    names = {
        _partial.partial_path(Path(name), tag).name
        for name in (long_ascii, long_ascii[:-1] + "m", long_utf8, "f")
        for tag in (etag, odd)
    }
    assert len(names) == 8  # distinct, even where the target's name is cut
    assert all(len(os.fsencode(name)) <= 255 for name in names)
    assert _partial.partial_path(Path("d/f"), etag) == Path("d/.f.0123456789abcdef.partial")


# -- a process killed part-way --------------------------------------------------

CRASH_SIZE = 24 * MiB
KILL_AFTER = 12 * MiB

CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from object_clerk import ObjectClerk

    clerk = ObjectClerk(os.environ["HOST"], int(os.environ["PORT"]), os.environ["ACCESS_KEY"],
                        os.environ["SECRET_KEY"], 0, 1, 0, 0, 3,
                        use_ssl=os.environ.get("USE_SSL") == "1",
                        verify=os.environ.get("CA_BUNDLE") or None)
    bucket, key, target, kill_after = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    received = 0

    def progress(amount):
        global received
        received += amount
        if received >= kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    clerk.download_object(bucket, key, target, callback=progress, resume=True)
    print("finished without being killed")
    """
)


@pytest.mark.slow
def test_a_download_killed_part_way_fetches_only_the_missing_bytes(
    endpoint: Endpoint, make_clerk: Callable[..., ObjectClerk], bucket: str, tmp_path: Path
) -> None:
    clerk = make_clerk(env=ENV)
    data = os.urandom(CRASH_SIZE)
    clerk.upload_object(data, bucket, "k")
    target = tmp_path / "f"
    env = child_environment(endpoint, **ENV)
    child = subprocess.run(  # killed and reaped on timeout
        [sys.executable, "-c", CHILD, bucket, "k", str(target), str(KILL_AFTER)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert child.returncode == -signal.SIGKILL, child.stdout + child.stderr[-2000:]
    partial = the_partial(tmp_path)
    held = partial.stat().st_size
    assert 0 < held <= KILL_AFTER + CHUNK  # what arrived before the kill, at most
    assert partial.read_bytes() == data[:held]  # a prefix, whatever the kill cut
    assert not target.exists()

    gets = Gets(clerk)
    clerk.download_object(bucket, "k", target, resume=True)
    assert target.read_bytes() == data
    assert gets.ranges[0] is not None and gets.ranges[0].startswith(f"bytes={held}-")
    starts = [int(r.split("=")[1].split("-")[0]) for r in gets.ranges if r is not None]
    assert len(starts) == len(gets.ranges) and min(starts) >= held
    assert sum(gets.lengths) <= CRASH_SIZE - held + CHUNK
    assert leftovers(tmp_path) == []
