"""Listings of a bucket, page by page, each page retried on its own; and
the listing of a dataset, split into key ranges listed at once.

A listing is a chain of requests, each waiting for the last one's answer:
about 70 ms a page of 1,000 keys on a Ceph gateway, 2 hours for 10^8
keys. split() cuts the key space after the first page into ranges,
whether or not the keys hold a "/": short listings of one key each
(probes, StartAfter a guessed string) find keys further on, and those
keys are the cuts. Each range is listed from its start (StartAfter) to
its cut by a thread of its own, up to RANGE_PAGES_AHEAD pages ahead of the
reader, and the ranges are read one after the other: the entries come out
in key order (the UTF-8 bytes of the key, as S3 lists them). Lanes are
threads: they gain where the store's answer takes longer than parsing it
(botocore, about 60 ms of CPU a page of 1,000 keys, under the GIL).

Where to cut: the keys after the first page's last one share its first
characters up to some position (found by a bisection of probes over the
positions); the groups of keys that differ there are found one probe
each (the first key after every key that starts like the group before),
and then, where they are too few, the groups one character deeper, until
there are RANGES_PER_LANE ranges per lane or PROBES_PER_LANE probes per
lane were spent. The probes are sent while the chain goes on listing,
and the chain itself goes on as the first range: a listing of one page
is one request, as before; one that ends before the probes do is one
chain (the probes sent meanwhile are wasted); a longer one costs at most
PROBES_PER_LANE x lanes probes more, and each range but the last may read
up to one page past its end. Cuts
are keys that were listed: however well they are placed, the ranges hold
every key once, and a poorly placed cut only makes one range longer.

fanned_out() lists the "/"-groups of one level at once (CommonPrefixes).
"""

from __future__ import annotations

import itertools
import queue
import threading
from collections import deque
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

from object_clerk._client import RetryingClient
from object_clerk._errors import translated_errors
from object_clerk.exceptions import ObjectClerkBadAnswerException

# Groups or ranges listed at once, and pages each one may list ahead of the
# reader: memory stays at LANES x PAGES_AHEAD pages whatever their size.
LANES = 4
PAGES_AHEAD = 2
# A split listing aims at this many ranges per lane (a range that turns out
# long then holds up fewer keys behind it), and spends at most this many
# probes per lane finding them.
RANGES_PER_LANE = 4
PROBES_PER_LANE = 8
# Probes sent at once: short requests, mostly waiting for the store.
PROBE_THREADS = 16
# Pages a range's lane lists ahead of the reader: a range is read after the
# ones before it, so its lane gains only what it holds by then (memory: up
# to lanes x this many pages, whatever the listing's size).
RANGE_PAGES_AHEAD = 8
_END = object()
# Empty truncated pages followed in a row before a listing is taken to go
# nowhere: S3 may answer a few where a prefix is sparse, never endlessly.
MAX_EMPTY_PAGES = 1000


def sort_key(key: str) -> bytes:
    """S3's order of keys: their UTF-8 bytes (names that are not UTF-8 keep
    their bytes, by surrogateescape)."""
    return key.encode("utf-8", "surrogateescape")


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
                    ahead.append(_Lane(pool, _ranged(pages(s3, request), bucket, None, None)))
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
    """One group or range listed on a thread of the pool, PAGES_AHEAD pages
    ahead of the reader (listing: its entries page by page); an error in
    the listing is raised to the reader."""

    def __init__(
        self,
        pool: ThreadPoolExecutor,
        listing: Iterator[list[dict[str, Any]]],
        pages_ahead: int = PAGES_AHEAD,
    ):
        self._pages: queue.Queue[Any] = queue.Queue(pages_ahead)
        self._stopped = threading.Event()
        pool.submit(self._list, listing)

    def _list(self, listing: Iterator[list[dict[str, Any]]]) -> None:
        try:
            for entries in listing:
                if not self._put(entries):
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


def _ranged(
    chain: Iterator[dict[str, Any]], bucket: str, start: str | None, end: str | None
) -> Iterator[list[dict[str, Any]]]:
    """The entries of a chain's pages, page by page, up to end included
    (None: to the chain's end). A store that lists a key at or before the
    chain's StartAfter (start) is refused: the ranges of a split listing
    would repeat keys."""
    low = None if start is None else sort_key(start)
    high = None if end is None else sort_key(end)
    for page in chain:
        entries = page.get("Contents", [])
        if low is not None and entries and sort_key(entries[0]["Key"]) <= low:
            raise ObjectClerkBadAnswerException(
                f"list_objects_v2 {bucket}: the store listed {entries[0]['Key']!r} "
                f"after StartAfter={start!r}, which it does not sort after"
            )
        if high is not None and entries and sort_key(entries[-1]["Key"]) >= high:
            yield [entry for entry in entries if sort_key(entry["Key"]) <= high]
            return
        yield entries


def split(
    s3: RetryingClient, bucket: str, prefix: str | None, page_size: int, lanes: int = LANES
) -> Iterator[dict[str, Any]]:
    """Every object under prefix, in key order: one chain, which after its
    first page goes on while probes look for where to cut the rest; then
    the rest in ranges listed up to lanes at once, the first by the chain
    itself (see the module's docstring). With one lane, or where the store
    does not honour StartAfter, one chain; a listing of one page sends no
    probe, one that ends before the probes do is not split."""
    request = {"Bucket": bucket, "Prefix": prefix or "", "MaxKeys": page_size}
    chain = pages(s3, request)
    page = next(chain)
    contents = page.get("Contents", [])
    yield from contents
    if not page.get("IsTruncated"):
        return
    if lanes < 2 or not contents:
        yield from _entries(chain)
        return
    with ThreadPoolExecutor(lanes, thread_name_prefix="object-clerk-list") as pool:
        probe = _Probe(s3, request, lanes * PROBES_PER_LANE)
        low = contents[-1]["Key"]
        ahead: deque[_Lane] = deque()
        try:
            # The chain goes on while the probes look for cuts: they cost
            # the listing no time, and one that ends first needs none.
            finding = pool.submit(_cuts, probe, prefix or "", low, lanes * RANGES_PER_LANE)
            while True:
                page = next(chain)
                contents = page.get("Contents", [])
                yield from contents
                if contents:
                    low = contents[-1]["Key"]
                if not page.get("IsTruncated"):
                    return
                if finding.done():
                    break
            cuts = finding.result()
            if cuts is None:
                yield from _entries(chain)
                return
            cuts = [cut for cut in cuts if sort_key(cut) > sort_key(low)]
            bounds: list[str | None] = [low, *cuts, None]
            for index, (start, end) in enumerate(itertools.pairwise(bounds)):
                if index == 0:  # the chain goes on to the first cut
                    listing = _ranged(chain, bucket, None, end)
                else:
                    listing = _ranged(
                        pages(s3, {**request, "StartAfter": start}), bucket, start, end
                    )
                ahead.append(_Lane(pool, listing, RANGE_PAGES_AHEAD))
                while len(ahead) > lanes:
                    yield from ahead[0]
                    ahead.popleft()  # only once read: a reader that stops stops it too
            while ahead:
                yield from ahead[0]
                ahead.popleft()
        finally:
            probe.close()
            for left in ahead:
                left.stop()


def _entries(chain: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for page in chain:
        yield from page.get("Contents", [])


class _Unhonoured(Exception):
    """The store answered a probe with a key not after its StartAfter."""


class _Spent(Exception):
    """The probes a split may send are spent."""


class _Probe:
    """The first key after a string (StartAfter) under a listing's prefix,
    by a listing of one key; at most budget of them. Thread-safe."""

    def __init__(self, s3: RetryingClient, request: dict[str, Any], budget: int) -> None:
        self._s3, self._request = s3, {**request, "MaxKeys": 1}
        self._left = budget
        self._lock = threading.Lock()

    @property
    def spent(self) -> bool:
        return self._left <= 0

    def close(self) -> None:
        """No more probes: the split is no longer looked for."""
        with self._lock:
            self._left = 0

    def __call__(self, after: str) -> str | None:
        with self._lock:
            if self._left <= 0:
                raise _Spent
            self._left -= 1
        with translated_errors(f"list_objects_v2 {self._request['Bucket']}"):
            page = self._s3.list_objects_v2(**self._request, StartAfter=after)
        contents = page.get("Contents", [])
        if not contents:
            return None
        key: str = contents[0]["Key"]
        if sort_key(key) <= sort_key(after) or not key.startswith(self._request["Prefix"]):
            raise _Unhonoured
        return key


def _cuts(probe: _Probe, prefix: str, low: str, wanted: int) -> list[str] | None:
    """Keys after low, in key order, that cut the rest of a listing into
    about wanted ranges (fewer where the probes find fewer groups); None
    where the store does not honour StartAfter. Each key found starts a
    group of keys sharing its first characters: where there are more than
    wanted, the coarsest groups (the fewest shared characters, the most
    keys) are kept."""
    found: dict[str, int] = {}  # key: the characters its group shares
    try:
        level = _level(probe, prefix, low, found)
        nodes = [] if level is None else [(low[:level], low)]
        with ThreadPoolExecutor(PROBE_THREADS, thread_name_prefix="object-clerk-probe") as pool:
            while nodes and len(found) + 1 < wanted:
                listed = list(
                    pool.map(lambda node: _children(probe, node[0], node[1], wanted), nodes)
                )
                deeper = []
                for (head, start), keys in zip(nodes, listed, strict=True):
                    for key in keys:
                        found.setdefault(key, len(head))
                    # each group found, one character deeper, from its first key
                    for key in (start, *keys):
                        if key.startswith(head) and len(key) > len(head):
                            deeper.append((key[: len(head) + 1], key))
                nodes = deeper[:wanted]
                if probe.spent:
                    break
    except _Unhonoured:
        return None
    except _Spent:
        pass
    coarsest = sorted(found, key=lambda key: (found[key], sort_key(key)))[: wanted - 1]
    return sorted(coarsest, key=sort_key)


def _level(
    probe: Callable[[str], str | None], prefix: str, low: str, found: dict[str, int]
) -> int | None:
    """The first position at which keys after low differ from it: the
    least j such that a key sorts after every key starting with low[:j+1]
    (found by bisection: true for j, true for any j after). The keys the
    probes find go into found. None: no key after low but low's own
    continuations."""

    def beyond(j: int) -> bool:
        after = _successor(low[: j + 1])
        key = None if after is None else probe(after)
        if key is not None:
            found[key] = min(found.get(key, j), j)
        return key is not None

    first, last = len(prefix), len(low) - 1
    if last < first or not beyond(last):
        return None
    while first < last:
        middle = (first + last) // 2
        if beyond(middle):
            last = middle
        else:
            first = middle + 1
    return first


def _children(probe: Callable[[str], str | None], head: str, start: str, limit: int) -> list[str]:
    """The first keys of the groups of keys starting with head and one more
    character, after start's group, one probe each (at most limit); the
    last may start otherwise (the first key after head's keys)."""
    keys: list[str] = []
    key = start
    try:
        while len(keys) < limit:
            after = _successor(key[: len(head) + 1]) if len(key) > len(head) else key
            found = None if after is None else probe(after)
            if found is None:
                break
            keys.append(found)
            if not found.startswith(head):
                break
            key = found
    except _Spent:
        pass
    return keys


def _successor(text: str) -> str | None:
    """A string after every string that starts with text, as little after
    as a store takes in StartAfter (None: there is none). Code points XML
    cannot carry (the store echoes StartAfter in its answer: controls,
    surrogates, U+FFFE and U+FFFF of each plane) and noncharacters are
    skipped: a probe there only finds a key further on."""
    code = ord(text[-1]) + 1
    if code < 0x20:
        code = 0x20
    elif 0xD800 <= code <= 0xDFFF:
        code = 0xE000
    elif 0xFDD0 <= code <= 0xFDEF:
        code = 0xFDF0
    elif code & 0xFFFE == 0xFFFE:
        code = (code | 0xFFFF) + 1
    if code > 0x10FFFF:
        return None
    return text[:-1] + chr(code)
