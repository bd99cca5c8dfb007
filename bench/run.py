"""Benchmark object_clerk against plain boto3 doing the same work.

    python bench/run.py [--repeat N] [--only NAME ...] [--rst]

What is measured: for each workload (big uploads in parts and in one PUT,
a verified get, a download to a file, many small verified uploads, a listing
of 5,000 keys), the wall time of the operation and the peak memory it adds to
its process, once through ObjectClerk and once through plain boto3 doing the
equivalent work (for the verified workloads, the same check done by hand).

Why ratios: absolute numbers depend on the machine and on the S3 server, so
the result is the ratio of the clerk to plain boto3 measured in the same run,
against the same server, sides interleaved (which side goes first
alternates), medians of --repeat runs. Both sides' botocore clients use the
clerk's checksum settings ("when_required") with botocore's retries off;
payload signing stays at botocore's default for plain boto3 (over http it
signs a SHA-256 of every body), while the clerk turns it off because each of
its bodies carries a signed Content-MD5 that the store checks.

Why a fresh process per operation: memory. Every measured operation runs in
a child (``run.py --one WORKLOAD SIDE``) that does its setup (imports,
client or clerk, inputs), records its resident size, times only the
operation and reports its peak resident size above that baseline. The child
resets its high-water mark at the baseline (/proc/self/clear_refs), and the
parent never imports boto3 nor holds data (preparing, checking md5 speed and
cleaning up are children too): on Linux a child's ru_maxrss starts at its
parent's peak, which would otherwise hide the child's own.

The S3 server is moto's, started in a separate process on 127.0.0.1 and
stopped at the end, unless HOST, PORT, ACCESS_KEY and SECRET_KEY name an
endpoint (buckets of its own are created there and removed after).
S3_CLIENT_CONFIG, S3_UPLOAD_CONFIG, S3_DOWNLOAD_CONFIG and
MULTIPART_THRESHOLD are removed from the children's environment; only the
workloads that name a MULTIPART_THRESHOLD set it, for the clerk side.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import common
from common import Context, Job, KiB, MiB, new_clerk, new_client

BIG_SIZE = 256 * MiB
PART_SIZE = 8 * MiB
CLERK_DEFAULT_THRESHOLD = 500 * MiB
SMALL_COUNT = 500
SMALL_SIZE = 4 * KiB
LIST_COUNT = 5000
MD5_ROUNDS = 3
# Peaks below this are page-level noise: no RSS ratio is given against one.
RSS_RATIO_FLOOR_MIB = 1.0

SIDES = ("clerk", "boto3")
GET_KEY = "source/random-256MiB-8MiB-parts"

SAME_REQUESTS_NOTE = (
    "Both sides' botocore clients: request_checksum_calculation and "
    'response_checksum_validation "when_required", botocore retries off '
    "(max_attempts 0). Payload signing: botocore's default for plain boto3 "
    "(a SHA-256 of every body over http); off for the clerk, whose bodies "
    "carry a signed Content-MD5 that the store checks."
)


def big_file(ctx: Context) -> str:
    return os.path.join(ctx.work_dir, "random-256MiB.bin")


def output(ctx: Context, workload: str, side: str) -> str:
    return os.path.join(ctx.work_dir, f"{workload}-{side}.out")


# -- workloads: what each side does, set up in its child ----------------------


Setup = Callable[[Context, str], Job]


def target_key(workload: str, side: str) -> str:
    return f"{workload}/{side}"


def stored_size(ctx: Context, key: str) -> Callable[[Any], int]:
    return lambda _: int(
        new_client(ctx).head_object(Bucket=ctx.data_bucket, Key=key)["ContentLength"]
    )


def clerk_upload(ctx: Context, workload: str) -> Job:
    clerk = new_clerk(ctx)
    key = target_key(workload, "clerk")
    common.delete_keys(ctx, ctx.data_bucket, [key])  # every run writes a fresh key
    return Job(
        lambda: clerk.upload_object(big_file(ctx), ctx.data_bucket, key), stored_size(ctx, key)
    )


def boto3_upload(chunk_size: int) -> Setup:
    def setup(ctx: Context, workload: str) -> Job:
        from boto3.s3.transfer import TransferConfig

        client = new_client(ctx)
        config = TransferConfig(multipart_threshold=chunk_size, multipart_chunksize=chunk_size)
        key = target_key(workload, "boto3")
        common.delete_keys(ctx, ctx.data_bucket, [key])
        return Job(
            lambda: client.upload_file(big_file(ctx), ctx.data_bucket, key, Config=config),
            stored_size(ctx, key),
        )

    return setup


def clerk_get(ctx: Context, workload: str) -> Job:
    clerk = new_clerk(ctx)
    return Job(lambda: clerk.get_object(ctx.data_bucket, GET_KEY), len)


def boto3_get(ctx: Context, workload: str) -> Job:
    client = new_client(ctx)
    return Job(lambda: client.get_object(Bucket=ctx.data_bucket, Key=GET_KEY)["Body"].read(), len)


def fresh_output(ctx: Context, workload: str, side: str) -> str:
    path = output(ctx, workload, side)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    return path


def clerk_download(ctx: Context, workload: str) -> Job:
    clerk = new_clerk(ctx)
    path = fresh_output(ctx, workload, "clerk")
    return Job(
        lambda: clerk.download_object(ctx.data_bucket, GET_KEY, path),
        lambda _: os.path.getsize(path),
    )


def boto3_download(ctx: Context, workload: str) -> Job:
    client = new_client(ctx)
    path = fresh_output(ctx, workload, "boto3")
    return Job(
        lambda: client.download_file(ctx.data_bucket, GET_KEY, path),
        lambda _: os.path.getsize(path),
    )


def small_payloads(ctx: Context, workload: str, side: str) -> list[tuple[str, bytes]]:
    """SMALL_COUNT fresh keys (old ones removed) and random bodies."""
    keys = [f"{target_key(workload, side)}/{n:04d}" for n in range(SMALL_COUNT)]
    common.delete_keys(ctx, ctx.data_bucket, keys)
    return [(key, os.urandom(SMALL_SIZE)) for key in keys]


def clerk_small_uploads(ctx: Context, workload: str) -> Job:
    clerk = new_clerk(ctx)
    payloads = small_payloads(ctx, workload, "clerk")

    def upload_all() -> int:
        for key, data in payloads:
            clerk.upload_object(data, ctx.data_bucket, key)
        return len(payloads)

    return Job(upload_all, int)


def boto3_small_uploads(ctx: Context, workload: str) -> Job:
    client = new_client(ctx)
    payloads = small_payloads(ctx, workload, "boto3")

    def upload_all() -> int:
        for key, data in payloads:
            client.put_object(Bucket=ctx.data_bucket, Key=key, Body=data)
            etag = client.head_object(Bucket=ctx.data_bucket, Key=key)["ETag"]
            if etag.strip('"') != hashlib.md5(data).hexdigest():
                raise RuntimeError(f"{key}: stored ETag {etag} does not match the data")
        return len(payloads)

    return Job(upload_all, int)


def clerk_list(ctx: Context, workload: str) -> Job:
    clerk = new_clerk(ctx)
    return Job(lambda: list(clerk.list_objects(ctx.list_bucket)), len)


def boto3_list(ctx: Context, workload: str) -> Job:
    paginator = new_client(ctx).get_paginator("list_objects_v2")

    def list_all() -> list[dict[str, Any]]:
        pages = paginator.paginate(Bucket=ctx.list_bucket)
        return [entry for page in pages for entry in page.get("Contents", [])]

    return Job(list_all, len)


@dataclass(frozen=True)
class Workload:
    """One workload: both sides' setups, what each must report (bytes or
    objects), what the parent prepares, and the clerk side's environment."""

    name: str
    clerk: Setup
    boto3: Setup
    expected: int
    needs: frozenset[str]
    clerk_env: Mapping[str, str] = field(default_factory=dict)

    def setup(self, side: str) -> Setup:
        return self.clerk if side == "clerk" else self.boto3


BIG_FILE, GET_OBJECT, LIST_KEYS = "file", "object", "keys"
WORKLOADS = {
    w.name: w
    for w in (
        Workload(
            "upload-256MiB-8MiB",
            clerk_upload,
            boto3_upload(PART_SIZE),
            BIG_SIZE,
            frozenset({BIG_FILE}),
            {"MULTIPART_THRESHOLD": str(PART_SIZE)},
        ),
        Workload(
            "upload-256MiB-default",
            clerk_upload,
            boto3_upload(CLERK_DEFAULT_THRESHOLD),
            BIG_SIZE,
            frozenset({BIG_FILE}),
        ),
        Workload("get-256MiB", clerk_get, boto3_get, BIG_SIZE, frozenset({GET_OBJECT})),
        Workload(
            "download-256MiB", clerk_download, boto3_download, BIG_SIZE, frozenset({GET_OBJECT})
        ),
        Workload(
            "small-uploads-500x4KiB",
            clerk_small_uploads,
            boto3_small_uploads,
            SMALL_COUNT,
            frozenset(),
        ),
        Workload("list-5000", clerk_list, boto3_list, LIST_COUNT, frozenset({LIST_KEYS})),
    )
}


# -- child processes -----------------------------------------------------------


def run_one(workload: str, side: str) -> dict[str, Any]:
    ctx = Context.from_environment()
    return common.measure(WORKLOADS[workload].setup(side)(ctx, workload))


def prepare(needs: Sequence[str]) -> dict[str, Any]:
    """Buckets, and what the chosen workloads read: the random file, the
    object the clerk uploaded from it in 8 MiB parts, the keys to list."""
    from concurrent.futures import ThreadPoolExecutor

    ctx = Context.from_environment()
    client = new_client(ctx)
    for bucket in (ctx.data_bucket, ctx.list_bucket):
        client.create_bucket(Bucket=bucket)
    if BIG_FILE in needs or GET_OBJECT in needs:
        with open(big_file(ctx), "wb") as file:
            for _ in range(BIG_SIZE // PART_SIZE):
                file.write(os.urandom(PART_SIZE))
    if GET_OBJECT in needs:
        os.environ["MULTIPART_THRESHOLD"] = str(PART_SIZE)
        new_clerk(ctx).upload_object(big_file(ctx), ctx.data_bucket, GET_KEY)
    if LIST_KEYS in needs:
        keys = [f"key/{n:05d}" for n in range(LIST_COUNT)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            for _ in pool.map(
                lambda key: client.put_object(Bucket=ctx.list_bucket, Key=key, Body=b"x"), keys
            ):
                pass
    return {"prepared": sorted(needs)}


def cleanup() -> dict[str, Any]:
    """Remove the buckets made by prepare, with everything in them."""
    ctx = Context.from_environment()
    common.remove_buckets(ctx, ctx.data_bucket, ctx.list_bucket)
    return {"removed": [ctx.data_bucket, ctx.list_bucket]}


def md5_limit() -> dict[str, float]:
    """Bytes per second of hashlib.md5 on one core (1 MiB updates) and of
    the clerk's etag_of with 8 MiB parts, over the same 256 MiB buffer."""
    from object_clerk._checksum import etag_of

    buffer = os.urandom(BIG_SIZE)
    view = memoryview(buffer)

    def plain_md5() -> None:
        digest = hashlib.md5()
        for offset in range(0, BIG_SIZE, MiB):
            digest.update(view[offset : offset + MiB])

    return {
        "md5": BIG_SIZE / common.median_seconds(plain_md5, MD5_ROUNDS),
        "etag_of": BIG_SIZE
        / common.median_seconds(lambda: etag_of([memoryview(buffer)], PART_SIZE), MD5_ROUNDS),
    }


def run_child(arguments: Sequence[str], env: Mapping[str, str]) -> dict[str, Any]:
    """Run this script with arguments; the JSON it prints last."""
    return common.run_child(common.script_command(__file__), arguments, env)


# -- the parent: server, runs, report ------------------------------------------


@dataclass(frozen=True)
class Sample:
    seconds: float
    peak_mib: float


def run_sample(ctx: Context, workload: Workload, side: str) -> Sample:
    extra = workload.clerk_env if side == "clerk" else {}
    report = run_child(["--one", workload.name, side], common.child_env(ctx, extra))
    if report["result"] != workload.expected:
        raise RuntimeError(
            f"{workload.name} {side}: handled {report['result']}, expected {workload.expected}"
        )
    return Sample(report["seconds"], report["peak_above_baseline"] / MiB)


def run_all(
    ctx: Context, workloads: Sequence[Workload], repeat: int
) -> dict[str, dict[str, list[Sample]]]:
    """repeat rounds of every workload, both sides, the first side alternating."""
    samples: dict[str, dict[str, list[Sample]]] = {
        w.name: {side: [] for side in SIDES} for w in workloads
    }
    for round_number in range(repeat):
        for index, workload in enumerate(workloads):
            sides = SIDES if (round_number + index) % 2 == 0 else SIDES[::-1]
            for side in sides:
                sample = run_sample(ctx, workload, side)
                samples[workload.name][side].append(sample)
                print(
                    f"[{round_number + 1}/{repeat}] {workload.name} {side}: "
                    f"{sample.seconds:.3f} s, {sample.peak_mib:.1f} MiB",
                    file=sys.stderr,
                )
    return samples


@dataclass(frozen=True)
class Row:
    workload: str
    clerk_s: float
    boto3_s: float
    clerk_mib: float
    boto3_mib: float

    @classmethod
    def of(cls, workload: str, by_side: Mapping[str, list[Sample]]) -> Row:
        def median(side: str, attribute: str) -> float:
            return statistics.median(getattr(s, attribute) for s in by_side[side])

        return cls(
            workload,
            median("clerk", "seconds"),
            median("boto3", "seconds"),
            median("clerk", "peak_mib"),
            median("boto3", "peak_mib"),
        )

    def cells(self) -> list[str]:
        return [
            self.workload,
            f"{self.clerk_s:.3f}",
            f"{self.boto3_s:.3f}",
            common.ratio(self.clerk_s, self.boto3_s),
            f"{self.clerk_mib:.1f}",
            f"{self.boto3_mib:.1f}",
            common.ratio(self.clerk_mib, self.boto3_mib)
            if self.boto3_mib >= RSS_RATIO_FLOOR_MIB
            else "-",
        ]


HEADER = [
    "workload",
    "clerk s",
    "boto3 s",
    "time ratio (clerk/boto3)",
    "clerk peak RSS MiB",
    "boto3 peak RSS MiB",
    "RSS ratio",
]


def render_table(rows: Sequence[Row], rst: bool) -> str:
    """The workloads' table (see aligned_table)."""
    return common.aligned_table(HEADER, [row.cells() for row in rows], rst)


def md5_line(speeds: Mapping[str, float]) -> str:
    return (
        f"md5 limit: hashlib.md5 {speeds['md5'] / 1e6:.0f} MB/s on one core "
        f"(256 MiB in 1 MiB updates); object_clerk._checksum.etag_of with 8 MiB parts "
        f"{speeds['etag_of'] / 1e6:.0f} MB/s = {speeds['etag_of'] / speeds['md5']:.2f} of it."
    )


def report(rows: Sequence[Row], notes: Sequence[str], rst: bool) -> str:
    """The table, then one paragraph (rst) or line (plain) per note."""
    separator = "\n\n" if rst else "\n"
    return f"{render_table(rows, rst)}\n\n{separator.join(notes)}"


def benchmark(names: Sequence[str], repeat: int, rst: bool) -> None:
    started = time.perf_counter()
    workloads = [WORKLOADS[name] for name in names]
    needs = sorted(set().union(*(w.needs for w in workloads)))
    with (
        common.s3_endpoint() as endpoint,
        tempfile.TemporaryDirectory(prefix="object-clerk-bench-") as work_dir,
    ):
        tag = secrets.token_hex(4)
        ctx = Context.on(
            endpoint,
            f"object-clerk-bench-{tag}-data",
            f"object-clerk-bench-{tag}-list",
            work_dir,
        )
        print(f"preparing {', '.join(needs) or 'buckets'}...", file=sys.stderr)
        run_child(["--prepare", *needs], common.child_env(ctx))
        try:
            samples = run_all(ctx, workloads, repeat)
            speeds = run_child(["--md5"], common.child_env(ctx))
        finally:
            if endpoint.description.startswith("http"):  # a store that outlives the run
                run_child(["--cleanup"], common.child_env(ctx))
    rows = [Row.of(name, samples[name]) for name in names]
    notes = [
        f"Medians of {repeat} runs per side, sides interleaved, each operation timed in a "
        "fresh process; a ratio above 1 means the clerk takes longer or more memory "
        f"(no RSS ratio where boto3's peak is under {RSS_RATIO_FLOOR_MIB:g} MiB).",
        SAME_REQUESTS_NOTE,
        md5_line(speeds),
        common.machine_line(endpoint),
        f"Total run time: {time.perf_counter() - started:.0f} s.",
    ]
    print(report(rows, notes, rst))


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per side (default 5)")
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help=f"run only this workload (repeatable, or comma-separated): {', '.join(WORKLOADS)}",
    )
    parser.add_argument("--rst", action="store_true", help="print a reStructuredText table")
    parser.add_argument("--one", nargs=2, metavar=("WORKLOAD", "SIDE"), help=argparse.SUPPRESS)
    parser.add_argument("--prepare", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--md5", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cleanup", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.repeat < 1:
        parser.error("--repeat must be at least 1")
    names = [n for item in arguments.only or [] for n in item.split(",") if n]
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload {', '.join(unknown)}; known: {', '.join(WORKLOADS)}")
    arguments.names = [n for n in WORKLOADS if n in names] if names else list(WORKLOADS)
    if arguments.one and (arguments.one[0] not in WORKLOADS or arguments.one[1] not in SIDES):
        parser.error(f"--one takes a workload and a side ({' or '.join(SIDES)})")
    return arguments


def child_task(arguments: argparse.Namespace) -> dict[str, Any] | None:
    """Do the child's task the arguments name, if any: its JSON report."""
    if arguments.one:
        return run_one(*arguments.one)
    if arguments.prepare is not None:
        return prepare(arguments.prepare)
    if arguments.md5:
        return md5_limit()
    if arguments.cleanup:
        return cleanup()
    return None


def main(argv: Sequence[str]) -> int:
    arguments = parse_arguments(argv)
    outcome = child_task(arguments)
    if outcome is not None:
        print(json.dumps(outcome))
    else:
        benchmark(arguments.names, arguments.repeat, arguments.rst)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
