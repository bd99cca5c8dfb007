"""A tiny scripted S3 server on 127.0.0.1: answers no correct store gives.

Tests put objects with the headers they want it to claim (an ETag
``"<md5>-0"``, a negative Content-Length...) and script the listings
(a truncated page that names the same continuation token every time, keys
with control characters). Requests are not authenticated; each one is
recorded in ``requests`` so that a test can bound what a client did.

    with FakeS3() as server:            # or the ``fake_s3`` fixture
        server.put("k", b"data", etag='"...-0"')
        server.listing = lambda query: ListPage(["a"], truncated=True, token="same")
        ObjectClerk(host=server.host, port=server.port, ...)

Only what the clerk sends for a HEAD, a GET (with Range), ListObjectsV2,
ListMultipartUploads and ListParts is understood; anything else is a 501.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, quote, unquote, urlsplit
from xml.sax.saxutils import escape

import pytest

HOST = "127.0.0.1"
LAST_MODIFIED = "Thu, 01 Jan 2026 00:00:00 GMT"
NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"


@dataclass
class FakeObject:
    """An object as the server describes it. etag: the ETag header as sent
    (default: the quoted MD5 of body); content_length: the Content-Length
    of a HEAD (default: len(body)); headers: any more to send."""

    body: bytes
    etag: str | None = None
    content_length: int | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def head_headers(self) -> dict[str, str]:
        etag = self.etag if self.etag is not None else f'"{hashlib.md5(self.body).hexdigest()}"'
        length = len(self.body) if self.content_length is None else self.content_length
        return {
            "ETag": etag,
            "Content-Length": str(length),
            "Last-Modified": LAST_MODIFIED,
            "Accept-Ranges": "bytes",
            **self.headers,
        }


@dataclass
class ListPage:
    """One page of a scripted listing: the keys it names (listed with size
    1 unless an object of that key is stored), whether it says more follow,
    the NextContinuationToken it gives (None: none), and the groups it
    names (CommonPrefixes)."""

    keys: list[str]
    truncated: bool = False
    token: str | None = None
    prefixes: list[str] = field(default_factory=list)


@dataclass
class UploadsPage:
    """One page of a scripted ListMultipartUploads: (key, upload id) pairs,
    whether it is truncated, and the next markers it gives."""

    uploads: list[tuple[str, str]]
    truncated: bool = False
    next_key_marker: str = ""
    next_upload_id_marker: str = ""


@dataclass
class PartsPage:
    """One page of a scripted ListParts: part numbers (each of 1 byte),
    whether it is truncated, and the NextPartNumberMarker it gives."""

    parts: list[int]
    truncated: bool = False
    next_marker: int | None = None


Query = dict[str, str]


@dataclass
class Recorded:
    method: str
    path: str
    query: Query


class FakeS3:
    """The server, started by start() (or ``with``) and stopped by stop().

    objects: key -> FakeObject, in any bucket. listing, uploads, parts:
    functions of the request's query that give the page to answer; the
    default listing names the stored objects in one page."""

    def __init__(self) -> None:
        self.objects: dict[str, FakeObject] = {}
        self.listing: Callable[[Query], ListPage] = self._stored_page
        self.uploads: Callable[[Query], UploadsPage] = lambda query: UploadsPage([])
        self.parts: Callable[[Query], PartsPage] = lambda query: PartsPage([])
        self.requests: list[Recorded] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def put(self, key: str, body: bytes, **claims: Any) -> FakeObject:
        """Store body under key, with the claims of FakeObject."""
        self.objects[key] = FakeObject(body, **claims)
        return self.objects[key]

    @property
    def host(self) -> str:
        return HOST

    @property
    def port(self) -> int:
        assert self._server is not None, "the server is not started"
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> Self:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer((HOST, 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fake-s3", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def count(self, method: str, query_name: str | None = None) -> int:
        """How many requests of method (with query_name in the query) came."""
        return sum(
            1
            for r in self.requests
            if r.method == method and (query_name is None or query_name in r.query)
        )

    def _stored_page(self, query: Query) -> ListPage:
        prefix = query.get("prefix", "")
        return ListPage(sorted(k for k in self.objects if k.startswith(prefix)))


@pytest.fixture
def fake_s3() -> Iterator[FakeS3]:
    """A started FakeS3, stopped when the test ends, whatever happens."""
    server = FakeS3().start()
    try:
        yield server
    finally:
        server.stop()


class _Handler(BaseHTTPRequestHandler):
    fake: FakeS3
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go in separate writes

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests read fake.requests instead."""

    def _parse(self) -> tuple[str, Query]:
        parts = urlsplit(self.path)
        query = {name: values[0] for name, values in parse_qs(parts.query, True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.fake.requests.append(Recorded(self.command, parts.path, query))
        return unquote(parts.path), query

    def _key(self, path: str) -> str:
        return path.lstrip("/").partition("/")[2]

    def _send(self, status: int, headers: dict[str, str], body: bytes = b"") -> None:
        self.send_response(status)
        headers.setdefault("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str) -> None:
        body = f"<Error><Code>{code}</Code><Message>{code}</Message></Error>".encode()
        self._send(status, {"Content-Type": "application/xml"}, body)

    def do_HEAD(self) -> None:
        path, _ = self._parse()
        found = self.fake.objects.get(self._key(path))
        if found is None:
            self._send(404, {})
            return
        self._send(200, found.head_headers())

    def do_GET(self) -> None:
        path, query = self._parse()
        key = self._key(path)
        if not key:
            if query.get("list-type") == "2":
                self._xml(_objects_xml(self.fake, self.fake.listing(query)))
            elif "uploads" in query:
                self._xml(_uploads_xml(self.fake.uploads(query)))
            else:
                self._error(501, "NotImplemented")
            return
        if "uploadId" in query:
            self._xml(_parts_xml(self.fake.parts(query)))
            return
        found = self.fake.objects.get(key)
        if found is None:
            self._error(404, "NoSuchKey")
            return
        headers = found.head_headers()
        body = found.body
        ranged = self.headers.get("Range")
        if ranged and ranged.startswith("bytes="):
            first, _, last = ranged[len("bytes=") :].partition("-")
            start, end = int(first), min(int(last or len(body) - 1), len(body) - 1)
            body = body[start : end + 1]
            headers["Content-Range"] = f"bytes {start}-{end}/{len(found.body)}"
            headers["Content-Length"] = str(len(body))
            self._send(206, headers, body)
            return
        headers["Content-Length"] = str(len(body))
        self._send(200, headers, body)

    def do_PUT(self) -> None:
        self._parse()
        self._error(501, "NotImplemented")

    do_POST = do_DELETE = do_PUT

    def _xml(self, text: str) -> None:
        self._send(200, {"Content-Type": "application/xml"}, text.encode("utf-8"))


def _element(name: str, value: object) -> str:
    return f"<{name}>{escape(str(value))}</{name}>"


def _objects_xml(fake: FakeS3, page: ListPage) -> str:
    entries = []
    for key in page.keys:
        stored = fake.objects.get(key)
        size = len(stored.body) if stored else 1
        etag = stored.head_headers()["ETag"] if stored else '"c4ca4238a0b923820dcc509a6f75849b"'
        entries.append(
            "<Contents>"
            + _element("Key", _url(key))
            + _element("LastModified", "2026-01-01T00:00:00.000Z")
            + _element("ETag", etag)
            + _element("Size", size)
            + _element("StorageClass", "STANDARD")
            + "</Contents>"
        )
    groups = "".join(
        "<CommonPrefixes>" + _element("Prefix", _url(prefix)) + "</CommonPrefixes>"
        for prefix in page.prefixes
    )
    token = _element("NextContinuationToken", page.token) if page.token else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="{NAMESPACE}">'
        + _element("Name", "bucket")
        + _element("KeyCount", len(page.keys))
        + _element("IsTruncated", str(page.truncated).lower())
        + _element("EncodingType", "url")
        + token
        + "".join(entries)
        + groups
        + "</ListBucketResult>"
    )


def _uploads_xml(page: UploadsPage) -> str:
    uploads = "".join(
        "<Upload>"
        + _element("Key", key)
        + _element("UploadId", upload_id)
        + _element("Initiated", "2026-01-01T00:00:00.000Z")
        + "</Upload>"
        for key, upload_id in page.uploads
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult xmlns="{NAMESPACE}">'
        + _element("Bucket", "bucket")
        + _element("IsTruncated", str(page.truncated).lower())
        + _element("NextKeyMarker", page.next_key_marker)
        + _element("NextUploadIdMarker", page.next_upload_id_marker)
        + uploads
        + "</ListMultipartUploadsResult>"
    )


def _parts_xml(page: PartsPage) -> str:
    parts = "".join(
        "<Part>"
        + _element("PartNumber", number)
        + _element("ETag", '"c4ca4238a0b923820dcc509a6f75849b"')
        + _element("Size", 1)
        + "</Part>"
        for number in page.parts
    )
    marker = (
        _element("NextPartNumberMarker", page.next_marker) if page.next_marker is not None else ""
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><ListPartsResult xmlns="{NAMESPACE}">'
        + _element("Bucket", "bucket")
        + _element("IsTruncated", str(page.truncated).lower())
        + marker
        + parts
        + "</ListPartsResult>"
    )


def _url(key: str) -> str:
    """XML 1.0 cannot carry most control characters, even as references:
    keys go URL-encoded, as S3 sends them for EncodingType=url (which
    botocore asks for, and decodes)."""
    return quote(key, safe="/")
