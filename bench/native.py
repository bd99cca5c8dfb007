"""Client CPU per small PutObject: botocore against awscrt's native client.

    python bench/native.py [--repeat N] [--sizes 4096,65536,...] [--count N]

What is measured, in one run against one server: PutObjects of 4 KiB,
64 KiB, 1 MiB and 8 MiB bodies from 8 threads, each with the Content-MD5 of
its body (computed in the timed loop, the same on both sides):

- botocore: the clerk's own botocore client (its settings: payload signing
  off, no "Expect: 100-continue" up to 1 MiB, botocore retries off);
- native: the clerk's native client (object_clerk._native), one attempt per
  request, the same headers;
- clerk-botocore, clerk-native (up to 1 MiB): ``clerk.upload_object`` whole,
  verified (the HEAD after each write), with S3_NATIVE_REQUESTS=0 and 1.

Each (side, size) runs in a fresh child process (``native.py --child ...``)
that warms its client up untimed, then times COUNT PUTs: the process's CPU
seconds (user + system, every thread, awscrt's event loop included) per PUT,
and PUTs per second. Sides are interleaved (which goes first rotates);
medians of --repeat runs. This decides _native.NATIVE_PUT_LIMIT: the sizes
where the native client costs less CPU than botocore.

The S3 server is the embedded moto one (in a process of its own) unless
HOST, PORT, ACCESS_KEY and SECRET_KEY name an endpoint (see run.py).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # the benchmark's endpoint helpers

KiB = 1024
MiB = 1024 * KiB
SIZES = (4 * KiB, 64 * KiB, MiB, 8 * MiB)
SIDES = ("botocore", "native", "clerk-botocore", "clerk-native")
# The whole upload is measured up to this size (verification included).
CLERK_SIDES_UP_TO = MiB
THREADS = 8
WARM_UP = 16
CHILD_TIMEOUT = 900
# PUTs timed per child, by body size: enough for a stable CPU reading.
COUNTS = {4 * KiB: 1000, 64 * KiB: 1000, MiB: 200, 8 * MiB: 40}


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _sender(side: str, bucket: str) -> Callable[[str, bytes], Any]:
    """One PUT of side's kind: (key, body) -> response."""
    from object_clerk import ObjectClerk, _native

    native = "0" if side == "clerk-botocore" else "1"
    os.environ["S3_NATIVE_REQUESTS"] = native
    clerk = ObjectClerk(
        os.environ["HOST"],
        int(os.environ["PORT"]),
        os.environ["ACCESS_KEY"],
        os.environ["SECRET_KEY"],
        retry_delay=0,
        retry_backoff=1,
        retry_jitter=0,
        retry_max_delay=0,
        retry_tries=3,
    )
    if side.startswith("clerk-"):
        return lambda key, body: clerk.upload_object(body, bucket, key)
    raw = clerk._s3.raw
    put: Callable[..., Any] = raw.put_object
    if side == "native":
        connection = clerk._s3.native_connection
        client = None if connection is None else _native.client_for(connection)
        if client is None:
            raise RuntimeError("the native client is not available here")
        put = client.put_object

    def send(key: str, body: bytes) -> Any:
        digest = base64.b64encode(hashlib.md5(body).digest()).decode()
        return put(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentMD5=digest,
            ContentType="application/octet-stream",
        )

    return send


def child(side: str, size: int, count: int, bucket: str, prefix: str) -> dict[str, Any]:
    """Time count PUTs of size bytes from THREADS threads."""
    send = _sender(side, bucket)
    bodies = [os.urandom(size) for _ in range(min(count, 8))]
    keys = [f"{prefix}/{side}/{size}/{i}" for i in range(count)]
    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(send, keys[:WARM_UP], bodies * (WARM_UP // len(bodies) + 1)))
        cpu, wall = _cpu_seconds(), time.perf_counter()
        list(pool.map(send, keys, bodies * (count // len(bodies) + 1)))
        cpu, wall = _cpu_seconds() - cpu, time.perf_counter() - wall
    return {"cpu_ms_per_put": 1000 * cpu / count, "puts_per_second": count / wall}


def run_child(side: str, size: int, count: int, bucket: str, prefix: str, env: Any) -> Any:
    arguments = [sys.executable, os.path.abspath(__file__), "--child", side, str(size)]
    arguments += ["--count", str(count), "--bucket", bucket, "--prefix", prefix]
    finished = subprocess.run(
        arguments, env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT, check=False
    )
    if finished.returncode != 0:
        raise RuntimeError(f"{side} {size} failed:\n{finished.stderr[-4000:]}")
    return json.loads(finished.stdout.strip().splitlines()[-1])


def _client(endpoint: Any) -> Any:
    """Plain boto3 for the untimed set-up and removal, patient with a busy
    server (a removal of 1,000 keys can take a while)."""
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "s3",
        endpoint_url=f"http://{endpoint.host}:{endpoint.port}",
        aws_access_key_id=endpoint.access_key,
        aws_secret_access_key=endpoint.secret_key,
        region_name="us-east-1",
        config=Config(read_timeout=300, retries={"max_attempts": 5, "mode": "standard"}),
    )


def _remove(client: Any, bucket: str, prefix: str) -> None:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys = [{"Key": entry["Key"]} for entry in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys})


def _size_name(size: int) -> str:
    return f"{size // MiB} MiB" if size >= MiB else f"{size // KiB} KiB"


def benchmark(sizes: Sequence[int], repeat: int, count: int | None) -> None:
    with run.s3_endpoint() as endpoint:
        client = _client(endpoint)
        bucket = f"native-bench-{uuid.uuid4().hex[:12]}"
        client.create_bucket(Bucket=bucket)
        env = {
            **os.environ,
            "HOST": endpoint.host,
            "PORT": str(endpoint.port),
            "ACCESS_KEY": endpoint.access_key,
            "SECRET_KEY": endpoint.secret_key,
        }
        results: dict[tuple[str, int], list[dict[str, Any]]] = {}
        try:
            for round_number in range(repeat):
                for size in sizes:
                    sides = [s for s in SIDES if s in SIDES[:2] or size <= CLERK_SIDES_UP_TO]
                    shift = round_number % len(sides)
                    for side in sides[shift:] + sides[:shift]:
                        sample = run_child(
                            side, size, count or COUNTS.get(size, 200), bucket, "bench", env
                        )
                        results.setdefault((side, size), []).append(sample)
                        # Untimed: a memory-backed test gateway keeps no more than a run's worth.
                        _remove(client, bucket, f"bench/{side}/{size}/")
                        print(f"  {side:15} {_size_name(size):>7} {sample}", file=sys.stderr)
        finally:
            _remove(client, bucket, "")
            client.delete_bucket(Bucket=bucket)
        print(f"Server: {endpoint.description}; {THREADS} threads; medians of {repeat}")
        print(f"{'size':>7} {'side':15} {'CPU ms/PUT':>10} {'PUT/s':>8} {'CPU vs botocore':>15}")
        for size in sizes:
            base = statistics.median(r["cpu_ms_per_put"] for r in results[("botocore", size)])
            for side in SIDES:
                if (side, size) not in results:
                    continue
                cpu = statistics.median(r["cpu_ms_per_put"] for r in results[(side, size)])
                rate = statistics.median(r["puts_per_second"] for r in results[(side, size)])
                print(f"{_size_name(size):>7} {side:15} {cpu:10.3f} {rate:8.0f} {cpu / base:15.2f}")


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sizes", default=",".join(str(size) for size in SIZES))
    parser.add_argument("--count", type=int, default=None, help="PUTs per child")
    parser.add_argument("--child", nargs=2, metavar=("SIDE", "SIZE"), help=argparse.SUPPRESS)
    parser.add_argument("--bucket", help=argparse.SUPPRESS)
    parser.add_argument("--prefix", help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.child:
        side, size = arguments.child[0], int(arguments.child[1])
        count = arguments.count or COUNTS.get(size, 200)
        print(json.dumps(child(side, size, count, arguments.bucket, arguments.prefix)))
        return 0
    sizes = [int(size) for size in arguments.sizes.split(",")]
    benchmark(sizes, arguments.repeat, arguments.count)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
