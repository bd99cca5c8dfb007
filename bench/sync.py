"""Benchmark dataset operations: sync and check, against other tools.

    python bench/sync.py [--repeat N] [--quick] [--only NAME ...] [--rst]

What is measured, in one run against one server:

- upload-small, upload-big: a local directory (500 files x 64 KiB; 4 files
  x 256 MiB) uploaded to a fresh prefix by ``clerk.sync(dir, "s3://...",
  workers=8)`` (every object verified), by ``rclone copy --transfers 8
  --checkers 8`` (which checks each object's MD5 against the store's),
  by obstore's ``put`` in a pool of 8 threads and by boto3's ``upload_file``
  in a pool of 8 threads (neither verifies). Files/s, MB/s, and each tool's
  speed relative to the clerk's (above 1: faster than the clerk).
- resync: ``clerk.sync`` of an unchanged tree (5,000 small files) that the
  store already holds: its time, the requests the clerk makes (botocore's
  before-send events on the clerk's client: one listing page per 1,000 keys,
  and nothing per file), and the CPU it takes; beside it ``rclone copy
  --checksum`` of the same tree (which also decides from the listing's MD5).
- hash: the local ETag computation sync and check use
  (``_checksum.hash_file``) over that tree, single-threaded, against plain
  ``hashlib.md5`` over the same files read the same way, in CPU seconds.
- check: ``clerk.check`` of 20,000 small objects against the identical local
  tree on a ``ProcessPoolExecutor`` of 1, 2 and 4 processes (spawn; started
  and warmed before the timing) and on the default pool of 8 threads.
  Files/s, and the speed relative to one process.

Every measured operation runs in a fresh child process (``sync.py --child
...``), tools interleaved (which goes first rotates), medians of --repeat
runs; each upload writes to a prefix of its own that is removed, untimed,
afterwards. The S3 server is the embedded moto one unless HOST, PORT,
ACCESS_KEY and SECRET_KEY name an endpoint (see common.py, whose helpers
this script uses); ``--purge-command`` names a shell command to run after each
removal (a gateway's garbage collection, so that deleted uploads free their
space). --quick runs smaller trees, in a few minutes.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import common
from common import Context, KiB, MiB, new_clerk, new_client

SIZES_VARIABLE = "OBJECT_CLERK_SYNC_BENCH_SIZES"
CHILD_TIMEOUT = 1800
WORKERS = 8
UPLOAD_TOOLS = ("clerk", "rclone", "obstore", "boto3")
RESYNC_TOOLS = ("clerk", "rclone")
RCLONE_REMOTE = "objectclerkbench"
# Files per directory of the generated trees.
PER_DIRECTORY = 500


@dataclass(frozen=True)
class Sizes:
    """The trees each workload uses: file counts and sizes, and the
    process counts of the check."""

    small_count: int = 500
    small_size: int = 64 * KiB
    big_count: int = 4
    big_size: int = 256 * MiB
    resync_count: int = 5000
    resync_size: int = 64 * KiB
    check_count: int = 20000
    check_size: int = 4 * KiB
    processes: tuple[int, ...] = (1, 2, 4)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_environment(cls) -> Sizes:
        values = json.loads(os.environ[SIZES_VARIABLE])
        values["processes"] = tuple(values["processes"])
        return cls(**values)


QUICK = Sizes(
    small_count=200,
    big_count=2,
    big_size=64 * MiB,
    resync_count=1000,
    check_count=4000,
)


@dataclass(frozen=True)
class Tree:
    """A generated local directory, and where its copy lives in the store."""

    name: str
    count: int
    size: int

    def directory(self, ctx: Context) -> Path:
        return Path(ctx.work_dir) / self.name

    @property
    def total(self) -> int:
        return self.count * self.size


def trees(sizes: Sizes) -> dict[str, Tree]:
    return {
        "small": Tree("small", sizes.small_count, sizes.small_size),
        "big": Tree("big", sizes.big_count, sizes.big_size),
        "resync": Tree("resync", sizes.resync_count, sizes.resync_size),
        "check": Tree("check", sizes.check_count, sizes.check_size),
    }


UPLOAD_TREES = {"upload-small": "small", "upload-big": "big"}


def tree_keys(tree: Tree) -> list[str]:
    return [f"d{n // PER_DIRECTORY:03d}/f{n:06d}.bin" for n in range(tree.count)]


def write_tree(root: Path, tree: Tree) -> None:
    """tree.count files of random bytes under root, PER_DIRECTORY a directory."""
    for key in tree_keys(tree):
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as file:
            left = tree.size
            while left:
                piece = min(left, 8 * MiB)
                file.write(os.urandom(piece))
                left -= piece


def tree_files(root: Path) -> list[tuple[Path, str]]:
    """(path, key) of every file under root, in key order."""
    files = [(path, path.relative_to(root).as_posix()) for path in root.rglob("*")]
    return sorted((p, k) for p, k in files if p.is_file())


# -- what the children do -----------------------------------------------------


def context_and_sizes() -> tuple[Context, Sizes]:
    return Context.from_environment(), Sizes.from_environment()


def prefix_keys(client: Any, bucket: str, prefix: str) -> list[tuple[str, int]]:
    paginator = client.get_paginator("list_objects_v2")
    return [
        (entry["Key"], int(entry["Size"]))
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
        for entry in page.get("Contents", [])
    ]


def remove_prefix(ctx: Context, bucket: str, prefix: str) -> None:
    keys = [key for key, _ in prefix_keys(new_client(ctx), bucket, prefix)]
    common.delete_keys(ctx, bucket, keys)


def put_tree(ctx: Context, tree: Tree, bucket: str, prefix: str) -> None:
    """The tree's files as single-part objects (ETag = MD5), 16 at a time."""
    client = new_client(ctx, 16)
    root = tree.directory(ctx)

    def put(key: str) -> None:
        client.put_object(Bucket=bucket, Key=prefix + key, Body=(root / key).read_bytes())

    with ThreadPoolExecutor(16) as pool:
        for _ in pool.map(put, tree_keys(tree)):
            pass


def prepare(names: Sequence[str]) -> dict[str, Any]:
    """Buckets, the local trees, and the store's copies of the resync and
    check trees."""
    ctx, sizes = context_and_sizes()
    client = new_client(ctx)
    for bucket in (ctx.data_bucket, ctx.list_bucket):
        client.create_bucket(Bucket=bucket)
    all_trees = trees(sizes)
    wanted = {UPLOAD_TREES[n] for n in names if n in UPLOAD_TREES}
    wanted |= {n for n in ("resync", "check") if n in names}
    if "hash" in names:
        wanted.add("resync")
    for name in sorted(wanted):
        tree = all_trees[name]
        write_tree(tree.directory(ctx), tree)
        if name in ("resync", "check"):
            put_tree(ctx, tree, ctx.list_bucket, f"{name}/")
    return {"prepared": sorted(wanted)}


def cleanup() -> dict[str, Any]:
    ctx = Context.from_environment()
    common.remove_buckets(ctx, ctx.data_bucket, ctx.list_bucket)
    return {"removed": [ctx.data_bucket, ctx.list_bucket]}


class RequestCounter:
    """Requests a botocore client sends, by operation (before-send events)."""

    def __init__(self, client: Any) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        client.meta.events.register("before-send.s3", self._sent)

    def _sent(self, event_name: str = "", **_: Any) -> None:
        with self._lock:
            self.counts[event_name.rsplit(".", 1)[-1]] += 1


def rclone_environment(ctx: Context) -> dict[str, str]:
    """rclone's remote RCLONE_REMOTE, configured from the environment only."""
    variable = f"RCLONE_CONFIG_{RCLONE_REMOTE.upper()}"
    # Nothing of the AWS SDK's environment (AWS_CA_BUNDLE, profiles) applies.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "RCLONE_"))}
    env.update(
        {
            f"{variable}_TYPE": "s3",
            f"{variable}_PROVIDER": os.environ.get("RCLONE_PROVIDER", "Other"),  # Ceph, on RGW
            f"{variable}_ENV_AUTH": "false",
            f"{variable}_ACCESS_KEY_ID": ctx.access_key,
            f"{variable}_SECRET_ACCESS_KEY": ctx.secret_key,
            f"{variable}_ENDPOINT": f"http://{ctx.host}:{ctx.port}",
            f"{variable}_REGION": "us-east-1",
            f"{variable}_FORCE_PATH_STYLE": "true",
            "RCLONE_CONFIG": os.devnull,
        }
    )
    return env


def rclone(ctx: Context, *arguments: str) -> None:
    done = subprocess.run(
        ["rclone", *arguments, "--transfers", str(WORKERS), "--checkers", str(WORKERS)],
        env=rclone_environment(ctx),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"rclone {' '.join(arguments)} failed:\n{done.stderr[-3000:]}")


def upload_operation(ctx: Context, tool: str, root: Path, prefix: str) -> Callable[[], Any]:
    """The timed upload of root to data_bucket/prefix by tool, set up."""
    bucket = ctx.data_bucket
    if tool == "clerk":
        clerk = new_clerk(ctx)
        destination = f"s3://{bucket}/{prefix}"

        def by_clerk() -> Any:
            report = clerk.sync(str(root), destination, workers=WORKERS)
            if not report.ok:
                raise RuntimeError(f"the clerk's sync failed: {report.failures[:3]}")
            return report

        # Made here, before the timing (as the others' clients are), and counted.
        by_clerk.counter = RequestCounter(common.raw_client(clerk))  # type: ignore[attr-defined]
        return by_clerk
    if tool == "rclone":
        return lambda: rclone(ctx, "copy", str(root), f"{RCLONE_REMOTE}:{bucket}/{prefix}")
    files = tree_files(root)
    if tool == "obstore":
        import obstore
        from obstore.store import S3Store

        store = S3Store(
            bucket,
            endpoint=f"http://{ctx.host}:{ctx.port}",
            access_key_id=ctx.access_key,
            secret_access_key=ctx.secret_key,
            region="us-east-1",
            client_options={"allow_http": True},
        )

        def put(item: tuple[Path, str]) -> None:
            obstore.put(store, prefix + item[1], item[0])

    else:
        assert tool == "boto3"
        # Room for each thread's upload_file's own 10 threads (its default).
        client = new_client(ctx, WORKERS * 10)

        def put(item: tuple[Path, str]) -> None:
            client.upload_file(str(item[0]), bucket, prefix + item[1])

    def in_threads() -> None:
        with ThreadPoolExecutor(WORKERS) as pool:
            for _ in pool.map(put, files):
                pass

    return in_threads


def timed(operation: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds, outcome) of operation."""
    time.sleep(common.SETTLE_SECONDS)
    cpu, start = common.cpu_seconds(), time.perf_counter()
    outcome = operation()
    return time.perf_counter() - start, common.cpu_seconds() - cpu, outcome


def child_upload(workload: str, tool: str, round_number: int) -> dict[str, Any]:
    ctx, sizes = context_and_sizes()
    tree = trees(sizes)[UPLOAD_TREES[workload]]
    prefix = f"{workload}/{tool}/{round_number}/"
    remove_prefix(ctx, ctx.data_bucket, prefix)
    operation = upload_operation(ctx, tool, tree.directory(ctx), prefix)
    seconds, cpu, _ = timed(operation)
    stored = prefix_keys(new_client(ctx), ctx.data_bucket, prefix)
    if len(stored) != tree.count or sum(size for _, size in stored) != tree.total:
        raise RuntimeError(f"{workload} {tool}: {len(stored)} objects stored, not {tree.count}")
    remove_prefix(ctx, ctx.data_bucket, prefix)
    counter = getattr(operation, "counter", None)
    requests = dict(counter.counts) if counter is not None else {}
    return {"seconds": seconds, "cpu": cpu, "requests": requests}


def child_resync(tool: str) -> dict[str, Any]:
    ctx, sizes = context_and_sizes()
    tree = trees(sizes)["resync"]
    root = tree.directory(ctx)
    if tool == "rclone":
        seconds, cpu, _ = timed(
            lambda: rclone(
                ctx, "copy", "--checksum", str(root), f"{RCLONE_REMOTE}:{ctx.list_bucket}/resync/"
            )
        )
        return {"seconds": seconds, "cpu": cpu, "requests": {}}
    clerk = new_clerk(ctx)
    counter = RequestCounter(common.raw_client(clerk))
    seconds, cpu, report = timed(
        lambda: clerk.sync(str(root), f"s3://{ctx.list_bucket}/resync/", workers=WORKERS)
    )
    totals = report.totals
    if not report.ok or totals["skipped"] != tree.count or totals["entries"] != tree.count:
        raise RuntimeError(f"the re-sync did not skip every file: {totals}")
    evidence = Counter(entry.evidence for entry in report.entries)
    return {
        "seconds": seconds,
        "cpu": cpu,
        "requests": dict(counter.counts),
        "evidence": dict(evidence),
    }


def child_hash() -> dict[str, Any]:
    """CPU seconds of _checksum.hash_file (single part) and of plain md5 over
    the resync tree's files, read the same way (1 MiB reads), warm, medians
    of 3 alternating rounds; and md5 over a buffer in memory."""
    from object_clerk import _checksum

    ctx, sizes = context_and_sizes()
    tree = trees(sizes)["resync"]
    paths = [path for path, _ in tree_files(tree.directory(ctx))]
    expected: dict[Path, str] = {}

    def plain() -> None:
        for path in paths:
            digest = hashlib.md5()
            with path.open("rb") as file:
                while chunk := file.read(_checksum.READ_SIZE):
                    digest.update(chunk)
            expected[path] = digest.hexdigest()

    def clerk() -> None:
        for path in paths:
            etag = _checksum.hash_file(path, [None])[None]
            if expected and str(etag) != expected[path]:
                raise RuntimeError(f"{path}: ETag {etag}, md5 {expected[path]}")

    def cpu_of(function: Callable[[], None]) -> float:
        start = time.process_time()
        function()
        return time.process_time() - start

    plain()  # the files in the page cache, and the digests to compare
    rounds: dict[str, list[float]] = {"md5": [], "clerk": []}
    for number in range(3):
        order = ("md5", "clerk") if number % 2 == 0 else ("clerk", "md5")
        for name in order:
            rounds[name].append(cpu_of(plain if name == "md5" else clerk))
    buffer = memoryview(os.urandom(64 * MiB))

    def in_memory() -> None:
        digest = hashlib.md5()
        for offset in range(0, len(buffer), MiB):
            digest.update(buffer[offset : offset + MiB])

    memory = statistics.median(cpu_of(in_memory) for _ in range(3))
    return {
        "bytes": tree.total,
        "files": tree.count,
        "md5_cpu": statistics.median(rounds["md5"]),
        "clerk_cpu": statistics.median(rounds["clerk"]),
        "memory_md5_rate": len(buffer) / memory,
    }


def warm_worker(seconds: float) -> int:
    """Run in a pool's process: import what a batch needs, then wait, so
    that every process of the pool is started before the timing."""
    import object_clerk  # noqa: F401
    from object_clerk import _compare, _sync_run  # noqa: F401

    time.sleep(seconds)
    return os.getpid()


@contextlib.contextmanager
def check_executor(executor: str) -> Iterator[tuple[Any, float]]:
    """The executor named ("threads": None, the clerk's own pool; "N": a
    spawn ProcessPoolExecutor of N processes, started and warm), and the
    seconds its start took."""
    if executor == "threads":
        yield None, 0.0
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    processes = int(executor)
    start = time.perf_counter()
    pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"))
    try:
        pids = set(pool.map(warm_worker, [0.5] * processes))
        if len(pids) != processes:
            raise RuntimeError(f"{len(pids)} of {processes} processes started")
        yield pool, time.perf_counter() - start
    finally:
        pool.shutdown(wait=True)


def child_check(executor: str) -> dict[str, Any]:
    ctx, sizes = context_and_sizes()
    tree = trees(sizes)["check"]
    clerk = new_clerk(ctx)
    with check_executor(executor) as (pool, started):
        seconds, cpu, report = timed(
            lambda: clerk.check(
                str(tree.directory(ctx)), f"s3://{ctx.list_bucket}/check/", executor=pool
            )
        )
    totals = report.totals
    if not report.ok or totals["same"] != tree.count:
        raise RuntimeError(f"the check did not find every file the same: {totals}")
    return {"seconds": seconds, "cpu": cpu, "start": started}


def child_task(arguments: Sequence[str]) -> dict[str, Any]:
    task, *rest = arguments
    if task == "prepare":
        return prepare(rest)
    if task == "cleanup":
        return cleanup()
    if task == "upload":
        return child_upload(rest[0], rest[1], int(rest[2]))
    if task == "resync":
        return child_resync(rest[0])
    if task == "hash":
        return child_hash()
    if task == "check":
        return child_check(rest[0])
    raise SystemExit(f"unknown child task {task}")


# -- the parent ---------------------------------------------------------------


@dataclass
class Runner:
    """Runs children with the run's context, and the purge after removals."""

    env: dict[str, str]
    purge_command: str | None

    def child(self, *arguments: str) -> dict[str, Any]:
        command = common.script_command(__file__)
        return common.run_child(command, ["--child", *arguments], self.env, CHILD_TIMEOUT)

    def purge(self) -> None:
        if self.purge_command:
            subprocess.run(self.purge_command, shell=True, check=True, capture_output=True)


def rotated(items: Sequence[str], by: int) -> list[str]:
    by %= len(items)
    return [*items[by:], *items[:by]]


Samples = dict[str, dict[str, list[dict[str, Any]]]]


def measure(runner: Runner, names: Sequence[str], repeat: int, sizes: Sizes) -> Samples:
    """repeat rounds of each workload, tools interleaved."""
    samples: Samples = {}
    executors = [str(n) for n in sizes.processes] + ["threads"]
    for round_number in range(repeat):
        for index, name in enumerate(names):
            shift = round_number + index
            if name in UPLOAD_TREES:
                plan = [("upload", name, tool, str(round_number)) for tool in UPLOAD_TOOLS]
            elif name == "resync":
                plan = [("resync", tool) for tool in RESYNC_TOOLS]
            elif name == "hash":
                plan = [("hash",)]
            else:
                plan = [("check", executor) for executor in executors]
            for arguments in [plan[(n + shift) % len(plan)] for n in range(len(plan))]:
                sample = runner.child(*arguments)
                if arguments[0] == "upload":
                    runner.purge()
                side = arguments[2] if arguments[0] == "upload" else arguments[-1]
                samples.setdefault(name, {}).setdefault(side, []).append(sample)
                shown = f"{sample['seconds']:.3f} s" if "seconds" in sample else "done"
                common.log(f"[{round_number + 1}/{repeat}] {name} {side}: {shown}")
    return samples


def render(header: Sequence[str], rows: Sequence[Sequence[str]], rst: bool) -> str:
    """A table of workloads and tools (two text columns), as run.py prints one."""
    return common.aligned_table(header, rows, rst, text_columns=2)


def upload_table(samples: Samples, names: Sequence[str], sizes: Sizes, rst: bool) -> str:
    header = ["workload", "tool", "s", "files/s", "MB/s", "CPU s", "speed vs clerk"]
    rows = []
    for name in names:
        tree = trees(sizes)[UPLOAD_TREES[name]]
        label = f"{name} {tree.count}x{size_label(tree.size)}"
        clerk_s = common.median(samples[name]["clerk"], "seconds")
        for tool in UPLOAD_TOOLS:
            seconds = common.median(samples[name][tool], "seconds")
            rows.append(
                [
                    label,
                    tool,
                    f"{seconds:.3f}",
                    f"{tree.count / seconds:.1f}",
                    f"{tree.total / seconds / 1e6:.1f}",
                    f"{common.median(samples[name][tool], 'cpu'):.2f}",
                    f"{clerk_s / seconds:.2f}",
                ]
            )
    return render(header, rows, rst)


def size_label(size: int) -> str:
    return f"{size // MiB}MiB" if size >= MiB and size % MiB == 0 else f"{size // KiB}KiB"


def requests_label(requests: Mapping[str, int]) -> str:
    return ", ".join(f"{count} {name}" for name, count in sorted(requests.items())) or "none"


def per_file_label(requests: Mapping[str, int], files: int) -> str:
    return ", ".join(f"{name} {count / files:.2f}" for name, count in sorted(requests.items()))


def resync_table(samples: Samples, sizes: Sizes, rst: bool) -> str:
    tree = trees(sizes)["resync"]
    header = ["workload", "tool", "s", "files/s", "CPU s", "requests"]
    rows = []
    for tool in RESYNC_TOOLS:
        runs = samples["resync"][tool]
        seconds = common.median(runs, "seconds")
        requests = runs[-1]["requests"]
        rows.append(
            [
                f"resync {tree.count}x{size_label(tree.size)}",
                tool,
                f"{seconds:.3f}",
                f"{tree.count / seconds:.0f}",
                f"{common.median(runs, 'cpu'):.2f}",
                requests_label(requests) if tool == "clerk" else "(not counted)",
            ]
        )
    return render(header, rows, rst)


def hash_table(samples: Samples, rst: bool) -> str:
    runs = samples["hash"]["hash"]
    size = runs[0]["bytes"]
    md5_rate = size / common.median(runs, "md5_cpu")
    clerk_rate = size / common.median(runs, "clerk_cpu")
    memory = common.median(runs, "memory_md5_rate")
    header = ["hashing (1 core)", "what", "MB/CPU-s", "ratio to md5"]
    rows = [
        ["files", "hashlib.md5, 1 MiB reads", f"{md5_rate / 1e6:.0f}", "1.00"],
        ["files", "_checksum.hash_file", f"{clerk_rate / 1e6:.0f}", f"{clerk_rate / md5_rate:.2f}"],
        ["memory", "hashlib.md5, 64 MiB buffer", f"{memory / 1e6:.0f}", "-"],
    ]
    return render(header, rows, rst)


def check_table(samples: Samples, sizes: Sizes, rst: bool) -> str:
    tree = trees(sizes)["check"]
    header = ["workload", "executor", "s", "files/s", "speed vs 1 process", "pool start s"]
    base = common.median(samples["check"][str(sizes.processes[0])], "seconds")
    rows = []
    for executor in [*(str(n) for n in sizes.processes), "threads"]:
        runs = samples["check"][executor]
        seconds = common.median(runs, "seconds")
        label = "8 threads (default)" if executor == "threads" else f"{executor} processes"
        rows.append(
            [
                f"check {tree.count}x{size_label(tree.size)}",
                label,
                f"{seconds:.3f}",
                f"{tree.count / seconds:.0f}",
                f"{base / seconds:.2f}",
                f"{common.median(runs, 'start'):.2f}" if executor != "threads" else "-",
            ]
        )
    return render(header, rows, rst)


def tool_versions() -> str:
    done = subprocess.run(["rclone", "version"], capture_output=True, text=True, check=False)
    rclone_version = done.stdout.split("\n", 1)[0].strip() if done.returncode == 0 else "missing"
    return (
        f"{rclone_version}, obstore {common.version('obstore')}, "
        f"object-clerk {common.version('object-clerk')}"
    )


def notes(samples: Samples, names: Sequence[str], sizes: Sizes, repeat: int) -> list[str]:
    found = [
        f"Medians of {repeat} runs, each operation in a fresh process, tools interleaved; "
        f"{WORKERS} workers or threads each (rclone: --transfers {WORKERS} --checkers "
        f"{WORKERS}). Speed vs clerk: the tool's files/s over the clerk's (above 1: the "
        "tool is faster). CPU s: the client process's CPU (all threads, rclone's process "
        "included), not the server's. Only the clerk and rclone verify what they upload; "
        "obstore and boto3 use their defaults, boto3 with room for 80 connections."
    ]
    for name in names:
        if name in UPLOAD_TREES:
            tree = trees(sizes)[UPLOAD_TREES[name]]
            requests = samples[name]["clerk"][-1]["requests"]
            found.append(
                f"{name}: the clerk's requests {requests_label(requests)} "
                f"(per file: {per_file_label(requests, tree.count)})."
            )
    if "resync" in names:
        tree = trees(sizes)["resync"]
        clerk = samples["resync"]["clerk"]
        evidence = requests_label(clerk[-1]["evidence"]).replace(" ", " x ", 1)
        cpu = common.median(clerk, "cpu")
        found.append(
            f"resync: every file skipped ({evidence} evidence); requests "
            f"{requests_label(clerk[-1]['requests'])} for {tree.count} files; the whole "
            f"re-sync {tree.total / cpu / 1e6:.0f} MB hashed per CPU-second of the process "
            "(listing, walk, planning and hashing together)."
        )
    if "check" in names:
        found.append(
            "check: the processes are spawned and warm before the timing (the pool start "
            "column); the 8-thread row is the clerk's own pool (executor=None)."
        )
    return found


def benchmark(arguments: argparse.Namespace) -> None:
    started = time.perf_counter()
    sizes: Sizes = arguments.sizes
    names: list[str] = arguments.names
    if any(n in UPLOAD_TREES or n == "resync" for n in names) and not shutil.which("rclone"):
        raise SystemExit("rclone is not installed (apt-get install rclone)")
    with (
        common.s3_endpoint() as endpoint,
        tempfile.TemporaryDirectory(prefix="object-clerk-sync-bench-") as work_dir,
    ):
        tag = secrets.token_hex(4)
        ctx = Context.on(
            endpoint,
            f"object-clerk-sync-{tag}-data",
            f"object-clerk-sync-{tag}-trees",
            work_dir,
        )
        runner = Runner(
            {**common.child_env(ctx), SIZES_VARIABLE: sizes.to_json()}, arguments.purge_command
        )
        common.log(f"preparing {', '.join(names)} on {endpoint.description}...")
        runner.child("prepare", *names)
        try:
            samples = measure(runner, names, arguments.repeat, sizes)
        finally:
            runner.child("cleanup")
            runner.purge()
    separator = "\n\n"
    parts = []
    uploads = [n for n in names if n in UPLOAD_TREES]
    if uploads:
        parts.append(upload_table(samples, uploads, sizes, arguments.rst))
    if "resync" in names:
        parts.append(resync_table(samples, sizes, arguments.rst))
    if "hash" in names:
        parts.append(hash_table(samples, arguments.rst))
    if "check" in names:
        parts.append(check_table(samples, sizes, arguments.rst))
    text = notes(samples, names, sizes, arguments.repeat)
    text.append(f"{common.machine_line(endpoint)} Tools: {tool_versions()}.")
    text.append(f"Total run time: {time.perf_counter() - started:.0f} s.")
    print(separator.join(parts) + separator + (separator if arguments.rst else "\n").join(text))


WORKLOAD_NAMES = ("upload-small", "upload-big", "resync", "hash", "check")


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per tool (default 3)")
    parser.add_argument("--quick", action="store_true", help="smaller trees (a few minutes)")
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="run only this workload (repeatable, or comma-separated): "
        + ", ".join(WORKLOAD_NAMES),
    )
    parser.add_argument("--rst", action="store_true", help="print reStructuredText tables")
    parser.add_argument(
        "--purge-command",
        metavar="COMMAND",
        help="a shell command run after each removal of uploaded objects "
        "(e.g. a gateway's garbage collection)",
    )
    defaults = Sizes()
    for field_name in ("small_count", "big_count", "resync_count", "check_count"):
        parser.add_argument(f"--{field_name.replace('_', '-')}", type=int, metavar="N")
    for field_name in ("small_size", "big_size", "resync_size", "check_size"):
        parser.add_argument(f"--{field_name.replace('_', '-')}-kib", type=int, metavar="KIB")
    parser.add_argument("--processes", help="process counts of the check (default 1,2,4)")
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.child:
        return arguments
    if arguments.repeat < 1:
        parser.error("--repeat must be at least 1")
    names = [n for item in arguments.only or [] for n in item.split(",") if n]
    unknown = [n for n in names if n not in WORKLOAD_NAMES]
    if unknown:
        parser.error(f"unknown workload {', '.join(unknown)}; known: {', '.join(WORKLOAD_NAMES)}")
    arguments.names = [n for n in WORKLOAD_NAMES if n in names] if names else list(WORKLOAD_NAMES)
    values = asdict(QUICK if arguments.quick else defaults)
    for field_name in ("small_count", "big_count", "resync_count", "check_count"):
        given = getattr(arguments, field_name)
        if given is not None:
            values[field_name] = given
    for field_name in ("small_size", "big_size", "resync_size", "check_size"):
        given = getattr(arguments, f"{field_name}_kib")
        if given is not None:
            values[field_name] = given * KiB
    if arguments.processes:
        values["processes"] = tuple(int(n) for n in arguments.processes.split(","))
    values["processes"] = tuple(values["processes"])
    if any(v < 1 for k, v in values.items() if k != "processes") or not values["processes"]:
        parser.error("counts, sizes and process counts must be at least 1")
    arguments.sizes = Sizes(**values)
    return arguments


def main(argv: Sequence[str]) -> int:
    arguments = parse_arguments(argv)
    return common.child_or_parent(arguments.child, child_task, lambda: benchmark(arguments))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
