"""What full-object checksums cost: the throughput of each algorithm on one
core beside md5, and a 256 MiB upload with S3_CHECKSUM_ALGORITHM against the
same upload without it, in the same run.

    python bench/checksums.py [--size-mib 256] [--repeat 3]

Uploads run in fresh processes (see common.py) on the embedded moto server
unless HOST/PORT/ACCESS_KEY/SECRET_KEY name an endpoint; both sides are the
clerk, 8 MiB parts, one with the checksum and one without.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
import zlib
from collections.abc import Callable
from pathlib import Path

import common
from awscrt import checksums
from common import Context, Endpoint, MiB, new_client

CHUNK = MiB

ALGORITHMS: dict[str, Callable[[memoryview], object]] = {
    "md5": lambda data: hashlib.md5(data).digest(),
    "CRC32 (zlib)": lambda data: zlib.crc32(data),
    "CRC32C (awscrt)": lambda data: checksums.crc32c(data),
    "CRC64NVME (awscrt)": lambda data: checksums.crc64nvme(data),
}

UPLOAD_CHILD = textwrap.dedent(
    """
    import os, sys, time
    from object_clerk import ObjectClerk
    host, port, access, secret, path, bucket, key = sys.argv[1:8]
    clerk = ObjectClerk(host, int(port), access, secret, 0, 1, 0, 0, 3)
    start = time.perf_counter()
    clerk.upload_object(path, bucket, key)
    print(time.perf_counter() - start)
    """
)


def throughput(function: Callable[[memoryview], object], data: bytes) -> float:
    """MB/s over data in 1 MiB pieces, on this thread (one core)."""
    view = memoryview(data)
    start = time.process_time()
    for offset in range(0, len(data), CHUNK):
        function(view[offset : offset + CHUNK])
    return len(data) / 1e6 / (time.process_time() - start)


def upload_seconds(endpoint: Endpoint, path: Path, bucket: str, algorithm: str) -> float:
    env = {**os.environ, "MULTIPART_THRESHOLD": str(8 * MiB)}
    env.pop("S3_CHECKSUM_ALGORITHM", None)
    if algorithm:
        env["S3_CHECKSUM_ALGORITHM"] = algorithm
    arguments = [endpoint.host, endpoint.port, endpoint.access_key, endpoint.secret_key]
    key = f"checksum-{algorithm or 'none'}-{uuid.uuid4().hex}"
    child = subprocess.run(
        [sys.executable, "-c", UPLOAD_CHILD, *arguments, str(path), bucket, key],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    )
    return float(child.stdout.strip())


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args(argv)
    data = os.urandom(options.size_mib * MiB)
    print(f"one core, {options.size_mib} MiB in 1 MiB pieces:")
    speeds = {
        name: statistics.median(throughput(function, data) for _ in range(options.repeat))
        for name, function in ALGORITHMS.items()
    }
    for name, speed in speeds.items():
        print(f"  {name:<20} {speed:>8.0f} MB/s  {speed / speeds['md5']:>6.2f} x md5")
    with common.s3_endpoint() as endpoint, tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "data.bin"
        path.write_bytes(data)
        client = new_client(Context.on(endpoint))
        bucket = f"bench-checksums-{uuid.uuid4().hex[:12]}"
        client.create_bucket(Bucket=bucket)
        try:
            times: dict[str, list[float]] = {"": [], "CRC64NVME": []}
            for round_number in range(options.repeat):
                order = list(times) if round_number % 2 == 0 else list(times)[::-1]
                for algorithm in order:
                    times[algorithm].append(upload_seconds(endpoint, path, bucket, algorithm))
        finally:
            common.remove_buckets(Context.on(endpoint), bucket)
    plain, with_crc = (statistics.median(times[a]) for a in ("", "CRC64NVME"))
    print(f"upload of {options.size_mib} MiB in 8 MiB parts, {endpoint.description}:")
    print(
        f"  without a checksum {plain:.2f} s, with CRC64NVME {with_crc:.2f} s: "
        f"{with_crc / plain:.2f} x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
