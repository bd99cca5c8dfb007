"""Benchmark small downloads: many small objects to local files.

    python bench/small_download.py [--repeat N] [--count N] [--size BYTES]
    python bench/small_download.py --profile [--count N]

What is measured, against one server:

- sync: ``clerk.sync("s3://bucket/prefix/", directory, workers=8)`` of
  --count objects (500 x 64 KiB by default) into an empty directory (every
  file verified), and beside it boto3's ``download_file`` of the same keys
  in a pool of 8 threads (which verifies nothing).
- one-by-one: ``clerk.download_object`` of --single objects (200) one after
  the other, and boto3's ``download_file`` the same way.

Each measured operation runs in a fresh child process (``--child TOOL``)
that times only the operation: its files per second, and the client CPU per
file (user + system time of the child, from resource.getrusage). Tools are
interleaved, medians of --repeat runs (3). The child imports object_clerk as
the environment says: run with PYTHONPATH set to another checkout to measure
that one.

--profile instead runs both clerk workloads in this process under cProfile
and prints where the time goes (the top functions by own time and by
cumulative time).

The S3 server is moto's (a process of its own on 127.0.0.1, so that its
CPU is not counted) unless HOST, PORT,
ACCESS_KEY and SECRET_KEY name an endpoint; a bucket of its own is created
there and removed afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

KiB = 1024
WORKERS = 8
TOOLS = ("clerk-sync", "boto3-sync", "clerk-single", "boto3-single")


def endpoint_from_environment() -> dict[str, Any] | None:
    names = ("HOST", "PORT", "ACCESS_KEY", "SECRET_KEY")
    if not all(os.environ.get(name) for name in names):
        return None
    return {
        "host": os.environ["HOST"],
        "port": int(os.environ["PORT"]),
        "access_key": os.environ["ACCESS_KEY"],
        "secret_key": os.environ["SECRET_KEY"],
    }


@contextmanager
def endpoint() -> Iterator[dict[str, Any]]:
    """The endpoint the environment names, else an embedded moto server."""
    named = endpoint_from_environment()
    if named is not None:
        yield named
        return
    with socket.socket() as probe:  # a free port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            time.sleep(0.1)
        yield {"host": "127.0.0.1", "port": port, "access_key": "bench", "secret_key": "bench"}
    finally:
        server.terminate()
        server.wait()


def boto3_client(where: dict[str, Any]) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        endpoint_url=f"http://{where['host']}:{where['port']}",
        aws_access_key_id=where["access_key"],
        aws_secret_access_key=where["secret_key"],
        region_name="us-east-1",
        config=Config(
            max_pool_connections=WORKERS * 2,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


def new_clerk(where: dict[str, Any]) -> Any:
    from object_clerk import ObjectClerk

    return ObjectClerk(
        where["host"],
        where["port"],
        where["access_key"],
        where["secret_key"],
        retry_delay=0,
        retry_backoff=1,
        retry_jitter=0,
        retry_max_delay=0,
        retry_tries=3,
    )


def keys(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{index:05d}" for index in range(count)]


def prepare(where: dict[str, Any], bucket: str, count: int, size: int) -> None:
    s3 = boto3_client(where)
    s3.create_bucket(Bucket=bucket)
    body = os.urandom(size)
    with ThreadPoolExecutor(WORKERS) as pool:
        list(
            pool.map(
                lambda key: s3.put_object(Bucket=bucket, Key=key, Body=body),
                keys("objects/", count),
            )
        )


def remove_bucket(where: dict[str, Any], bucket: str) -> None:
    s3 = boto3_client(where)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        entries = [{"Key": entry["Key"]} for entry in page.get("Contents", [])]
        if entries:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": entries})
    s3.delete_bucket(Bucket=bucket)


def operation(
    tool: str, where: dict[str, Any], bucket: str, count: int, single: int, target: Path
) -> tuple[Callable[[], None], int]:
    """The operation a child times, made ready (client made, imports done),
    and how many files it writes."""
    if tool == "clerk-sync":
        clerk = new_clerk(where)

        def clerk_sync() -> None:
            report = clerk.sync(f"s3://{bucket}/objects/", str(target), workers=WORKERS)
            failed = [entry for entry in report.entries if entry.error is not None]
            assert not failed, failed[:3]

        return clerk_sync, count
    if tool == "clerk-single":
        clerk = new_clerk(where)
        target.mkdir(parents=True, exist_ok=True)

        def clerk_single() -> None:
            for key in keys("objects/", single):
                clerk.download_object(bucket, key, str(target / key.split("/")[-1]))

        return clerk_single, single
    s3 = boto3_client(where)
    target.mkdir(parents=True, exist_ok=True)

    def download(key: str) -> None:
        s3.download_file(bucket, key, str(target / key.split("/")[-1]))

    if tool == "boto3-sync":

        def boto3_sync() -> None:
            with ThreadPoolExecutor(WORKERS) as pool:
                list(pool.map(download, keys("objects/", count)))

        return boto3_sync, count
    assert tool == "boto3-single"

    def boto3_single() -> None:
        for key in keys("objects/", single):
            download(key)

    return boto3_single, single


def child(arguments: argparse.Namespace) -> None:
    """Time one operation in this fresh process; print its numbers as JSON."""
    where = json.loads(arguments.endpoint)
    target = Path(arguments.target)
    run, files = operation(
        arguments.child, where, arguments.bucket, arguments.count, arguments.single, target
    )
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    run()
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    written = sum(1 for path in target.rglob("*") if path.is_file())
    assert written == files, f"{written} files written, {files} expected"
    print(json.dumps({"files_per_s": files / seconds, "cpu_ms_per_file": 1000 * cpu / files}))


def measure(
    tool: str, where: dict[str, Any], bucket: str, arguments: argparse.Namespace
) -> dict[str, float]:
    target = Path(tempfile.mkdtemp(prefix="small-download-"))
    try:
        command = [
            sys.executable,
            os.path.abspath(__file__),
            "--child",
            tool,
            "--endpoint",
            json.dumps(where),
            "--bucket",
            bucket,
            "--count",
            str(arguments.count),
            "--single",
            str(arguments.single),
            "--target",
            str(target / "tree"),
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=1800)
        if done.returncode:
            raise RuntimeError(f"{tool} failed:\n{done.stderr}")
        result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
        return result
    finally:
        shutil.rmtree(target, ignore_errors=True)


def profile(where: dict[str, Any], bucket: str, count: int) -> None:
    """Both clerk workloads under cProfile, in this process."""
    clerk = new_clerk(where)
    clerk.sync(f"s3://{bucket}/objects/", tempfile.mkdtemp(), workers=1)  # warm: imports
    for name, workers in (("sync, 1 worker", 1), ("sync, 8 workers", WORKERS)):
        target = Path(tempfile.mkdtemp(prefix="small-download-"))
        profilers = threads_profiled()
        before = time.process_time()
        clerk.sync(f"s3://{bucket}/objects/", str(target), workers=workers)
        cpu = time.process_time() - before
        threading.setprofile(None)  # type: ignore[arg-type]
        profilers[0].disable()  # the workers' threads have ended
        shutil.rmtree(target)
        report(f"{name}: {count} objects, {1000 * cpu / count:.2f} ms CPU per file", *profilers)
    target = Path(tempfile.mkdtemp(prefix="small-download-"))
    profiler = cProfile.Profile()
    before = time.process_time()
    profiler.enable()
    for key in keys("objects/", count):
        clerk.download_object(bucket, key, str(target / key.split("/")[-1]))
    profiler.disable()
    cpu = time.process_time() - before
    shutil.rmtree(target)
    report(f"download_object: {count} objects, {1000 * cpu / count:.2f} ms CPU per file", profiler)


def threads_profiled() -> list[cProfile.Profile]:
    """A profiler for each thread started from now on (sync's workers), and
    one for this thread: cProfile sees only the thread it is enabled in."""
    profilers = [cProfile.Profile()]

    def start(frame: Any, event: str, arg: Any) -> None:
        sys.setprofile(None)
        profiler = cProfile.Profile()
        profilers.append(profiler)
        profiler.enable()

    threading.setprofile(start)
    profilers[0].enable()
    return profilers


def report(title: str, *profilers: cProfile.Profile) -> None:
    print(f"== {title}")
    for order in ("tottime", "cumulative"):
        text = io.StringIO()
        stats = pstats.Stats(profilers[0], stream=text)
        for other in profilers[1:]:
            stats.add(other)
        stats.sort_stats(order).print_stats(30)
        print(text.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--single", type=int, default=200)
    parser.add_argument("--size", type=int, default=64 * KiB)
    parser.add_argument("--only", nargs="*", choices=TOOLS, default=list(TOOLS))
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--child", choices=TOOLS)
    parser.add_argument("--endpoint")
    parser.add_argument("--bucket")
    parser.add_argument("--target")
    arguments = parser.parse_args()
    if arguments.child:
        child(arguments)
        return
    with endpoint() as where:
        bucket = f"small-download-{uuid.uuid4().hex[:12]}"
        prepare(where, bucket, max(arguments.count, arguments.single), arguments.size)
        try:
            if arguments.profile:
                profile(where, bucket, arguments.count)
                return
            results: dict[str, list[dict[str, float]]] = {tool: [] for tool in arguments.only}
            for run in range(arguments.repeat):
                order = (
                    arguments.only[run % len(arguments.only) :]
                    + arguments.only[: run % len(arguments.only)]
                )
                for tool in order:
                    results[tool].append(measure(tool, where, bucket, arguments))
            print(
                f"{arguments.count} x {arguments.size} B (sync), {arguments.single} one by one; "
                f"medians of {arguments.repeat}"
            )
            for tool, runs in results.items():
                rate = statistics.median(run["files_per_s"] for run in runs)
                cpu = statistics.median(run["cpu_ms_per_file"] for run in runs)
                print(f"{tool:14} {rate:8.1f} files/s {cpu:7.2f} ms CPU/file")
        finally:
            remove_bucket(where, bucket)


if __name__ == "__main__":
    main()
