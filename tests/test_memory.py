"""Memory stays bounded by parts, not by file size. Each operation runs in
a fresh process, whose peak RSS above its baseline is measured; the bounds
are about memory, never time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.support import Endpoint, MiB

# The whole file is slow: memory measured in child processes.
pytestmark = pytest.mark.slow

SIZE = 256 * MiB

CHILD = textwrap.dedent(
    """
    import json, os, sys
    from object_clerk import ObjectClerk

    def status(field):
        # VmHWM is the peak RSS of this process image; ru_maxrss is not, as it
        # keeps the parent's RSS at fork across exec
        with open("/proc/self/status") as lines:
            for line in lines:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024

    clerk = ObjectClerk(os.environ["HOST"], int(os.environ["PORT"]), os.environ["ACCESS_KEY"],
                        os.environ["SECRET_KEY"], 0, 1, 0, 0, 3)
    operation, bucket, path = sys.argv[1:4]
    kinds = ("bytes", "bytearray", "memoryview")
    # each made in one allocation: a passing copy would raise the peak
    if operation == "bytearray":
        data = bytearray(os.path.getsize(path))
        with open(path, "rb") as file:
            file.readinto(data)
    elif operation in kinds:
        with open(path, "rb") as file:
            data = file.read()
        data = memoryview(data) if operation == "memoryview" else data
    baseline = status("VmRSS")
    if operation in kinds:
        clerk.upload_object(data, bucket, operation)
    elif operation == "upload":
        clerk.upload_object(path, bucket, "big")
    elif operation == "get":
        data = clerk.get_object(bucket, "big")
        assert len(data) == os.path.getsize(path)
    else:
        clerk.download_object(bucket, "big", path + ".downloaded")
    peak = status("VmHWM")
    print(json.dumps({"above_baseline": peak - baseline}))
    """
)


def peak_above_baseline(
    endpoint: Endpoint, operation: str, bucket: str, path: Path, threshold: int = 8 * MiB
) -> int:
    env = {
        **os.environ,
        "HOST": endpoint.host,
        "PORT": str(endpoint.port),
        "ACCESS_KEY": endpoint.access_key,
        "SECRET_KEY": endpoint.secret_key,
        "MULTIPART_THRESHOLD": str(threshold),
    }
    result = subprocess.run(
        [sys.executable, "-c", CHILD, operation, bucket, str(path)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return int(json.loads(result.stdout.strip().splitlines()[-1])["above_baseline"])


@pytest.fixture
def big_file(tmp_path: Path) -> Path:
    path = tmp_path / "big.fits"
    with path.open("wb") as file:
        for _ in range(SIZE // MiB):
            file.write(os.urandom(MiB))
    return path


def test_memory_is_bounded_by_parts_not_by_file_size(
    endpoint: Endpoint, s3: Any, bucket: str, big_file: Path
) -> None:
    if endpoint.use_ssl:
        pytest.skip("measured over plain http")
    uploading = peak_above_baseline(endpoint, "upload", bucket, big_file)
    assert uploading < 128 * MiB, f"upload of 256 MiB from a path: {uploading / MiB:.0f} MiB"
    assert s3.head_object(Bucket=bucket, Key="big")["ContentLength"] == SIZE

    downloading = peak_above_baseline(endpoint, "download", bucket, big_file)
    assert downloading < 128 * MiB, f"download of 256 MiB to a file: {downloading / MiB:.0f} MiB"
    assert Path(f"{big_file}.downloaded").stat().st_size == SIZE

    getting = peak_above_baseline(endpoint, "get", bucket, big_file)
    assert getting < 1.25 * SIZE, f"get of 256 MiB: {getting / MiB:.0f} MiB"


@pytest.mark.parametrize("kind", ["bytes", "bytearray", "memoryview"])
def test_data_in_memory_is_not_copied_whole(
    endpoint: Endpoint, s3: Any, bucket: str, tmp_path: Path, kind: str
) -> None:
    if endpoint.use_ssl:
        pytest.skip("measured over plain http")
    path = tmp_path / "data"
    path.write_bytes(os.urandom(64 * MiB))
    # one PutObject: its body is read from the caller's memory in slices
    above = peak_above_baseline(endpoint, kind, bucket, path, threshold=500 * MiB)
    assert above < 32 * MiB, f"upload of 64 MiB of {kind}: {above / MiB:.0f} MiB more"
    assert s3.head_object(Bucket=bucket, Key=kind)["ContentLength"] == 64 * MiB
