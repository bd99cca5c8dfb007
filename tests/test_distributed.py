"""sync and check on executors whose workers are other processes: a process
pool and a real Dask cluster (two worker processes on 127.0.0.1), with the
same reports as the default thread pool; a worker killed mid-sync is healed
by running the sync again."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import distributed
import pytest

from object_clerk import ObjectClerk
from tests.support import TEST_THRESHOLD, stored_keys

# The whole file is slow: a Dask cluster and process pools, a worker killed.
pytestmark = pytest.mark.slow

SECONDS = 60  # every wait here is bounded by this


def make_tree(root: Path, files: int) -> Path:
    for n in range(files):
        path = root / f"run-{n % 3}" / f"frame {n:03d}.fits"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(100 + n))
    (root / "run-0" / "large.fits").write_bytes(os.urandom(TEST_THRESHOLD + 4321))
    return root


def summary(report: Any) -> list[tuple[str, str, str]]:
    return sorted((entry.key, entry.action, entry.evidence) for entry in report.entries)


@pytest.fixture(scope="module")
def dask_client() -> Iterator[distributed.Client]:
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=2,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def test_a_process_pool_gives_the_reports_of_the_thread_pool(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "tree", 24)
    spawn = multiprocessing.get_context("spawn")  # no fork of a threaded test process
    with ProcessPoolExecutor(2, mp_context=spawn) as pool:
        in_processes = clerk.sync(tree, f"s3://{bucket}/processes", executor=pool)
        checked = clerk.check(tree, f"s3://{bucket}/processes", executor=pool)
    in_threads = clerk.sync(tree, f"s3://{bucket}/threads")
    assert in_processes.ok, in_processes.to_dict()
    assert summary(in_processes) == summary(in_threads)
    assert {action for _, action, _ in summary(in_processes)} == {"uploaded"}
    assert checked.ok and summary(checked) == summary(clerk.check(tree, f"s3://{bucket}/threads"))
    assert len(stored_keys(s3, bucket)) == 2 * 25


def test_a_dask_cluster_gives_the_reports_of_the_thread_pool(
    clerk: ObjectClerk, bucket: str, tmp_path: Path, dask_client: distributed.Client
) -> None:
    tree = make_tree(tmp_path / "tree", 24)
    executor = dask_client.get_executor()
    on_dask = clerk.sync(tree, f"s3://{bucket}/dask", executor=executor)
    in_threads = clerk.sync(tree, f"s3://{bucket}/threads")
    assert on_dask.ok, on_dask.to_dict()
    assert summary(on_dask) == summary(in_threads)
    checked = clerk.check(tree, f"s3://{bucket}/dask", executor=executor)
    assert checked.ok and summary(checked) == summary(clerk.check(tree, f"s3://{bucket}/threads"))
    again = clerk.sync(tree, f"s3://{bucket}/dask", executor=executor)
    assert {action for _, action, _ in summary(again)} == {"skipped"}


def test_a_worker_killed_mid_sync_is_healed_by_syncing_again(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "tree", 120)
    destination = f"s3://{bucket}/campaign"
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
    )
    client = distributed.Client(cluster)
    try:
        executor = client.get_executor()
        outcome: list[Any] = []
        sync = threading.Thread(
            target=lambda: outcome.append(clerk.sync(tree, destination, executor=executor))
        )
        sync.start()
        deadline = time.monotonic() + SECONDS
        while not stored_keys(s3, bucket) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stored_keys(s3, bucket), "the sync began"
        victim = next(iter(client.run(os.getpid).values()))
        os.kill(victim, signal.SIGKILL)
        sync.join(SECONDS)
        assert not sync.is_alive()
        healed = clerk.sync(tree, destination, executor=executor)
    finally:
        client.close()
        cluster.close()
    assert healed.ok, healed.to_dict()
    assert clerk.check(tree, destination).ok
    assert len(stored_keys(s3, bucket)) == 121
