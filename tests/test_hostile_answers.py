"""Answers no correct store gives, from the scripted server of
tests/fake_s3.py: each is refused with an object-clerk exception that
names it, never a traceback of another type nor a loop."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from object_clerk import ObjectClerk, ObjectVerificationException, _listing, cli
from object_clerk.exceptions import ObjectClerkBadAnswerException
from tests.fake_s3 import FakeS3, ListPage, PartsPage, UploadsPage, fake_s3

__all__ = ["fake_s3"]  # the fixture, used by name

BODY = b"some bytes of an object"
ZERO_PARTS = f'"{hashlib.md5(BODY).hexdigest()}-0"'


def clerk_for(server: FakeS3, **overrides: Any) -> ObjectClerk:
    """A clerk on the fake server that never sleeps nor retries."""
    arguments: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "access_key": "x",
        "secret_key": "y",
        "retry_delay": 0,
        "retry_backoff": 1,
        "retry_jitter": 0,
        "retry_max_delay": 0,
        "retry_tries": 1,
        **overrides,
    }
    return ObjectClerk(**arguments)


def cli_main(server: FakeS3, *args: str) -> int:
    environ = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}
    return cli.main(
        ["--endpoint-url", server.url, "--retry-tries", "1", "--retry-delay", "0", *args],
        environ=environ,
    )


@pytest.mark.parametrize("etag", [ZERO_PARTS, '"abc-0"', f'"{"a" * 32}-x"', f'"{"a" * 32}-²"'])
def test_a_malformed_multipart_etag_is_refused_by_get(fake_s3: FakeS3, etag: str) -> None:
    fake_s3.put("k", BODY, etag=etag)
    with pytest.raises(ObjectVerificationException, match="ETag"):
        clerk_for(fake_s3).get_object("bucket", "k")


def test_a_part_count_of_zero_is_refused_by_download(fake_s3: FakeS3, tmp_path: Path) -> None:
    fake_s3.put("k", BODY, etag=ZERO_PARTS)
    target = tmp_path / "k"
    with pytest.raises(ObjectVerificationException, match="-0"):
        clerk_for(fake_s3).download_object("bucket", "k", target)
    assert list(tmp_path.iterdir()) == []


def test_a_part_count_of_zero_is_one_line_in_the_command_line(
    fake_s3: FakeS3, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_s3.put("k", BODY, etag=ZERO_PARTS)
    assert cli_main(fake_s3, "get", "s3://bucket/k", str(tmp_path / "k")) == cli.FAILED
    err = capsys.readouterr().err
    assert err.startswith("object-clerk: error: ") and "-0" in err
    assert "Traceback" not in err and len(err.splitlines()) == 1


def test_a_part_count_of_zero_is_not_read_without_verification(fake_s3: FakeS3) -> None:
    """verify_checksum=False does not look at the ETag: the bytes come."""
    fake_s3.put("k", BODY, etag=ZERO_PARTS)
    assert clerk_for(fake_s3).get_object("bucket", "k", verify_checksum=False) == BODY


def same_token_forever(query: dict[str, str]) -> ListPage:
    return ListPage(["a", "b"], truncated=True, token="same")


def test_a_repeated_continuation_token_stops_list_objects(fake_s3: FakeS3) -> None:
    fake_s3.listing = same_token_forever
    with pytest.raises(ObjectClerkBadAnswerException, match="list_objects_v2 bucket"):
        list(clerk_for(fake_s3).list_objects("bucket"))
    assert fake_s3.count("GET", "list-type") <= 3


def test_a_page_that_does_not_advance_stops_the_listing(fake_s3: FakeS3) -> None:
    """New tokens each time, but the same keys: no progress."""
    calls = iter(range(1000))
    fake_s3.listing = lambda query: ListPage(["a"], truncated=True, token=f"t{next(calls)}")
    with pytest.raises(ObjectClerkBadAnswerException, match="not after"):
        list(clerk_for(fake_s3).list_objects("bucket"))
    assert fake_s3.count("GET", "list-type") == 2


def test_endless_empty_truncated_pages_stop_the_listing(
    fake_s3: FakeS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_listing, "MAX_EMPTY_PAGES", 20)
    calls = iter(range(1000))
    fake_s3.listing = lambda query: ListPage([], truncated=True, token=f"t{next(calls)}")
    with pytest.raises(ObjectClerkBadAnswerException, match="empty"):
        list(clerk_for(fake_s3).list_objects("bucket"))
    assert fake_s3.count("GET", "list-type") == 21


def test_empty_truncated_pages_that_end_are_followed(fake_s3: FakeS3) -> None:
    """A store may answer a few empty truncated pages (S3 does on sparse
    prefixes): followed while their tokens are new."""

    def pages(query: dict[str, str]) -> ListPage:
        token = query.get("continuation-token", "")
        if len(token) < 5:
            return ListPage([], truncated=True, token=token + "t")
        return ListPage(["a"])

    fake_s3.listing = pages
    assert [e["Key"] for e in clerk_for(fake_s3).list_objects("bucket")] == ["a"]


def test_pages_continued_by_start_after_must_advance_too(fake_s3: FakeS3) -> None:
    """Without a token the last key continues the listing: the same page
    again is no progress."""
    fake_s3.listing = lambda query: ListPage(["a", "b"], truncated=True)
    with pytest.raises(ObjectClerkBadAnswerException):
        list(clerk_for(fake_s3).list_objects("bucket"))
    assert fake_s3.count("GET", "list-type") == 2


def test_a_truncated_page_with_no_way_on_is_refused_not_taken_for_the_end(
    fake_s3: FakeS3, tmp_path: Path
) -> None:
    """The rest of the listing is unknown: a sync that took it for absent
    would delete, with delete=True, what the source still holds."""
    fake_s3.listing = lambda query: ListPage([], truncated=True)
    with pytest.raises(ObjectClerkBadAnswerException, match="no way to continue"):
        list(clerk_for(fake_s3).list_objects("bucket"))
    (tmp_path / "a").write_bytes(b"a")
    with pytest.raises(ObjectClerkBadAnswerException):
        clerk_for(fake_s3).sync("s3://bucket/", tmp_path, delete=True)
    assert (tmp_path / "a").exists()


def test_a_repeated_token_stops_ls_with_one_line(
    fake_s3: FakeS3, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_s3.listing = same_token_forever
    assert cli_main(fake_s3, "ls", "s3://bucket") == cli.FAILED
    err = capsys.readouterr().err
    assert "list_objects_v2 bucket" in err and "Traceback" not in err


def same_empty_page_forever(query: dict[str, str]) -> ListPage:
    return ListPage([], truncated=True, token="same")


@pytest.mark.parametrize("listing", [same_token_forever, same_empty_page_forever])
@pytest.mark.parametrize("operation", ["sync", "check"])
def test_a_repeated_token_stops_sync_and_check(
    fake_s3: FakeS3, tmp_path: Path, operation: str, listing: Any
) -> None:
    fake_s3.listing = listing
    (tmp_path / "a").write_bytes(b"a")
    clerk = clerk_for(fake_s3)
    with pytest.raises(ObjectClerkBadAnswerException, match="list_objects_v2 bucket"):
        if operation == "sync":
            clerk.sync("s3://bucket/", tmp_path / "out", dry_run=True)
        else:
            clerk.check(tmp_path, "s3://bucket/")
    assert fake_s3.count("GET", "list-type") <= 3


def test_a_fanned_out_group_that_does_not_advance_stops_the_sync(
    fake_s3: FakeS3, tmp_path: Path
) -> None:
    """The groups of a dataset are listed on threads of their own: the
    error reaches the reader all the same."""

    def pages(query: dict[str, str]) -> ListPage:
        if query.get("delimiter") == "/":
            return ListPage([], prefixes=["d/"])
        return ListPage([], truncated=True, token="same")

    fake_s3.listing = pages
    with pytest.raises(ObjectClerkBadAnswerException, match="continuation 'same' twice"):
        clerk_for(fake_s3).sync("s3://bucket/", tmp_path / "out", dry_run=True)


def test_repeated_upload_markers_stop_the_uploads_listing(fake_s3: FakeS3) -> None:
    fake_s3.uploads = lambda query: UploadsPage(
        [("k", "u1")], truncated=True, next_key_marker="k", next_upload_id_marker="u1"
    )
    fake_s3.parts = lambda query: PartsPage([1])
    with pytest.raises(ObjectClerkBadAnswerException, match="list_multipart_uploads bucket"):
        clerk_for(fake_s3).list_incomplete_uploads("bucket")
    assert fake_s3.count("GET", "uploads") <= 3


def test_a_part_marker_that_does_not_advance_stops_the_parts_listing(fake_s3: FakeS3) -> None:
    fake_s3.uploads = lambda query: UploadsPage([("k", "u1")])
    fake_s3.parts = lambda query: PartsPage([1], truncated=True, next_marker=1)
    with pytest.raises(ObjectClerkBadAnswerException, match="list_parts"):
        clerk_for(fake_s3).list_incomplete_uploads("bucket")
    assert fake_s3.count("GET", "uploadId") <= 3


def test_ls_prints_keys_with_control_characters_escaped(
    fake_s3: FakeS3, capsys: pytest.CaptureFixture[str]
) -> None:
    """One line per key, whatever the key holds; --json keeps the keys."""
    keys = ["a\x1b[2J\x1b[H", "b\rforged", "c\n2026-01-01 00:00:00  1  d", "e\x9bf\x7f\\"]
    shown = [
        "a\\x1b[2J\\x1b[H",
        "b\\x0dforged",
        "c\\x0a2026-01-01 00:00:00  1  d",
        "e\\x9bf\\x7f\\\\",
    ]
    fake_s3.listing = lambda query: ListPage(keys)
    assert cli_main(fake_s3, "ls", "s3://bucket") == cli.OK
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(keys)
    assert all(line.endswith(f" {key}") for line, key in zip(lines, shown, strict=True))
    assert cli_main(fake_s3, "--json", "ls", "s3://bucket") == cli.OK
    assert [o["key"] for o in json.loads(capsys.readouterr().out)["objects"]] == keys


@pytest.mark.parametrize("key", [".", "dir/..", "dir/."])
def test_get_into_a_directory_never_writes_a_file_named_after_it(
    fake_s3: FakeS3, tmp_path: Path, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store holds the key: still no file takes the directory's name."""
    fake_s3.put(key, BODY)
    monkeypatch.chdir(tmp_path)
    assert cli_main(fake_s3, "get", f"s3://bucket/{key}", "newdir/") == cli.USAGE
    assert list(tmp_path.iterdir()) == []
    assert fake_s3.requests == []  # refused before anything was asked
