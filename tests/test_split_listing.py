"""A listing split into key ranges listed at once, whether or not its keys
hold a "/": exactly the entries of one chain, in S3's order (UTF-8 bytes),
in fewer rounds of requests; a failure anywhere reaches the reader."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from object_clerk import (
    ObjectClerk,
    ObjectClerkConfigurationException,
    ObjectClerkServerInternalException,
)
from object_clerk._listing import PROBES_PER_LANE, objects, split
from object_clerk._settings import settings_from_env
from tests.faults import inject
from tests.support import client_of

FLAT = [f"frame-{n:05d}.fits" for n in range(240)]
GROUPED = [f"run{n % 3}/night-{n % 4}/f{n:04d}" for n in range(180)]
# Code points whose UTF-8 bytes sort otherwise than their UTF-16 units do
# (U+E000, U+FFFD after the surrogate pairs of U+1F600 in UTF-16, before
# them in UTF-8), accents, a "/" and a "-" either side of "0", and a space.
UNICODE = [
    f"{head}{n:03d}"
    for head in ("a-", "a/", "a0", "é", "日本/", "\ue000", "\ufffd", "\U0001f600", "z ")
    for n in range(25)
]


def put_all(s3: Any, bucket: str, keys: list[str]) -> None:
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda key: s3.put_object(Bucket=bucket, Key=key, Body=b"x"), keys))


def utf8_order(keys: list[str]) -> list[str]:
    return sorted(keys, key=lambda key: key.encode())


class Requests:
    """The ListObjectsV2 requests a clerk's client sends, by thread: pages
    (MaxKeys above 1) and probes (of one key)."""

    def __init__(self, clerk: ObjectClerk) -> None:
        self.pages: Counter[int] = Counter()
        self.probes: Counter[int] = Counter()
        self._lock = threading.Lock()
        self._events = client_of(clerk).raw.meta.events
        self._events.register(self.EVENT, self._record)

    EVENT = "before-parameter-build.s3.ListObjectsV2"

    def stop(self) -> None:
        self._events.unregister(self.EVENT, self._record)

    def _record(self, params: dict[str, Any], **_: Any) -> None:
        with self._lock:
            one = params.get("MaxKeys") == 1
            (self.probes if one else self.pages)[threading.get_ident()] += 1

    @property
    def rounds(self) -> int:
        """The requests one after the other, at most: the reader's own (the
        chain until the cuts are found), then the most pages any lane
        listed. The probes go on beside the chain, never before it."""
        reader = threading.get_ident()
        own = self.pages[reader] + self.probes[reader]
        pages = max((n for thread, n in self.pages.items() if thread != reader), default=0)
        return own + pages


@pytest.mark.slow  # lists hundreds of keys on the store, over a second
@pytest.mark.parametrize(
    ("keys", "prefix"),
    [(FLAT, ""), (FLAT, "set/"), (GROUPED, "set/"), (UNICODE, ""), (UNICODE, "ü/")],
    ids=["flat", "flat-prefix", "grouped", "unicode", "unicode-prefix"],
)
def test_the_split_listing_is_one_chains_listing(
    clerk: ObjectClerk, s3: Any, bucket: str, keys: list[str], prefix: str
) -> None:
    put_all(s3, bucket, [f"{prefix}{key}" for key in keys] + ["other", "zz-after"])
    expected = [f"{prefix}{key}" for key in utf8_order(keys)]
    if not prefix:
        expected = utf8_order([*expected, "other", "zz-after"])
    chain = [entry["Key"] for entry in objects(client_of(clerk), bucket, prefix, 10)]
    assert chain == expected
    for lanes in (1, 2, 4, 7):
        listed = split(client_of(clerk), bucket, prefix or None, 10, lanes)
        assert [entry["Key"] for entry in listed] == expected, lanes


@pytest.mark.parametrize("count", [0, 1, pytest.param(1001, marks=pytest.mark.slow)])
def test_prefixes_of_none_one_and_just_over_a_page_of_keys(
    clerk: ObjectClerk, s3: Any, bucket: str, count: int
) -> None:
    keys = [f"p/{n:04d}" for n in range(count)]
    put_all(s3, bucket, [*keys, "p", "q/0"])  # around the prefix, not under it
    requests = Requests(clerk)
    listed = [entry["Key"] for entry in split(client_of(clerk), bucket, "p/", 1000, 4)]
    assert listed == keys
    if count <= 1000:  # one page: one request, as one chain
        assert sum(requests.pages.values()) + sum(requests.probes.values()) == 1


@pytest.mark.slow  # lists hundreds of keys on the store, over a second
def test_the_split_listing_takes_fewer_rounds_than_one_chain(
    clerk: ObjectClerk, s3: Any, bucket: str
) -> None:
    keys = [f"{n:05d}" for n in range(600)]
    put_all(s3, bucket, keys)
    chain = Requests(clerk)
    assert [e["Key"] for e in objects(client_of(clerk), bucket, None, 10)] == keys
    assert sum(chain.pages.values()) == 60 and not chain.probes
    chain.stop()

    requests = Requests(clerk)
    assert [e["Key"] for e in split(client_of(clerk), bucket, None, 10, 4)] == keys
    assert sum(requests.probes.values()) <= 4 * PROBES_PER_LANE
    # every page of the chain is listed, most of them by the lanes at once
    assert sum(requests.pages.values()) >= 60
    assert max(requests.pages.values()) <= 30, requests.pages
    assert requests.rounds < 60, (requests.pages, requests.probes)


def test_with_one_lane_the_listing_is_one_chain(clerk: ObjectClerk, s3: Any, bucket: str) -> None:
    put_all(s3, bucket, FLAT[:50])
    requests = Requests(clerk)
    assert [e["Key"] for e in split(client_of(clerk), bucket, None, 10, 1)] == FLAT[:50]
    assert not requests.probes and sum(requests.pages.values()) == 5


@pytest.mark.slow  # lists hundreds of keys on the store, over a second
@pytest.mark.parametrize("skip", [1, 3, 12, 25])
def test_a_listing_that_fails_mid_way_raises_to_the_reader(
    clerk: ObjectClerk, s3: Any, bucket: str, skip: int
) -> None:
    put_all(s3, bucket, FLAT)
    inject(clerk).fail("ListObjectsV2", "internal_error", times=10_000, skip=skip)
    with pytest.raises(ObjectClerkServerInternalException):
        list(split(client_of(clerk), bucket, None, 10, 4))


def test_a_store_that_ignores_start_after_is_listed_in_one_chain(
    clerk: ObjectClerk, s3: Any, bucket: str
) -> None:
    put_all(s3, bucket, FLAT[:80])

    def ignore_start_after(params: dict[str, Any], **_: Any) -> None:
        params.pop("StartAfter", None)

    client_of(clerk).raw.meta.events.register(
        "provide-client-params.s3.ListObjectsV2", ignore_start_after
    )
    requests = Requests(clerk)
    assert [e["Key"] for e in split(client_of(clerk), bucket, None, 10, 4)] == FLAT[:80]
    assert sum(requests.probes.values()) <= 2  # the first probes tell


def test_a_reader_that_stops_early_stops_the_split_listing(
    clerk: ObjectClerk, s3: Any, bucket: str
) -> None:
    put_all(s3, bucket, FLAT[:100])
    done = threading.Event()

    def read_some() -> None:
        listing = split(client_of(clerk), bucket, None, 5, 2)
        assert [next(listing)["Key"] for _ in range(12)] == FLAT[:12]
        listing.close()
        done.set()

    reader = threading.Thread(target=read_some)
    reader.start()
    reader.join(30)
    assert done.is_set(), "closing the listing returned"


@pytest.mark.slow  # lists hundreds of keys on the store, over a second
def test_a_check_of_prefixes_lists_them_split(
    make_clerk: Callable[..., ObjectClerk], s3: Any, bucket: str
) -> None:
    clerk = make_clerk(list_objects_page_size=10)
    put_all(s3, bucket, [f"a/{key}" for key in FLAT] + [f"b/{key}" for key in FLAT[1:]])
    requests = Requests(clerk)
    report = clerk.check(f"s3://{bucket}/a", f"s3://{bucket}/b")
    assert report.totals["same"] == len(FLAT) - 1 and report.totals["missing"] == 1
    assert [entry.key for entry in report.entries if entry.action == "missing"] == [FLAT[0]]
    assert requests.probes  # split, not one chain


def test_the_lanes_are_a_setting() -> None:
    assert settings_from_env({}).list_lanes == 4
    assert settings_from_env({"S3_LIST_LANES": "16"}).list_lanes == 16
    for bad in ("0", "-1", "four", "1000"):
        with pytest.raises(ObjectClerkConfigurationException, match="S3_LIST_LANES"):
            settings_from_env({"S3_LIST_LANES": bad})
