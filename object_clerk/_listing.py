"""Listings of a bucket, page by page, each page retried on its own; and
the listing of a dataset, fanned out by common prefixes.

A listing is a chain of requests, each waiting for the last one's answer.
Where keys are grouped by "/", the groups can be listed at once: one
listing with Delimiter="/" names them (CommonPrefixes), and each group is
listed by a thread of its own a few pages ahead of the reader, while the
entries still come out in key order. A flat keyspace has no groups and is
one chain whatever is done: that listing cannot be split.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from object_clerk._client import RetryingClient
from object_clerk._errors import translated_errors

# Groups listed at once, and pages each one may list ahead of the reader:
# memory stays at LANES x PAGES_AHEAD pages whatever the size of a group.
LANES = 4
PAGES_AHEAD = 2
_END = object()


def pages(
    s3: RetryingClient, request: dict[str, Any], first_page_size: int | None = None
) -> Iterator[dict[str, Any]]:
    """The pages of a ListObjectsV2 request, lazily; the first of at most
    first_page_size keys where given, the others of the request's own size."""
    request = dict(request)
    page_size = request.get("MaxKeys")
    if first_page_size is not None:
        request["MaxKeys"] = first_page_size
    while True:
        with translated_errors(f"list_objects_v2 {request['Bucket']}"):
            page = s3.list_objects_v2(**request)
        yield page
        if not page.get("IsTruncated"):
            return
        # Some gateways omit the token; StartAfter continues just as well.
        token = page.get("NextContinuationToken")
        last = _last_name(page)
        if token:
            request["ContinuationToken"] = token
        elif last is not None:
            request["StartAfter"] = last
        else:
            return
        if page_size is None:
            request.pop("MaxKeys", None)
        else:
            request["MaxKeys"] = page_size


def objects(
    s3: RetryingClient, bucket: str, prefix: str | None, page_size: int
) -> Iterator[dict[str, Any]]:
    """Every object under prefix, in key order, one request after another."""
    request: dict[str, Any] = {"Bucket": bucket, "MaxKeys": page_size}
    if prefix:
        request["Prefix"] = prefix
    for page in pages(s3, request):
        yield from page.get("Contents", [])


def fanned_out(
    s3: RetryingClient, bucket: str, prefix: str | None, page_size: int, lanes: int = LANES
) -> Iterator[dict[str, Any]]:
    """Every object under prefix, in key order, the groups of its next level
    ("/"-separated) listed up to lanes at once."""
    top = {"Bucket": bucket, "Prefix": prefix or "", "Delimiter": "/", "MaxKeys": page_size}
    ahead: deque[_Lane | dict[str, Any]] = deque()
    with ThreadPoolExecutor(lanes, thread_name_prefix="object-clerk-list") as pool:
        try:
            for found in _top_level(s3, top):
                if isinstance(found, str):
                    request = {"Bucket": bucket, "Prefix": found, "MaxKeys": page_size}
                    ahead.append(_Lane(pool, s3, request))
                else:
                    ahead.append(found)
                while len(ahead) > lanes or (ahead and isinstance(ahead[0], dict)):
                    yield from _drain(ahead[0])
                    ahead.popleft()  # only once read: a reader that stops stops it too
            while ahead:
                yield from _drain(ahead[0])
                ahead.popleft()
        finally:
            for left in ahead:
                if isinstance(left, _Lane):
                    left.stop()


def _top_level(s3: RetryingClient, request: dict[str, Any]) -> Iterator[dict[str, Any] | str]:
    """The objects (dicts) and the groups (their prefixes) of one level, in
    key order: a group sorts where its keys do."""
    for page in pages(s3, request):
        found: list[tuple[bytes, dict[str, Any] | str]] = [
            (entry["Key"].encode(), entry) for entry in page.get("Contents", [])
        ]
        found += [(p["Prefix"].encode(), p["Prefix"]) for p in page.get("CommonPrefixes", [])]
        found.sort(key=lambda pair: pair[0])
        for _, item in found:
            yield item


def _drain(item: _Lane | dict[str, Any]) -> Iterator[dict[str, Any]]:
    if isinstance(item, _Lane):
        yield from item
    else:
        yield item


class _Lane:
    """One group listed on a thread of the pool, PAGES_AHEAD pages ahead of
    the reader; an error in the listing is raised to the reader."""

    def __init__(self, pool: ThreadPoolExecutor, s3: RetryingClient, request: dict[str, Any]):
        self._pages: queue.Queue[Any] = queue.Queue(PAGES_AHEAD)
        self._stopped = threading.Event()
        pool.submit(self._list, s3, request)

    def _list(self, s3: RetryingClient, request: dict[str, Any]) -> None:
        try:
            for page in pages(s3, request):
                if not self._put(page.get("Contents", [])):
                    return
            self._put(_END)
        except BaseException as error:  # raised where the entries are read
            self._put(error)

    def _put(self, item: Any) -> bool:
        while not self._stopped.is_set():
            try:
                self._pages.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def stop(self) -> None:
        self._stopped.set()

    def __iter__(self) -> Iterator[dict[str, Any]]:
        while (item := self._pages.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield from item


def _last_name(page: dict[str, Any]) -> str | None:
    """The last key or group a page named: where the next page starts."""
    names = [entry["Key"] for entry in page.get("Contents", [])]
    names += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    return max(names, key=lambda name: name.encode(), default=None)
