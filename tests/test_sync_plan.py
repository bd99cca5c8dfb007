"""The planning of a sync or a check, without a server: locations, the walk
of a local tree, pairing, decisions and their evidence, batches, reports."""

from __future__ import annotations

import hashlib
import os
import pickle
import tracemalloc
from collections.abc import Callable, Iterator
from concurrent.futures import ALL_COMPLETED, Executor, Future
from concurrent.futures import wait as futures_wait
from pathlib import Path
from typing import Any

import pytest

from object_clerk import ObjectClerkConfigurationException
from object_clerk._checksum import Etag, etag_of
from object_clerk._layout import MAX_TRIED_LAYOUTS, PartLayouts
from object_clerk._layout import layouts as part_layouts
from object_clerk._location import LocalTree, StorePrefix, parse_location, parse_pair
from object_clerk._sync_plan import (
    ABSENT,
    COMPARE,
    EXTRA,
    MD5,
    MULTIPART_MD5,
    NONE,
    SIZE,
    TRANSFER,
    Batch,
    Batcher,
    Item,
    ListingOrderError,
    Step,
    Verdict,
    batches,
    check_action,
    checksum_verdict,
    decide,
    etag_verdict,
    pair,
    plan,
    transfer_action,
)
from object_clerk._sync_report import CheckReport, ReportEntry, SyncReport
from object_clerk._sync_run import BATCH_STEPS, Job, Runner, local_path
from object_clerk._tree import walk
from object_clerk.exceptions import ObjectSaveException

MiB = 1024 * 1024

# -- locations -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "bucket", "prefix"),
    [
        ("s3://b", "b", ""),
        ("s3://b/", "b", ""),
        ("s3://b/data", "b", "data/"),
        ("s3://b/data/", "b", "data/"),
        ("S3://b/a/b c/ü", "b", "a/b c/ü/"),
    ],
)
def test_a_store_location_is_a_bucket_and_a_directory_prefix(
    text: str, bucket: str, prefix: str
) -> None:
    assert parse_location(text, "source") == StorePrefix(bucket, prefix)


def test_a_prefix_names_a_directory_not_a_string_prefix() -> None:
    location = parse_location("s3://b/data", "source")
    assert isinstance(location, StorePrefix)
    assert location.object_key("x") == "data/x"
    assert location.relative_key("data/x/y") == "x/y"


@pytest.mark.parametrize("value", ["local/dir", Path("local/dir")])
def test_anything_else_is_a_local_directory(value: object) -> None:
    assert parse_location(value, "source") == LocalTree(Path("local/dir"))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("s3://", "names no bucket"),
        ("s3:///prefix", "names no bucket"),
        ("s3://b//x", "empty path segment"),
        ("gs://b/x", "neither a local directory nor an s3:// location"),
        ("", "empty"),
    ],
)
def test_bad_locations_are_refused_with_a_message(value: str, message: str) -> None:
    with pytest.raises(ObjectClerkConfigurationException, match=message):
        parse_location(value, "source")


@pytest.mark.parametrize("value", [None, 3, b"s3://b"])
def test_a_location_of_another_type_is_a_type_error(value: object) -> None:
    with pytest.raises(TypeError, match="source"):
        parse_location(value, "source")


def test_two_local_locations_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ObjectClerkConfigurationException, match="both local"):
        parse_pair(tmp_path, tmp_path / "other")


def test_a_local_source_must_be_a_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(ObjectClerkConfigurationException, match="not a directory"):
        parse_pair(tmp_path / "file", "s3://b")
    with pytest.raises(ObjectClerkConfigurationException, match="not a directory"):
        parse_pair(tmp_path / "missing", "s3://b")


def test_a_local_destination_may_be_missing_but_not_a_file(tmp_path: Path) -> None:
    parse_pair("s3://b", tmp_path / "to-be-made")
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(ObjectClerkConfigurationException, match="not a directory"):
        parse_pair("s3://b", tmp_path / "file")


@pytest.mark.parametrize(
    ("source", "destination"),
    [("s3://b/a", "s3://b/a"), ("s3://b", "s3://b/x"), ("s3://b/a/b", "s3://b/a")],
)
def test_overlapping_store_locations_are_refused(source: str, destination: str) -> None:
    with pytest.raises(ObjectClerkConfigurationException, match="overlap"):
        parse_pair(source, destination)


def test_sibling_prefixes_do_not_overlap() -> None:
    parse_pair("s3://b/data", "s3://b/data2")
    parse_pair("s3://b/x", "s3://c/x")


# -- the local walk ----------------------------------------------------------


def test_the_walk_yields_files_in_s3_key_order(tmp_path: Path) -> None:
    names = ["a/b/c", "a-c", "a0", "b/x y", "b/ü", "b/z", "é/1", "A"]
    for name in names:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(name.encode())
    (tmp_path / "empty" / "nested").mkdir(parents=True)
    keys = [item.key for item in walk(tmp_path)]
    # S3 orders by UTF-8 bytes: "-" (0x2d) < "/" (0x2f) < "0" (0x30) < "A" < "a".
    assert keys == sorted(names, key=lambda k: k.encode())
    assert keys.index("a-c") < keys.index("a/b/c") < keys.index("a0")
    assert {item.key: item.size for item in walk(tmp_path)}["b/ü"] == len("b/ü".encode())


def test_the_walk_skips_links_to_directories_and_follows_links_to_files(
    tmp_path: Path,
) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_bytes(b"12345")
    (tmp_path / "loop").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "link").symlink_to(tmp_path / "d" / "f")
    assert [(item.key, item.size) for item in walk(tmp_path)] == [("d/f", 5), ("link", 5)]


def test_a_missing_root_holds_nothing(tmp_path: Path) -> None:
    assert list(walk(tmp_path / "missing")) == []


# -- pairing and decisions ---------------------------------------------------


def test_pairing_matches_keys_and_keeps_the_singles() -> None:
    sources = [Item("a", 1), Item("b", 2), Item("d", 4)]
    destinations = [Item("b", 2, "e"), Item("c", 3, "e"), Item("d", 5, "e")]
    pairs = [(s.key if s else None, d.key if d else None) for s, d in pair(sources, destinations)]
    assert pairs == [("a", None), ("b", "b"), (None, "c"), ("d", "d")]


def test_pairing_refuses_a_side_out_of_order() -> None:
    with pytest.raises(ListingOrderError, match="destination"):
        list(pair([Item("a", 1)], [Item("b", 1), Item("a", 1)]))
    with pytest.raises(ListingOrderError, match="source"):
        list(pair([Item("a", 1), Item("a", 1)], []))


def test_pairing_is_lazy() -> None:
    def endless() -> object:
        n = 0
        while True:
            yield Item(f"{n:09d}", 1)
            n += 1

    steps = plan(endless(), iter(()))  # type: ignore[arg-type]
    assert [next(steps).key for _ in range(3)] == ["000000000", "000000001", "000000002"]


def test_decisions_from_the_listings() -> None:
    missing = decide(Item("k", 10), None)
    assert (missing.kind, missing.evidence) == (TRANSFER, ABSENT)
    resized = decide(Item("k", 10), Item("k", 11, "etag"))
    assert (resized.kind, resized.evidence) == (TRANSFER, SIZE)
    assert "10 bytes" in resized.detail
    extra = decide(None, Item("k", 11, "etag"))
    assert (extra.kind, extra.evidence, extra.size) == (EXTRA, ABSENT, 0)


def test_the_same_size_is_never_enough() -> None:
    step = decide(Item("k", 10), Item("k", 10, "etag"))
    assert step.kind == COMPARE
    assert check_action(step, None) == "unverifiable"


def test_transfer_actions() -> None:
    assert transfer_action(True, False) == "uploaded"
    assert transfer_action(False, True) == "downloaded"
    assert transfer_action(False, False) == "copied"


@pytest.mark.parametrize(
    ("step", "verdict", "action"),
    [
        (decide(Item("k", 1), None), None, "missing"),
        (decide(None, Item("k", 1)), None, "extra"),
        (decide(Item("k", 1), Item("k", 2)), None, "differ"),
        (decide(Item("k", 1), Item("k", 1)), Verdict(True, MD5), "same"),
        (decide(Item("k", 1), Item("k", 1)), Verdict(False, MD5), "differ"),
        (decide(Item("k", 1), Item("k", 1)), Verdict(None, NONE), "unverifiable"),
    ],
)
def test_check_actions(step: Step, verdict: Verdict | None, action: str) -> None:
    assert check_action(step, verdict) == action


# -- content evidence --------------------------------------------------------


def test_a_single_part_etag_has_one_known_layout() -> None:
    assert part_layouts(10, None, None, [5 * MiB]) == PartLayouts((None,), True)


def test_a_reported_part_size_is_the_known_layout() -> None:
    assert part_layouts(20 * MiB, 4, 6 * MiB, [5 * MiB]) == PartLayouts((6 * MiB,), True)


def test_without_a_reported_part_size_the_own_one_is_guessed_first() -> None:
    layouts = part_layouts(20 * MiB, 3, None, [8 * MiB], MAX_TRIED_LAYOUTS)
    assert layouts.sizes[0] == 8 * MiB
    assert not layouts.known
    assert all(-(-20 * MiB // size) == 3 for size in layouts.sizes if size)
    assert 1 <= len(layouts.sizes) <= 4


def test_an_etag_reproduced_in_its_layout_proves_equality() -> None:
    data = os.urandom(11 * MiB)
    stored = etag_of([data], 6 * MiB)
    layouts = PartLayouts((5 * MiB, 6 * MiB), known=False)
    computed = {size: etag_of([data], size) for size in layouts.sizes}
    verdict = etag_verdict(stored, computed, layouts)
    assert (verdict.equal, verdict.evidence) == (True, MULTIPART_MD5)
    assert str(6 * MiB) in verdict.detail


def test_a_single_part_mismatch_proves_a_difference() -> None:
    stored = Etag(hashlib.md5(b"stored").hexdigest(), None)
    verdict = etag_verdict(stored, {None: etag_of([b"other!"], None)}, PartLayouts((None,), True))
    assert (verdict.equal, verdict.evidence) == (False, MD5)


def test_a_mismatch_in_guessed_layouts_proves_nothing() -> None:
    stored = etag_of([b"x" * (11 * MiB)], 6 * MiB)
    layouts = PartLayouts((5 * MiB,), known=False)
    verdict = etag_verdict(stored, {5 * MiB: etag_of([b"x" * (11 * MiB)], 5 * MiB)}, layouts)
    assert (verdict.equal, verdict.evidence) == (None, NONE)
    assert "5242880 bytes" in verdict.detail


def test_full_object_checksums_decide_when_both_sides_have_one() -> None:
    assert checksum_verdict({"CRC32": "AAAA"}, {"CRC32": "AAAA"}) == Verdict(True, "crc32")
    differ = checksum_verdict({"CRC32": "AAAA"}, {"CRC32": "BBBB"})
    assert differ is not None and (differ.equal, differ.evidence) == (False, "crc32")
    assert checksum_verdict({"CRC32": "AAAA"}, {"SHA256": "AAAA"}) is None


# -- batches -------------------------------------------------------------------


def _steps(*sizes: int) -> list[Step]:
    return [decide(Item(f"k{n:03d}", size), None) for n, size in enumerate(sizes)]


def test_small_steps_share_batches_by_count() -> None:
    groups = list(batches(_steps(*[1] * 10), max_steps=4, max_bytes=100))
    assert [len(batch.steps) for batch in groups] == [4, 4, 2]


def test_batches_close_by_bytes_and_a_large_step_is_alone() -> None:
    groups = list(batches(_steps(30, 30, 50, 200, 10), max_steps=10, max_bytes=100))
    assert [[step.size for step in batch.steps] for batch in groups] == [
        [30, 30],
        [50],
        [200],
        [10],
    ]
    assert [batch.size for batch in groups] == [60, 50, 200, 10]


def test_every_step_is_batched_once_in_order() -> None:
    steps = _steps(*range(1, 60))
    groups = list(batches(steps, max_steps=7, max_bytes=90))
    assert [step for batch in groups for step in batch.steps] == steps


def test_a_batcher_needs_room() -> None:
    with pytest.raises(ValueError):
        Batcher(0, 10)


def test_work_items_are_small_picklable_descriptions(tmp_path: Path) -> None:
    job = Job("sync", LocalTree(tmp_path), StorePrefix("b", "p/"), dry_run=True)
    batch = Batch((*_steps(1, 2), decide(Item("k", 3), Item("k", 3, '"e"'))))
    assert pickle.loads(pickle.dumps((job, batch))) == (job, batch)


# -- local paths of keys -------------------------------------------------------


@pytest.mark.parametrize("key", ["../escape", "a/../../b", "a//b", "/abs", "a/./b", "nul\0"])
def test_a_key_cannot_name_a_path_outside_the_tree(tmp_path: Path, key: str) -> None:
    with pytest.raises(ObjectSaveException, match="does not name a file"):
        local_path(tmp_path, key)


def test_a_key_names_the_file_under_the_tree(tmp_path: Path) -> None:
    assert local_path(tmp_path, "a/b c/ü") == tmp_path / "a" / "b c" / "ü"
    if os.sep == "/":
        assert local_path(tmp_path, "back\\slash") == tmp_path / "back\\slash"


# -- reports -------------------------------------------------------------------


def test_a_sync_report_counts_and_is_ok_only_without_failures() -> None:
    entries = [
        ReportEntry("b", "uploaded", ABSENT, 10),
        ReportEntry("a", "skipped", MD5),
        ReportEntry("c", "failed", ABSENT, 0, OSError("disk"), "not at the destination"),
    ]
    report = SyncReport("src", "s3://b/", entries)
    assert [entry.key for entry in report.entries] == ["a", "b", "c"]
    assert report.totals["uploaded"] == 1 and report.totals["failed"] == 1
    assert report.totals["bytes"] == 10
    assert not report.ok
    assert [entry.key for entry in report.failures] == ["c"]
    document = report.to_dict()
    assert document["entries"][2]["error"] == {"type": "OSError", "message": "disk"}
    assert SyncReport("src", "dst", entries[:2]).ok


def test_withheld_deletions_make_a_sync_not_ok() -> None:
    report = SyncReport("src", "dst", [ReportEntry("a", "skipped", MD5)], deletions_withheld=2)
    assert not report.ok


def test_a_check_is_ok_only_when_every_entry_is_the_same() -> None:
    same = ReportEntry("a", "same", MD5)
    assert CheckReport("s", "d", [same]).ok
    assert CheckReport("s", "d", []).ok
    for action in ("differ", "missing", "extra", "unverifiable"):
        report = CheckReport("s", "d", [same, ReportEntry("b", action, NONE)])
        assert not report.ok
        assert report.totals[action] == 1


# -- the runner: batches handed over, bounded --------------------------------------


class _HeldExecutor(Executor):
    """Runs a task only when the runner waits for one: the most tasks ever
    waiting at once is then exactly what the runner allows."""

    def __init__(self) -> None:
        self.queue: list[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]] = []
        self.submitted: list[Batch] = []
        self.most_waiting = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        self.queue.append((future, fn, args))
        self.submitted.append(args[2])
        self.most_waiting = max(self.most_waiting, len(self.queue))
        return future

    def run_one(self) -> None:
        future, fn, args = self.queue.pop(0)
        future.set_result(fn(*args))


class _ImmediateExecutor(Executor):
    def __init__(self) -> None:
        self.submitted = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.submitted += 1
        future: Future[Any] = Future()
        future.set_result(fn(*args))
        return future


def _dry_deletions(count: int) -> list[Step]:
    """Steps a dry run completes without a clerk."""
    return [decide(None, Item(f"k{n:05d}", 10, "e")) for n in range(count)]


def test_the_runner_keeps_at_most_two_batches_per_worker_waiting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    executor = _HeldExecutor()

    def wait(futures: Any, return_when: str = ALL_COMPLETED) -> Any:
        if return_when == ALL_COMPLETED:
            while executor.queue:
                executor.run_one()
        elif not any(future.done() for future in futures):
            executor.run_one()
        return futures_wait(futures, return_when=return_when)

    monkeypatch.setattr("object_clerk._sync_run.wait", wait)
    job = Job("sync", LocalTree(tmp_path), StorePrefix("b", ""), dry_run=True)
    runner = Runner(None, job, executor, workers=3)  # type: ignore[arg-type]
    for step in _dry_deletions(500):
        runner.add(step)
    entries = runner.finish()
    assert executor.most_waiting == 2 * 3
    assert sorted(entry.key for entry in entries) == [f"k{n:05d}" for n in range(500)]
    assert {entry.action for entry in entries} == {"deleted"}
    # one step each for the idle workers, then full batches while they are busy
    sizes = [len(batch.steps) for batch in executor.submitted]
    assert sizes[:3] == [1, 1, 1]
    assert sizes[3:-1] == [BATCH_STEPS] * ((500 - 3) // BATCH_STEPS)
    assert sum(sizes) == 500


def test_the_runner_hands_steps_over_at_once_while_workers_are_idle(tmp_path: Path) -> None:
    executor = _ImmediateExecutor()
    job = Job("sync", LocalTree(tmp_path), StorePrefix("b", ""), dry_run=True)
    seen: list[str] = []
    runner = Runner(None, job, executor, workers=4, on_entry=lambda e: seen.append(e.key))  # type: ignore[arg-type]
    for step in _dry_deletions(5):
        runner.add(step)
    runner.finish()
    assert executor.submitted == 5  # a small tree is spread, not one batch
    assert seen == [f"k{n:05d}" for n in range(5)]


def test_a_batch_the_executor_cannot_run_fails_its_entries(tmp_path: Path) -> None:
    class Refusing(Executor):
        def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
            future: Future[Any] = Future()
            future.set_exception(RuntimeError("no workers left"))
            return future

    job = Job("sync", LocalTree(tmp_path), StorePrefix("b", ""), dry_run=True)
    runner = Runner(None, job, Refusing(), workers=1)  # type: ignore[arg-type]
    for step in _dry_deletions(3):
        runner.add(step)
    entries = runner.finish()
    assert [(entry.action, str(entry.error)) for entry in entries] == [
        ("failed", "no workers left")
    ] * 3


def test_planning_streams_in_constant_memory() -> None:
    def side(count: int, etag: str | None) -> Iterator[Item]:
        return (Item(f"dataset/{n:08d}", n % 1000, etag) for n in range(count))

    tracemalloc.start()
    try:
        steps = 0
        for step in plan(side(30_000, None), side(30_000, '"e"')):
            steps += step.kind == COMPARE
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert steps == 30_000
    assert peak < 1024 * 1024  # the records of the tree would be several MiB
