"""A dataset's listing, fanned out by its "/"-groups: the same entries in
the same order as one listing, several groups in flight at once, a reader
that stops early stops it, and a failure in a group reaches the reader."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from object_clerk import ObjectClerk, ObjectClerkServerInternalException
from object_clerk._listing import fanned_out, objects
from tests.faults import inject
from tests.support import client_of

# Keys next to groups, around their separator ("-" < "/" < "0"), unicode,
# deeper groups, and groups of one key.
KEYS = sorted(
    ["a-b", "a/1", "a/2", "a/3", "a0", "b/x", "b/y/z", "c", "ü/1", "z/deep/1", "z/deep/2"],
    key=str.encode,
)


@pytest.fixture
def listed(s3: Any, bucket: str) -> str:
    for key in KEYS:
        s3.put_object(Bucket=bucket, Key=f"set/{key}", Body=key.encode())
    s3.put_object(Bucket=bucket, Key="other", Body=b"x")
    return bucket


def test_the_fanned_out_listing_is_the_listing(clerk: ObjectClerk, listed: str) -> None:
    for page_size in (1, 2, 1000):
        fanned = [e["Key"] for e in fanned_out(client_of(clerk), listed, "set/", page_size)]
        assert fanned == [e["Key"] for e in objects(client_of(clerk), listed, "set/", page_size)]
        assert fanned == [f"set/{key}" for key in KEYS]
    everything = [e["Key"] for e in fanned_out(client_of(clerk), listed, None, 2)]
    assert everything == sorted([f"set/{key}" for key in KEYS] + ["other"], key=str.encode)


def test_groups_are_listed_at_once(clerk: ObjectClerk, listed: str) -> None:
    """Two groups' first requests wait for each other: listed one after the
    other, the first would wait in vain and the barrier break."""
    meeting = threading.Barrier(2, timeout=20)

    def wait_for_the_other(params: dict[str, Any], **_: Any) -> None:
        if params.get("Prefix") in ("set/a/", "set/b/") and "ContinuationToken" not in params:
            meeting.wait()

    client_of(clerk).raw.meta.events.register("before-call.s3.ListObjectsV2", wait_for_the_other)
    keys = [e["Key"] for e in fanned_out(client_of(clerk), listed, "set/", 1000, lanes=4)]
    assert keys == [f"set/{key}" for key in KEYS]
    assert not meeting.broken


def test_a_reader_that_stops_early_stops_the_listing(clerk: ObjectClerk, listed: str) -> None:
    done = threading.Event()

    def read_three() -> None:
        listing = fanned_out(client_of(clerk), listed, "set/", 1, lanes=2)
        assert [next(listing)["Key"] for _ in range(3)] == [f"set/{k}" for k in KEYS[:3]]
        listing.close()
        done.set()

    reader = threading.Thread(target=read_three)
    reader.start()
    reader.join(30)
    assert done.is_set(), "closing the listing returned"


def test_a_failure_in_a_group_reaches_the_reader(clerk: ObjectClerk, listed: str) -> None:
    inject(clerk).fail("ListObjectsV2", "internal_error", times=1000, skip=1)
    with pytest.raises(ObjectClerkServerInternalException):
        list(fanned_out(client_of(clerk), listed, "set/", 1000))
