"""README.rst: every Python example runs as written, and the quick start's
demo runs end to end."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from object_clerk import ObjectClerk
from tests.support import empty_and_delete

README = Path(__file__).resolve().parent.parent / "README.rst"


def python_examples() -> list[str]:
    blocks = re.findall(r"\.\. code:: python\n\n((?:(?: {4}.*)?\n)+)", README.read_text())
    return [textwrap.dedent(block) for block in blocks]


def test_the_readme_has_its_examples() -> None:
    examples = python_examples()
    assert len(examples) == 12
    assert "ObjectClerk(" in examples[0]


@pytest.mark.usefixtures("moto_only")  # makes buckets with the README's fixed names
def test_every_python_example_runs_as_written(
    clerk: ObjectClerk, s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = ("bucket", "source-bucket", "destination-bucket", "bucket-name")
    for name in names:
        s3.create_bucket(Bucket=name)
    try:
        run_examples(clerk, s3, tmp_path, monkeypatch)
    finally:
        for name in names:
            empty_and_delete(s3, name)


def run_examples(
    clerk: ObjectClerk, s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3.put_object(Bucket="source-bucket", Key="source_object_key", Body=b"source bytes")
    s3.put_object(Bucket="bucket-name", Key="listed", Body=b"listed")
    monkeypatch.chdir(tmp_path)
    Path("file").write_bytes(b"the file's bytes")
    Path("dataset", "frames").mkdir(parents=True)
    Path("dataset", "frames", "frame-0001.fits").write_bytes(b"a frame of the dataset")

    initialize, *examples = python_examples()
    namespace: dict[str, Any] = {}
    exec(initialize, namespace)
    assert isinstance(namespace["clerk"], ObjectClerk)
    namespace["clerk"] = clerk  # the same calls, on the test server
    for example in examples:
        exec(example, namespace)

    assert namespace["bytes_response"] == b"the file's bytes"
    assert Path("downloaded_file").read_bytes() == b"the file's bytes"
    assert sum(namespace["transferred"]) == len(b"the file's bytes")
    assert namespace["dict_response"]["content-length"] == str(len(b"the file's bytes"))
    assert s3.get_object(Bucket="source-bucket", Key="source_object_key")["Body"].read() == (
        b"source bytes"
    )
    assert "Contents" not in s3.list_objects_v2(Bucket="bucket")
    assert namespace["report"].ok and namespace["report"].totals["uploaded"] == 1
    assert namespace["plan"].totals["skipped"] == 1
    assert namespace["check"].ok
    assert Path("restored", "frames", "frame-0001.fits").read_bytes() == b"a frame of the dataset"


@pytest.mark.slow
@pytest.mark.store  # the demo starts an S3 server of its own
def test_the_quick_start_demo_runs_end_to_end() -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("HOST", "PORT", "MULTIPART_THRESHOLD")}
    result = subprocess.run(
        [sys.executable, "-m", "object_clerk.demo"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "uploaded frame-0001.fits (67109185 bytes) in parts, verified" in result.stdout
    assert "identical to the file: True" in result.stdout
    assert "deleted everything: 0 objects left" in result.stdout
    assert "4 skipped, 4 entries; ok: True" in result.stdout  # the dataset synced again
    assert "3 same, 1 differ, 4 entries; ok: False" in result.stdout
