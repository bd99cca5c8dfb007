"""The command line as a user runs it: ``python -m object_clerk`` in a
subprocess, pointed at the test endpoint by the environment. Exit status,
JSON output, one-line errors, and the secret never printed."""

from __future__ import annotations

import errno
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from object_clerk import cli
from tests.support import TEST_THRESHOLD, Endpoint, stored_bytes, stored_keys

COMMANDS = (
    "ls",
    "du",
    "info",
    "cat",
    "presign",
    "put",
    "get",
    "cp",
    "mv",
    "rm",
    "sync",
    "check",
    "uploads",
    "abort-uploads",
)
COMMAND_LINE = (sys.executable, "-m", "object_clerk", "--retry-tries", "2", "--retry-delay", "0")
Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def environment(endpoint: Endpoint) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("AWS_") and name not in ("HOST", "PORT", "ACCESS_KEY", "SECRET_KEY")
    }
    env.update(
        AWS_ENDPOINT_URL=endpoint.url,
        AWS_ACCESS_KEY_ID=endpoint.access_key,
        AWS_SECRET_ACCESS_KEY=endpoint.secret_key,
        MULTIPART_THRESHOLD=str(TEST_THRESHOLD),
    )
    if os.environ.get("CA_BUNDLE"):
        env["AWS_CA_BUNDLE"] = os.environ["CA_BUNDLE"]
    return env


@pytest.fixture
def run(endpoint: Endpoint, environment: dict[str, str], tmp_path: Path) -> Run:
    """Run the command line; every run is checked for the secret and for a
    traceback in what it printed."""

    def run(*args: str, env: dict[str, str | None] | None = None) -> Any:
        full_env = dict(environment)
        for name, value in (env or {}).items():
            if value is None:
                full_env.pop(name, None)
            else:
                full_env[name] = value
        done = subprocess.run(
            [*COMMAND_LINE, *args],
            capture_output=True,
            text=True,
            env=full_env,
            cwd=tmp_path,
            timeout=120,
        )
        printed = done.stdout + done.stderr
        assert endpoint.secret_key not in printed
        assert full_env.get("AWS_SECRET_ACCESS_KEY", "\0") not in printed
        assert "Traceback" not in done.stderr
        return done

    return run


def one_line_error(done: subprocess.CompletedProcess[str], *fragments: str) -> None:
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("object-clerk: error: "), done.stderr
    for fragment in fragments:
        assert fragment in lines[-1]


# -- help and usage --------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    """In this process (the same parser; a process per command is slow)."""
    with pytest.raises(SystemExit) as exited:
        cli.main([command, "--help"], environ={})
    assert exited.value.code == 0
    shown = capsys.readouterr().out
    assert shown.startswith(f"usage: object-clerk {command}")
    assert "--endpoint-url" in shown and "--json" in shown


# Not slow although a subprocess (0.6 s): the fast tier's one run of
# `python -m object_clerk`, the module the console script runs.
def test_help_needs_no_endpoint_and_lists_the_commands(run: Run) -> None:
    done = run("--help", env={"AWS_ENDPOINT_URL": None, "AWS_SECRET_ACCESS_KEY": None})
    assert done.returncode == 0
    for command in COMMANDS:
        assert command in done.stdout
    sync_help = run("sync", "--help", env={"AWS_ENDPOINT_URL": None})
    assert sync_help.returncode == 0
    assert "--delete" in sync_help.stdout and "--dry-run" in sync_help.stdout


@pytest.mark.slow
def test_a_usage_error_exits_2(run: Run) -> None:
    assert run("frobnicate").returncode == 2
    assert run("sync", "only-one").returncode == 2
    assert run("sync", "a", "s3://b", "--workers", "0").returncode == 2


# -- configuration errors ----------------------------------------------------------


@pytest.mark.slow
def test_no_endpoint_is_a_configuration_error(run: Run, bucket: str) -> None:
    done = run("ls", f"s3://{bucket}", env={"AWS_ENDPOINT_URL": None})
    assert done.returncode == 2
    one_line_error(done, "AWS_ENDPOINT_URL")


@pytest.mark.slow
def test_missing_credentials_are_named(run: Run, bucket: str) -> None:
    done = run("ls", f"s3://{bucket}", env={"AWS_SECRET_ACCESS_KEY": None})
    assert done.returncode == 2
    one_line_error(done, "AWS_SECRET_ACCESS_KEY")


@pytest.mark.slow
def test_a_bad_environment_variable_is_named(run: Run, bucket: str) -> None:
    done = run("ls", f"s3://{bucket}", env={"MULTIPART_THRESHOLD": "lots"})
    assert done.returncode == 2
    one_line_error(done, "MULTIPART_THRESHOLD")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("ls", "s3://"), "names no bucket"),
        (("info", "s3://bucket-only"), "names no object key"),
        (("sync", "s3://", "dir"), "names no bucket"),
        (("sync", "here", "there"), "both local"),
        (("check", "missing-dir", "s3://b"), "not a directory"),
    ],
)
def test_bad_locations_exit_2_with_one_line(run: Run, args: tuple[str, ...], fragment: str) -> None:
    done = run(*args)
    assert done.returncode == 2
    one_line_error(done, fragment)


@pytest.mark.slow
def test_a_missing_object_exits_1(run: Run, bucket: str, tmp_path: Path) -> None:
    """The operation failed: the command line itself was right."""
    done = run("get", f"s3://{bucket}/no-such-key", str(tmp_path / "out"))
    assert done.returncode == 1
    one_line_error(done, f"no such object s3://{bucket}/no-such-key")
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_json_errors_are_a_document_too(run: Run, bucket: str) -> None:
    done = run("--json", "info", f"s3://{bucket}/no-such-key")
    assert done.returncode == 1
    document = json.loads(done.stdout)
    assert document["ok"] is False
    assert document["error"]["type"] == "ObjectNotFoundException"
    assert document["error"]["code"] == "404"  # the store's, kept for programs


@pytest.mark.slow
def test_an_unreachable_endpoint_fails_with_one_line(run: Run) -> None:
    done = run(
        "--endpoint-url", "http://127.0.0.1:9", "--retry-tries", "1", "ls", "s3://some-bucket"
    )
    assert done.returncode == 1
    one_line_error(done, "127.0.0.1:9")


@pytest.mark.slow
def test_a_wrong_secret_is_refused_and_never_printed(
    run: Run, endpoint: Endpoint, bucket: str
) -> None:
    if not endpoint.live:
        pytest.skip("the embedded moto server accepts any secret")
    wrong = "wrong-secret-never-printed-0123456789"
    done = run("ls", f"s3://{bucket}", "--recursive", env={"AWS_SECRET_ACCESS_KEY": wrong})
    assert done.returncode == 1
    one_line_error(done, "refused the secret key")
    assert wrong not in done.stdout + done.stderr


# -- object commands -------------------------------------------------------------


@pytest.mark.slow
def test_put_info_ls_get_cp_mv_rm(
    run: Run, s3: Any, make_bucket: Callable[[], str], tmp_path: Path
) -> None:
    bucket, other = make_bucket(), make_bucket()
    data = os.urandom(2 * TEST_THRESHOLD + 77)  # in parts
    (tmp_path / "frame.fits").write_bytes(data)

    put = run("put", str(tmp_path / "frame.fits"), f"s3://{bucket}/in/")
    assert put.returncode == 0, put.stderr
    assert "uploaded" in put.stdout and "verified" in put.stdout
    assert stored_bytes(s3, bucket, "in/frame.fits") == data

    info = run("--json", "info", f"s3://{bucket}/in/frame.fits")
    assert info.returncode == 0
    assert json.loads(info.stdout)["size"] == len(data)

    listed = run("ls", f"s3://{bucket}", "--json", "--recursive")
    assert [entry["key"] for entry in json.loads(listed.stdout)["objects"]] == ["in/frame.fits"]
    assert run("ls", f"s3://{bucket}/in").stdout.split() == ["PRE", "in/"]  # as aws-cli
    assert run("ls", f"s3://{bucket}/in/").stdout.endswith(" frame.fits\n")

    got = run("get", f"s3://{bucket}/in/frame.fits", str(tmp_path / "back.fits"))
    assert got.returncode == 0, got.stderr
    assert (tmp_path / "back.fits").read_bytes() == data

    copied = run("--quiet", "cp", f"s3://{bucket}/in/frame.fits", f"s3://{other}/copy.fits")
    assert (copied.returncode, copied.stdout) == (0, "")
    assert stored_bytes(s3, other, "copy.fits") == data

    moved = run("mv", f"s3://{other}/copy.fits", f"s3://{other}/moved.fits")
    assert moved.returncode == 0, moved.stderr
    assert stored_keys(s3, other) == ["moved.fits"]

    removed = run("--json", "rm", f"s3://{other}/moved.fits")
    assert json.loads(removed.stdout) == {
        "ok": True,
        "operation": "deleted",
        "source": f"s3://{other}/moved.fits",
    }
    assert stored_keys(s3, other) == []


@pytest.mark.slow
def test_get_and_cp_into_a_directory_take_the_key_name(
    run: Run, s3: Any, bucket: str, tmp_path: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="deep/frame.fits", Body=b"frame")
    (tmp_path / "existing").mkdir()
    assert run("get", f"s3://{bucket}/deep/frame.fits", str(tmp_path / "existing")).returncode == 0
    assert (tmp_path / "existing" / "frame.fits").read_bytes() == b"frame"
    assert run("cp", f"s3://{bucket}/deep/frame.fits", str(tmp_path / "new") + "/").returncode == 0
    assert (tmp_path / "new" / "frame.fits").read_bytes() == b"frame"
    assert run("cp", str(tmp_path / "new" / "frame.fits"), f"s3://{bucket}/up/").returncode == 0
    assert stored_bytes(s3, bucket, "up/frame.fits") == b"frame"
    assert run("cp", "a", "b").returncode == 2


@pytest.mark.slow
def test_an_empty_file_is_refused_with_exit_2(
    run: Run, s3: Any, bucket: str, tmp_path: Path
) -> None:
    (tmp_path / "empty").write_bytes(b"")
    done = run("put", str(tmp_path / "empty"), f"s3://{bucket}/k")
    assert done.returncode == 2
    one_line_error(done, "empty")
    assert stored_keys(s3, bucket) == []


# -- sync and check --------------------------------------------------------------


@pytest.mark.slow
def test_sync_then_check_with_exit_status_and_json(
    run: Run, s3: Any, bucket: str, tmp_path: Path
) -> None:
    root = tmp_path / "dataset"
    (root / "a" / "b").mkdir(parents=True)
    (root / "a" / "b" / "x y ü.txt").write_bytes(b"nested")
    (root / "top").write_bytes(b"top")

    done = run("sync", str(root), f"s3://{bucket}/set", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is True and report["totals"]["uploaded"] == 2
    assert sorted(stored_keys(s3, bucket)) == ["set/a/b/x y ü.txt", "set/top"]

    checked = run("check", str(root), f"s3://{bucket}/set")
    assert checked.returncode == 0
    assert "are the same" in checked.stdout

    (root / "top").write_bytes(b"TOP")  # same size, other bytes
    differ = run("check", str(root), f"s3://{bucket}/set", "--json")
    assert differ.returncode == 1
    entries = {entry["key"]: entry for entry in json.loads(differ.stdout)["entries"]}
    assert (entries["top"]["action"], entries["top"]["evidence"]) == ("differ", "md5")

    dry = run("sync", str(root), f"s3://{bucket}/set", "--dry-run")
    assert dry.returncode == 0
    assert "would upload" in dry.stdout and "top" in dry.stdout
    assert stored_bytes(s3, bucket, "set/top") == b"top"

    again = run("sync", str(root), f"s3://{bucket}/set", "--workers", "2")
    assert again.returncode == 0
    assert stored_bytes(s3, bucket, "set/top") == b"TOP"

    down = run("--quiet", "sync", f"s3://{bucket}/set", str(tmp_path / "down"))
    assert (down.returncode, down.stdout) == (0, "")
    assert (tmp_path / "down" / "a" / "b" / "x y ü.txt").read_bytes() == b"nested"


@pytest.mark.slow
def test_a_sync_with_a_failure_exits_1_and_names_it(
    run: Run, s3: Any, bucket: str, tmp_path: Path
) -> None:
    root = tmp_path / "dataset"
    root.mkdir()
    (root / "good").write_bytes(b"good")
    (root / "empty").write_bytes(b"")
    s3.put_object(Bucket=bucket, Key="stale", Body=b"stale")

    done = run("sync", str(root), f"s3://{bucket}", "--delete")
    assert done.returncode == 1
    assert "failed" in done.stderr and "empty" in done.stderr
    assert "not deleted" in done.stderr
    assert sorted(stored_keys(s3, bucket)) == ["good", "stale"]

    quiet_json = run("sync", str(root), f"s3://{bucket}", "--json", "--quiet")
    assert quiet_json.returncode == 1
    report = json.loads(quiet_json.stdout)
    assert [entry["key"] for entry in report["entries"] if entry["action"] == "failed"] == ["empty"]


# -- in-process: endpoint parsing and the progress bar ------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8080", ("127.0.0.1", 8080, False)),
        ("https://s3.example.org", ("s3.example.org", 443, True)),
        ("http://gateway/", ("gateway", 80, False)),
        ("https://[::1]:8443", ("[::1]", 8443, True)),
    ],
)
def test_endpoint_urls_give_host_port_and_tls(url: str, expected: tuple[str, int, bool]) -> None:
    assert cli.parse_endpoint(url) == expected


@pytest.mark.parametrize(
    "url", ["127.0.0.1:8080", "ftp://host", "http://", "http://host/path", "http://h:port"]
)
def test_bad_endpoint_urls_are_usage_errors(url: str) -> None:
    with pytest.raises(cli.UsageError, match="endpoint URL"):
        cli.parse_endpoint(url)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_progress_bar_of_files_and_bytes(
    environment: dict[str, str],
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pytest.importorskip("tqdm")
    root = tmp_path / "dataset"
    root.mkdir()
    for n in range(3):
        (root / f"f{n}").write_bytes(b"x" * 1000)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    status = cli.main(["--retry-tries", "2", "sync", str(root), f"s3://{bucket}"])
    assert status == 0
    shown = terminal.getvalue()
    assert "3 files" in shown
    assert "2.93k" in shown  # tqdm's bytes done, in KiB
    assert "3 uploaded" in capsys.readouterr().out


# -- unfinished uploads ------------------------------------------------------------


@pytest.mark.slow
def test_unfinished_uploads_are_listed_and_aborted(run: Run, s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="runs/k")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="runs/k", UploadId=upload_id, PartNumber=1, Body=b"x" * 10)
    listed = run("--json", "uploads", f"s3://{bucket}/runs/")
    assert listed.returncode == 0, listed.stderr
    (found,) = json.loads(listed.stdout)["uploads"]
    assert (found["key"], found["upload_id"], found["parts"], found["bytes"]) == (
        "runs/k",
        upload_id,
        1,
        10,
    )
    aborted = run("--json", "abort-uploads", f"s3://{bucket}", "--older-than", "0")
    assert aborted.returncode == 0, aborted.stderr
    assert [u["upload_id"] for u in json.loads(aborted.stdout)["aborted"]] == [upload_id]
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert run("abort-uploads", f"s3://{bucket}", "--older-than", "-1").returncode == 2


@pytest.mark.slow
def test_put_resume_continues_an_unfinished_upload(
    run: Run, s3: Any, bucket: str, tmp_path: Path
) -> None:
    data = os.urandom(2 * TEST_THRESHOLD + 10)
    (tmp_path / "frame.fits").write_bytes(data)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="frame.fits")["UploadId"]
    first = data[:TEST_THRESHOLD]
    s3.upload_part(Bucket=bucket, Key="frame.fits", UploadId=upload_id, PartNumber=1, Body=first)
    env = {"MULTIPART_THRESHOLD": str(TEST_THRESHOLD)}
    done = run("put", "frame.fits", f"s3://{bucket}/", "--resume", env=env)
    assert done.returncode == 0, done.stderr
    assert s3.get_object(Bucket=bucket, Key="frame.fits")["Body"].read() == data
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


# -- hostile names, full disks ---------------------------------------------------

TERMINAL_CONTROLS = ("\x1b", "\x07", "\r", "\x9b")


@pytest.mark.slow
def test_sync_and_check_lines_escape_control_characters_in_keys(
    run: Run, bucket: str, tmp_path: Path
) -> None:
    """Files named to clear the screen or to forge a line print escaped,
    one entry a line; --json keeps the names exact. (Dry runs and checks
    only list the destination: stores differ in the keys they take.)"""
    root = tmp_path / "dataset"
    root.mkdir()
    names = ["clear\x1b[2J.txt", "two\nlines.txt", "bell\x07\rback\\slash.txt"]
    for name in names:
        (root / name).write_bytes(b"data")

    done = run("sync", str(root), f"s3://{bucket}/set", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == len(names) + 1  # one per entry, and the summary
    assert not any(char in done.stdout for char in TERMINAL_CONTROLS)
    assert "would upload clear\\x1b[2J.txt" in done.stdout
    assert "would upload two\\x0alines.txt" in done.stdout
    assert "would upload bell\\x07\\x0dback\\\\slash.txt" in done.stdout

    checked = run("check", str(root), f"s3://{bucket}/set")
    assert checked.returncode == 1
    assert "missing      two\\x0alines.txt [absent" in checked.stdout
    assert len(checked.stdout.splitlines()) == len(names) + 1

    as_json = run("--json", "check", str(root), f"s3://{bucket}/set")
    keys = sorted(entry["key"] for entry in json.loads(as_json.stdout)["entries"])
    assert keys == sorted(names)


@pytest.mark.slow
def test_an_error_naming_a_key_is_one_escaped_line(run: Run, bucket: str) -> None:
    done = run("info", f"s3://{bucket}/no\nsuch\x1b[31mkey")
    assert done.returncode == 1
    one_line_error(done, "no\\x0asuch\\x1b[31mkey")
    assert len(done.stderr.splitlines()) == 1


@pytest.mark.slow
@pytest.mark.parametrize("key", [".", "dir/..", "dir/."])
def test_get_of_a_key_that_is_no_file_name_into_a_directory_is_refused(
    run: Run, key: str, tmp_path: Path
) -> None:
    """Refused before anything is asked of the store: a file named after
    the directory would be written otherwise."""
    done = run("get", f"s3://some-bucket/{key}", "newdir/")
    assert done.returncode == 2
    one_line_error(done, "ends in no file name")
    assert not (tmp_path / "newdir").exists()


@pytest.mark.slow
def test_get_of_a_key_too_long_for_a_file_name_into_a_directory_is_refused(
    run: Run, tmp_path: Path
) -> None:
    done = run("get", f"s3://some-bucket/{'n' * 300}", str(tmp_path))
    assert done.returncode == 2
    one_line_error(done, "255 at most")


def test_a_full_disk_exits_1_not_2(
    endpoint: Endpoint,
    environment: dict[str, str],
    s3: Any,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A full disk is the operation failing, not the command line being
    wrong: every write of the download fails as on a full file system."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"some bytes")

    def full(fd: int, data: Any, offset: int) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "pwrite", full)
    status = cli.main(
        [
            "--retry-tries",
            "2",
            "--retry-delay",
            "0",
            "get",
            f"s3://{bucket}/k",
            str(tmp_path / "k"),
        ],
        environ=environment,
    )
    assert status == cli.FAILED
    assert "k: no space left on device" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
