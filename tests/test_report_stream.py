"""Reports that stream: every entry of a sync or a check goes to the report
file (JSON Lines) as it is done, then a line of totals, while the report in
memory keeps the totals and, past ENTRIES_KEPT entries, only the entries
that are not ok. A run that stops half-way leaves whole lines on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from object_clerk import ObjectClerk, ObjectSaveException, _sync_report
from object_clerk._sync_report import Action, Evidence, ReportEntry, Tally
from object_clerk._sync_run import REPORT_LINES
from tests.support import Endpoint, child_environment, make_tree, stored_keys

FILES = {f"frames/{n:02d}.fits": f"frame {n:02d}".encode() for n in range(10)}


def read_report_file(path: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The entry lines of a report file, and its other lines (the totals)."""
    documents = [json.loads(line) for line in path.read_text("utf-8").splitlines()]
    entries = [document for document in documents if "key" in document]
    return entries, [document for document in documents if "key" not in document]


def by_key(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(documents, key=lambda document: document["key"].encode())


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    return make_tree(tmp_path / "dataset", FILES)


@pytest.fixture
def small_cap(monkeypatch: pytest.MonkeyPatch) -> int:
    """Reports keep 4 entries: what 10,000 are at archive scale."""
    monkeypatch.setattr(_sync_report, "ENTRIES_KEPT", 4)
    return 4


def test_the_report_file_holds_every_entry_then_the_totals(
    clerk: ObjectClerk, bucket: str, tree: Path, tmp_path: Path
) -> None:
    path = tmp_path / "sync.jsonl"
    report = clerk.sync(tree, f"s3://{bucket}/set", report_path=path)
    assert report.ok and len(report.entries) == len(FILES)
    entries, [last] = read_report_file(path)
    document = report.to_dict()
    assert by_key(entries) == document["entries"]  # the fields of --json, entry by entry
    assert last == {name: value for name, value in document.items() if name != "entries"}
    assert last["totals"]["uploaded"] == len(FILES) and last["ok"] is True

    (tree / "frames" / "03.fits").write_bytes(b"FRAME 03")  # the same size
    checked = tmp_path / "check.jsonl"
    check = clerk.check(tree, f"s3://{bucket}/set", report_path=str(checked))
    entries, [last] = read_report_file(checked)
    assert by_key(entries) == check.to_dict()["entries"]
    assert last["ok"] is False and last["totals"]["differ"] == 1
    assert last["totals"]["same"] == len(FILES) - 1


def test_past_the_cap_a_sync_report_keeps_the_failures_and_counts_the_rest(
    clerk: ObjectClerk, s3: Any, bucket: str, tree: Path, tmp_path: Path, small_cap: int
) -> None:
    (tree / "gone-1").symlink_to(tree / "nowhere")
    (tree / "gone-2").symlink_to(tree / "nowhere")
    seen: list[ReportEntry] = []
    path = tmp_path / "sync.jsonl"
    report = clerk.sync(tree, f"s3://{bucket}/set", on_entry=seen.append, report_path=path)
    assert [(entry.key, entry.action) for entry in report.entries] == [
        ("gone-1", "failed"),
        ("gone-2", "failed"),
    ]
    assert report.entries_left_out == len(FILES)
    assert not report.ok
    assert report.totals["uploaded"] == len(FILES) and report.totals["failed"] == 2
    assert report.totals["entries"] == len(FILES) + 2
    assert report.totals["bytes"] == sum(map(len, FILES.values()))
    document = report.to_dict()
    assert document["entries_left_out"] == len(FILES) and len(document["entries"]) == 2
    # every entry still reaches on_entry and the file
    assert len(seen) == len(FILES) + 2
    entries, [last] = read_report_file(path)
    assert sorted(entry["key"] for entry in entries) == sorted([*FILES, "gone-1", "gone-2"])
    assert last["totals"] == report.totals and last["entries_left_out"] == len(FILES)
    assert len(stored_keys(s3, bucket)) == len(FILES)

    (tree / "gone-1").unlink()
    (tree / "gone-2").unlink()
    again = clerk.sync(tree, f"s3://{bucket}/set")
    assert again.ok and again.entries == [] and again.entries_left_out == len(FILES)
    assert again.totals["skipped"] == len(FILES)


def test_past_the_cap_a_check_report_keeps_what_is_not_the_same(
    clerk: ObjectClerk, bucket: str, tree: Path, small_cap: int
) -> None:
    assert clerk.sync(tree, f"s3://{bucket}/set").ok
    (tree / "frames" / "03.fits").write_bytes(b"FRAME 03")  # the same size
    (tree / "frames" / "07.fits").unlink()
    report = clerk.check(tree, f"s3://{bucket}/set")
    assert [(entry.key, entry.action) for entry in report.entries] == [
        ("frames/03.fits", "differ"),
        ("frames/07.fits", "extra"),
    ]
    assert report.entries_left_out == len(FILES) - 2
    assert not report.ok
    assert report.totals == {
        "same": len(FILES) - 2,
        "differ": 1,
        "missing": 0,
        "extra": 1,
        "unverifiable": 0,
        "entries": len(FILES),
    }
    (tree / "frames" / "03.fits").write_bytes(b"frame 03")
    (tree / "frames" / "07.fits").write_bytes(b"frame 07")
    same = clerk.check(tree, f"s3://{bucket}/set")
    assert same.ok and same.entries == [] and same.entries_left_out == len(FILES)


def test_a_report_keeps_at_most_its_cap_of_the_entries_not_ok(
    clerk: ObjectClerk, bucket: str, tmp_path: Path, small_cap: int
) -> None:
    make_tree(tmp_path / "many", {f"{n:03d}": b"x" for n in range(30)})
    report = clerk.check(tmp_path / "many", f"s3://{bucket}/none")
    assert len(report.entries) == small_cap and report.entries_left_out == 30 - small_cap
    assert {entry.action for entry in report.entries} == {"missing"}
    assert report.totals["missing"] == 30 and not report.ok


def test_a_tally_holds_no_more_than_its_cap_whatever_the_count() -> None:
    tally = Tally(cap=100)
    for n in range(100_000):
        action = Action.FAILED if n % 7 == 0 else Action.UPLOADED
        tally.add(ReportEntry(f"{n:06d}", action, Evidence.ABSENT, 3))
        assert len(tally.kept) <= 100
    assert [entry.key for entry in tally.kept] == [f"{n:06d}" for n in range(0, 700, 7)]
    assert tally.left_out == 100_000 - 100
    totals = tally.totals()
    assert totals["failed"] == 14286 and totals["uploaded"] == 100_000 - 14286
    assert totals["entries"] == 100_000 and totals["bytes"] == 3 * (100_000 - 14286)


def test_a_report_file_that_cannot_be_written_is_refused_before_anything_runs(
    clerk: ObjectClerk, s3: Any, bucket: str, tree: Path, tmp_path: Path
) -> None:
    with pytest.raises(ObjectSaveException, match="report file") as raised:
        clerk.sync(tree, f"s3://{bucket}/set", report_path=tmp_path / "no-such-dir" / "r")
    assert "no-such-dir" in str(raised.value)
    assert stored_keys(s3, bucket) == []


CRASHING = textwrap.dedent(
    """
    import os, signal, sys
    from object_clerk import ObjectClerk

    clerk = ObjectClerk(os.environ["HOST"], int(os.environ["PORT"]), os.environ["ACCESS_KEY"],
                        os.environ["SECRET_KEY"], 0, 1, 0, 0, 3,
                        use_ssl=os.environ["USE_SSL"] == "1",
                        verify=os.environ.get("CA_BUNDLE") or None)
    tree, destination, report, after = sys.argv[1:5]
    seen = []

    def crash(entry):
        seen.append(entry)
        if len(seen) == int(after):
            os.kill(os.getpid(), signal.SIGKILL)  # no cleanup of any kind

    clerk.check(tree, destination, on_entry=crash, report_path=report)
    """
)


def test_a_run_killed_half_way_leaves_whole_lines_of_the_entries_done(
    endpoint: Endpoint, bucket: str, tmp_path: Path
) -> None:
    count, after = 3 * REPORT_LINES, 2 * REPORT_LINES + 10
    tree = make_tree(tmp_path / "many", {f"{n:04d}": b"x" for n in range(count)})
    path = tmp_path / "check.jsonl"
    done = subprocess.run(
        [sys.executable, "-c", CRASHING, str(tree), f"s3://{bucket}/none", str(path), str(after)],
        capture_output=True,
        text=True,
        timeout=120,
        env=child_environment(endpoint),
    )
    assert done.returncode == -9, done.stderr[-2000:]
    raw = path.read_bytes()
    assert raw.endswith(b"\n")  # whole lines only
    entries, others = read_report_file(path)
    assert others == []  # no totals: the file says the run did not end
    assert 2 * REPORT_LINES <= len(entries) < after
    assert [entry["key"] for entry in entries] == [f"{n:04d}" for n in range(len(entries))]
    assert {entry["action"] for entry in entries} == {"missing"}


def test_the_command_line_writes_the_report_file(
    endpoint: Endpoint, bucket: str, tree: Path, tmp_path: Path
) -> None:
    environment = {
        **{name: value for name, value in os.environ.items() if not name.startswith("AWS_")},
        "AWS_ENDPOINT_URL": endpoint.url,
        "AWS_ACCESS_KEY_ID": endpoint.access_key,
        "AWS_SECRET_ACCESS_KEY": endpoint.secret_key,
    }
    if os.environ.get("CA_BUNDLE"):
        environment["AWS_CA_BUNDLE"] = os.environ["CA_BUNDLE"]
    base = [sys.executable, "-m", "object_clerk", "--retry-tries", "2", "--retry-delay", "0"]
    for command in ("sync", "check"):
        path = tmp_path / f"{command}.jsonl"
        done = subprocess.run(
            [*base, command, str(tree), f"s3://{bucket}/set", "--report", str(path)],
            capture_output=True,
            text=True,
            timeout=120,
            env=environment,
        )
        assert done.returncode == 0, done.stderr
        entries, [last] = read_report_file(path)
        assert sorted(entry["key"] for entry in entries) == sorted(FILES)
        assert last["operation"] == command and last["ok"] is True
        assert last["totals"]["entries"] == len(FILES)
