"""ObjectClerk.sync and ObjectClerk.check against a real S3 server: trees
and prefixes, each entry decided on evidence and checked with plain boto3
against what the store holds."""

from __future__ import annotations

import io
import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from boto3.s3.transfer import TransferConfig

from object_clerk import (
    ObjectClerk,
    ObjectClerkConfigurationException,
    ObjectClerkServerInternalException,
    ObjectNotFoundException,
    ObjectSaveException,
    _sync_run,
)
from object_clerk._sync_report import CheckReport, SyncReport
from tests.faults import _error_response, inject
from tests.support import TEST_THRESHOLD, MiB, client_of, make_tree, stored_bytes, stored_keys

BIG = os.urandom(2 * TEST_THRESHOLD + 1000)  # three parts of the clerk's own size
TREE = {
    "readme.txt": b"a dataset\n",
    "frames/2026/frame 0001.fits": b"frame one" * 100,
    "frames/2026/frame-0002.fits": b"frame two" * 100,
    "frames/é/ü ñ.txt": "ünïcödé".encode(),
    "frames-index": b"index",
    "big.bin": BIG,
}


def actions(report: SyncReport | CheckReport) -> dict[str, tuple[str, str]]:
    return {entry.key: (entry.action, entry.evidence) for entry in report.entries}


def fail_puts_of(clerk: ObjectClerk, key_part: str) -> None:
    """Every PutObject of a key containing key_part is answered 500, as by a
    store that keeps failing on it."""

    def handler(request: Any, **kwargs: Any) -> Any:
        if key_part in request.url:
            return _error_response(request.url, 500, b"InternalError")
        return None

    client_of(clerk).raw.meta.events.register("before-send.s3.PutObject", handler)


def reports_part_sizes(s3: Any, bucket: str, key: str) -> bool:
    """Whether the store answers a HEAD with PartNumber=1 for a multipart
    object (moto, AWS, Ceph RGW 19) rather than ignoring it (Ceph RGW 16)."""
    return "PartsCount" in s3.head_object(Bucket=bucket, Key=key, PartNumber=1)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = make_tree(tmp_path / "dataset", TREE)
    (root / "empty" / "nested").mkdir(parents=True)
    return root


# -- local to store ------------------------------------------------------------


def test_a_tree_is_uploaded_then_skipped_on_evidence(
    clerk: ObjectClerk, s3: Any, bucket: str, tree: Path
) -> None:
    report = clerk.sync(tree, f"s3://{bucket}/data")
    assert report.ok
    assert {key: action for key, (action, _) in actions(report).items()} == dict.fromkeys(
        TREE, "uploaded"
    )
    assert sorted(stored_keys(s3, bucket)) == sorted(f"data/{key}" for key in TREE)
    for key, data in TREE.items():
        assert stored_bytes(s3, bucket, f"data/{key}") == data
    assert report.totals["bytes"] == sum(len(data) for data in TREE.values())

    again = clerk.sync(str(tree), f"s3://{bucket}/data/")
    assert again.ok
    expected = dict.fromkeys(TREE, ("skipped", "md5"))
    expected["big.bin"] = ("skipped", "multipart-md5")
    assert actions(again) == expected
    assert again.totals["bytes"] == 0


def test_the_destination_is_read_by_its_listing_without_heads(
    clerk: ObjectClerk, bucket: str, tmp_path: Path
) -> None:
    files = {f"d{n % 3}/f{n:02d}": f"file {n}".encode() for n in range(30)}
    root = make_tree(tmp_path / "many", files)
    assert clerk.sync(root, f"s3://{bucket}").ok
    requests = inject(clerk)
    report = clerk.sync(root, f"s3://{bucket}")
    assert report.totals["skipped"] == 30
    # one page of 30 keys: one request (a longer listing is split, see _listing)
    assert requests.sent["ListObjectsV2"] == 1
    assert requests.sent["HeadObject"] == 0
    assert requests.sent["PutObject"] == 0


def test_a_changed_file_is_transferred_and_a_same_size_change_too(
    clerk: ObjectClerk, s3: Any, bucket: str, tree: Path
) -> None:
    assert clerk.sync(tree, f"s3://{bucket}").ok
    (tree / "readme.txt").write_bytes(b"a longer dataset description\n")
    same_size = bytearray(TREE["frames-index"])
    same_size[0] ^= 1
    before = (tree / "frames-index").stat()
    (tree / "frames-index").write_bytes(same_size)
    os.utime(tree / "frames-index", ns=(before.st_atime_ns, before.st_mtime_ns))  # same time
    big = bytearray(BIG)
    big[-1] ^= 1  # in the last part
    (tree / "big.bin").write_bytes(big)

    report = clerk.sync(tree, f"s3://{bucket}")
    assert report.ok
    found = actions(report)
    assert found["readme.txt"] == ("uploaded", "size")
    assert found["frames-index"] == ("uploaded", "md5")  # content, not size, decides
    # Where the store tells part sizes, the ETag proves the change; where it
    # does not (Ceph RGW before 19), nothing proves equality: transferred too.
    expected = "multipart-md5" if reports_part_sizes(s3, bucket, "big.bin") else "none"
    assert found["big.bin"] == ("uploaded", expected)
    assert found["frames/2026/frame 0001.fits"] == ("skipped", "md5")
    assert stored_bytes(s3, bucket, "frames-index") == bytes(same_size)
    assert stored_bytes(s3, bucket, "big.bin") == bytes(big)


def test_an_object_with_a_foreign_part_size_is_compared_in_its_own_layout(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path
) -> None:
    part = 6 * MiB
    data = os.urandom(2 * part + 1000)
    config = TransferConfig(multipart_threshold=part, multipart_chunksize=part)
    s3.upload_fileobj(io.BytesIO(data), bucket, "foreign.bin", Config=config)
    assert s3.head_object(Bucket=bucket, Key="foreign.bin")["ETag"].strip('"').endswith("-3")
    root = make_tree(tmp_path / "d", {"foreign.bin": data})
    requests = inject(clerk)

    report = clerk.sync(root, f"s3://{bucket}")
    assert actions(report) == {"foreign.bin": ("skipped", "multipart-md5")}
    assert str(part) in report.entries[0].detail
    assert requests.sent["PutObject"] == requests.sent["UploadPart"] == 0
    assert actions(clerk.check(root, f"s3://{bucket}")) == {
        "foreign.bin": ("same", "multipart-md5")
    }


def test_an_unprovable_multipart_object_is_transferred_never_skipped(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store that does not tell part sizes (as Ceph RGW), and an object in
    parts of a size nobody guesses: the sizes match, nothing proves the
    content does, so sync transfers it and check says unverifiable."""
    monkeypatch.setattr("object_clerk._verify.first_part_size", lambda s3, stored: None)
    part = 5 * MiB + 512 * 1024
    data = os.urandom(2 * part + 1000)
    config = TransferConfig(multipart_threshold=part, multipart_chunksize=part)
    s3.upload_fileobj(io.BytesIO(data), bucket, "odd.bin", Config=config)
    root = make_tree(tmp_path / "d", {"odd.bin": data})

    checked = clerk.check(root, f"s3://{bucket}")
    assert actions(checked) == {"odd.bin": ("unverifiable", "none")}
    assert not checked.ok

    report = clerk.sync(root, f"s3://{bucket}")
    assert actions(report) == {"odd.bin": ("uploaded", "none")}
    assert stored_bytes(s3, bucket, "odd.bin") == data
    assert actions(clerk.check(root, f"s3://{bucket}")) == {"odd.bin": ("same", "multipart-md5")}


def test_zero_byte_files_are_uploaded_and_proven_equal(
    clerk: ObjectClerk, s3: Any, bucket: str, tree: Path
) -> None:
    (tree / "frames" / "empty.fits").write_bytes(b"")
    (tree / "kept-empty").write_bytes(b"")
    s3.put_object(Bucket=bucket, Key="kept-empty", Body=b"")  # written by another tool

    report = clerk.sync(tree, f"s3://{bucket}")
    assert report.ok, report.failures
    assert actions(report)["frames/empty.fits"] == ("uploaded", "absent")
    assert actions(report)["kept-empty"] == ("skipped", "md5")  # equal, proven by its MD5
    assert report.totals["uploaded"] == len(TREE) + 1
    assert stored_bytes(s3, bucket, "frames/empty.fits") == b""


def test_a_failing_entry_is_reported_and_the_others_are_done(
    clerk: ObjectClerk, s3: Any, bucket: str, tree: Path
) -> None:
    fail_puts_of(clerk, "frames-index")
    report = clerk.sync(tree, f"s3://{bucket}", workers=3)
    [failure] = report.failures
    assert failure.key == "frames-index"
    assert isinstance(failure.error, ObjectClerkServerInternalException)
    assert "frames-index" in str(failure.error)
    assert sorted(stored_keys(s3, bucket)) == sorted(set(TREE) - {"frames-index"})
    [entry] = [e for e in report.to_dict()["entries"] if e["key"] == "frames-index"]
    assert entry["action"] == "failed"
    assert entry["error"]["type"] == "ObjectClerkServerInternalException"


def test_dry_run_decides_and_writes_nothing(
    clerk: ObjectClerk, s3: Any, bucket: str, tree: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="frames-index", Body=b"INDEX")  # same size, other bytes
    s3.put_object(Bucket=bucket, Key="stale", Body=b"only at the destination")
    requests = inject(clerk)
    report = clerk.sync(tree, f"s3://{bucket}", dry_run=True, delete=True)
    assert report.dry_run
    found = actions(report)
    assert found["frames-index"] == ("uploaded", "md5")
    assert found["readme.txt"] == ("uploaded", "absent")
    assert found["stale"] == ("deleted", "absent")
    assert report.totals["bytes"] == sum(len(data) for data in TREE.values())
    assert sorted(stored_keys(s3, bucket)) == ["frames-index", "stale"]
    assert stored_bytes(s3, bucket, "frames-index") == b"INDEX"
    writes = ("PutObject", "CreateMultipartUpload", "UploadPart", "DeleteObject", "CopyObject")
    assert all(requests.sent[operation] == 0 for operation in writes)


def test_a_dry_run_reports_what_an_upload_would_refuse(
    clerk: ObjectClerk, bucket: str, tree: Path
) -> None:
    (tree / "broken.fits").symlink_to(tree / "nowhere")
    report = clerk.sync(tree, f"s3://{bucket}", dry_run=True)
    [failure] = report.failures
    assert failure.key == "broken.fits"
    assert isinstance(failure.error, ObjectSaveException)


def test_delete_removes_only_what_the_source_lacks_after_success(
    clerk: ObjectClerk, s3: Any, bucket: str, tree: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="data/stale/old.fits", Body=b"old")
    s3.put_object(Bucket=bucket, Key="outside-the-prefix", Body=b"kept")
    report = clerk.sync(tree, f"s3://{bucket}/data", delete=True)
    assert report.ok
    assert actions(report)["stale/old.fits"] == ("deleted", "absent")
    assert sorted(stored_keys(s3, bucket)) == sorted(
        ["outside-the-prefix", *(f"data/{key}" for key in TREE)]
    )


def test_no_deletion_when_a_transfer_failed(
    clerk: ObjectClerk, s3: Any, bucket: str, tree: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="stale", Body=b"old")
    fail_puts_of(clerk, "readme.txt")
    report = clerk.sync(tree, f"s3://{bucket}", delete=True)
    assert not report.ok
    assert report.deletions_withheld == 1
    assert "stale" in stored_keys(s3, bucket)
    assert "stale" not in actions(report)
    assert report.to_dict()["deletions_withheld"] == 1


def test_progress_reports_the_bytes_transferred(
    clerk: ObjectClerk, bucket: str, tree: Path
) -> None:
    transferred: list[int] = []
    report = clerk.sync(tree, f"s3://{bucket}", callback=transferred.append)
    assert sum(transferred) == report.totals["bytes"] == sum(map(len, TREE.values()))


def test_a_given_executor_runs_the_work_and_stays_open(
    clerk: ObjectClerk, s3: Any, bucket: str, tree: Path
) -> None:
    names: set[str] = set()
    with ThreadPoolExecutor(2, thread_name_prefix="callers-pool") as pool:
        original = pool.submit

        def submit(*args: Any, **kwargs: Any) -> Any:
            names.add("submitted")
            return original(*args, **kwargs)

        pool.submit = submit  # type: ignore[method-assign]
        assert clerk.sync(tree, f"s3://{bucket}", executor=pool).ok
        assert pool.submit(lambda: 42).result() == 42  # not shut down
    assert names == {"submitted"}
    assert len(stored_keys(s3, bucket)) == len(TREE)


@pytest.mark.slow
def test_a_process_pool_runs_the_batches_in_other_processes(
    clerk: ObjectClerk, s3: Any, bucket: str, tree: Path
) -> None:
    transferred: list[int] = []
    context = multiprocessing.get_context("spawn")  # no fork of this threaded process
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        report = clerk.sync(tree, f"s3://{bucket}", executor=pool, callback=transferred.append)
        assert report.ok, report.failures
        (tree / "empty.fits").write_bytes(b"")
        again = clerk.sync(tree, f"s3://{bucket}", executor=pool)
    assert {action for action, _ in actions(report).values()} == {"uploaded"}
    assert sum(transferred) == sum(map(len, TREE.values()))  # entry by entry, here
    for key, data in TREE.items():
        assert stored_bytes(s3, bucket, key) == data
    assert actions(again)["empty.fits"] == ("uploaded", "absent")
    assert again.totals["skipped"] == len(TREE)


# -- store to local and store to store ------------------------------------------


def test_a_prefix_is_downloaded_then_skipped_and_extra_files_deleted(
    clerk: ObjectClerk, s3: Any, bucket: str, tree: Path, tmp_path: Path
) -> None:
    assert clerk.sync(tree, f"s3://{bucket}/set").ok
    s3.put_object(Bucket=bucket, Key="set/zero", Body=b"")
    s3.put_object(Bucket=bucket, Key="set/marker/", Body=b"")  # a console's directory marker
    target = tmp_path / "copy" / "of" / "it"

    report = clerk.sync(f"s3://{bucket}/set", target)
    assert report.ok
    assert actions(report)["zero"] == ("downloaded", "absent")
    assert "marker/" not in actions(report)
    for key, data in TREE.items():
        assert target.joinpath(*key.split("/")).read_bytes() == data
    assert (target / "zero").read_bytes() == b""

    (target / "frames-index").write_bytes(b"INDEX")  # same size, other bytes
    (target / "frames" / "local-only").write_bytes(b"extra")
    again = clerk.sync(f"s3://{bucket}/set", target, delete=True)
    assert again.ok
    found = actions(again)
    assert found["frames-index"] == ("downloaded", "md5")
    assert found["big.bin"] == ("skipped", "multipart-md5")
    assert found["frames/local-only"] == ("deleted", "absent")
    assert (target / "frames-index").read_bytes() == TREE["frames-index"]
    assert not (target / "frames" / "local-only").exists()
    assert actions(clerk.check(f"s3://{bucket}/set", target))["big.bin"] == (
        "same",
        "multipart-md5",
    )


def test_a_dry_run_download_makes_no_directory(
    clerk: ObjectClerk, bucket: str, tree: Path, tmp_path: Path
) -> None:
    assert clerk.sync(tree, f"s3://{bucket}").ok
    report = clerk.sync(f"s3://{bucket}", tmp_path / "nothing", dry_run=True)
    assert report.totals["downloaded"] == len(TREE)
    assert not (tmp_path / "nothing").exists()


def test_store_to_store_copies_server_side_then_skips(
    clerk: ObjectClerk, s3: Any, make_bucket: Callable[[], str], tree: Path
) -> None:
    source, target = make_bucket(), make_bucket()
    assert clerk.sync(tree, f"s3://{source}/in").ok
    requests = inject(clerk)
    report = clerk.sync(f"s3://{source}/in", f"s3://{target}/out")
    assert report.ok
    assert {action for action, _ in actions(report).values()} == {"copied"}
    assert requests.sent["PutObject"] == requests.sent["UploadPart"] == 0  # server-side
    for key, data in TREE.items():
        assert stored_bytes(s3, target, f"out/{key}") == data
        assert (
            s3.head_object(Bucket=target, Key=f"out/{key}")["ETag"]
            == s3.head_object(Bucket=source, Key=f"in/{key}")["ETag"]
        )
    again = clerk.sync(f"s3://{source}/in", f"s3://{target}/out")
    assert {action for action, _ in actions(again).values()} == {"skipped"}
    assert actions(again)["big.bin"] == ("skipped", "multipart-md5")
    assert clerk.check(f"s3://{source}/in", f"s3://{target}/out").ok


def test_store_to_store_same_size_other_bytes_is_copied(
    clerk: ObjectClerk, s3: Any, make_bucket: Callable[[], str]
) -> None:
    source, target = make_bucket(), make_bucket()
    s3.put_object(Bucket=source, Key="k", Body=b"12345")
    s3.put_object(Bucket=target, Key="k", Body=b"54321")
    assert actions(clerk.check(f"s3://{source}", f"s3://{target}")) == {"k": ("differ", "md5")}
    assert actions(clerk.sync(f"s3://{source}", f"s3://{target}")) == {"k": ("copied", "md5")}
    assert stored_bytes(s3, target, "k") == b"12345"


# -- check -----------------------------------------------------------------------


def test_check_reports_each_kind_of_difference_and_writes_nothing(
    clerk: ObjectClerk, s3: Any, bucket: str, tree: Path
) -> None:
    assert clerk.sync(tree, f"s3://{bucket}").ok
    assert clerk.check(tree, f"s3://{bucket}").ok
    (tree / "frames-index").write_bytes(b"INDEX")
    (tree / "readme.txt").write_bytes(b"longer than it was")
    (tree / "frames" / "2026" / "frame 0001.fits").unlink()
    (tree / "new").write_bytes(b"new")
    s3.delete_object(Bucket=bucket, Key="frames/é/ü ñ.txt")
    keys_before = sorted(stored_keys(s3, bucket))

    report = clerk.check(tree, f"s3://{bucket}")
    assert not report.ok
    found = actions(report)
    assert found["frames-index"] == ("differ", "md5")
    assert found["readme.txt"] == ("differ", "size")
    assert found["frames/2026/frame 0001.fits"] == ("extra", "absent")
    assert found["new"] == ("missing", "absent")
    assert found["frames/é/ü ñ.txt"] == ("missing", "absent")
    assert found["big.bin"] == ("same", "multipart-md5")
    assert report.totals == {
        "same": 2,
        "differ": 2,
        "missing": 2,
        "extra": 1,
        "unverifiable": 0,
        "entries": 7,
    }
    assert sorted(stored_keys(s3, bucket)) == keys_before
    assert report.to_dict()["ok"] is False


# -- bad arguments -------------------------------------------------------------


def test_bad_locations_are_refused_before_anything_is_done(
    clerk: ObjectClerk, bucket: str, tree: Path, tmp_path: Path
) -> None:
    with pytest.raises(ObjectClerkConfigurationException, match="names no bucket"):
        clerk.sync(tree, "s3://")
    with pytest.raises(ObjectClerkConfigurationException, match="both local"):
        clerk.sync(tree, tmp_path / "elsewhere")
    with pytest.raises(ObjectClerkConfigurationException, match="not a directory"):
        clerk.check(tree / "readme.txt", f"s3://{bucket}")
    with pytest.raises(TypeError):
        clerk.sync(42, f"s3://{bucket}")  # type: ignore[arg-type]
    with pytest.raises(ObjectClerkConfigurationException, match="workers"):
        clerk.sync(tree, f"s3://{bucket}", workers=0)
    assert not (tmp_path / "elsewhere").exists()


def test_a_missing_bucket_is_not_found(clerk: ObjectClerk, tree: Path) -> None:
    with pytest.raises(ObjectNotFoundException):
        clerk.sync(tree, "s3://clerk-no-such-bucket-0/x")


# -- small uploads verified by listing ---------------------------------------------


def count_batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """A list that grows by one for each batch the sync runs."""
    batches: list[int] = []
    real_run_batch = _sync_run.run_batch

    def counting_run_batch(*args: Any, **kwargs: Any) -> Any:
        batches.append(1)
        return real_run_batch(*args, **kwargs)

    monkeypatch.setattr(_sync_run, "run_batch", counting_run_batch)
    return batches


def test_small_uploads_are_verified_by_a_listing_not_a_head_each(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = {f"night/frame {n:02d}.fits": os.urandom(2000 + n) for n in range(20)}
    root = make_tree(tmp_path / "small", files)
    requests = inject(clerk)
    batches = count_batches(monkeypatch)
    confirming: list[int] = []
    client_of(clerk).raw.meta.events.register(
        "provide-client-params.s3.ListObjectsV2",
        lambda params, **_: confirming.append(1) if params.get("MaxKeys", 1000) <= 16 else None,
    )
    # An object after them all: each batch's listing would go on to it.
    s3.put_object(Bucket=bucket, Key="set/night/frame 99.fits", Body=b"later")
    report = clerk.sync(root, f"s3://{bucket}/set", workers=1)
    assert report.ok and report.totals["uploaded"] == 20
    assert requests.sent["PutObject"] == 20
    assert requests.sent["HeadObject"] == 0
    # the destination's listing, then one page per batch: fewer than a HEAD each
    assert len(confirming) == len(batches) < 20
    assert requests.sent["ListObjectsV2"] < 20
    for key, data in files.items():
        assert stored_bytes(s3, bucket, f"set/{key}") == data


@pytest.mark.slow
def test_a_batch_listing_asks_for_its_own_keys_first_then_pages_past_others(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each batch's confirming listing first asks for as many keys as it
    wrote; objects between them (those a sync leaves alone) are listed past
    in full pages, not pages of the batch's size, and no upload is repeated
    for want of a page."""
    files = {f"f{n:02d}": os.urandom(1000 + n) for n in range(12)}
    root = make_tree(tmp_path / "small", files)
    between = [f"set/f{n:02d}-{m:02d}" for n in range(12) for m in range(10)]
    for key in between:
        s3.put_object(Bucket=bucket, Key=key, Body=b"not in the source")
    batches = count_batches(monkeypatch)
    asked: list[int | None] = []
    client_of(clerk).raw.meta.events.register(
        "provide-client-params.s3.ListObjectsV2",
        lambda params, **_: asked.append(params.get("MaxKeys")),
    )
    requests = inject(clerk)
    report = clerk.sync(root, f"s3://{bucket}/set", workers=1)
    assert report.ok and report.totals["uploaded"] == 12
    assert requests.sent["PutObject"] == 12, "every upload confirmed by a listing"
    first_pages = [m for m in asked if m is not None and m <= 16]
    assert len(first_pages) == len(batches)
    # 120 objects between a dozen keys: a few full pages per batch at most,
    # not one page per dozen keys.
    assert len(asked) - len(first_pages) <= 2 + 2 * len(batches)


def test_a_small_upload_the_listing_does_not_confirm_is_uploaded_again_verified(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path, moto_only: None
) -> None:
    """moto stores a body damaged on the way (it checks no Content-MD5): the
    listing shows another ETag, and the verified upload puts it right."""
    files = {f"f{n}": os.urandom(3000 + n) for n in range(3)}
    root = make_tree(tmp_path / "small", files)
    requests = inject(clerk)
    requests.fail("PutObject", "corrupt_request", times=1)
    report = clerk.sync(root, f"s3://{bucket}")
    assert report.ok, report.to_dict()
    assert requests.sent["PutObject"] == 3 + 1
    for key, data in files.items():
        assert stored_bytes(s3, bucket, key) == data
