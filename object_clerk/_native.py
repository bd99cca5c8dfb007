"""Small PutObjects sent by AWS's native runtime (awscrt) instead of botocore.

botocore spends most of a small PUT's client CPU in Python (building,
signing and parsing the request); awscrt's S3 client does the same work in C
at about a third of the cost (see bench/native.py). The clerk's promises do
not change with the path: the body is hashed and carries its Content-MD5 as
before (the store refuses a damaged body), the stored object is verified
through botocore afterwards, and every request is retried by the clerk's one
retry loop. So the native client makes exactly ONE attempt per call (awscrt's
own retries are off: S3RetryMode.NONE) and raises its failures as the
botocore exceptions of the same meaning, for _errors to judge them as it
judges botocore's (see FAILURES).

The native path is used only where it can keep all that:

* awscrt has the retry switch (S3RetryMode.NONE, awscrt >= 0.38); an older
  awscrt, which would retry on its own, leaves every request to botocore;
* S3_NATIVE_REQUESTS is not 0 (see _settings.native_requests);
* the connection is one awscrt reaches as botocore would: an endpoint URL of
  scheme, host and port alone, path-style addressing, no proxy;
* the request carries only the headers translated here, and its body is at
  most NATIVE_PUT_LIMIT bytes;
* no handler was registered on the botocore client's events for PutObject
  beyond botocore's, boto3's and s3transfer's own (see watch): a caller
  that adds headers, observes or alters requests that way keeps seeing
  every PutObject.

Everything else goes through botocore, as it always did.

A native client is made once per process and connection, on first use. It is
fork-safe: a forked child makes its own event loop and client, and keeps the
parent's objects referenced but unused (their threads are not in the child,
so releasing them there could wait for ever).
"""

from __future__ import annotations

import inspect
import io
import os
import threading
import weakref
import xml.etree.ElementTree as ElementTree
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import botocore.httpsession
import botocore.session
from awscrt import auth as crt_auth
from awscrt import http as crt_http
from awscrt import io as crt_io
from awscrt import s3 as crt_s3
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
    SSLError,
)

if TYPE_CHECKING:
    from object_clerk._client import Connection, RetryingClient

# Bodies up to this size go by the native client: measured by
# bench/native.py, where its client CPU per PUT is below botocore's.
NATIVE_PUT_LIMIT = 1024 * 1024

# The request members translated into headers here, by botocore's names.
_HEADERS = {
    "ContentMD5": "Content-MD5",
    "ContentType": "Content-Type",
    "StorageClass": "x-amz-storage-class",
    "IfNoneMatch": "If-None-Match",
}
_MEMBERS = frozenset({"Bucket", "Key", "Body", "Metadata", *_HEADERS})

# Read no more of an error body than this: S3 error documents are small.
_ERROR_BODY_LIMIT = 64 * 1024


class NativeRequestError(BotoCoreError):  # type: ignore[misc, unused-ignore]
    """A failure of the native runtime that FAILURES does not name: not
    retried (nothing says repeating it is safe or useful), reported as what
    it is."""

    fmt = "The native request failed: {name}: {message}"


def _connect_failed(url: str, name: str, message: str) -> Exception:
    error: Exception = EndpointConnectionError(
        endpoint_url=url, error=OSError(f"{name}: {message}")
    )
    return error


def _closed(url: str, name: str, message: str) -> Exception:
    error: Exception = ConnectionClosedError(endpoint_url=url)
    return error


def _tls(url: str, name: str, message: str) -> Exception:
    error: Exception = SSLError(endpoint_url=url, error=OSError(f"{name}: {message}"))
    return error


def _store_said(code: str, status: int) -> Callable[[str, str, str], Exception]:
    def error(url: str, name: str, message: str) -> Exception:
        return _client_error(status, code, f"{name}: {message}", {})

    return error


# What each failure of the native runtime is, as the botocore exception the
# botocore client raises for the same failure; _errors.is_transient then
# decides, as for botocore, which are retried:
#
# * EndpointConnectionError (retried): no connection was made (refused,
#   unreachable, name not resolved, connect timeout). Nothing was sent, so a
#   repeat is safe.
# * ConnectionClosedError (retried): the connection broke after the request
#   began (closed, reset, cut off, malformed answer). The store may or may
#   not have acted; a PutObject of the same bytes under the same key is
#   idempotent, and a conditional one (If-None-Match) that finds its own
#   earlier attempt's object is recognised by the caller
#   (_transfer._DigestingClient), so a repeat stores nothing else.
# * ClientError SlowDown/503, InternalError/500, RequestTimeout/400
#   (retried): the store asks to be asked again; awscrt names these without
#   a status, which is given here.
# * SSLError (not retried): a certificate or handshake failure will fail the
#   same way again (botocore raises the same for a TLS failure mid-stream).
# * Any other name: NativeRequestError (not retried).
#
# An answer with an error status (S3ResponseError, which carries status,
# headers and body) is not listed: it becomes the ClientError botocore would
# raise, its Error.Code read from the S3 XML body (the status where there is
# none), and is retried or not by that code and status.
FAILURES: dict[str, Callable[[str, str, str], Exception]] = {
    **dict.fromkeys(
        [
            "AWS_IO_SOCKET_CONNECTION_REFUSED",
            "AWS_IO_SOCKET_TIMEOUT",
            "AWS_IO_SOCKET_NO_ROUTE_TO_HOST",
            "AWS_IO_SOCKET_NETWORK_DOWN",
            "AWS_IO_SOCKET_INVALID_ADDRESS",
            "AWS_IO_DNS_QUERY_FAILED",
            "AWS_IO_DNS_INVALID_NAME",
            "AWS_IO_DNS_NO_ADDRESS_FOR_HOST",
            "AWS_IO_DNS_QUERY_AGAIN",
            "AWS_IO_TLS_NEGOTIATION_TIMEOUT",  # botocore: a connect timeout
            "AWS_ERROR_HTTP_CONNECTION_MANAGER_ACQUISITION_TIMEOUT",
        ],
        _connect_failed,
    ),
    **dict.fromkeys(
        [
            "AWS_IO_SOCKET_CLOSED",
            "AWS_IO_BROKEN_PIPE",
            "AWS_IO_SOCKET_CONNECT_ABORTED",
            "AWS_IO_SOCKET_NOT_CONNECTED",
            "AWS_IO_TLS_CLOSED_ABORT",
            "AWS_IO_TLS_CLOSED_GRACEFUL",
            "AWS_ERROR_HTTP_CONNECTION_CLOSED",
            "AWS_ERROR_HTTP_SERVER_CLOSED",
            "AWS_ERROR_HTTP_PROTOCOL_ERROR",
            "AWS_ERROR_HTTP_RESPONSE_FIRST_BYTE_TIMEOUT",
            "AWS_ERROR_S3_INVALID_RESPONSE_STATUS",  # an error answer without its status
        ],
        _closed,
    ),
    **dict.fromkeys(
        [
            "AWS_IO_TLS_ERROR_NEGOTIATION_FAILURE",
            "AWS_IO_TLS_ERROR_NOT_NEGOTIATED",
            "AWS_IO_TLS_ERROR_ALERT_RECEIVED",
            "AWS_IO_TLS_ERROR_READ_FAILURE",
            "AWS_IO_TLS_ERROR_WRITE_FAILURE",
            "AWS_IO_TLS_ERROR_DEFAULT_TRUST_STORE_NOT_FOUND",
            "AWS_IO_TLS_CTX_ERROR",
            "AWS_IO_FILE_VALIDATION_FAILURE",
        ],
        _tls,
    ),
    "AWS_ERROR_S3_SLOW_DOWN": _store_said("SlowDown", 503),
    "AWS_ERROR_S3_INTERNAL_ERROR": _store_said("InternalError", 500),
    "AWS_ERROR_S3_REQUEST_TIMEOUT": _store_said("RequestTimeout", 400),
}


def has_retry_switch() -> bool:
    """Whether the installed awscrt can make exactly one attempt per request
    (S3RetryMode.NONE): without it awscrt retries on its own, behind the
    clerk's retry loop, and the native path is not used."""
    mode = getattr(crt_s3, "S3RetryMode", None)
    if mode is None or "NONE" not in mode.__members__ or not hasattr(crt_s3, "S3RetryConfig"):
        return False
    accepted = inspect.signature(crt_s3.S3Client.__init__).parameters
    return "retry_config" in accepted and "connect_timeout_ms" in accepted


def reachable(connection: Connection) -> bool:
    """Whether awscrt reaches the store as the botocore client does: keys of
    the connection's own (not the AWS configuration's, no session token),
    us-east-1, an endpoint of scheme, host and port alone, path-style addressing (botocore's
    for an endpoint URL unless told virtual), no proxy (awscrt would not use
    botocore's proxy settings)."""
    if connection.aws_config or connection.session_token is not None:
        return False  # credentials botocore resolves (and refreshes), or a token
    if connection.region != "us-east-1" or not connection.endpoint_url:
        return False  # signed for us-east-1 against an endpoint URL only
    parts = urlsplit(connection.endpoint_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    if parts.path not in ("", "/") or parts.query or parts.username:
        return False
    proxied = {name.upper() for name in os.environ if name.upper().endswith("_PROXY")}
    if _option(connection, "proxies") or proxied - {"NO_PROXY"}:
        return False
    s3_options = _option(connection, "s3") or {}
    return s3_options.get("addressing_style") != "virtual" and not s3_options.get(
        "use_accelerate_endpoint"
    )


def _option(connection: Connection, name: str) -> Any:
    """A botocore Config option of the connection (None: not set)."""
    return getattr(connection.config, name, None)


# Handlers s3transfer registers on the client it is given (by unique id):
# signals for its own bandwidth limiter, which no native request involves.
_TRANSFER_HANDLERS = ("s3upload-",)
# The events registered on each watched client after it was made.
_REGISTERED: weakref.WeakKeyDictionary[Any, set[str]] = weakref.WeakKeyDictionary()


def watch(client: Any) -> None:
    """Note every event handler registered on client's events from now on
    (call it once the client is made and has its own handlers), so that
    put_sender can leave a PutObject that someone observes to botocore."""
    events = client.meta.events
    registered: set[str] = set()
    _REGISTERED[events] = registered
    for method in ("register", "register_first", "register_last"):
        original = getattr(events, method)

        def noting(event_name: str, *args: Any, _original: Any = original, **kwargs: Any) -> Any:
            unique_id = str(kwargs.get("unique_id") or "")
            if not unique_id.startswith(_TRANSFER_HANDLERS):
                registered.add(event_name)
            return _original(event_name, *args, **kwargs)

        setattr(events, method, noting)


def observed(client: Any, operation: str) -> bool:
    """Whether a handler registered after the client was made would see
    operation's requests (an event name such as before-send.s3 or
    after-call.s3.PutObject); a client never watched counts as observed."""
    registered = _REGISTERED.get(client.meta.events)
    if registered is None:
        return True
    for name in registered:
        parts = name.split(".")
        if parts[1:2] in ([], ["s3"]) and parts[2:3] in ([], [operation]):
            return True
    return False


def put_sender(s3: RetryingClient, size: int, request: Mapping[str, Any]) -> Any | None:
    """The native client's put_object where it may send this PutObject
    (size bytes, request in botocore's terms); None where botocore sends it."""
    connection = s3.native_connection
    if connection is None or size > NATIVE_PUT_LIMIT or not set(request) <= _MEMBERS:
        return None
    if observed(s3.raw, "PutObject"):
        return None
    client = client_for(connection)
    return None if client is None else client.put_object


class NativeClient:
    """awscrt's S3 client for one connection in one process: one attempt
    per request, failures as botocore exceptions (see FAILURES)."""

    def __init__(self, connection: Connection, bootstrap: crt_io.ClientBootstrap) -> None:
        endpoint_url = connection.endpoint_url
        assert endpoint_url is not None, "reachable() takes no connection without one"
        parts = urlsplit(endpoint_url)
        self.endpoint_url: str = endpoint_url
        self._host = parts.netloc
        # awscrt has no per-read timeout: the whole request gets read_timeout.
        self._timeout = float(_option(connection, "read_timeout") or 60)
        connect_timeout = float(_option(connection, "connect_timeout") or 60)
        # The secret is revealed to the signer alone, once.
        credentials = crt_auth.AwsCredentialsProvider.new_static(
            connection.access_key, connection.secret_key.reveal()
        )
        signing = crt_s3.create_default_s3_signing_config(
            region="us-east-1", credential_provider=credentials
        )
        tls_mode, tls_options = self._tls(connection, parts.scheme, parts.hostname or "")
        self._client = crt_s3.S3Client(
            bootstrap=bootstrap,
            region="us-east-1",
            signing_config=signing,
            tls_mode=tls_mode,
            tls_connection_options=tls_options,
            retry_config=crt_s3.S3RetryConfig(retry_mode=crt_s3.S3RetryMode.NONE),
            connect_timeout_ms=int(connect_timeout * 1000),
        )

    def __repr__(self) -> str:
        return f"NativeClient({self.endpoint_url!r})"

    def _tls(self, connection: Connection, scheme: str, hostname: str) -> tuple[Any, Any]:
        """TLS as botocore has it: the connection's CA bundle, or none
        verified (verify=False), or botocore's own default bundle."""
        if scheme != "https":
            return crt_s3.S3RequestTlsMode.DISABLED, None
        options = crt_io.TlsContextOptions()
        if connection.verify is False:
            options.verify_peer = False
        else:
            options.override_default_trust_store_from_path(ca_filepath=_ca_bundle(connection))
        tls = crt_io.ClientTlsContext(options).new_connection_options()
        tls.set_server_name(hostname)
        return crt_s3.S3RequestTlsMode.ENABLED, tls

    def put_object(self, **request: Any) -> dict[str, Any]:
        """PutObject in botocore's terms (Bucket, Key, Body, ContentMD5,
        ContentType, Metadata, StorageClass, IfNoneMatch): its response's
        ETag and ResponseMetadata, or botocore's exception. One attempt."""
        body = request["Body"]
        payload = bytes(body) if isinstance(body, (bytes, bytearray, memoryview)) else body.read()
        path = "/" + quote(request["Bucket"], safe="") + "/" + quote(request["Key"], safe="/~")
        headers = [("Host", self._host), ("Content-Length", str(len(payload)))]
        headers += [(_HEADERS[name], request[name]) for name in _HEADERS if request.get(name)]
        headers += [(f"x-amz-meta-{k}", v) for k, v in (request.get("Metadata") or {}).items()]
        http_request = crt_http.HttpRequest(
            "PUT", path, crt_http.HttpHeaders(headers), io.BytesIO(payload)
        )
        answer: dict[str, Any] = {}

        def on_headers(status_code: int, headers: list[tuple[str, str]], **_: Any) -> None:
            answer.update(status=status_code, headers=headers)

        sent = self._client.make_request(
            type=crt_s3.S3RequestType.DEFAULT,
            operation_name="PutObject",
            request=http_request,
            on_headers=on_headers,
        )
        self._wait(sent)
        received = {name.lower(): value for name, value in answer.get("headers", [])}
        return {
            "ETag": received.get("etag"),
            "ResponseMetadata": {
                "HTTPStatusCode": answer.get("status"),
                "HTTPHeaders": received,
            },
        }

    def _wait(self, sent: Any) -> None:
        """Wait for the request to end, at most the read timeout (a small
        body is sent in a fraction of it); its failure as botocore's."""
        try:
            sent.finished_future.result(self._timeout)
        except TimeoutError:
            sent.cancel()
            _settle(sent)
            raise ReadTimeoutError(endpoint_url=self.endpoint_url) from None
        except Exception as error:
            raise as_botocore(error, self.endpoint_url) from None


def _settle(sent: Any) -> None:
    """Let a cancelled request end, so that its body is no longer read."""
    try:
        sent.finished_future.result(10)
    except Exception:  # its end is a cancellation, whatever it says
        return


def as_botocore(error: BaseException, endpoint_url: str) -> Exception:
    """The botocore exception of awscrt's failure (see FAILURES)."""
    status = getattr(error, "status_code", None)
    name = str(getattr(error, "name", type(error).__name__))
    message = str(getattr(error, "message", "")) or str(error)
    if isinstance(status, int):
        headers = {k.lower(): v for k, v in getattr(error, "headers", None) or []}
        code, text = _error_of(getattr(error, "body", None))
        return _client_error(status, code or str(status), text or message, headers)
    make = FAILURES.get(name)
    if make is None:
        return NativeRequestError(name=name, message=message)
    return make(endpoint_url, name, message)


def _error_of(body: bytes | None) -> tuple[str, str]:
    """The Code and Message of an S3 XML error body ("" where it has none)."""
    if not body or len(body) > _ERROR_BODY_LIMIT:
        return "", ""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return "", ""
    return (root.findtext("Code") or "").strip(), (root.findtext("Message") or "").strip()


def _client_error(status: int, code: str, message: str, headers: dict[str, str]) -> Exception:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": headers},
    }
    error: Exception = ClientError(response, "PutObject")
    return error


def _ca_bundle(connection: Connection) -> str:
    """The CA bundle botocore verifies with: the connection's, else
    AWS_CA_BUNDLE (or the config file's ca_bundle), else its default."""
    if isinstance(connection.verify, str):
        return connection.verify
    configured = botocore.session.get_session().get_config_variable("ca_bundle")
    return str(configured or botocore.httpsession.get_cert_path(True))


class _Clients:
    """This process's native clients, by connection digest (None for a
    connection that cannot have one), and the event loop and resolver they
    share, made on first use. Made under the lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.clients: dict[bytes, NativeClient | None] = {}
        self._bootstrap: crt_io.ClientBootstrap | None = None

    def bootstrap(self) -> crt_io.ClientBootstrap:
        if self._bootstrap is None:
            loops = crt_io.EventLoopGroup()
            self._bootstrap = crt_io.ClientBootstrap(loops, crt_io.DefaultHostResolver(loops))
        return self._bootstrap


_CLIENTS = _Clients()
# A parent's clients, kept from release in its forked children.
_INHERITED: list[_Clients] = []


def client_for(connection: Connection) -> NativeClient | None:
    """The native client of connection in this process (made on first use),
    or None where the native path cannot keep the contract."""
    key = connection.key()
    if key is None:  # a connection not compared by value shares nothing
        return None
    clients = _CLIENTS
    with clients.lock:
        if key in clients.clients:
            return clients.clients[key]
        made = None
        if has_retry_switch() and reachable(connection):
            made = NativeClient(connection, clients.bootstrap())
        clients.clients[key] = made
        return made


def forget() -> None:
    """Clients asked for from now on are made anew (their event loop is
    kept): as _client.forget_shared_clients does for botocore's."""
    with _CLIENTS.lock:
        _CLIENTS.clients.clear()


def _forget_after_fork() -> None:
    """A forked child makes its own clients (the parent's event loop
    threads are not in it) and never releases the parent's."""
    global _CLIENTS
    _INHERITED.append(_CLIENTS)
    _CLIENTS = _Clients()


os.register_at_fork(after_in_child=_forget_after_fork)
