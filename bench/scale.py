"""What the clerk does at archive scale, on a simulated store.

    python bench/scale.py [--counts 100000,1000000] [--layouts flat,grouped]
                          [--differ 1000] [--list-keys 1000000] [--quick] [--rst]

What is measured: ``ObjectClerk.check("s3://a/", "s3://b/")``, the
store-to-store check of two buckets of N simulated objects (every
--differ-th one changed in b), for each N and key layout (flat: one chain
of listing pages; grouped: g0000/s00/f00-... keys, which the clerk lists
fanned out by group): its time, entries per second, the CPU of the
planning process and of the store, and the planning process's peak
resident size (ru_maxrss) and what it grew by from its size before the
check; beside it the rate of a plain listing, one chain of 1,000-key
ListObjectsV2 pages by boto3, and of ``clerk.list_objects`` over the same
bucket.

The store is tests/scale_store.py in a process of its own on 127.0.0.1:
it holds no data (keys, sizes and bodies are computed from each key's
index), so tens of millions of entries cost it nothing to hold, and a page
costs the same wherever it starts. What it does not simulate is a real
gateway's latency and work per page. Every measured run is a fresh child
process (``scale.py --child ...``), started by a parent that imports
neither boto3 nor the clerk (a child's ru_maxrss starts at its parent's
peak). --quick: 10^4 and 10^5 entries.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import sys
import time
from collections.abc import Iterator, Sequence
from typing import Any

import common
from common import Context, Endpoint, MiB

STORE_SCRIPT = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests", "scale_store.py"
)
LAYOUTS = ("flat", "grouped")
DEFAULT_COUNTS = (10**5, 10**6)
QUICK_COUNTS = (10**4, 10**5)
PAGE = 1000
# A check of 10^7 entries on 2 cores takes longer than this: a child is
# given an hour before it is taken to hang.
CHILD_TIMEOUT = 3600
STORE = Endpoint(
    "127.0.0.1",
    "",
    "scale-access-key",
    "scale-secret-key",
    "simulated store (tests/scale_store.py)",
)


def expected_differing(count: int, differ: int) -> int:
    """How many of count entries the store's b bucket changes."""
    return len(range(0, count, differ)) if differ else 0


# -- the children ---------------------------------------------------------------


def child_check(count: int, differ: int) -> dict[str, Any]:
    """Time the check of a against b; its CPU and memory."""
    ctx = Context.from_environment()
    clerk = common.new_clerk(ctx)
    baseline = common.resident_bytes()
    cpu, start = common.cpu_seconds(), time.perf_counter()
    report = clerk.check("s3://a/", "s3://b/")
    seconds, cpu = time.perf_counter() - start, common.cpu_seconds() - cpu
    totals = report.totals
    changed = expected_differing(count, differ)
    if totals["entries"] != count or totals["differ"] != changed:
        raise RuntimeError(f"the check found {totals}, not {changed} of {count} differing")
    return {
        "seconds": seconds,
        "cpu": cpu,
        "baseline": baseline,
        "peak": common.peak_resident_bytes(),
        "entries": count,
    }


def child_list(tool: str, keys: int) -> dict[str, Any]:
    """Time a listing of the first keys keys of a, one page after another."""
    ctx = Context.from_environment()
    listed = 0
    if tool == "boto3":
        client = common.new_client(ctx)
        request: dict[str, Any] = {"Bucket": "a", "MaxKeys": PAGE}
        start = time.perf_counter()
        while listed < keys:
            page = client.list_objects_v2(**request)
            listed += page.get("KeyCount", 0)
            if not page.get("IsTruncated"):
                break
            request["ContinuationToken"] = page["NextContinuationToken"]
    else:
        entries = common.new_clerk(ctx).list_objects("a", max_keys=PAGE)
        start = time.perf_counter()
        for _ in entries:
            listed += 1
            if listed >= keys:
                break
    return {"seconds": time.perf_counter() - start, "keys": listed}


def child_task(arguments: Sequence[str]) -> dict[str, Any]:
    task, *rest = arguments
    if task == "check":
        return child_check(int(rest[0]), int(rest[1]))
    if task == "list":
        return child_list(rest[0], int(rest[1]))
    raise SystemExit(f"unknown child task {task}")


# -- the parent -----------------------------------------------------------------


def process_cpu(pid: int) -> float:
    """CPU seconds (user and system) of process pid so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def simulated_store(count: int, layout: str, differ: int) -> Iterator[tuple[Endpoint, int]]:
    """The simulated store of buckets a and b, its endpoint and its pid."""
    command = [sys.executable, STORE_SCRIPT, "--count", str(count), "--layout", layout]
    command += ["--differ", str(differ)]
    with common.server_process(command, "the simulated store did not start") as (port, pid):
        yield dataclasses.replace(STORE, port=str(port)), pid


def run_in_store(count: int, layout: str, differ: int, *arguments: str) -> dict[str, Any]:
    """A child's task against a fresh store, with the store's CPU it took."""
    with simulated_store(count, layout, differ) as (endpoint, pid):
        env = common.child_env(Context.on(endpoint))
        before = process_cpu(pid)
        sample = common.run_child(
            common.script_command(__file__), ["--child", *arguments], env, CHILD_TIMEOUT
        )
        sample["server_cpu"] = process_cpu(pid) - before
    return sample


def check_row(layout: str, count: int, sample: dict[str, Any]) -> list[str]:
    grown = max(0, sample["peak"] - sample["baseline"])
    return [
        layout,
        f"{count:,}",
        f"{sample['seconds']:.1f}",
        f"{count / sample['seconds']:,.0f}",
        f"{sample['cpu']:.1f}",
        f"{sample['server_cpu']:.1f}",
        f"{sample['peak'] / MiB:.0f}",
        f"{grown / MiB:.0f}",
        f"{grown / count:,.0f}",
    ]


CHECK_HEADER = [
    "layout",
    "entries",
    "check s",
    "entries/s",
    "CPU s",
    "store CPU s",
    "peak RSS MiB",
    "grown MiB",
    "bytes/entry",
]
LIST_HEADER = ["layout", "tool", "keys", "s", "keys/s", "store CPU s"]


def benchmark(arguments: argparse.Namespace) -> None:
    started = time.perf_counter()
    differ: int = arguments.differ
    check_rows: list[list[str]] = []
    list_rows: list[list[str]] = []
    for layout in arguments.layouts:
        for count in arguments.counts:
            common.log(f"check of {count:,} entries, {layout}...")
            sample = run_in_store(count, layout, differ, "check", str(count), str(differ))
            check_rows.append(check_row(layout, count, sample))
            common.log(f"  {sample['seconds']:.1f} s, peak {sample['peak'] / MiB:.0f} MiB")
        keys = min(arguments.list_keys, max(arguments.counts))
        for tool in ("boto3", "clerk"):
            sample = run_in_store(keys, layout, 0, "list", tool, str(keys))
            list_rows.append(
                [
                    layout,
                    "boto3 chain" if tool == "boto3" else "clerk.list_objects",
                    f"{sample['keys']:,}",
                    f"{sample['seconds']:.1f}",
                    f"{sample['keys'] / sample['seconds']:,.0f}",
                    f"{sample['server_cpu']:.1f}",
                ]
            )
            common.log(f"listing {layout} {tool}: {sample['seconds']:.1f} s")
    separator = "\n\n"
    notes = [
        f"One run each, in a fresh process; b differs from a in every {differ:,}th entry. "
        "grown: the planning process's peak resident size above its size before the "
        "check (after imports and the clerk's construction); bytes/entry: grown over "
        "the entries. CPU s: the planning process's (all its threads); store CPU s: "
        "the simulated store's, which shares the machine's cores.",
        f"Listing: {PAGE:,}-key pages of bucket a, one request after another (the clerk "
        "lists a flat keyspace as one chain as well).",
        common.machine_line(STORE),
        f"Total run time: {time.perf_counter() - started:.0f} s.",
    ]
    tables = [
        common.aligned_table(CHECK_HEADER, check_rows, arguments.rst, text_columns=1),
        common.aligned_table(LIST_HEADER, list_rows, arguments.rst, text_columns=2),
    ]
    print(separator.join(tables) + separator + ("\n\n" if arguments.rst else "\n").join(notes))


def counts_of(text: str) -> tuple[int, ...]:
    return tuple(int(float(item)) for item in text.split(",") if item)


def parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--counts",
        type=counts_of,
        help="entries of each check, comma-separated (default 100000,1000000; 1e7 works)",
    )
    parser.add_argument(
        "--layouts", default=",".join(LAYOUTS), help="flat, grouped or both (default)"
    )
    parser.add_argument(
        "--differ", type=int, default=1000, help="every Nth entry of b differs (default 1000)"
    )
    parser.add_argument(
        "--list-keys",
        type=int,
        default=10**6,
        help="keys of each plain listing (default 10^6, at most the largest count)",
    )
    parser.add_argument("--quick", action="store_true", help="10^4 and 10^5 entries")
    parser.add_argument("--rst", action="store_true", help="print reStructuredText tables")
    parser.add_argument("--child", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    if arguments.child:
        return arguments
    arguments.counts = arguments.counts or (QUICK_COUNTS if arguments.quick else DEFAULT_COUNTS)
    arguments.layouts = [name for name in arguments.layouts.split(",") if name]
    if not arguments.counts or any(not 1 <= n <= 10**8 for n in arguments.counts):
        parser.error("counts must be 1..10^8")
    if not arguments.layouts or any(name not in LAYOUTS for name in arguments.layouts):
        parser.error(f"layouts: {', '.join(LAYOUTS)}")
    if arguments.differ < 0 or arguments.list_keys < 1:
        parser.error("--differ must be >= 0 and --list-keys >= 1")
    return arguments


def main(argv: Sequence[str]) -> int:
    """A child runs its one measured task; the parent starts the stores and
    the children and prints the tables."""
    arguments = parse_arguments(argv)
    return common.child_or_parent(arguments.child, child_task, lambda: benchmark(arguments))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
