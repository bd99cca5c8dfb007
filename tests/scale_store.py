"""A simulated S3 store for archive scale: buckets of up to 10^8 objects
that hold no data, on 127.0.0.1.

Every key, size and body is computed from the key's index: a bucket is a
deterministic key generator (keys in key order, so the index of any key
is found by bisection), and a listing page, a HEAD or a GET costs the
same whatever the bucket's size (O(page), O(1) memory in N). That makes
listings, checks and syncs of tens of millions of entries testable and
measurable without a store that holds them.

    with scale_store({"a": Keyspace(10**6), "b": Keyspace(10**6, differ=1000)}) as store:
        ObjectClerk(host=store.host, port=store.port, ...).check("s3://a/", "s3://b/")

Two keyspaces with the same count, layout, seed and size are identical; the
second one's ``differ=k`` gives every k-th key other bytes of the same size
(so another ETag). What is answered: ListObjectsV2 (prefix, delimiter,
start-after, continuation-token, max-keys, encoding-type=url), HEAD and GET
(with Range) of objects and HEAD and GetBucketLocation of buckets; anything
else is a 501. Requests are not authenticated.

As a program (for benchmarks, so that the store has a process of its own)
it serves buckets "a" and "b" until it is terminated and prints its port:

    python tests/scale_store.py --count 1000000 [--layout grouped] [--differ K]
"""

from __future__ import annotations

import argparse
import base64
import binascii
import bisect
import contextlib
import hashlib
import signal
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, quote, unquote, urlsplit
from xml.sax.saxutils import escape

HOST = "127.0.0.1"
MAX_COUNT = 10**8
MAX_KEYS = 1000
NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"
LAST_MODIFIED_ISO = "2026-01-01T00:00:00.000Z"
LAST_MODIFIED_HTTP = "Thu, 01 Jan 2026 00:00:00 GMT"
# Flat keys: index * FLAT_SPACING plus a hashed offset below it, in fixed-width
# hex, so that the keys look hashed yet sort as their indexes do.
FLAT_SPACING = 1 << 20
FLAT_WIDTH = 12
# Grouped keys: GROUP_FANOUT objects a directory, GROUP_FANOUT directories
# a group (g0000/s00/f00-xxxxxx.dat).
GROUP_FANOUT = 100
_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15

Layout = Literal["flat", "grouped"]


def mixed(seed: int, index: int) -> int:
    """A 64-bit hash of (seed, index) (splitmix64): cheap, and the same on
    every run and machine, unlike hash()."""
    z = ((seed << 40) + index + 1) * _GOLDEN & _MASK
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9 & _MASK
    z = (z ^ (z >> 27)) * 0x94D049BB133111EB & _MASK
    return z ^ (z >> 31)


def successor(text: str) -> str:
    """The least string after every string that starts with text ("" has
    none: the caller takes the end of the keyspace)."""
    return text[:-1] + chr(ord(text[-1]) + 1)


@dataclass
class Keyspace:
    """count objects of keys in the layout, sizes 1..max_size, all derived
    from seed; every differ-th one (index 0, differ, 2*differ...) has other
    bytes of the same size (differ 0: none). made counts the keys computed
    (a test bounds the work of a request with it)."""

    count: int
    layout: Layout = "flat"
    seed: int = 0
    differ: int = 0
    max_size: int = 4096
    made: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if not 0 <= self.count <= MAX_COUNT:
            raise ValueError(f"count must be 0..{MAX_COUNT}, not {self.count}")
        if self.layout not in ("flat", "grouped"):
            raise ValueError(f"layout must be flat or grouped, not {self.layout!r}")
        if self.differ < 0 or self.max_size < 1:
            raise ValueError("differ must be >= 0 and max_size >= 1")

    def key(self, index: int) -> str:
        """The index-th key in key order."""
        self.made += 1
        noise = mixed(self.seed, index)
        if self.layout == "flat":
            return f"{index * FLAT_SPACING + noise % FLAT_SPACING:0{FLAT_WIDTH}x}"
        group, rest = divmod(index, GROUP_FANOUT * GROUP_FANOUT)
        directory, item = divmod(rest, GROUP_FANOUT)
        return f"g{group:04d}/s{directory:02d}/f{item:02d}-{noise % (1 << 24):06x}.dat"

    def size(self, index: int) -> int:
        return 1 + (mixed(self.seed, index) >> 32) % self.max_size

    def body(self, index: int, key: str) -> bytes:
        """The object's bytes: a line naming it, repeated to its size; a
        differing object's first byte differs (size >= 1), so its MD5 does."""
        mark = "~" if self.differ and index % self.differ == 0 else "="
        line = f"{mark}{key} {self.seed}\n".encode()
        size = self.size(index)
        return (line * (size // len(line) + 1))[:size]

    def etag(self, index: int, key: str) -> str:
        return f'"{hashlib.md5(self.body(index, key)).hexdigest()}"'

    def first_at_or_after(self, text: str) -> int:
        """The index of the first key >= text (count if none): O(log N)."""
        return bisect.bisect_left(range(self.count), text, key=self.key)

    def first_after(self, text: str) -> int:
        """The index of the first key > text (count if none)."""
        return bisect.bisect_right(range(self.count), text, key=self.key)

    def index_of(self, key: str) -> int | None:
        """key's index, or None where no such key is listed."""
        index = self.first_at_or_after(key)
        return index if index < self.count and self.key(index) == key else None

    def prefix_range(self, prefix: str) -> tuple[int, int]:
        """The indexes [low, high) of the keys that start with prefix."""
        if not prefix:
            return 0, self.count
        return self.first_at_or_after(prefix), self.first_at_or_after(successor(prefix))


@dataclass(frozen=True)
class Page:
    """One ListObjectsV2 answer: (index, key) of the objects, the groups,
    and where the next page starts (None: the listing is done)."""

    objects: list[tuple[int, str]]
    groups: list[str]
    next_index: int | None


class BadRequest(Exception):
    """A request the store refuses with 400 InvalidArgument."""


def list_page(space: Keyspace, query: Mapping[str, str]) -> Page:
    """The page query asks for: at most max-keys objects and groups from
    the start-after key or the continuation token on, in O(page) keys."""
    prefix, delimiter = query.get("prefix", ""), query.get("delimiter", "")
    low, high = space.prefix_range(prefix)
    try:
        wanted = min(MAX_KEYS, int(query.get("max-keys", MAX_KEYS)))
    except ValueError:
        raise BadRequest("max-keys is not a number") from None
    if wanted < 0:
        raise BadRequest("max-keys is negative")
    if "continuation-token" in query:
        index = min(max(decoded_token(query["continuation-token"]), low), high)
    elif query.get("start-after"):
        index = max(low, space.first_after(query["start-after"]))
    else:
        index = low
    objects: list[tuple[int, str]] = []
    groups: list[str] = []
    while index < high and len(objects) + len(groups) < wanted:
        key = space.key(index)
        cut = key.find(delimiter, len(prefix)) if delimiter else -1
        if cut >= 0:
            group = key[: cut + len(delimiter)]
            groups.append(group)
            index = space.first_at_or_after(successor(group))  # past the whole group
        else:
            objects.append((index, key))
            index += 1
    return Page(objects, groups, index if index < high else None)


def encoded_token(index: int) -> str:
    return base64.urlsafe_b64encode(f"index:{index}".encode()).decode()


def decoded_token(token: str) -> int:
    try:
        kind, _, number = base64.urlsafe_b64decode(token.encode()).decode().partition(":")
        if kind == "index" and number.isdigit():
            return int(number)
    except (binascii.Error, UnicodeError, ValueError):
        pass
    raise BadRequest("the continuation token is not one this store gave")


def listing_xml(bucket: str, query: Mapping[str, str], page: Page, space: Keyspace) -> str:
    """The ListBucketResult of page, keys URL-encoded where asked for."""
    encode = query.get("encoding-type") == "url"

    def text(value: str) -> str:
        return escape(quote(value, safe="/") if encode else value)

    parts = [
        f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="{NAMESPACE}">',
        f"<Name>{escape(bucket)}</Name><Prefix>{text(query.get('prefix', ''))}</Prefix>",
        f"<KeyCount>{len(page.objects) + len(page.groups)}</KeyCount>",
        f"<MaxKeys>{query.get('max-keys', MAX_KEYS)}</MaxKeys>",
        f"<IsTruncated>{str(page.next_index is not None).lower()}</IsTruncated>",
    ]
    for name in ("delimiter", "start-after"):
        if name in query:
            tag = "StartAfter" if name == "start-after" else "Delimiter"
            parts.append(f"<{tag}>{text(query[name])}</{tag}>")
    if encode:
        parts.append("<EncodingType>url</EncodingType>")
    if "continuation-token" in query:
        parts.append(
            f"<ContinuationToken>{escape(query['continuation-token'])}</ContinuationToken>"
        )
    if page.next_index is not None:
        token = encoded_token(page.next_index)
        parts.append(f"<NextContinuationToken>{token}</NextContinuationToken>")
    for index, key in page.objects:
        parts.append(
            f"<Contents><Key>{text(key)}</Key><LastModified>{LAST_MODIFIED_ISO}</LastModified>"
            f"<ETag>{escape(space.etag(index, key))}</ETag><Size>{space.size(index)}</Size>"
            "<StorageClass>STANDARD</StorageClass></Contents>"
        )
    parts.extend(
        f"<CommonPrefixes><Prefix>{text(g)}</Prefix></CommonPrefixes>" for g in page.groups
    )
    parts.append("</ListBucketResult>")
    return "".join(parts)


def byte_range(header: str, size: int) -> tuple[int, int] | None:
    """[first, last] of a "bytes=a-b", "bytes=a-" or "bytes=-n" header, or
    None where it asks for nothing in size bytes (a 416)."""
    first, dash, last = header.removeprefix("bytes=").partition("-")
    if not dash or not (first or last) or not (first or "0").isdigit():
        return None
    if not (last or "0").isdigit():
        return None
    if not first:
        start, end = max(0, size - int(last)), size - 1
    else:
        start, end = int(first), min(int(last) if last else size - 1, size - 1)
    return (start, end) if start <= end and start < size else None


class ScaleStore:
    """A started store: where it listens, and its buckets."""

    def __init__(self, buckets: Mapping[str, Keyspace]) -> None:
        self.buckets = dict(buckets)
        handler = type("Handler", (_Handler,), {"store": self})
        self.server = ThreadingHTTPServer((HOST, 0), handler)
        self.server.daemon_threads = True

    @property
    def host(self) -> str:
        return HOST

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"


@contextlib.contextmanager
def scale_store(buckets: Mapping[str, Keyspace]) -> Iterator[ScaleStore]:
    """A store of buckets on 127.0.0.1 (a port of its own), stopped at the
    end whatever happens."""
    store = ScaleStore(buckets)
    thread = threading.Thread(
        target=store.server.serve_forever, args=(0.05,), name="scale-store", daemon=True
    )
    thread.start()
    try:
        yield store
    finally:
        store.server.shutdown()
        store.server.server_close()
        thread.join(timeout=10)


def pair(
    count: int, layout: Layout = "flat", seed: int = 0, differ: int = 0
) -> dict[str, Keyspace]:
    """Buckets "a" and "b" of the same objects, b's every differ-th changed."""
    return {"a": Keyspace(count, layout, seed), "b": Keyspace(count, layout, seed, differ)}


class _Handler(BaseHTTPRequestHandler):
    store: ScaleStore
    protocol_version = "HTTP/1.1"  # connections kept, as a store's are
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: millions of requests."""

    def _send(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
        """The answer in one write, head and body together (a HEAD's head
        only, with the length a GET would have): the store answers
        millions of requests."""
        lines = [
            f"{self.protocol_version} {status} {self.responses[status][0]}",
            f"Content-Length: {len(body)}",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head if self.command == "HEAD" else head + body)

    def _error(self, status: int, code: str, message: str = "") -> None:
        text = f"<Error><Code>{code}</Code><Message>{escape(message or code)}</Message></Error>"
        self._send(status, {"Content-Type": "application/xml"}, text.encode())

    def _target(self) -> tuple[str, str, dict[str, str]] | None:
        """(bucket, key, query) of the request; None once a 404 is sent."""
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        bucket, _, key = unquote(parts.path).lstrip("/").partition("/")
        query = {name: values[0] for name, values in parse_qs(parts.query, True).items()}
        if bucket not in self.store.buckets:
            self._error(404, "NoSuchBucket", bucket)
            return None
        return bucket, key, query

    def do_HEAD(self) -> None:
        target = self._target()
        if target is not None:
            self._object(*target)

    def do_GET(self) -> None:
        target = self._target()
        if target is None:
            return
        bucket, key, query = target
        if key:
            self._object(bucket, key, query)
        elif query.get("list-type") == "2":
            space = self.store.buckets[bucket]
            try:
                page = list_page(space, query)
            except BadRequest as error:
                self._error(400, "InvalidArgument", str(error))
                return
            self._xml(listing_xml(bucket, query, page, space))
        elif "location" in query:
            self._xml(f'<LocationConstraint xmlns="{NAMESPACE}"></LocationConstraint>')
        else:
            self._error(501, "NotImplemented")

    def do_PUT(self) -> None:
        self._target()
        self._error(501, "NotImplemented")

    do_POST = do_DELETE = do_PUT

    def _xml(self, text: str) -> None:
        self._send(200, {"Content-Type": "application/xml"}, text.encode("utf-8"))

    def _object(self, bucket: str, key: str, query: Mapping[str, str]) -> None:
        """A HEAD or GET of key (the bucket's own HEAD where key is empty)."""
        if not key:
            self._send(200, {"x-amz-bucket-region": "us-east-1"})
            return
        space = self.store.buckets[bucket]
        index = space.index_of(key)
        if index is None:
            self._error(404, "NoSuchKey", key)
            return
        body = space.body(index, key)
        headers = {
            "ETag": space.etag(index, key),
            "Last-Modified": LAST_MODIFIED_HTTP,
            "Accept-Ranges": "bytes",
            "Content-Type": "application/octet-stream",
        }
        ranged = self.headers.get("Range")
        if ranged is None:
            self._send(200, headers, body)
            return
        span = byte_range(ranged, len(body))
        if span is None:
            headers["Content-Range"] = f"bytes */{len(body)}"
            self._send(416, headers)
            return
        start, end = span
        headers["Content-Range"] = f"bytes {start}-{end}/{len(body)}"
        self._send(206, headers, body[start : end + 1])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--layout", choices=("flat", "grouped"), default="flat")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--differ", type=int, default=0)
    options = parser.parse_args(argv)
    # Terminated: leave through the context manager, which stops the server.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with scale_store(pair(options.count, options.layout, options.seed, options.differ)) as store:
        print(store.port, flush=True)
        threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
