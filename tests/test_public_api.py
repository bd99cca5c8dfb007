"""What users meet is public: every name exported is importable, the
signatures of ObjectClerk name public types, a report names the public
type of an entry's error, and the version is known."""

from __future__ import annotations

import importlib
import inspect
import json
import pickle
import subprocess
import sys
import types
import typing
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

import object_clerk
from object_clerk import ObjectClerk, ObjectVerificationException, cli
from object_clerk._source import SourceChanged
from object_clerk.exceptions import ListingOrderError, ObjectClerkException, public_name
from tests.faults import inject

# Defined in a private module that annotates it with that module's own
# types: published by object_clerk.typing under its defining module's name.
KEPT_IN_PLACE = {"IncompleteUpload"}


def _classes(annotation: Any) -> set[type]:
    """Every class an annotation names, in its unions and generics."""
    found: set[type] = set()
    if isinstance(annotation, type) and not isinstance(annotation, types.GenericAlias):
        found.add(annotation)
    for arg in typing.get_args(annotation):
        if isinstance(arg, list):  # Callable's argument list
            for item in arg:
                found |= _classes(item)
        else:
            found |= _classes(arg)
    origin = typing.get_origin(annotation)
    if isinstance(origin, type):
        found.add(origin)
    return found


def _public_methods() -> list[tuple[str, Any]]:
    return [
        (name, member)
        for name, member in inspect.getmembers(ObjectClerk, inspect.isfunction)
        if not name.startswith("_") or name == "__init__"
    ]


@pytest.mark.parametrize("module", ["object_clerk", "object_clerk.typing"])
def test_every_exported_name_is_importable(module: str) -> None:
    imported = importlib.import_module(module)
    assert imported.__all__
    for name in imported.__all__:
        assert getattr(imported, name) is not None, name


def test_no_public_signature_of_the_clerk_names_a_private_module() -> None:
    public_types = importlib.import_module("object_clerk.typing")
    checked = 0
    for name, method in _public_methods():
        hints = typing.get_type_hints(method)
        assert set(inspect.signature(method).parameters) - {"self"} <= set(hints), name
        for annotation in hints.values():
            for cls in _classes(annotation):
                checked += 1
                if cls.__name__ in KEPT_IN_PLACE:
                    assert getattr(public_types, cls.__name__) is cls
                    continue
                assert not cls.__module__.startswith("object_clerk._"), (name, cls)
    assert checked > 50


def test_the_report_types_are_published_where_they_can_be_imported() -> None:
    from object_clerk.typing import Action, CheckReport, Evidence, ReportEntry, SyncReport

    for cls in (Action, CheckReport, Evidence, ReportEntry, SyncReport):
        assert cls.__module__ == "object_clerk.typing"
        assert typing.get_type_hints(cls) is not None  # its annotations resolve there
    entry = ReportEntry("a", Action.FAILED, Evidence.NONE, 0, ObjectClerkException("x"))
    assert pickle.loads(pickle.dumps(entry)) == entry
    assert object_clerk.SyncReport is SyncReport


def test_the_enums_compare_and_print_as_their_strings() -> None:
    from object_clerk.typing import Action, Evidence, Kind, ReportEntry

    entry = ReportEntry("a", Action.UPLOADED, Evidence.MULTIPART_MD5, 3)
    assert entry.action == "uploaded" and f"{entry.action:<9}|" == "uploaded |"
    assert json.loads(json.dumps(entry.to_dict())) == {
        "key": "a",
        "action": "uploaded",
        "evidence": "multipart-md5",
        "bytes": 3,
    }
    assert str(Evidence.NONE) == "none" and Kind("extra") is Kind.EXTRA


def test_listing_order_error_is_a_public_clerk_exception() -> None:
    from object_clerk import _sync_plan

    assert "ListingOrderError" in object_clerk.__all__
    assert object_clerk.ListingOrderError is ListingOrderError
    assert issubclass(ListingOrderError, ObjectClerkException)
    assert _sync_plan.ListingOrderError is ListingOrderError
    with pytest.raises(ListingOrderError):
        list(_sync_plan.pair([_sync_plan.Item("b", 1), _sync_plan.Item("a", 1)], []))


def test_an_error_shows_its_nearest_public_type() -> None:
    from object_clerk._verify import Mismatch

    assert public_name(Mismatch("bytes differ")) == "ObjectVerificationException"
    assert public_name(ListingOrderError("order")) == "ListingOrderError"
    # A changed upload source is retried as a mismatch, shown as what it is.
    assert public_name(SourceChanged("changed")) == "ObjectSourceChangedException"
    assert public_name(OSError("disk")) == "OSError"
    private = type("Private", (KeyError,), {"__module__": "object_clerk._example"})
    assert public_name(private("k")) == "KeyError"


def _corrupted_download(clerk: ObjectClerk, s3: Any, bucket: str) -> None:
    """Every body the store sends for GetObject arrives damaged: the
    download of "a" cannot be verified."""
    s3.put_object(Bucket=bucket, Key="a", Body=b"x" * 3000)
    inject(clerk).fail("GetObject", "corrupt_body", times=100)


def test_a_sync_entry_failing_verification_reports_the_public_type(
    clerk: ObjectClerk, s3: Any, bucket: str, tmp_path: Path
) -> None:
    _corrupted_download(clerk, s3, bucket)
    report = clerk.sync(f"s3://{bucket}", tmp_path / "out")
    [entry] = report.entries
    assert entry.action == "failed"
    assert isinstance(entry.error, ObjectVerificationException)
    assert entry.to_dict()["error"]["type"] == "ObjectVerificationException"
    assert report.to_dict()["entries"][0]["error"]["type"] == "ObjectVerificationException"


def test_the_command_line_json_reports_the_public_type(
    clerk: ObjectClerk,
    s3: Any,
    bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The command line in this process, on the test's clerk (whose store
    damages every body it sends)."""
    _corrupted_download(clerk, s3, bucket)
    monkeypatch.setattr(cli, "make_clerk", lambda args, env: clerk)
    status = cli.main(["--json", "sync", f"s3://{bucket}", str(tmp_path / "out")], environ={})
    document = json.loads(capsys.readouterr().out)
    assert status == cli.FAILED
    [entry] = document["entries"]
    assert entry["action"] == "failed"
    assert entry["error"]["type"] == "ObjectVerificationException"
    assert "Mismatch" not in json.dumps(document)


def test_the_version_is_the_installed_distributions() -> None:
    assert object_clerk.__version__ == metadata.version("object-clerk")


def test_the_version_of_a_source_tree_not_installed_is_setup_cfgs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def not_installed(name: str) -> str:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", not_installed)
    setup_cfg = Path(object_clerk.__file__).resolve().parent.parent / "setup.cfg"
    assert f"version = {object_clerk._version()}\n" in setup_cfg.read_text()


def test_the_command_line_prints_its_version() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "object_clerk", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"object-clerk {object_clerk.__version__}\n"
