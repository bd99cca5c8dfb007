"""What resuming costs: an upload (and a download) killed half-way, then
resumed, against the same transfer done whole, in the same run.

    python bench/resume.py [--size-mib 1024] [--repeat 3]

The killed run is a child process that sends itself SIGKILL once half the
bytes are through (no clean-up of any kind). The resumed run then continues
from what the store (or the partial file) holds; its time and the bytes it
moved (UploadPart bodies sent, GET bodies received) are compared with a
whole transfer's. Ratios below 1: resuming costs less than starting again.
The server is the embedded moto one unless HOST/PORT/ACCESS_KEY/SECRET_KEY
name an endpoint (see common.py).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import common
from common import Context, Endpoint, MiB, new_clerk, new_client

PART_SIZE = 8 * MiB

KILLED_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from object_clerk import ObjectClerk

    host, port, access, secret, operation, bucket, key, path, half = sys.argv[1:10]
    clerk = ObjectClerk(host, int(port), access, secret, 0, 1, 0, 0, 3)
    moved = 0

    def count(amount):
        global moved
        moved += amount
        if moved >= int(half):
            os.kill(os.getpid(), signal.SIGKILL)

    if operation == "upload":
        clerk.upload_object(path, bucket, key, callback=count, resume=True)
    else:
        clerk.download_object(bucket, key, path, callback=count, resume=True)
    sys.exit("finished before half-way")
    """
)


@dataclass(frozen=True)
class Sample:
    seconds: float
    moved: int


def counting_clerk(endpoint: Endpoint) -> tuple[Any, Callable[[], int]]:
    """A clerk, and a count of the body bytes its requests moved."""
    clerk = new_clerk(Context.on(endpoint))
    moved = [0]

    def sent(request: Any, **_: Any) -> None:
        moved[0] += int(request.headers.get("Content-Length", 0) or 0)

    def received(http_response: Any, **_: Any) -> None:
        moved[0] += int(http_response.headers.get("Content-Length", 0) or 0)

    events = common.raw_client(clerk).meta.events
    events.register("before-send.s3.UploadPart", sent)
    events.register("after-call.s3.GetObject", lambda **kw: received(kw["http_response"]))
    return clerk, lambda: moved[0]


def kill_half_way(
    endpoint: Endpoint, operation: str, bucket: str, key: str, path: str, size: int
) -> None:
    env = {**os.environ, "MULTIPART_THRESHOLD": str(PART_SIZE)}
    arguments = [endpoint.host, endpoint.port, endpoint.access_key, endpoint.secret_key]
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            KILLED_CHILD,
            *arguments,
            operation,
            bucket,
            key,
            path,
            str(size // 2),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if child.returncode != -signal.SIGKILL:
        raise RuntimeError(f"the {operation} was not killed half-way: {child.stderr[-2000:]}")


def timed(action: Callable[[], object], moved: Callable[[], int]) -> Sample:
    before = moved()
    start = time.perf_counter()
    action()
    return Sample(time.perf_counter() - start, moved() - before)


def one_round(endpoint: Endpoint, bucket: str, data: Path, work: Path) -> dict[str, Sample]:
    clerk, moved = counting_clerk(endpoint)
    size = data.stat().st_size
    whole, resumed = f"whole-{uuid.uuid4().hex}", f"resumed-{uuid.uuid4().hex}"
    samples = {
        "upload whole": timed(
            lambda: clerk.upload_object(str(data), bucket, whole, resume=True), moved
        )
    }
    kill_half_way(endpoint, "upload", bucket, resumed, str(data), size)
    samples["upload resumed"] = timed(
        lambda: clerk.upload_object(str(data), bucket, resumed, resume=True), moved
    )
    target = work / "downloaded.bin"
    samples["download whole"] = timed(lambda: clerk.download_object(bucket, whole, target), moved)
    target.unlink()
    kill_half_way(endpoint, "download", bucket, whole, str(target), size)
    samples["download resumed"] = timed(
        lambda: clerk.download_object(bucket, whole, target, resume=True), moved
    )
    for key in (whole, resumed):
        clerk.delete_object(bucket, key)
    return samples


def print_table(size_mib: int, endpoint: Endpoint, rounds: list[dict[str, Sample]]) -> None:
    print(f"{size_mib} MiB in {PART_SIZE // MiB} MiB parts, {endpoint.description}, ", end="")
    print(f"medians of {len(rounds)} rounds")
    columns = ("transfer", "whole s", "resumed s", "time ratio", "whole MiB", "resumed MiB")
    print(" ".join(f"{name:>12}" for name in (*columns, "bytes ratio")))
    for operation in ("upload", "download"):
        whole = [r[f"{operation} whole"] for r in rounds]
        resumed = [r[f"{operation} resumed"] for r in rounds]
        seconds = [statistics.median(s.seconds for s in side) for side in (whole, resumed)]
        moved = [statistics.median(s.moved for s in side) for side in (whole, resumed)]
        cells = (
            f"{seconds[0]:.2f}",
            f"{seconds[1]:.2f}",
            f"{seconds[1] / seconds[0]:.2f}",
            f"{moved[0] / MiB:.0f}",
            f"{moved[1] / MiB:.0f}",
            f"{moved[1] / moved[0]:.2f}",
        )
        print(" ".join(f"{cell:>12}" for cell in (operation, *cells)))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    options = parser.parse_args(argv)
    os.environ["MULTIPART_THRESHOLD"] = str(PART_SIZE)
    with common.s3_endpoint() as endpoint, tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        data = work / "data.bin"
        with data.open("wb") as file:
            for _ in range(options.size_mib):
                file.write(os.urandom(MiB))
        client = new_client(Context.on(endpoint))
        bucket = f"bench-resume-{uuid.uuid4().hex[:12]}"
        client.create_bucket(Bucket=bucket)
        try:
            rounds = [one_round(endpoint, bucket, data, work) for _ in range(options.repeat)]
        finally:
            common.remove_buckets(Context.on(endpoint), bucket)
    print_table(options.size_mib, endpoint, rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
