"""What the benchmark scripts share: the endpoint (HOST, PORT, ACCESS_KEY
and SECRET_KEY, else an embedded moto server), the context their children
read, clerk and client factories, child processes, timing and memory
measures, medians and tables.

Each script runs as ``python bench/<name>.py`` from the repository root,
which puts this directory first on the path: ``import common`` finds this
module. Nothing here imports boto3 or object_clerk at import time: a
parent stays small, since on Linux a child's ru_maxrss starts at its
parent's peak.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from importlib import metadata
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from object_clerk import ObjectClerk

KiB = 1024
MiB = 1024 * KiB
CHILD_TIMEOUT = 900
CONTEXT_VARIABLE = "OBJECT_CLERK_BENCH_CONTEXT"
ENDPOINT_VARIABLES = ("HOST", "PORT", "ACCESS_KEY", "SECRET_KEY")
# The clerk's settings from the environment: removed from the children's,
# so that only what a workload names applies.
CLERK_VARIABLES = (
    "MULTIPART_THRESHOLD",
    "S3_CLIENT_CONFIG",
    "S3_UPLOAD_CONFIG",
    "S3_DOWNLOAD_CONFIG",
)
# A pause before a timed operation, so that what the server does after the
# setup (moto frees a deleted object's memory and temporary file) is not timed.
SETTLE_SECONDS = 1.0

# moto's server as the tests' endpoint fixture and the demo start it
# (ThreadedMotoServer on 127.0.0.1, a free port), in a process of its own:
# its work and memory are not the measured process's.
SERVER_CODE = """
import logging, threading
from moto.server import ThreadedMotoServer
logging.getLogger("werkzeug").setLevel(logging.WARNING)
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
threading.Event().wait()
"""


# -- the endpoint and what the children share --------------------------------


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: str
    access_key: str
    secret_key: str
    description: str


@dataclass(frozen=True)
class Context:
    """Where the children work: the endpoint, the buckets, the scratch dir."""

    host: str
    port: str
    access_key: str
    secret_key: str
    data_bucket: str = ""
    list_bucket: str = ""
    work_dir: str = ""

    @classmethod
    def on(cls, endpoint: Endpoint, *buckets_and_work_dir: str) -> Context:
        """The context of endpoint, with its buckets and scratch dir if any."""
        return cls(
            endpoint.host,
            endpoint.port,
            endpoint.access_key,
            endpoint.secret_key,
            *buckets_and_work_dir,
        )

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


def raw_client(clerk: ObjectClerk) -> Any:
    """The boto3 client under a clerk in this process, whose events the
    benchmarks count requests and bytes with (the one place they reach
    under the public API)."""
    return clerk._engine.client.raw


def new_client(ctx: Context, connections: int | None = None) -> Any:
    """A plain boto3 client with the clerk's checksum and retry settings
    (and room for connections connections, where given)."""
    import boto3
    from botocore.config import Config

    config = Config(
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        retries={"max_attempts": 0},
        max_pool_connections=10 if connections is None else connections,  # botocore's default
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


def remove_buckets(ctx: Context, *buckets: str) -> None:
    """Remove buckets with everything in them (unfinished uploads too)."""
    client = new_client(ctx)
    for bucket in buckets:
        for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
            client.abort_multipart_upload(
                Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
            )
        delete_keys(ctx, bucket, all_keys(client, bucket))
        client.delete_bucket(Bucket=bucket)


# -- measuring in a child -------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """A set-up operation, and how to tell what it did (untimed, after)."""

    operation: Callable[[], Any]
    summary: Callable[[Any], int]


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def peak_resident_bytes() -> int:
    """This process's peak resident size (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


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
    return {
        "seconds": seconds,
        "peak_above_baseline": max(0, peak_resident_bytes() - baseline),
        "result": job.summary(outcome),
    }


def cpu_seconds() -> float:
    """CPU of this process (all its threads) and its waited-for children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def median_seconds(function: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def median(samples: Sequence[Mapping[str, Any]], field: str) -> float:
    """The median of field over the samples children reported."""
    return statistics.median(float(sample[field]) for sample in samples)


# -- child processes -----------------------------------------------------------


def script_command(script: str) -> list[str]:
    """How a parent runs a script's children: this python, that script."""
    return [sys.executable, os.path.abspath(script)]


def run_child(
    command: Sequence[str],
    arguments: Sequence[str],
    env: Mapping[str, str],
    timeout: float = CHILD_TIMEOUT,
) -> dict[str, Any]:
    """Run command with arguments; the JSON object it prints last."""
    done = subprocess.run(
        [*command, *arguments],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(arguments)} failed:\n{done.stderr}")
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def child_env(ctx: Context, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This environment without the clerk's settings, with ctx and extra."""
    env = {k: v for k, v in os.environ.items() if k not in CLERK_VARIABLES}
    env[CONTEXT_VARIABLE] = ctx.to_json()
    env.update(extra or {})
    return env


def child_or_parent(
    child: Sequence[str] | None,
    child_task: Callable[[Sequence[str]], dict[str, Any]],
    parent: Callable[[], None],
) -> int:
    """A script's main: as a child (--child TASK ...), print the task's JSON
    report for the parent to read; else run the benchmark."""
    if child:
        print(json.dumps(child_task(child)))
    else:
        parent()
    return 0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- the server ----------------------------------------------------------------


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
def server_process(command: Sequence[str], missing: str) -> Iterator[tuple[int, int]]:
    """A server run by command on 127.0.0.1, which prints its port first
    (missing: what to say where it prints nothing): its port and process
    id; stopped at the end."""
    process = subprocess.Popen(list(command), stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.strip():
            raise RuntimeError(missing)
        port = int(line)
        wait_until_answers(port)
        yield port, process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def moto_server() -> Iterator[int]:
    """moto's server in a process of its own on 127.0.0.1: its port."""
    missing = "moto's server did not start: pip install 'moto[server]'"
    with server_process([sys.executable, "-c", SERVER_CODE], missing) as (port, _):
        yield port


@contextlib.contextmanager
def s3_endpoint() -> Iterator[Endpoint]:
    """The endpoint HOST/PORT/ACCESS_KEY/SECRET_KEY name, else embedded moto."""
    values = [os.environ.get(name, "") for name in ENDPOINT_VARIABLES]
    if all(values):
        host, port, access_key, secret_key = values
        yield Endpoint(host, port, access_key, secret_key, f"http://{host}:{port} (from HOST/PORT)")
        return
    with moto_server() as moto_port:
        yield Endpoint(
            "127.0.0.1",
            str(moto_port),
            "bench-access-key",
            "bench-secret-key",
            "embedded moto server",
        )


# -- output ---------------------------------------------------------------------


def ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.2f}" if denominator > 0 else "-"


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
