"""The quick-start demo: object-clerk's main job, end to end, on an
embedded S3 server (moto) on 127.0.0.1. No configuration needed.

    python -m object_clerk.demo

Needs the ``server`` extra: ``pip install 'object-clerk[server]'``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

MiB = 1024 * 1024


def main() -> int:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        print("the demo needs the embedded S3 server: pip install 'object-clerk[server]'")
        return 2

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the server's request log
    # 8 MiB parts, as aws-cli's: the 64 MiB file goes up in 9 parts.
    os.environ.setdefault("MULTIPART_THRESHOLD", str(8 * MiB))
    from object_clerk import ObjectClerk

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        print(f"embedded S3 server on http://{host}:{port}")
        clerk = ObjectClerk(
            host=host,
            port=port,
            access_key="demo-access-key",
            secret_key="demo-secret-key",
            retry_delay=0.1,
            retry_backoff=2,
            retry_jitter=(0, 0.1),
            retry_max_delay=1,
            retry_tries=5,
        )
        print(f"clerk: {clerk!r}")
        _make_buckets(clerk, "raw-frames", "archive")
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "frame-0001.fits"
            path.write_bytes(os.urandom(64 * MiB + 321))
            _run(clerk, path)
            _sync_tree(clerk, Path(scratch) / "dataset")
    finally:
        server.stop()
    print("done: every transfer was checked against what the store holds")
    return 0


def _make_buckets(clerk: object, *names: str) -> None:
    """The clerk works in existing buckets; a plain boto3 client makes them."""
    import boto3

    s3 = boto3.client(
        "s3",
        endpoint_url=clerk.endpoint_url,  # type: ignore[attr-defined]
        aws_access_key_id="demo-access-key",
        aws_secret_access_key="demo-secret-key",
        region_name="us-east-1",
    )
    for name in names:
        s3.create_bucket(Bucket=name)
        print(f"created bucket {name}")


def _progress_bar(description: str, total: int) -> Any:
    """A tqdm bar where tqdm is installed (the server extra), else nothing."""
    try:
        from tqdm import tqdm
    except ImportError:
        return contextlib.nullcontext(None)
    return tqdm(total=total, desc=description, unit="B", unit_scale=True, leave=True)


def _run(clerk: Any, path: Path) -> None:
    size = path.stat().st_size
    with _progress_bar("upload", size) as bar:
        clerk.upload_object(
            path, "raw-frames", "2026/frame-0001.fits", callback=bar.update if bar else None
        )
    etag = clerk.get_object_info("raw-frames", "2026/frame-0001.fits")["etag"]
    print(f"uploaded {path.name} ({size} bytes) in parts, verified: ETag {etag}")

    data = clerk.get_object("raw-frames", "2026/frame-0001.fits")
    same = hashlib.md5(data).digest() == hashlib.md5(path.read_bytes()).digest()
    print(f"got it back: {len(data)} bytes, verified, identical to the file: {same}")

    copy_path = path.with_name("downloaded.fits")
    with _progress_bar("download", size) as bar:
        clerk.download_object(
            "raw-frames", "2026/frame-0001.fits", copy_path, callback=bar.update if bar else None
        )
    same_file = copy_path.read_bytes() == path.read_bytes()
    print(f"downloaded it to {copy_path.name}, verified, identical to the file: {same_file}")

    clerk.copy_object("raw-frames", "2026/frame-0001.fits", "archive", "frame-0001.fits")
    print("copied raw-frames/2026/frame-0001.fits to archive/frame-0001.fits, verified")

    clerk.upload_object(b"observing log\n", "raw-frames", "2026/log.txt")
    clerk.move_object("raw-frames", "2026/log.txt", "archive", "log.txt")
    print("moved raw-frames/2026/log.txt to archive/log.txt, verified, source deleted")

    for entry in clerk.list_objects("archive", max_keys=1):
        print(f"listed archive/{entry['Key']}: {entry['Size']} bytes")

    for key in ("frame-0001.fits", "log.txt"):
        clerk.delete_object("archive", key)
    clerk.delete_object("raw-frames", "2026/frame-0001.fits")
    left = list(clerk.list_objects("archive")) + list(clerk.list_objects("raw-frames"))
    print(f"deleted everything: {len(left)} objects left")
    if not (same and same_file) or left:
        raise SystemExit("the demo did not end as it should")


def _sync_tree(clerk: Any, root: Path) -> None:
    """A dataset: a small tree synced to a prefix, synced again (nothing to
    do, on evidence), checked, and changed in one file of the same size."""
    files = {
        "frames/2026/frame 0001.fits": os.urandom(9 * MiB),  # in parts
        "frames/2026/frame-0002.fits": b"frame two" * 1000,
        "calibration/ü-dark.fits": b"dark" * 500,
        "README": b"observing run 2026\n",
    }
    for key, data in files.items():
        path = root.joinpath(*key.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    _make_buckets(clerk, "datasets")
    target = "s3://datasets/run-2026"
    report = clerk.sync(root, target)
    _print_report("sync", report)
    again = clerk.sync(root, target)
    _print_report("sync again", again)
    (root / "README").write_bytes(b"observing run 2027\n")  # the same size
    check = clerk.check(root, target)
    _print_report("check after changing README", check)
    if not (report.ok and again.totals["skipped"] == len(files)) or check.ok:
        raise SystemExit("the dataset demo did not end as it should")


def _print_report(title: str, report: Any) -> None:
    print(f"{title}: {report.source} -> {report.destination}")
    for entry in report.entries:
        print(f"  {entry.action:<10} {entry.key} ({entry.evidence})")
    counts = ", ".join(f"{n} {name}" for name, n in report.totals.items() if n and name != "bytes")
    print(f"  {counts}; ok: {report.ok}")


if __name__ == "__main__":
    sys.exit(main())
