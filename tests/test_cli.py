"""The command line as a user runs it: ``python -m object_clerk`` in a
subprocess, pointed at the test endpoint by the environment. Exit status,
JSON output, one-line errors, and the secret never printed."""

from __future__ import annotations

import errno
import io
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from object_clerk import cli
from object_clerk.exceptions import (
    ObjectClerkServerAuthException,
    ObjectClerkServerInternalException,
    ObjectNotFoundException,
    store_error_code,
)
from tests.proxy import FaultProxy, request_matcher
from tests.support import TEST_THRESHOLD, Endpoint, store_keeps_checksum, stored_bytes, stored_keys

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
def test_no_endpoint_nor_credentials_is_a_configuration_error(run: Run, bucket: str) -> None:
    """Without them the AWS configuration is read (as the aws command line
    does), and where it has no credentials either, that is named."""
    nothing: dict[str, str | None] = dict.fromkeys(
        ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    )
    nothing.update(
        AWS_CONFIG_FILE="/nonexistent/config",
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent/credentials",
        AWS_EC2_METADATA_DISABLED="true",
    )
    done = run("ls", f"s3://{bucket}", env=nothing)
    assert done.returncode == 2
    one_line_error(done, "no credentials")


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
def test_an_empty_file_is_stored_as_an_empty_object(
    run: Run, s3: Any, bucket: str, tmp_path: Path
) -> None:
    (tmp_path / "empty").write_bytes(b"")
    done = run("put", str(tmp_path / "empty"), f"s3://{bucket}/k")
    assert done.returncode == 0, done.stderr
    assert stored_bytes(s3, bucket, "k") == b""


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
    (root / "broken").symlink_to(root / "nowhere")  # a link that cannot be followed
    s3.put_object(Bucket=bucket, Key="stale", Body=b"stale")

    done = run("sync", str(root), f"s3://{bucket}", "--delete")
    assert done.returncode == 1
    assert "failed" in done.stderr and "broken" in done.stderr
    assert "not deleted" in done.stderr
    assert sorted(stored_keys(s3, bucket)) == ["good", "stale"]

    quiet_json = run("sync", str(root), f"s3://{bucket}", "--json", "--quiet")
    assert quiet_json.returncode == 1
    report = json.loads(quiet_json.stdout)
    failed = [entry["key"] for entry in report["entries"] if entry["action"] == "failed"]
    assert failed == ["broken"]


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


# -- local faults: one line in words, never a traceback ------------------------------


@pytest.mark.slow
def test_a_path_through_a_file_fails_with_one_line(
    run: Run, s3: Any, bucket: str, tmp_path: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="set/k", Body=b"bytes")
    (tmp_path / "file").write_bytes(b"")
    got = run("get", f"s3://{bucket}/set/k", str(tmp_path / "file" / "k"))
    assert got.returncode == 1
    one_line_error(got, str(tmp_path / "file"), "not a directory")
    assert len(got.stderr.splitlines()) == 1
    synced = run("sync", f"s3://{bucket}/set", str(tmp_path / "file" / "down"))
    assert synced.returncode == 1
    one_line_error(synced, str(tmp_path / "file" / "down"), "a part of the path is a file")
    assert len(synced.stderr.splitlines()) == 1


def test_a_directory_that_refuses_the_download_is_one_line_exit_1(
    environment: dict[str, str],
    s3: Any,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A read-only directory as the user (not root) meets it: creating the
    temporary file beside the target is refused."""
    s3.put_object(Bucket=bucket, Key="k", Body=b"some bytes")
    real_open = os.open

    def read_only(path: Any, flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        if flags & os.O_CREAT:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), path)
        return real_open(path, flags, mode, dir_fd=dir_fd)

    monkeypatch.setattr(os, "open", read_only)
    status = cli.main(
        ["--retry-tries", "2", "get", f"s3://{bucket}/k", str(tmp_path / "k")], environ=environment
    )
    assert status == cli.FAILED
    (line,) = capsys.readouterr().err.splitlines()
    assert line == f"object-clerk: error: {tmp_path / 'k'}: permission denied"


def test_an_unreadable_directory_in_a_sync_source_is_a_failed_entry(
    environment: dict[str, str],
    s3: Any,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = tmp_path / "dataset"
    (root / "closed").mkdir(parents=True)
    (root / "closed" / "inside").write_bytes(b"inside")
    (root / "open").write_bytes(b"open")
    real_scandir = os.scandir

    def scandir(path: Any = ".") -> Any:
        if str(path).endswith("closed"):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    status = cli.main(
        ["--retry-tries", "2", "sync", str(root), f"s3://{bucket}"], environ=environment
    )
    assert status == cli.FAILED
    printed = capsys.readouterr()
    assert "uploaded    open" in printed.out
    (failure,) = printed.err.splitlines()
    assert failure.startswith("failed      closed") and "ermission denied" in failure
    assert stored_keys(s3, bucket) == ["open"]


# -- failures in words ------------------------------------------------------------


@pytest.mark.slow
def test_failures_are_said_in_words(run: Run, bucket: str) -> None:
    missing = run("info", f"s3://{bucket}/nope.txt")
    assert missing.returncode == 1
    one_line_error(missing, f"no such object s3://{bucket}/nope.txt")
    for args in (("info", f"s3://{bucket}-gone/k"), ("ls", "-r", f"s3://{bucket}-gone")):
        gone = run(*args)
        assert gone.returncode == 1
        one_line_error(gone, f"no such bucket {bucket}-gone")
    for done in (missing, gone):
        assert "An error occurred" not in done.stderr and "max retries" not in done.stderr
    verbose = run("-v", "info", f"s3://{bucket}/nope.txt")
    one_line_error(verbose, "no such object", "store code 404")
    invalid = run("ls", "s3://bad bucket/x")
    assert invalid.returncode == 2
    one_line_error(invalid, "invalid bucket name 'bad bucket'")
    assert len(invalid.stderr.splitlines()) == 1


def _refused(code: str, status: int, exception: type[Exception]) -> Exception:
    """The library's exception for a store's answer, its cause kept as the
    library keeps it."""
    answer: Any = {
        "Error": {"Code": code, "Message": ""},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    try:
        raise exception(f"get_object b/k: {code}") from ClientError(answer, "GetObject")
    except exception as error:
        return error


@pytest.mark.parametrize(
    ("code", "status", "exception", "said"),
    [
        ("AccessDenied", 403, ObjectClerkServerAuthException, "access denied to s3://b/k"),
        ("403", 403, ObjectClerkServerAuthException, "access denied to s3://b/k"),
        ("InvalidAccessKeyId", 403, ObjectClerkServerAuthException, "does not know the access key"),
        ("NoSuchKey", 404, ObjectNotFoundException, "no such object s3://b/k"),
        (
            "SlowDown",
            503,
            ObjectClerkServerInternalException,
            "kept failing for s3://b/k (SlowDown)",
        ),
    ],
)
def test_store_refusals_are_said_in_words_and_exit_1(
    code: str, status: int, exception: type[Exception], said: str
) -> None:
    error = _refused(code, status, exception)
    assert said in cli.explain(error, "s3://b/k")
    assert cli.exit_status(error) == cli.FAILED
    assert store_error_code(error) == code


# -- logging ------------------------------------------------------------------------


@pytest.mark.slow
def test_retries_are_summed_up_shown_with_v_and_silent_with_quiet(
    run: Run, endpoint: Endpoint, s3: Any, bucket: str
) -> None:
    if endpoint.use_ssl:
        pytest.skip("the fault proxy speaks plain HTTP")
    s3.put_object(Bucket=bucket, Key="k", Body=b"bytes")
    with FaultProxy(endpoint.port) as proxy:

        def info(*options: str) -> subprocess.CompletedProcess[str]:
            proxy.clear()
            proxy.inject(request_matcher("HEAD", f"/{bucket}/k"), "slowdown", times=2)
            url = f"http://127.0.0.1:{proxy.port}"
            done = run(
                *options, "--endpoint-url", url, "--retry-tries", "3", "info", f"s3://{bucket}/k"
            )
            assert done.returncode == 0, done.stderr
            return done

        summary = info().stderr
        assert summary == "object-clerk: retried 2 failed requests (-v shows each)\n"
        assert info("--quiet").stderr == ""
        as_json = info("--json")
        assert as_json.stderr == "" and json.loads(as_json.stdout)["size"] == 5
        each = info("-v").stderr.splitlines()
        assert len([line for line in each if "object_clerk.retry" in line]) == 2
        assert each[0].endswith("(503) Service Unavailable, retrying in 0.0 seconds...")
        requests = info("-vv").stderr
        assert f'"HEAD /{bucket}/k HTTP/1.1" 503' in requests
        assert f'"HEAD /{bucket}/k HTTP/1.1" 200' in requests
        everything = info("-vvv").stderr
        assert "Authorization" in everything  # botocore's request, its value taken out
        assert "Signature=" not in everything and "Credential=" not in everything


def test_library_warnings_print_by_default_redacted_and_not_with_quiet(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Warnings other than retries print as they come (a retry is summed up
    at the end instead); the secret and an Authorization value never do."""
    secret = "s3cr3t-value-never-printed"
    authorization = "{'Authorization': b'AWS4-HMAC-SHA256 Credential=k/x, Signature=0af3'}"
    printed = {}
    for quiet in (False, True):
        out = cli.Output(json_output=False, quiet=quiet)
        with cli.logged(out, secret) as retries:
            logging.getLogger("object_clerk.download").warning("kept %s %s", secret, authorization)
            logging.getLogger("object_clerk.retry").warning("SlowDown, retrying in 0 seconds...")
        assert retries.count == 1
        printed[quiet] = capsys.readouterr().err
    assert printed[False] == (
        "object-clerk: object_clerk.download: kept *** {'Authorization': b'***'}\n"
    )
    assert printed[True] == ""


# -- progress, Ctrl-C ---------------------------------------------------------------


def test_get_shows_the_size_and_check_counts_files(
    environment: dict[str, str],
    s3: Any,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("tqdm")
    s3.put_object(Bucket=bucket, Key="k", Body=b"x" * 3000)
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    status = cli.main(["get", f"s3://{bucket}/k", str(tmp_path / "k")], environ=environment)
    assert status == 0
    assert "2.93k/2.93k" in terminal.getvalue()  # done of the total
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "k").write_bytes(b"x" * 3000)
    terminal.seek(0)
    terminal.truncate()
    status = cli.main(["check", str(tmp_path / "set"), f"s3://{bucket}"], environ=environment)
    assert status == 0
    shown = terminal.getvalue()
    assert "1 files" in shown and "B/s" not in shown and "0.00B" not in shown


@pytest.mark.slow
def test_ctrl_c_mid_sync_says_what_was_done_and_leaves_nothing_half_written(
    run: Run, environment: dict[str, str], s3: Any, bucket: str, tmp_path: Path
) -> None:
    root = tmp_path / "dataset"
    root.mkdir()
    files = {f"f{n:03}": os.urandom(1000 + n) for n in range(200)}
    for name, data in files.items():
        (root / name).write_bytes(data)
    command = [*COMMAND_LINE, "sync", str(root), f"s3://{bucket}/set", "--workers", "1"]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # printed as soon as it is done
        assert first.startswith("uploaded    f000"), first
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    last = stderr.strip().splitlines()[-1]
    assert "interrupted" in last and "run the same command again to finish" in last
    stored = stored_keys(s3, bucket)
    assert 0 < len(stored) < len(files)
    for key in stored:
        assert stored_bytes(s3, bucket, key) == files[key.removeprefix("set/")]
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    again = run("--json", "sync", str(root), f"s3://{bucket}/set")
    assert again.returncode == 0
    assert json.loads(again.stdout)["totals"]["uploaded"] == len(files) - len(stored)


# -- streams ------------------------------------------------------------------------


@pytest.mark.slow
def test_cat_and_get_dash_write_the_object_to_stdout(
    environment: dict[str, str], s3: Any, bucket: str
) -> None:
    data = os.urandom(100_000) + b"\n\x00\r"
    s3.put_object(Bucket=bucket, Key="k", Body=data)
    for args in (("cat", f"s3://{bucket}/k"), ("get", f"s3://{bucket}/k", "-")):
        done = subprocess.run(
            [*COMMAND_LINE, *args], capture_output=True, env=environment, timeout=120
        )
        assert (done.returncode, done.stderr) == (0, b"")
        assert done.stdout == data


def test_a_large_object_goes_to_stdout_through_a_private_file_left_nowhere(
    environment: dict[str, str],
    s3: Any,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsysbinary: pytest.CaptureFixture[bytes],
) -> None:
    data = os.urandom(2 * TEST_THRESHOLD + 5)
    s3.put_object(Bucket=bucket, Key="big", Body=data)
    monkeypatch.setattr(cli, "STREAM_IN_MEMORY", 1000)
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    monkeypatch.setattr(tempfile, "tempdir", None)
    assert cli.main(["cat", f"s3://{bucket}/big"], environ=environment) == 0
    assert capsysbinary.readouterr().out == data
    assert list((tmp_path / "tmp").iterdir()) == []


@pytest.mark.slow
def test_a_damaged_object_is_not_written_to_stdout(
    endpoint: Endpoint, environment: dict[str, str], s3: Any, bucket: str
) -> None:
    if endpoint.use_ssl:
        pytest.skip("the fault proxy speaks plain HTTP")
    s3.put_object(Bucket=bucket, Key="k", Body=b"precious bytes" * 100)
    with FaultProxy(endpoint.port) as proxy:
        proxy.inject(request_matcher("GET", f"/{bucket}/k"), "flip_response", times=20)
        url = f"http://127.0.0.1:{proxy.port}"
        done = subprocess.run(
            [*COMMAND_LINE, "--endpoint-url", url, "cat", f"s3://{bucket}/k"],
            capture_output=True,
            text=True,
            env=environment,
            timeout=120,
        )
    assert done.returncode == 1
    assert done.stdout == ""
    one_line_error(done, f"s3://{bucket}/k", "verification failed")


# -- commands people type -------------------------------------------------------------


@pytest.mark.slow
def test_ls_one_level_recursive_buckets_sizes_and_du(run: Run, s3: Any, bucket: str) -> None:
    for key, size in (("top", 10), ("dir/a", 2000), ("dir/b", 3), ("dirt", 4)):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x" * size)
    level = run("ls", f"s3://{bucket}").stdout.splitlines()
    assert [line.split()[-2:] for line in level] == [["PRE", "dir/"], ["4", "dirt"], ["10", "top"]]
    inside = run("ls", f"s3://{bucket}/dir/").stdout.splitlines()
    assert [line.split()[-1] for line in inside] == ["a", "b"]
    every = run("ls", "--recursive", "-H", "--summarize", f"s3://{bucket}").stdout.splitlines()
    assert [line.split()[-1] for line in every[:4]] == ["dir/a", "dir/b", "dirt", "top"]
    assert "2.0 KiB dir/a" in every[0]
    assert every[-2:] == ["Total Objects: 4", "   Total Size: 2.0 KiB"]
    as_json = json.loads(run("--json", "ls", f"s3://{bucket}").stdout)
    assert as_json["prefixes"] == ["dir/"]
    assert [entry["key"] for entry in as_json["objects"]] == ["dirt", "top"]
    buckets = run("ls")
    assert buckets.returncode == 0 and bucket in buckets.stdout.split()
    used = run("du", f"s3://{bucket}/dir")
    assert used.stdout.split()[:3] == ["2003", "2", "objects"]
    assert json.loads(run("--json", "du", f"s3://{bucket}").stdout)["bytes"] == 2017


@pytest.mark.slow
def test_put_takes_headers_and_info_shows_a_record(
    run: Run, endpoint: Endpoint, s3: Any, bucket: str, tmp_path: Path
) -> None:
    (tmp_path / "page.html").write_bytes(b"<p>hello</p>")
    storage_class = "STANDARD" if endpoint.live else "STANDARD_IA"
    put = run(
        "put",
        "page.html",
        f"s3://{bucket}/page.html",
        "--content-type",
        "text/html",
        "--metadata",
        "origin=telescope",
        "--metadata",
        "night=2026-12-05",
        "--storage-class",
        storage_class,
    )
    assert put.returncode == 0, put.stderr
    info = run("info", f"s3://{bucket}/page.html")
    assert info.returncode == 0
    for line in ("size            12", "content_type    text/html", "metadata.origin telescope"):
        assert line in info.stdout.splitlines()
    for noise in ("server", "date", "x-amzn-requestid", "x-amz-request-id"):
        assert not any(line.startswith(noise) for line in info.stdout.splitlines())
    record = json.loads(run("--json", "info", f"s3://{bucket}/page.html").stdout)
    assert record["metadata"] == {"origin": "telescope", "night": "2026-12-05"}
    assert (record["storage_class"], record["content_type"]) == (storage_class, "text/html")
    assert record["etag"] == s3.head_object(Bucket=bucket, Key="page.html")["ETag"].strip('"')
    assert run("put", "page.html", f"s3://{bucket}/x", "--metadata", "novalue").returncode == 2
    # Ceph RGW 16 keeps no full-object checksum, nor moto without crc32c.
    if not endpoint.live and store_keeps_checksum(s3, bucket, "CRC32C"):
        env = {"S3_CHECKSUM_ALGORITHM": "CRC32C"}
        assert run("put", "page.html", f"s3://{bucket}/c", env=env).returncode == 0
        record = json.loads(run("--json", "info", f"s3://{bucket}/c").stdout)
        assert list(record["checksums"]) == ["crc32c"]


@pytest.mark.slow
def test_presign_gives_a_url_that_downloads_the_object(run: Run, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="shared/k", Body=b"shared bytes")
    done = run("presign", f"s3://{bucket}/shared/k", "--expires-in", "300")
    assert done.returncode == 0, done.stderr
    url = done.stdout.strip()
    assert "X-Amz-Expires=300" in url
    with urllib.request.urlopen(url, timeout=30, context=_tls_context()) as answer:
        assert answer.read() == b"shared bytes"
    assert run("presign", f"s3://{bucket}/k", "--expires-in", "604801").returncode == 2


def _tls_context() -> Any:
    if not os.environ.get("CA_BUNDLE"):
        return None
    import ssl

    return ssl.create_default_context(cafile=os.environ["CA_BUNDLE"])


@pytest.mark.slow
def test_rm_recursive_dry_run_then_for_real(run: Run, s3: Any, bucket: str) -> None:
    for key in ("dir/a", "dir/sub/b", "dirt", "top"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    dry = run("rm", "--recursive", "--dry-run", f"s3://{bucket}/dir")
    assert dry.returncode == 0
    assert dry.stdout.splitlines() == [
        f"would delete s3://{bucket}/dir/a",
        f"would delete s3://{bucket}/dir/sub/b",
        "would delete 2 objects (2 B)",
    ]
    assert stored_keys(s3, bucket) == ["dir/a", "dir/sub/b", "dirt", "top"]
    done = run("--json", "rm", "-r", f"s3://{bucket}/dir")
    assert json.loads(done.stdout)["keys"] == ["dir/a", "dir/sub/b"]
    assert stored_keys(s3, bucket) == ["dirt", "top"]  # "dir" names a directory: not dirt
    assert run("rm", "--dry-run", f"s3://{bucket}/top").returncode == 2


@pytest.mark.slow
def test_abort_uploads_dry_run_aborts_nothing(run: Run, s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="runs/k")["UploadId"]
    dry = run("abort-uploads", f"s3://{bucket}", "--older-than", "0", "--dry-run")
    assert dry.returncode == 0
    assert dry.stdout.splitlines()[-1] == "would abort 1 unfinished uploads"
    uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert [upload["UploadId"] for upload in uploads] == [upload_id]
    version = run("--version", env={"AWS_ENDPOINT_URL": None})
    assert version.returncode == 0 and version.stdout.startswith("object-clerk ")


@pytest.mark.slow
def test_a_file_and_a_directory_of_the_same_name_are_reported_as_such(
    run: Run, s3: Any, bucket: str, tmp_path: Path
) -> None:
    s3.put_object(Bucket=bucket, Key="a", Body=b"file a")
    s3.put_object(Bucket=bucket, Key="a/x", Body=b"under a")
    for _ in range(2):  # the same on every run, not an errno
        done = run("sync", f"s3://{bucket}", str(tmp_path / "down"))
        assert done.returncode == 1
        assert "a file and a directory of the same name" in done.stderr
        assert "Errno" not in done.stderr and "is not a directory" not in done.stderr
