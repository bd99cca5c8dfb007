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
from collections.abc import Hashable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from object_clerk._client import RetryingClient
from object_clerk._errors import translated_errors
from object_clerk.exceptions import ObjectClerkBadAnswerException

# Groups listed at once, and pages each one may list ahead of the reader:
# memory stays at LANES x PAGES_AHEAD pages whatever the size of a group.
LANES = 4
PAGES_AHEAD = 2
_END = object()
# Empty truncated pages followed in a row before a listing is taken to go
# nowhere: S3 may answer a few where a prefix is sparse, never endlessly.
MAX_EMPTY_PAGES = 1000


def pages(
    s3: RetryingClient, request: dict[str, Any], first_page_size: int | None = None
) -> Iterator[dict[str, Any]]:
    """The pages of a ListObjectsV2 request, lazily; the first of at most
    first_page_size keys where given, the others of the request's own size."""
    request = dict(request)
    page_size = request.get("MaxKeys")
    if first_page_size is not None:
        request["MaxKeys"] = first_page_size
    what = f"list_objects_v2 {request['Bucket']}"
    chain = Chain(what)
    while True:
        with translated_errors(what):
            page = s3.list_objects_v2(**request)
        # Some gateways omit the token; StartAfter continues just as well.
        token = page.get("NextContinuationToken")
        last = _last_name(page)
        truncated = bool(page.get("IsTruncated"))
        if truncated:  # checked before the page is read: a repeat is not passed on
            if not token and last is None:
                # Stopping here would pass a part of the listing for all of
                # it: a sync would take the rest for absent, or extra.
                raise ObjectClerkBadAnswerException(
                    f"{what}: the store says the listing goes on but gives no way to "
                    "continue it (no continuation token, no key)"
                )
            chain.advance(token or last, None if last is None else last.encode())
        yield page
        if not truncated:
            return
        if token:
            request["ContinuationToken"] = token
        else:
            request["StartAfter"] = last
        if page_size is None:
            request.pop("MaxKeys", None)
        else:
            request["MaxKeys"] = page_size


class Chain:
    """Checks that each truncated page of a listing moves it on, so that a
    store answering the same page again (or pages that go nowhere) is
    refused instead of followed for ever.

    A page that names entries must end after the previous one did (its
    position: the last name's bytes, a part number); the continuation a
    page gives must not have been given since the listing last advanced;
    and at most max_empty pages in a row may advance nothing (None: no
    limit, for listings whose pages have no order to check)."""

    def __init__(self, what: str, max_empty: int | Literal["default"] | None = "default") -> None:
        self._what = what
        self._max_empty = MAX_EMPTY_PAGES if max_empty == "default" else max_empty
        self._position: Any = None
        self._continuations: set[Hashable] = set()
        self._empty = 0

    def advance(self, continuation: Hashable, position: Any = None) -> None:
        """The next page is asked for with continuation; position is where
        the page just read ended (None: it named nothing, or cannot say)."""
        if position is not None:
            if self._position is not None and position <= self._position:
                raise ObjectClerkBadAnswerException(
                    f"{self._what}: the store's listing does not advance: a page ends at "
                    f"{_shown(position)}, not after {_shown(self._position)} where the page "
                    "before ended; stopped rather than list the same entries again"
                )
            self._position, self._empty = position, 0
            self._continuations.clear()
        else:
            self._empty += 1
            if self._max_empty is not None and self._empty > self._max_empty:
                raise ObjectClerkBadAnswerException(
                    f"{self._what}: the store answered {self._empty} empty truncated pages "
                    "in a row; stopped rather than follow them for ever"
                )
        if continuation in self._continuations:
            raise ObjectClerkBadAnswerException(
                f"{self._what}: the store's listing gave the continuation {continuation!r} "
                "twice; stopped rather than list the same page for ever"
            )
        self._continuations.add(continuation)


def _shown(position: Any) -> str:
    """A position for a message: a key (from its bytes) as repr shows it."""
    if isinstance(position, bytes):
        return repr(position.decode("utf-8", "surrogateescape"))
    return repr(position)


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
