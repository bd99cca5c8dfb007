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
import gc
import hashlib
import json
import os
import platform
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from object_clerk import ObjectClerk

KiB = 1024
MiB = 1024 * KiB
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
CONTEXT_VARIABLE = "OBJECT_CLERK_BENCH_CONTEXT"
ENDPOINT_VARIABLES = ("HOST", "PORT", "ACCESS_KEY", "SECRET_KEY")
CLERK_VARIABLES = (
    "MULTIPART_THRESHOLD",
    "S3_CLIENT_CONFIG",
    "S3_UPLOAD_CONFIG",
    "S3_DOWNLOAD_CONFIG",
)
CHILD_TIMEOUT = 900
# A pause between a child's setup (which may delete a 256 MiB object) and
# its timed operation, so that what the server does after the setup (moto
# frees a deleted object's memory and temporary file) is not timed.
SETTLE_SECONDS = 1.0

SERVER_CODE = """
import logging, threading
from moto.server import ThreadedMotoServer
logging.getLogger("werkzeug").setLevel(logging.WARNING)
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
threading.Event().wait()
"""

SAME_REQUESTS_NOTE = (
    "Both sides' botocore clients: request_checksum_calculation and "
    'response_checksum_validation "when_required", botocore retries off '
    "(max_attempts 0). Payload signing: botocore's default for plain boto3 "
    "(a SHA-256 of every body over http); off for the clerk, whose bodies "
    "carry a signed Content-MD5 that the store checks."
)


# -- the endpoint and what the children share --------------------------------


@dataclass(frozen=True)
class Context:
    """Where the children work: the endpoint, the buckets, the scratch dir."""

    host: str
    port: str
    access_key: str
    secret_key: str
    data_bucket: str
    list_bucket: str
    work_dir: str

    @property
    def big_file(self) -> str:
        return os.path.join(self.work_dir, "random-256MiB.bin")

    def output(self, workload: str, side: str) -> str:
        return os.path.join(self.work_dir, f"{workload}-{side}.out")

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_environment(cls) -> Context:
        return cls(**json.loads(os.environ[CONTEXT_VARIABLE]))


def new_clerk(ctx: Context) -> ObjectClerk:
    """A clerk that never sleeps between tries (nothing fails here)."""
    from object_clerk import ObjectClerk

    return ObjectClerk(
        ctx.host,
        ctx.port,
        ctx.access_key,
        ctx.secret_key,
        retry_delay=0,
        retry_backoff=1,
        retry_jitter=0,
        retry_max_delay=0,
        retry_tries=3,
    )


def new_client(ctx: Context) -> Any:
    """A plain boto3 client with the clerk's checksum and retry settings."""
    import boto3
    from botocore.config import Config

    config = Config(
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        retries={"max_attempts": 0},
    )
    return boto3.session.Session().client(
        "s3",
        endpoint_url=f"http://{ctx.host}:{ctx.port}",
        aws_access_key_id=ctx.access_key,
        aws_secret_access_key=ctx.secret_key,
        region_name="us-east-1",
        config=config,
    )


def delete_keys(ctx: Context, bucket: str, keys: Sequence[str]) -> None:
    """Remove keys (missing ones are fine), 1,000 to a request."""
    client = new_client(ctx)
    for start in range(0, len(keys), 1000):
        batch = [{"Key": key} for key in keys[start : start + 1000]]
        client.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})


def all_keys(client: Any, bucket: str) -> list[str]:
    paginator = client.get_paginator("list_objects_v2")
    return [
        e["Key"] for page in paginator.paginate(Bucket=bucket) for e in page.get("Contents", [])
    ]


# -- workloads: what each side does, set up in its child ----------------------


@dataclass(frozen=True)
class Job:
    """A set-up operation, and how to tell what it did (untimed, after)."""

    operation: Callable[[], Any]
    summary: Callable[[Any], int]


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
    delete_keys(ctx, ctx.data_bucket, [key])  # every run writes a fresh key
    return Job(
        lambda: clerk.upload_object(ctx.big_file, ctx.data_bucket, key), stored_size(ctx, key)
    )


def boto3_upload(chunk_size: int) -> Setup:
    def setup(ctx: Context, workload: str) -> Job:
        from boto3.s3.transfer import TransferConfig

        client = new_client(ctx)
        config = TransferConfig(multipart_threshold=chunk_size, multipart_chunksize=chunk_size)
        key = target_key(workload, "boto3")
        delete_keys(ctx, ctx.data_bucket, [key])
        return Job(
            lambda: client.upload_file(ctx.big_file, ctx.data_bucket, key, Config=config),
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
    path = ctx.output(workload, side)
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
    delete_keys(ctx, ctx.data_bucket, keys)
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


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def reset_peak() -> None:
    """Make the resident high-water mark the current size (Linux >= 4.0)."""
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")


def measure(job: Job) -> dict[str, Any]:
    """Time job's operation alone; its peak resident size above the baseline."""
    time.sleep(SETTLE_SECONDS)  # the server finishes what the setup asked of it
    os.sync()  # no writeback left over from an earlier run
    gc.collect()
    baseline = resident_bytes()
    reset_peak()
    start = time.perf_counter()
    outcome = job.operation()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {
        "seconds": seconds,
        "peak_above_baseline": max(0, peak - baseline),
        "result": job.summary(outcome),
    }


def run_one(workload: str, side: str) -> dict[str, Any]:
    ctx = Context.from_environment()
    return measure(WORKLOADS[workload].setup(side)(ctx, workload))


def prepare(needs: Sequence[str]) -> dict[str, Any]:
    """Buckets, and what the chosen workloads read: the random file, the
    object the clerk uploaded from it in 8 MiB parts, the keys to list."""
    from concurrent.futures import ThreadPoolExecutor

    ctx = Context.from_environment()
    client = new_client(ctx)
    for bucket in (ctx.data_bucket, ctx.list_bucket):
        client.create_bucket(Bucket=bucket)
    if BIG_FILE in needs or GET_OBJECT in needs:
        with open(ctx.big_file, "wb") as file:
            for _ in range(BIG_SIZE // PART_SIZE):
                file.write(os.urandom(PART_SIZE))
    if GET_OBJECT in needs:
        os.environ["MULTIPART_THRESHOLD"] = str(PART_SIZE)
        new_clerk(ctx).upload_object(ctx.big_file, ctx.data_bucket, GET_KEY)
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
    client = new_client(ctx)
    for bucket in (ctx.data_bucket, ctx.list_bucket):
        delete_keys(ctx, bucket, all_keys(client, bucket))
        client.delete_bucket(Bucket=bucket)
    return {"removed": [ctx.data_bucket, ctx.list_bucket]}


def median_seconds(function: Callable[[], object], rounds: int = MD5_ROUNDS) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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
        "md5": BIG_SIZE / median_seconds(plain_md5),
        "etag_of": BIG_SIZE / median_seconds(lambda: etag_of([memoryview(buffer)], PART_SIZE)),
    }


def run_child(
    arguments: Sequence[str], env: Mapping[str, str], script: str = __file__
) -> dict[str, Any]:
    """Run script (this one by default) with arguments; the JSON it prints last."""
    done = subprocess.run(
        [sys.executable, os.path.abspath(script), *arguments],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(arguments)} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def child_env(ctx: Context, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CLERK_VARIABLES}
    env[CONTEXT_VARIABLE] = ctx.to_json()
    env.update(extra or {})
    return env


# -- the parent: server, runs, report ------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: str
    access_key: str
    secret_key: str
    description: str


def wait_until_answers(port: int, timeout: float = 30) -> None:
    """Any HTTP answer will do; proxies from the environment are ignored."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout
    while True:
        try:
            opener.open(f"http://127.0.0.1:{port}/", timeout=2).close()
            return
        except urllib.error.HTTPError:
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the S3 server on port {port} does not answer") from None
            time.sleep(0.1)


@contextlib.contextmanager
def moto_server() -> Iterator[int]:
    """moto's server in a process of its own on 127.0.0.1: its port."""
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER_CODE], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.strip():
            raise RuntimeError("moto's server did not start: pip install 'moto[server]'")
        port = int(line)
        wait_until_answers(port)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def s3_endpoint() -> Iterator[Endpoint]:
    """The endpoint HOST/PORT/ACCESS_KEY/SECRET_KEY name, else embedded moto."""
    values = [os.environ.get(name, "") for name in ENDPOINT_VARIABLES]
    if all(values):
        host, port, access_key, secret_key = values
        yield Endpoint(host, port, access_key, secret_key, f"http://{host}:{port} (from HOST/PORT)")
        return
    with moto_server() as port:
        yield Endpoint(
            "127.0.0.1", str(port), "bench-access-key", "bench-secret-key", "embedded moto server"
        )


@dataclass(frozen=True)
class Sample:
    seconds: float
    peak_mib: float


def run_sample(ctx: Context, workload: Workload, side: str) -> Sample:
    extra = workload.clerk_env if side == "clerk" else {}
    report = run_child(["--one", workload.name, side], child_env(ctx, extra))
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
            ratio(self.clerk_s, self.boto3_s),
            f"{self.clerk_mib:.1f}",
            f"{self.boto3_mib:.1f}",
            ratio(self.clerk_mib, self.boto3_mib) if self.boto3_mib >= RSS_RATIO_FLOOR_MIB else "-",
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


def ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.2f}" if denominator > 0 else "-"


def render_table(rows: Sequence[Row], rst: bool) -> str:
    """The workloads' table (see aligned_table)."""
    return aligned_table(HEADER, [row.cells() for row in rows], rst)


def aligned_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], rst: bool, text_columns: int = 1
) -> str:
    """A plain table, or a reStructuredText simple table; the first
    text_columns left-aligned, the numbers after them right-aligned."""
    table = [list(header), *(list(row) for row in rows)]
    widths = [max(len(line[n]) for line in table) for n in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = [
            cell.ljust(width) if n < text_columns else cell.rjust(width)
            for n, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(padded).rstrip()

    rule = "  ".join(("=" if rst else "-") * width for width in widths)
    body = [line(cells) for cells in table[1:]]
    if rst:
        return "\n".join([rule, line(header), rule, *body, rule])
    return "\n".join([line(header), rule, *body])


def cpu_model() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        for entry in cpuinfo:
            if entry.startswith("model name"):
                return entry.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine_line(endpoint: Endpoint) -> str:
    return (
        f"Machine: nproc {len(os.sched_getaffinity(0))}, {cpu_model()}, "
        f"Python {platform.python_version()}, boto3 {version('boto3')}, "
        f"moto {version('moto')}; S3 server: {endpoint.description}."
    )


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
        s3_endpoint() as endpoint,
        tempfile.TemporaryDirectory(prefix="object-clerk-bench-") as work_dir,
    ):
        tag = secrets.token_hex(4)
        ctx = Context(
            endpoint.host,
            endpoint.port,
            endpoint.access_key,
            endpoint.secret_key,
            f"object-clerk-bench-{tag}-data",
            f"object-clerk-bench-{tag}-list",
            work_dir,
        )
        print(f"preparing {', '.join(needs) or 'buckets'}...", file=sys.stderr)
        run_child(["--prepare", *needs], child_env(ctx))
        try:
            samples = run_all(ctx, workloads, repeat)
            speeds = run_child(["--md5"], child_env(ctx))
        finally:
            if endpoint.description.startswith("http"):  # a store that outlives the run
                run_child(["--cleanup"], child_env(ctx))
    rows = [Row.of(name, samples[name]) for name in names]
    notes = [
        f"Medians of {repeat} runs per side, sides interleaved, each operation timed in a "
        "fresh process; a ratio above 1 means the clerk takes longer or more memory "
        f"(no RSS ratio where boto3's peak is under {RSS_RATIO_FLOOR_MIB:g} MiB).",
        SAME_REQUESTS_NOTE,
        md5_line(speeds),
        machine_line(endpoint),
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
