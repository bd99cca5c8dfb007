"""The simulated store for archive scale (tests/scale_store.py): what it
lists is exactly its generated keys, as S3 lists them; what it serves
matches what it lists; and a request's work does not grow with the size
of the bucket, so that listings of 10^7-10^8 entries can be measured."""

from __future__ import annotations

import hashlib
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.scale_store import Keyspace, ScaleStore, list_page, pair, scale_store
from tests.support import Endpoint, plain_client

SMALL = 2345  # more than two pages, and groups of 100 cut at the end
BIG = 10**7


@pytest.fixture(scope="module")
def store() -> Iterator[ScaleStore]:
    buckets = {
        **pair(SMALL, "flat"),
        "grouped": Keyspace(SMALL, "grouped"),
        "same-seed": Keyspace(SMALL, "grouped"),
        "changed": Keyspace(SMALL, "grouped", differ=7),
        "big": Keyspace(BIG),
    }
    with scale_store(buckets) as started:
        yield started


@pytest.fixture(scope="module")
def client(store: ScaleStore) -> Any:
    return plain_client(Endpoint(store.host, store.port, "any-key", "any-secret", False, False))


def generated(store: ScaleStore, bucket: str) -> list[str]:
    space = store.buckets[bucket]
    return [space.key(n) for n in range(space.count)]


def paginated(client: Any, bucket: str, **request: Any) -> tuple[list[str], list[str]]:
    """The keys and the groups boto3's paginator finds, in order."""
    keys: list[str] = []
    groups: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, **request):
        keys += [entry["Key"] for entry in page.get("Contents", [])]
        groups += [group["Prefix"] for group in page.get("CommonPrefixes", [])]
    return keys, groups


def expected(
    keys: list[str], prefix: str = "", delimiter: str = "", start_after: str = ""
) -> tuple[list[str], list[str]]:
    """What S3 lists of keys (sorted) for these parameters: the keys after
    start_after under prefix, those with delimiter past prefix rolled up
    into their groups."""
    found: list[str] = []
    groups: list[str] = []
    for key in keys:
        if key <= start_after or not key.startswith(prefix):
            continue
        cut = key.find(delimiter, len(prefix)) if delimiter else -1
        if cut < 0:
            found.append(key)
        elif key[: cut + len(delimiter)] not in groups:
            groups.append(key[: cut + len(delimiter)])
    return found, groups


@pytest.mark.parametrize("bucket", ["a", "grouped"])
def test_paginator_lists_exactly_the_generated_keys_in_order(
    store: ScaleStore, client: Any, bucket: str
) -> None:
    keys = generated(store, bucket)
    assert len(set(keys)) == SMALL and keys == sorted(keys)
    assert paginated(client, bucket) == (keys, [])
    if bucket == "a":
        assert all("/" not in key for key in keys)
    else:
        assert all(key.count("/") == 2 for key in keys)


@pytest.mark.parametrize(
    ("bucket", "request_"),
    [
        ("a", {"Prefix": "00"}),
        ("a", {"StartAfter": "000040000000", "PaginationConfig": {"PageSize": 7}}),
        ("grouped", {"Delimiter": "/"}),
        ("grouped", {"Prefix": "g0000/", "Delimiter": "/", "PaginationConfig": {"PageSize": 3}}),
        ("grouped", {"Prefix": "g0000/s2", "Delimiter": "/"}),
        ("grouped", {"Prefix": "g0000/s23/", "PaginationConfig": {"PageSize": 10}}),
        ("grouped", {"StartAfter": "g0000/s05/f50", "Delimiter": "/", "Prefix": "g0000/"}),
        ("grouped", {"Delimiter": "f", "PaginationConfig": {"PageSize": 50}}),
        ("grouped", {"Prefix": "nothing/"}),
    ],
)
def test_prefix_delimiter_start_after_and_max_keys_list_as_s3_does(
    store: ScaleStore, client: Any, bucket: str, request_: dict[str, Any]
) -> None:
    want = expected(
        generated(store, bucket),
        request_.get("Prefix", ""),
        request_.get("Delimiter", ""),
        request_.get("StartAfter", ""),
    )
    assert paginated(client, bucket, **request_) == want
    assert want != ([], []) or request_.get("Prefix") == "nothing/"


def test_a_page_holds_at_most_max_keys_entries(store: ScaleStore, client: Any) -> None:
    page = client.list_objects_v2(Bucket="grouped", Prefix="g0000/", Delimiter="/", MaxKeys=4)
    assert len(page.get("CommonPrefixes", [])) == 4 and page["IsTruncated"]
    assert client.list_objects_v2(Bucket="a", MaxKeys=5000)["KeyCount"] == 1000


def test_head_and_get_serve_the_listed_etag_and_size(store: ScaleStore, client: Any) -> None:
    listed = client.list_objects_v2(Bucket="grouped", MaxKeys=60)["Contents"]
    for entry in listed[::6]:
        head = client.head_object(Bucket="grouped", Key=entry["Key"])
        body = client.get_object(Bucket="grouped", Key=entry["Key"])["Body"].read()
        assert head["ETag"] == entry["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
        assert head["ContentLength"] == entry["Size"] == len(body)
        part = client.get_object(Bucket="grouped", Key=entry["Key"], Range="bytes=1-3")
        assert part["Body"].read() == body[1:4]
        assert part["ContentRange"] == f"bytes 1-{min(3, len(body) - 1)}/{len(body)}"
        tail = client.get_object(Bucket="grouped", Key=entry["Key"], Range="bytes=-2")
        assert tail["Body"].read() == body[-2:]


def test_keys_not_listed_are_no_such_key(client: Any) -> None:
    with pytest.raises(ClientError) as raised:
        client.get_object(Bucket="a", Key="000000000000-not-listed")
    assert raised.value.response["Error"]["Code"] == "NoSuchKey"
    with pytest.raises(ClientError) as raised:
        client.head_object(Bucket="big", Key="ffffffffffff")
    assert raised.value.response["Error"]["Code"] == "404"


def test_buckets_answer_what_boto3_asks_of_them(client: Any) -> None:
    assert client.head_bucket(Bucket="big")["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert client.get_bucket_location(Bucket="a").get("LocationConstraint") is None
    with pytest.raises(ClientError) as raised:
        client.list_objects_v2(Bucket="no-such-bucket")
    assert raised.value.response["Error"]["Code"] == "NoSuchBucket"


def listed_entries(client: Any, bucket: str) -> list[tuple[str, str, int]]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [(e["Key"], e["ETag"], e["Size"]) for page in pages for e in page.get("Contents", [])]


def test_the_same_seed_makes_the_same_store(client: Any) -> None:
    assert listed_entries(client, "grouped") == listed_entries(client, "same-seed")
    assert listed_entries(client, "a") == listed_entries(client, "b")


def test_differ_changes_the_etag_of_every_nth_key_only(store: ScaleStore, client: Any) -> None:
    original, changed = listed_entries(client, "grouped"), listed_entries(client, "changed")
    assert [(k, s) for k, _, s in original] == [(k, s) for k, _, s in changed]
    differing = [
        n for n, (one, other) in enumerate(zip(original, changed, strict=True)) if one != other
    ]
    assert differing == list(range(0, SMALL, 7))
    key = changed[7][0]
    body = client.get_object(Bucket="changed", Key=key)["Body"].read()
    assert f'"{hashlib.md5(body).hexdigest()}"' == changed[7][1] != original[7][1]


@pytest.mark.parametrize("start_after", ["", "0", "04c4b3ffffff", "098967f00000", "ffff"])
def test_a_listing_of_ten_million_starts_anywhere_in_page_work(
    store: ScaleStore, client: Any, start_after: str
) -> None:
    """Keys computed for a page: the page's, and the bisections' (log2 of
    10^7 is 24 each), never a walk over the keys before the start."""
    space = store.buckets["big"]
    space.made = 0
    page = client.list_objects_v2(Bucket="big", StartAfter=start_after, MaxKeys=1000)
    listed = [entry["Key"] for entry in page.get("Contents", [])]
    assert space.made <= len(listed) + 3 * 25
    first = space.first_after(start_after)
    assert listed == [space.key(n) for n in range(first, min(first + 1000, BIG))]
    if start_after == "098967f00000":  # near the end: what is left, and no more
        assert 0 < len(listed) < 1000 and not page["IsTruncated"]
        assert listed[-1] == space.key(BIG - 1)


def test_continuing_a_listing_of_ten_million_is_page_work(store: ScaleStore, client: Any) -> None:
    space = store.buckets["big"]
    first = client.list_objects_v2(Bucket="big", StartAfter="04c4b3ffffff", MaxKeys=1000)
    space.made = 0
    second = client.list_objects_v2(
        Bucket="big", ContinuationToken=first["NextContinuationToken"], MaxKeys=1000
    )
    assert space.made <= 1000
    last = space.index_of(first["Contents"][-1]["Key"])
    assert last is not None
    assert [e["Key"] for e in second["Contents"]] == [space.key(last + n) for n in range(1, 1001)]


def peak_bytes_of_a_page(count: int) -> int:
    """The peak of memory allocated while a page from the middle of a
    bucket of count keys is made."""
    space = Keyspace(count, "grouped")
    middle = space.key(count // 2)
    tracemalloc.start()
    try:
        page = list_page(space, {"start-after": middle, "delimiter": "/"})
        assert page.objects or page.groups
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_number_of_keys() -> None:
    small = peak_bytes_of_a_page(10**4)
    for count in (10**6, 10**8):  # a store that held its keys would fail at 10^6
        peak = peak_bytes_of_a_page(count)
        assert peak < 1024 * 1024
        assert peak < 2 * small + 64 * 1024
