"""Benchmark a clerk made for every call, as pipelines do, against the
published object-clerk 1.1.0 and plain boto3 doing the same.

    python bench/per_call.py [--published-python PATH] [--repeat N] [--rst]

What is measured, with a NEW clerk (or client) for every call:

- delete-1000: 1,000 existing objects deleted, each by
  ``ObjectClerk(...).delete_object(bucket, key)`` (1.1.0: the same call;
  boto3: ``boto3.client("s3", ...).delete_object(...)``).
- upload-200x4KiB: 200 objects of 4 KiB uploaded, each by
  ``ObjectClerk(...).upload_object(data, bucket, key)``, verified (in this
  project and in 1.1.0 alike: a PutObject, then a HeadObject whose ETag is
  compared with the data's MD5); boto3: a new client per upload doing the
  same PutObject, HeadObject and comparison by hand.
- construct: the milliseconds one ``ObjectClerk(...)`` takes (boto3: one
  ``boto3.client("s3", ...)``), the first of a process (which loads the S3
  service model) and the mean of the 200 after it.

Why: a pipeline that makes a clerk for each upload and each delete pays
for the clerk's construction every time. 1.1.0 made its client with boto3's
default session, whose loader keeps the parsed service model; a clerk that
makes a botocore session of its own parses the model (a JSON document of
megabytes) and opens a new connection pool for every call.

Why ratios: absolute numbers depend on the machine and the server, so the
results are the ratios of this project to 1.1.0 and to plain boto3 measured
in the same run, against the same server, sides interleaved (which side goes
first rotates), medians of --repeat runs. Every run is a fresh child process
(``per_call.py --one WORKLOAD SIDE``): its imports and its setup (putting
the objects to delete, with one client, in 8 threads) are not timed; the
first construction, with its load of the service model, is, as a pipeline
pays it. Deletes and uploads are timed by common.py's measure (after its
settling pause, so that the server has finished the setup's requests).

The published side: ``--published-python PATH`` names the python of a
separate environment where object-clerk 1.1.0 is installed, e.g.::

    python3 -m venv /tmp/venv110
    /tmp/venv110/bin/pip install object-clerk==1.1.0

Its children run isolated (``python -I``: neither PYTHONPATH nor this
checkout is on their path), so they import the published package; each
child reports the version and place of the package it imported. Without the
option the published column is left out. This project's side imports
object_clerk from this checkout, whatever is installed.

Same requests: every side's client has the same settings (S3_CLIENT_CONFIG
for the clerks, which 1.1.0 reads at import and this project at each
construction; the same Config for plain boto3): 60 s timeouts, botocore's
retries off, checksums "when_required" (botocore >= 1.36 would otherwise
send aws-chunked trailers, which Ceph RGW before 18.2.5 refuses). Payload
signing stays at botocore's default for 1.1.0 and boto3 (over http a SHA-256
of every body); this project turns it off, its bodies carrying a signed
Content-MD5 that the store checks.

The S3 server is moto's, started in a separate process on 127.0.0.1 and
stopped at the end, unless HOST, PORT, ACCESS_KEY and SECRET_KEY name an
endpoint (a bucket of the run's own is created there and removed after).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

# The published side's children run isolated (python -I), which leaves this
# script's directory off the path: put it back for the shared module only.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common
from common import Context, Job, KiB, new_client

# The checkout whose object_clerk this project's side imports.
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

DELETE_COUNT = 1000
UPLOAD_COUNT = 200
UPLOAD_SIZE = 4 * KiB
CONSTRUCT_COUNT = 200
SETUP_THREADS = 8

THIS, PUBLISHED, BOTO3 = "this", "published", "boto3"
SIDES = (THIS, PUBLISHED, BOTO3)
DELETE, UPLOAD, CONSTRUCT = "delete-1000", "upload-200x4KiB", "construct"
WORKLOADS = (DELETE, UPLOAD, CONSTRUCT)
EXPECTED = {DELETE: DELETE_COUNT, UPLOAD: UPLOAD_COUNT, CONSTRUCT: CONSTRUCT_COUNT}

# Every side's client settings (see the docstring).
CLIENT_OPTIONS: dict[str, Any] = {
    "connect_timeout": 60,
    "read_timeout": 60,
    "retries": {"max_attempts": 0},
    "request_checksum_calculation": "when_required",
    "response_checksum_validation": "when_required",
}
# retry_delay, retry_backoff, retry_jitter, retry_max_delay, retry_tries:
# positional, as 1.1.0 requires them; nothing fails here.
RETRY_ARGUMENTS = (1, 2, 0, 60, 3)


# -- the children: one side, one workload ---------------------------------------


@dataclass(frozen=True)
class PerCall:
    """What one call does with a new clerk (or client) of a side."""

    new: Callable[[], Any]
    delete: Callable[[str], None]
    upload: Callable[[str, bytes], None]


def clerk_calls(ctx: Context) -> PerCall:
    """ObjectClerk, of this checkout or the published release."""
    from object_clerk import ObjectClerk

    def new() -> Any:
        return ObjectClerk(ctx.host, ctx.port, ctx.access_key, ctx.secret_key, *RETRY_ARGUMENTS)

    return PerCall(
        new,
        lambda key: new().delete_object(ctx.data_bucket, key),
        lambda key, data: new().upload_object(data, ctx.data_bucket, key),
    )


def boto3_calls(ctx: Context) -> PerCall:
    """Plain boto3: a client of boto3's default session per call."""
    import boto3
    from botocore.config import Config

    def new() -> Any:
        return boto3.client(
            "s3",
            endpoint_url=f"http://{ctx.host}:{ctx.port}",
            aws_access_key_id=ctx.access_key,
            aws_secret_access_key=ctx.secret_key,
            region_name="us-east-1",
            config=Config(**CLIENT_OPTIONS),
        )

    def upload(key: str, data: bytes) -> None:
        client = new()
        client.put_object(Bucket=ctx.data_bucket, Key=key, Body=data)
        etag = client.head_object(Bucket=ctx.data_bucket, Key=key)["ETag"]
        if etag.strip('"') != hashlib.md5(data).hexdigest():
            raise RuntimeError(f"{key}: stored ETag {etag} does not match the data")

    return PerCall(new, lambda key: new().delete_object(Bucket=ctx.data_bucket, Key=key), upload)


def stored_sizes(ctx: Context, prefix: str) -> dict[str, int]:
    """The keys under prefix and their sizes."""
    pages = (
        new_client(ctx)
        .get_paginator("list_objects_v2")
        .paginate(Bucket=ctx.data_bucket, Prefix=prefix)
    )
    return {entry["Key"]: entry["Size"] for page in pages for entry in page.get("Contents", [])}


def delete_job(ctx: Context, calls: PerCall, prefix: str) -> Job:
    """DELETE_COUNT objects put (untimed), then deleted one clerk each."""
    keys = [f"{prefix}/{n:04d}" for n in range(DELETE_COUNT)]
    client = new_client(ctx)
    with ThreadPoolExecutor(SETUP_THREADS) as pool:
        list(
            pool.map(
                lambda key: client.put_object(Bucket=ctx.data_bucket, Key=key, Body=b"x"), keys
            )
        )

    def delete_all() -> int:
        for key in keys:
            calls.delete(key)
        return len(keys)

    return Job(delete_all, lambda done: done - len(stored_sizes(ctx, prefix)))


def upload_job(ctx: Context, calls: PerCall, prefix: str) -> Job:
    """UPLOAD_COUNT random bodies, uploaded one clerk each."""
    payloads = [(f"{prefix}/{n:04d}", os.urandom(UPLOAD_SIZE)) for n in range(UPLOAD_COUNT)]
    common.delete_keys(ctx, ctx.data_bucket, [key for key, _ in payloads])

    def upload_all() -> int:
        for key, data in payloads:
            calls.upload(key, data)
        return len(payloads)

    def stored(_: int) -> int:
        sizes = stored_sizes(ctx, prefix)
        return sum(sizes.get(key) == len(data) for key, data in payloads)

    return Job(upload_all, stored)


def construction(calls: PerCall) -> dict[str, Any]:
    """The first construction of the process, and the mean of the next."""
    start = time.perf_counter()
    calls.new()
    first = time.perf_counter() - start
    start = time.perf_counter()
    for _ in range(CONSTRUCT_COUNT):
        calls.new()
    each = (time.perf_counter() - start) / CONSTRUCT_COUNT
    return {"seconds": each, "first_seconds": first, "result": CONSTRUCT_COUNT}


def package_in_use(side: str) -> str:
    """Which object_clerk this child imported; this side's must be this
    checkout's, the published side's must not."""
    if side == BOTO3:
        return f"boto3 {common.version('boto3')}"
    import object_clerk

    where = os.path.dirname(os.path.dirname(os.path.abspath(object_clerk.__file__)))
    if (where == REPO_ROOT) != (side == THIS):
        raise RuntimeError(f"the {side} side imported object_clerk from {where}")
    return f"object-clerk {common.version('object-clerk')} ({where})"


def run_one(workload: str, side: str) -> dict[str, Any]:
    ctx = Context.from_environment()
    calls = boto3_calls(ctx) if side == BOTO3 else clerk_calls(ctx)
    package = package_in_use(side)
    if workload == CONSTRUCT:
        outcome = construction(calls)
    else:
        prefix = f"per-call/{side}/{workload}"
        job = (delete_job if workload == DELETE else upload_job)(ctx, calls, prefix)
        outcome = common.measure(job)
        common.delete_keys(ctx, ctx.data_bucket, list(stored_sizes(ctx, prefix)))
    return {**outcome, "package": package}


def prepare() -> dict[str, Any]:
    ctx = Context.from_environment()
    new_client(ctx).create_bucket(Bucket=ctx.data_bucket)
    return {"created": ctx.data_bucket}


def cleanup() -> dict[str, Any]:
    ctx = Context.from_environment()
    common.remove_buckets(ctx, ctx.data_bucket)
    return {"removed": ctx.data_bucket}


# -- the parent: server, runs, report ---------------------------------------------


def side_command(side: str, published_python: str | None) -> list[str]:
    """The interpreter a side's children run under: the published release
    isolated in its own environment, the others this one."""
    if side == PUBLISHED:
        assert published_python is not None
        return [published_python, "-I", os.path.abspath(__file__)]
    return common.script_command(__file__)


def side_env(ctx: Context) -> dict[str, str]:
    """The children's environment: common.py's, with the shared client settings
    and this checkout first on the path (the published side ignores it)."""
    path = [REPO_ROOT, *filter(None, [os.environ.get("PYTHONPATH")])]
    return common.child_env(
        ctx, {"S3_CLIENT_CONFIG": json.dumps(CLIENT_OPTIONS), "PYTHONPATH": os.pathsep.join(path)}
    )


def run_all(
    ctx: Context, sides: Sequence[str], published_python: str | None, repeat: int
) -> tuple[dict[str, dict[str, list[dict[str, Any]]]], dict[str, str]]:
    """repeat rounds of every workload and side, the first side rotating;
    the samples, and the package each side used."""
    samples: dict[str, dict[str, list[dict[str, Any]]]] = {
        workload: {side: [] for side in sides} for workload in WORKLOADS
    }
    packages: dict[str, str] = {}
    env = side_env(ctx)
    for round_number in range(repeat):
        for index, workload in enumerate(WORKLOADS):
            turn = (round_number + index) % len(sides)
            for side in [*sides[turn:], *sides[:turn]]:
                command = side_command(side, published_python)
                sample = common.run_child(command, ["--one", workload, side], env)
                if sample["result"] != EXPECTED[workload]:
                    raise RuntimeError(
                        f"{workload} {side}: handled {sample['result']}, "
                        f"expected {EXPECTED[workload]}"
                    )
                samples[workload][side].append(sample)
                packages[side] = sample["package"]
                print(
                    f"[{round_number + 1}/{repeat}] {workload} {side}: {sample['seconds']:.4f} s",
                    file=sys.stderr,
                )
    return samples, packages


def table_rows(
    samples: Mapping[str, Mapping[str, Sequence[Mapping[str, Any]]]], sides: Sequence[str]
) -> list[list[str]]:
    """Seconds for the call workloads, milliseconds for construction; the
    ratios of this project to the others."""
    lines = [
        (f"delete {DELETE_COUNT:,}, new clerk each (s)", DELETE, "seconds", 1.0, "{:.2f}"),
        (
            f"upload {UPLOAD_COUNT} x {UPLOAD_SIZE // KiB} KiB, new clerk each (s)",
            UPLOAD,
            "seconds",
            1.0,
            "{:.2f}",
        ),
        ("ObjectClerk(...), first in a process (ms)", CONSTRUCT, "first_seconds", 1e3, "{:.1f}"),
        (
            f"ObjectClerk(...), each of {CONSTRUCT_COUNT} after (ms)",
            CONSTRUCT,
            "seconds",
            1e3,
            "{:.2f}",
        ),
    ]
    rows = []
    for label, workload, field, scale, number in lines:
        values = {side: common.median(samples[workload][side], field) * scale for side in sides}
        cells = [label, *(number.format(values[side]) for side in sides)]
        others = [side for side in (PUBLISHED, BOTO3) if side in sides]
        rows.append([*cells, *(common.ratio(values[THIS], values[other]) for other in others)])
    return rows


def header(sides: Sequence[str], packages: Mapping[str, str]) -> list[str]:
    names = {THIS: "this", PUBLISHED: published_name(packages), BOTO3: "boto3"}
    ratios = [f"this/{names[side]}" for side in (PUBLISHED, BOTO3) if side in sides]
    return ["per call", *(names[side] for side in sides), *ratios]


def published_name(packages: Mapping[str, str]) -> str:
    """The published release's version, as its children reported it."""
    reported = packages.get(PUBLISHED, "")
    return reported.split()[1] if reported.startswith("object-clerk ") else "published"


def benchmark(published_python: str | None, repeat: int, rst: bool) -> None:
    started = time.perf_counter()
    sides = list(SIDES) if published_python else [THIS, BOTO3]
    with (
        common.s3_endpoint() as endpoint,
        tempfile.TemporaryDirectory(prefix="object-clerk-per-call-") as work_dir,
    ):
        bucket = f"object-clerk-per-call-{secrets.token_hex(4)}"
        ctx = Context.on(endpoint, bucket, bucket, work_dir)
        env = side_env(ctx)
        common.run_child(side_command(THIS, None), ["--prepare"], env)
        try:
            samples, packages = run_all(ctx, sides, published_python, repeat)
        finally:
            common.run_child(side_command(THIS, None), ["--cleanup"], env)
    table = common.aligned_table(header(sides, packages), table_rows(samples, sides), rst)
    notes = [
        f"Medians of {repeat} runs per side, sides interleaved, each run a fresh process; "
        "a ratio below 1 means this project takes less time.",
        "Packages: " + "; ".join(f"{side}: {packages[side]}" for side in sides) + ".",
        "Every side's client: timeouts 60 s, botocore retries off, checksums "
        '"when_required"; payload signing off for this project only.',
        common.machine_line(endpoint),
        f"Total run time: {time.perf_counter() - started:.0f} s.",
    ]
    separator = "\n\n" if rst else "\n"
    print(f"{table}\n\n{separator.join(notes)}")


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--published-python",
        metavar="PATH",
        help="the python of an environment where the published object-clerk (1.1.0) is "
        "installed; its side is left out without it",
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per side (default 3)")
    parser.add_argument("--rst", action="store_true", help="print a reStructuredText table")
    parser.add_argument("--one", nargs=2, metavar=("WORKLOAD", "SIDE"), help=argparse.SUPPRESS)
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cleanup", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.repeat < 1:
        parser.error("--repeat must be at least 1")
    if arguments.one and (arguments.one[0] not in WORKLOADS or arguments.one[1] not in SIDES):
        parser.error(
            f"--one takes a workload ({', '.join(WORKLOADS)}) and a side ({', '.join(SIDES)})"
        )
    python = arguments.published_python
    if python and not (os.path.isfile(python) and os.access(python, os.X_OK)):
        parser.error(f"--published-python {python!r} is not an executable file")
    return arguments


def main(argv: Sequence[str]) -> int:
    arguments = parse_arguments(argv)
    if arguments.one:
        print(json.dumps(run_one(*arguments.one)))
    elif arguments.prepare:
        print(json.dumps(prepare()))
    elif arguments.cleanup:
        print(json.dumps(cleanup()))
    else:
        benchmark(arguments.published_python, arguments.repeat, arguments.rst)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
