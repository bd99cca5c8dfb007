"""The local digest cache of sync and check (hash_cache=, --hash-cache):
an unchanged file is not read again, a changed one always is, a racily
clean entry is not trusted, a damaged cache is rebuilt and never trusted,
and the cache is shared safely by threads, processes and two runs.

Whether a local digest came from the cache is read from each entry's
detail, the cache's own account in the report."""

from __future__ import annotations

import dataclasses
import gc
import json
import logging
import multiprocessing
import os
import sqlite3
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from object_clerk import ObjectClerk, ObjectClerkConfigurationException, _sync, cli
from object_clerk._hash_cache import RACY_WINDOW_NS, FileState, HashCache, usable
from object_clerk._sync_report import CheckReport, SyncReport
from tests.support import TEST_THRESHOLD, Endpoint, engine_of, make_tree, stored_keys

FROM_CACHE = "from the hash cache"
# A racy window for tests: longer than any file system's timestamp tick
# here, short enough to wait out (see settle).
WINDOW_NS = 50_000_000
TREE = {
    "a.txt": b"alpha" * 100,
    "b.txt": b"bravo" * 100,
    "sub/c.bin": bytes(range(256)) * 4,
    "sub/deeper/d.bin": b"delta" * 300,
}


def cached(report: SyncReport | CheckReport) -> set[str]:
    """The keys whose local digest came from the cache."""
    return {entry.key for entry in report.entries if FROM_CACHE in entry.detail}


def outcome(report: SyncReport | CheckReport) -> dict[str, tuple[str, str]]:
    return {entry.key: (entry.action, entry.evidence) for entry in report.entries}


def cache_at(path: Path, window_ns: int = WINDOW_NS) -> HashCache:
    return dataclasses.replace(HashCache.at(path), racy_window_ns=window_ns)


def settle(root: Path, window_ns: int = WINDOW_NS) -> None:
    """Wait until every file under root was last changed more than
    window_ns ago (bounded: a file changed in the future is a test bug)."""
    newest = max(
        max(path.stat().st_mtime_ns, path.stat().st_ctime_ns)
        for path in root.rglob("*")
        if path.is_file()
    )
    wait = (newest + window_ns - time.time_ns()) / 1e9 + 0.001
    assert wait < 1.0
    if wait > 0:
        time.sleep(wait)


def check(clerk: ObjectClerk, root: Path, location: str, cache: HashCache, **kw: Any) -> Any:
    return _sync.check(engine_of(clerk), root, location, hash_cache=cache, **kw)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "dataset", TREE)


@pytest.fixture
def stored(clerk: ObjectClerk, bucket: str, tree: Path) -> str:
    """The tree uploaded to the bucket, settled (its files older than the
    window); its location."""
    location = f"s3://{bucket}/set"
    assert clerk.sync(tree, location).ok
    settle(tree)
    return location


def rows(path: Path) -> int:
    with sqlite3.connect(path) as connection:
        count: int = connection.execute("SELECT count(*) FROM files").fetchone()[0]
    return count


def test_a_recheck_with_the_cache_hashes_nothing(
    clerk: ObjectClerk, tree: Path, stored: str, tmp_path: Path
) -> None:
    big = tree / "big.bin"
    big.write_bytes(os.urandom(2 * TEST_THRESHOLD + 1000))  # multipart, in the clerk's parts
    assert clerk.sync(tree, stored).ok
    settle(tree)
    cache = cache_at(tmp_path / "digests.db")
    first = check(clerk, tree, stored, cache)
    assert first.ok and cached(first) == set()
    again = check(clerk, tree, stored, cache)
    assert again.ok
    assert cached(again) == {*TREE, "big.bin"}
    assert outcome(again) == outcome(first)
    assert dict(outcome(again))["big.bin"] == ("same", "multipart-md5")
    if os.geteuid() != 0:  # root reads any file: the detail alone tells
        for path in tree.rglob("*"):
            if path.is_file():
                path.chmod(0)
        assert check(clerk, tree, stored, cache).ok
    # a sync on the same cache skips on the same evidence, reading nothing
    synced = _sync.sync(engine_of(clerk), tree, stored, hash_cache=cache)
    assert synced.totals["skipped"] == len(TREE) + 1
    assert cached(synced) == {*TREE, "big.bin"}


def test_the_public_keyword_keeps_digests_and_trusts_no_fresh_file(
    clerk: ObjectClerk, bucket: str, tree: Path, tmp_path: Path
) -> None:
    """With the default window, files written a moment ago are hashed on
    every run (racily clean), their digests kept; once old enough, taken
    from the cache."""
    location = f"s3://{bucket}/set"
    path = tmp_path / "digests.db"
    # Past the short window before anything is recorded: the rows recorded
    # next are then trusted by a run of that window, however fast this is.
    settle(tree)
    assert clerk.sync(tree, location, hash_cache=path).ok
    first = clerk.check(tree, location, hash_cache=str(path))
    again = clerk.check(tree, location, hash_cache=path)
    assert first.ok and again.ok
    assert cached(first) == cached(again) == set()
    assert rows(path) == len(TREE)
    # the same entries, trusted by a run whose window they are past
    settle(tree)
    assert cached(check(clerk, tree, location, cache_at(path))) == set(TREE)


def test_a_racily_clean_entry_is_hashed_again(tmp_path: Path) -> None:
    """Digests recorded within the window of the file's last change are
    not used, even though the file's state is unchanged; past it, they are."""
    root = make_tree(tmp_path / "tree", {"f": b"content"})
    path = root / "f"
    cache = HashCache.at(tmp_path / "digests.db")
    cache.prepare()
    entry = cache.entry(root, "f", path)
    entry.put("etag", "recorded")
    entry.save(path)
    assert cache.entry(root, "f", path).known == {}  # just written: racy
    trusting = dataclasses.replace(cache, racy_window_ns=0)
    assert trusting.entry(root, "f", path).known == {"etag": "recorded"}

    # the rule itself: state newer than the recording less the window
    state = FileState.of(path.stat())
    recorded_ns = max(state.mtime_ns, state.ctime_ns) + RACY_WINDOW_NS
    assert not usable(state, recorded_ns, state, RACY_WINDOW_NS)
    assert usable(state, recorded_ns + 1, state, RACY_WINDOW_NS)


@pytest.mark.parametrize("how", ["rewritten", "mtime-restored", "replaced"])
def test_a_changed_file_is_hashed_again_and_found_different(
    clerk: ObjectClerk, tree: Path, stored: str, tmp_path: Path, how: str
) -> None:
    cache = cache_at(tmp_path / "digests.db")
    assert check(clerk, tree, stored, cache).ok
    changed = tree / "a.txt"
    before = changed.stat()
    other = b"ALPHA" * 100  # the same size, other bytes
    if how == "replaced":  # a new file (inode) renamed over it, times kept
        (tree / "new").write_bytes(other)
        os.utime(tree / "new", ns=(before.st_atime_ns, before.st_mtime_ns))
        os.replace(tree / "new", changed)
    else:
        changed.write_bytes(other)
        if how == "mtime-restored":
            os.utime(changed, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = changed.stat()
    assert after.st_size == before.st_size
    assert after.st_ctime_ns != before.st_ctime_ns
    if how != "rewritten":
        assert after.st_mtime_ns == before.st_mtime_ns
    settle(tree)
    again = check(clerk, tree, stored, cache)
    assert outcome(again)["a.txt"] == ("differ", "md5")
    assert cached(again) == set(TREE) - {"a.txt"}
    # and once it is uploaded, the new digest is the one kept
    assert _sync.sync(engine_of(clerk), tree, stored, hash_cache=cache).totals["uploaded"] == 1
    assert cached(check(clerk, tree, stored, cache)) == set(TREE)


def test_no_single_changed_state_field_keeps_an_entry() -> None:
    """Property: digests are used only for the very state recorded; a
    change of any one field (size, mtime, ctime, inode, device) in either
    direction, by any amount, discards them."""
    recorded = FileState(4096, 1_700_000_000_000_000_000, 1_700_000_000_000_000_001, 1234, 66)
    recorded_ns = 1_800_000_000_000_000_000
    assert usable(recorded, recorded_ns, recorded, RACY_WINDOW_NS)
    for name in ("size", "mtime_ns", "ctime_ns", "inode", "device"):
        for delta in (1, -1, 2**32, -(2**20), 10**9):
            now = dataclasses.replace(recorded, **{name: getattr(recorded, name) + delta})
            assert not usable(recorded, recorded_ns, now, RACY_WINDOW_NS), (name, delta)
            assert not usable(recorded, recorded_ns, now, 0), (name, delta)


def test_a_damaged_row_is_never_trusted(
    clerk: ObjectClerk, bucket: str, tree: Path, tmp_path: Path, s3: Any
) -> None:
    """A row whose digest was altered (to the store's, of other bytes)
    fails its checksum: the file is hashed, and found different."""
    location = f"s3://{bucket}/set"
    s3.put_object(Bucket=bucket, Key="set/a.txt", Body=b"ALPHA" * 100)
    s3.put_object(Bucket=bucket, Key="set/b.txt", Body=TREE["b.txt"])
    path = tmp_path / "digests.db"
    cache = cache_at(path)
    settle(tree)
    assert outcome(check(clerk, tree, location, cache))["a.txt"] == ("differ", "md5")
    stored_etag = s3.head_object(Bucket=bucket, Key="set/a.txt")["ETag"].strip('"')
    with sqlite3.connect(path) as connection:
        connection.execute(
            "UPDATE files SET digests=? WHERE key=?",
            (json.dumps({"etag": stored_etag}), b"a.txt"),
        )
        # and a field of another type altogether
        connection.execute("UPDATE files SET state=42 WHERE key=?", (b"b.txt",))
    again = check(clerk, tree, location, cache)
    assert outcome(again)["a.txt"] == ("differ", "md5")
    assert outcome(again)["b.txt"] == ("same", "md5")
    assert cached(again) == set()


@pytest.mark.parametrize(
    "damage", ["garbage", pytest.param("truncated", marks=pytest.mark.slow), "foreign"]
)
def test_a_corrupt_cache_is_ignored_with_a_warning_and_rebuilt(
    clerk: ObjectClerk,
    tree: Path,
    stored: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    damage: str,
) -> None:
    path = tmp_path / "digests.db"
    cache = cache_at(path)
    if damage == "garbage":
        path.write_bytes(os.urandom(10_000))
    elif damage == "foreign":
        with sqlite3.connect(path) as connection:
            connection.execute("CREATE TABLE files (name TEXT)")
    else:
        for n in range(150):  # a cache of some pages
            (tree / "many" / f"{n:03d}").parent.mkdir(exist_ok=True)
            (tree / "many" / f"{n:03d}").write_bytes(b"%03d" % n)
        assert clerk.sync(tree, stored).ok
        settle(tree)
        assert check(clerk, tree, stored, cache).ok
        gc.collect()  # close the workers' connections: the cache is in its file
        for suffix in ("-wal", "-shm"):
            assert not Path(f"{path}{suffix}").exists()
        os.truncate(path, path.stat().st_size // 2)
    # a change that a damaged cache must not hide
    (tree / "b.txt").write_bytes(b"BRAVO" * 100)
    settle(tree)
    with caplog.at_level(logging.WARNING, logger="object_clerk.hash_cache"):
        report = check(clerk, tree, stored, cache)
    assert outcome(report)["b.txt"] == ("differ", "md5")
    assert [entry.key for entry in report.entries if entry.action != "same"] == ["b.txt"]
    assert cached(report) == set()
    [warning] = [
        record.getMessage() for record in caplog.records if record.name == "object_clerk.hash_cache"
    ]
    assert str(path) in warning and "rebuilt" in warning
    assert Path(f"{path}.corrupt").exists()  # kept aside, not deleted
    assert rows(path) == len(report.entries)  # a sound cache again
    assert cached(check(clerk, tree, stored, cache)) == {e.key for e in report.entries}


def _sync_in_child(clerk: ObjectClerk, root: Path, location: str, cache: HashCache) -> Any:
    return _sync.sync(engine_of(clerk), root, location, hash_cache=cache, workers=4)


@pytest.mark.slow
def test_two_syncs_at_once_share_one_cache(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path
) -> None:
    """One sync in another process, one in this one, at the same time."""
    files = {f"d{n % 4}/f{n:03d}": b"%05d" % n for n in range(100)}
    root = make_tree(tmp_path / "tree", files)
    cache = cache_at(tmp_path / "digests.db")
    context = multiprocessing.get_context("spawn")
    one, two = f"s3://{bucket}/one", f"s3://{bucket}/two"
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        pool.submit(int).result()  # started before the syncs, to overlap them
        for _ in range(2):  # uploads, then comparisons that all write the cache
            there = pool.submit(_sync_in_child, clerk, root, one, cache)
            reports = [_sync_in_child(clerk, root, two, cache), there.result()]
            assert all(report.ok for report in reports), [r.failures for r in reports]
            settle(root)
    assert [report.totals["skipped"] for report in reports] == [len(files)] * 2
    assert len(stored_keys(s3, bucket)) == 2 * len(files)
    # each file's entry recorded once (one tree), whole, and trusted
    assert rows(tmp_path / "digests.db") == len(files)
    for location in (one, two):
        assert cached(check(clerk, root, location, cache)) == set(files)


@pytest.mark.slow
def test_the_cache_works_on_a_process_pool(
    clerk: ObjectClerk, tree: Path, stored: str, tmp_path: Path
) -> None:
    cache = cache_at(tmp_path / "digests.db")
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        first = check(clerk, tree, stored, cache, executor=pool)
        again = check(clerk, tree, stored, cache, executor=pool)
    assert first.ok and again.ok
    assert cached(first) == set()
    assert cached(again) == set(TREE)


def test_a_cache_inside_a_tree_or_unusable_is_refused(
    clerk: ObjectClerk, s3: Any, bucket: str, tree: Path, tmp_path: Path
) -> None:
    for inside in (tree / "digests.db", tree / "sub" / "digests.db", tree):
        with pytest.raises(ObjectClerkConfigurationException, match="inside the source"):
            clerk.sync(tree, f"s3://{bucket}/set", hash_cache=inside)
        assert not inside.is_file()
    assert stored_keys(s3, bucket) == []
    down = tmp_path / "down"
    with pytest.raises(ObjectClerkConfigurationException, match="inside the destination"):
        clerk.sync(f"s3://{bucket}/set", down, hash_cache=down / "x" / "digests.db")
    with pytest.raises(ObjectClerkConfigurationException, match="inside the source"):
        clerk.check(tree, f"s3://{bucket}/set", hash_cache=tree / "digests.db")
    assert not down.exists()
    for unusable in (tmp_path / "no such directory" / "digests.db", tmp_path):
        with pytest.raises(ObjectClerkConfigurationException, match="hash cache"):
            clerk.check(tree, f"s3://{bucket}/set", hash_cache=unusable)


def test_the_command_line_takes_a_hash_cache(
    endpoint: Endpoint,
    bucket: str,
    tree: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", endpoint.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", endpoint.secret_key)
    if os.environ.get("CA_BUNDLE"):
        monkeypatch.setenv("AWS_CA_BUNDLE", os.environ["CA_BUNDLE"])
    path = tmp_path / "digests.db"
    location = f"s3://{bucket}/set"
    assert cli.main(["sync", str(tree), location, "--hash-cache", str(path)]) == 0
    assert cli.main(["check", str(tree), location, "--hash-cache", str(path), "--json"]) == 0
    assert rows(path) == len(TREE)
    capsys.readouterr()
    inside = str(tree / "digests.db")
    assert cli.main(["check", str(tree), location, "--hash-cache", inside]) != 0
    assert "inside the source" in capsys.readouterr().err
