"""Small PutObjects sent by awscrt's native client: the same bytes stored,
the same failures raised (as the botocore exceptions _errors judges), each
request attempted once by awscrt and retried by the clerk alone, and
botocore used wherever the native path cannot keep that."""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import pickle
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from awscrt.exceptions import AwsCrtError
from awscrt.s3 import S3ResponseError
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    SSLError,
)

from object_clerk import (
    ObjectClerk,
    ObjectClerkConfigurationException,
    ObjectClerkConnectionException,
    ObjectClerkServerAuthException,
    ObjectClerkServerInternalException,
    ObjectExistsException,
    ObjectNotFoundException,
    ObjectVerificationException,
    _guards,
    _native,
)
from object_clerk._errors import error_code, http_status, is_transient, translate
from tests.proxy import FaultProxy, request_matcher
from tests.support import TEST_THRESHOLD, Endpoint, client_of, stored_bytes, stored_keys

# An awscrt without S3RetryMode.NONE (an older one) is never used: there
# these tests have nothing to send natively.
needs_native = pytest.mark.skipif(
    not _native.has_retry_switch(), reason="this awscrt has no S3RetryMode.NONE"
)

SMALL = b"a small object, sent natively\n" * 100
SECRET_FOR_LEAKS = "a-secret-that-must-show-nowhere"


class NativePuts:
    """Counts the PutObjects the native client sends (each attempt), and
    the processes it sends them from; sends them all the same."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        self._lock = threading.Lock()
        original = _native.NativeClient.put_object

        def counted(client: _native.NativeClient, **request: Any) -> Any:
            with self._lock:
                self.count += 1
            return original(client, **request)

        monkeypatch.setattr(_native.NativeClient, "put_object", counted)


@pytest.fixture
def native_puts(monkeypatch: pytest.MonkeyPatch) -> NativePuts:
    return NativePuts(monkeypatch)


@pytest.fixture
def proxy(endpoint: Endpoint) -> Iterator[FaultProxy]:
    if endpoint.use_ssl:
        pytest.skip("the test proxy speaks plain http")
    with FaultProxy(endpoint.port, delay=1.5) as running:
        yield running


@pytest.fixture
def proxied(
    make_clerk: Callable[..., ObjectClerk], proxy: FaultProxy
) -> Callable[..., ObjectClerk]:
    def make(native: str = "1") -> ObjectClerk:
        timeouts = '{"read_timeout": 1, "connect_timeout": 1}'
        env = {"S3_CLIENT_CONFIG": timeouts, "S3_NATIVE_REQUESTS": native}
        return make_clerk(env=env, host="127.0.0.1", port=proxy.port, retry_tries=3)

    return make


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


# -- what is stored ---------------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["plain", "a dir/with spaces+plus%percent~tilde", "ünï/cödé", "x" * 200]
)
@needs_native
def test_a_native_put_stores_exactly_the_bytes_and_headers(
    clerk: ObjectClerk, s3: Any, bucket: str, native_puts: NativePuts, key: str
) -> None:
    data = os.urandom(70_000)
    clerk.upload_object(
        data, bucket, key, content_type="text/x-test", metadata={"origin": "native test"}
    )
    assert native_puts.count == 1, "sent natively, once"
    assert stored_bytes(s3, bucket, key) == data
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ContentType"] == "text/x-test"
    assert head["Metadata"] == {"origin": "native test"}
    assert head["ETag"].strip('"') == hashlib.md5(data).hexdigest()


@needs_native
def test_objects_over_the_limit_and_checksummed_uploads_go_by_botocore(
    make_clerk: Callable[..., ObjectClerk], s3: Any, bucket: str, native_puts: NativePuts
) -> None:
    clerk = make_clerk()
    big = os.urandom(_native.NATIVE_PUT_LIMIT + 1)
    clerk.upload_object(big, bucket, "over")
    assert native_puts.count == 0
    assert stored_bytes(s3, bucket, "over") == big
    clerk.upload_object(SMALL, bucket, "at", verify_checksum=True)
    assert native_puts.count == 1


@needs_native
def test_a_source_that_changes_while_it_is_sent_is_sent_again_as_it_is_now(
    clerk: ObjectClerk,
    s3: Any,
    bucket: str,
    native_puts: NativePuts,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What one native attempt sends is one version of the source (proven
    unchanged after it was hashed, see _DigestingClient._send); a change
    found after the write sends the file again, as botocore's path does."""
    path = tmp_path / "f"
    path.write_bytes(SMALL)
    counted = _native.NativeClient.put_object
    grown: list[bool] = []

    def grow_first(client: _native.NativeClient, **request: Any) -> Any:
        if not grown:
            grown.append(True)
            with open(path, "ab") as opened:
                opened.write(b"more")
        return counted(client, **request)

    monkeypatch.setattr(_native.NativeClient, "put_object", grow_first)
    clerk.upload_object(str(path), bucket, "k")
    assert native_puts.count == 2
    assert stored_bytes(s3, bucket, "k") == SMALL + b"more"


# -- failures ------------------------------------------------------------------


def _with_and_without(
    make_clerk: Callable[..., ObjectClerk], **overrides: Any
) -> list[ObjectClerk]:
    return [
        make_clerk(env={"S3_NATIVE_REQUESTS": "1"}, **overrides),
        make_clerk(env={"S3_NATIVE_REQUESTS": "0"}, **overrides),
    ]


@needs_native
def test_a_missing_bucket_is_not_found_as_with_botocore(
    make_clerk: Callable[..., ObjectClerk], bucket: str, native_puts: NativePuts
) -> None:
    for clerk in _with_and_without(make_clerk):
        with pytest.raises(ObjectNotFoundException, match="NoSuchBucket"):
            clerk.upload_object(SMALL, bucket + "-missing", "k")
    assert native_puts.count == 1, "once natively, not retried"


@needs_native
def test_a_wrong_secret_is_refused_as_with_botocore_and_never_shown(
    make_clerk: Callable[..., ObjectClerk],
    endpoint: Endpoint,
    bucket: str,
    native_puts: NativePuts,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if not endpoint.live:
        pytest.skip("moto accepts any signature")
    messages = []
    with caplog.at_level(logging.DEBUG):
        for clerk in _with_and_without(make_clerk, secret_key=SECRET_FOR_LEAKS):
            with pytest.raises(ObjectClerkServerAuthException) as raised:
                clerk.upload_object(SMALL, bucket, "k")
            messages += [str(raised.value), repr(raised.value), str(raised.value.__cause__)]
    assert native_puts.count == 1, "once natively, not retried"
    messages += [record.getMessage() for record in caplog.records]
    assert not any(SECRET_FOR_LEAKS in message for message in messages)


@needs_native
def test_the_secret_shows_in_no_repr_of_the_native_client(
    make_clerk: Callable[..., ObjectClerk], bucket: str, native_puts: NativePuts
) -> None:
    clerk = make_clerk(secret_key=SECRET_FOR_LEAKS)
    connection = client_of(clerk).native_connection
    assert connection is not None
    native = _native.client_for(connection)
    assert native is not None
    shown = [repr(native), str(native), repr(vars(native)), repr(connection)]
    assert not any(SECRET_FOR_LEAKS in text for text in shown)


@needs_native
def test_an_existing_object_is_kept_as_with_botocore(
    make_clerk: Callable[..., ObjectClerk],
    s3: Any,
    bucket: str,
    native_puts: NativePuts,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """412 to If-None-Match: ObjectExistsException. The clerk's own check
    before sending is passed over by creating the object just after it."""
    refuse = _guards.refuse_overwrite

    def then_written(client: Any, conditions: Any, bucket: str, key: str, kind: Any) -> None:
        refuse(client, conditions, bucket, key, kind)
        s3.put_object(Bucket=bucket, Key=key, Body=b"another writer's")

    monkeypatch.setattr(_guards, "refuse_overwrite", then_written)
    for clerk in _with_and_without(make_clerk):
        key = f"k-{len(stored_keys(s3, bucket))}"
        with pytest.raises(ObjectExistsException):
            clerk.upload_object(SMALL, bucket, key, overwrite=False)
        assert stored_bytes(s3, bucket, key) == b"another writer's"
    assert native_puts.count == 1, "once natively, not retried"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("internal_error", ObjectClerkServerInternalException),
        ("slowdown", ObjectClerkServerInternalException),
        ("close_before", ObjectClerkConnectionException),
        ("lost_answer", ObjectClerkConnectionException),
        ("half_body", ObjectClerkConnectionException),
        ("delay", ObjectClerkConnectionException),
    ],
)
@needs_native
def test_server_and_connection_failures_are_retried_then_raised_as_with_botocore(
    proxied: Callable[..., ObjectClerk],
    proxy: FaultProxy,
    bucket: str,
    native_puts: NativePuts,
    fault: str,
    expected: type[Exception],
) -> None:
    """500 and 503 answers, a closed or reset connection, an answer that
    never comes: each attempt is one request (awscrt retries none), the
    clerk repeats it retry_tries times, and the end is the exception the
    botocore path ends in."""
    proxy.inject(request_matcher("PUT", f"/{bucket}/k"), fault, times=1000)
    for native in ("1", "0"):
        matched = proxy.matched[fault]
        clerk = proxied(native)
        with pytest.raises(expected):
            clerk.upload_object(SMALL, bucket, "k")
        assert proxy.matched[fault] - matched == 3, "exactly retry_tries attempts"
    assert native_puts.count == 3


@pytest.mark.slow
@pytest.mark.parametrize(
    "fault", ["internal_error", "slowdown", "close_before", "lost_answer", "half_body", "delay"]
)
@needs_native
def test_two_failures_are_healed_natively(
    proxied: Callable[..., ObjectClerk],
    proxy: FaultProxy,
    s3: Any,
    bucket: str,
    native_puts: NativePuts,
    fault: str,
) -> None:
    proxy.inject(request_matcher("PUT", f"/{bucket}/k"), fault, times=2)
    proxied().upload_object(SMALL, bucket, "k", overwrite=False)
    assert proxy.matched[fault] == 2
    assert native_puts.count == 3
    assert stored_bytes(s3, bucket, "k") == SMALL


@pytest.mark.slow
@needs_native
def test_a_damaged_body_is_refused_by_its_content_md5_and_sent_again(
    proxied: Callable[..., ObjectClerk],
    proxy: FaultProxy,
    endpoint: Endpoint,
    s3: Any,
    bucket: str,
    native_puts: NativePuts,
) -> None:
    if not endpoint.live:
        pytest.skip("moto does not check Content-MD5")
    proxy.inject(request_matcher("PUT", f"/{bucket}/k"), "flip_request", times=1)
    proxied().upload_object(SMALL, bucket, "k")
    assert proxy.matched["flip_request"] == 1
    assert native_puts.count == 2, "refused (BadDigest), sent again"
    assert stored_bytes(s3, bucket, "k") == SMALL


@needs_native
def test_a_wrong_content_md5_is_refused_by_the_store(
    clerk: ObjectClerk, endpoint: Endpoint, s3: Any, bucket: str
) -> None:
    if not endpoint.live:
        pytest.skip("moto does not check Content-MD5")
    connection = client_of(clerk).native_connection
    assert connection is not None
    native = _native.client_for(connection)
    assert native is not None
    with pytest.raises(ClientError) as raised:
        native.put_object(Bucket=bucket, Key="k", Body=SMALL, ContentMD5=_md5(b"other"))
    assert error_code(raised.value) == "BadDigest"
    assert http_status(raised.value) == 400
    assert is_transient(raised.value)
    assert stored_keys(s3, bucket) == []


@needs_native
def test_a_closed_port_is_a_connection_failure_retried(
    make_clerk: Callable[..., ObjectClerk], bucket: str, native_puts: NativePuts
) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # closed again when the test sends
    clerk = make_clerk(host="127.0.0.1", port=port)
    with pytest.raises(ObjectClerkConnectionException):
        clerk.upload_object(SMALL, bucket, "k")
    assert native_puts.count == 3, "retry_tries attempts"


# -- the translation table -----------------------------------------------------


def _crt_error(name: str) -> AwsCrtError:
    return AwsCrtError(code=1, name=name, message=f"{name} happened")


@pytest.mark.parametrize(
    ("name", "kind", "transient"),
    [
        ("AWS_IO_SOCKET_CONNECTION_REFUSED", EndpointConnectionError, True),
        ("AWS_IO_DNS_INVALID_NAME", EndpointConnectionError, True),
        ("AWS_IO_SOCKET_CLOSED", ConnectionClosedError, True),
        ("AWS_ERROR_HTTP_CONNECTION_CLOSED", ConnectionClosedError, True),
        ("AWS_IO_TLS_ERROR_NEGOTIATION_FAILURE", SSLError, False),
        ("AWS_ERROR_S3_SLOW_DOWN", ClientError, True),
        ("AWS_ERROR_S3_INTERNAL_ERROR", ClientError, True),
        ("AWS_ERROR_SOMETHING_NEW", _native.NativeRequestError, False),
    ],
)
def test_each_runtime_failure_is_the_botocore_exception_of_its_meaning(
    name: str, kind: type[Exception], transient: bool
) -> None:
    error = _native.as_botocore(_crt_error(name), "http://127.0.0.1:1")
    assert type(error) is kind
    assert is_transient(error) is transient
    translated = str(translate(error, "upload_object b/k"))
    assert "127.0.0.1:1" in translated or name in translated


def test_runtime_names_of_store_answers_carry_their_status() -> None:
    slow = _native.as_botocore(_crt_error("AWS_ERROR_S3_SLOW_DOWN"), "http://h:1")
    assert (error_code(slow), http_status(slow)) == ("SlowDown", 503)
    internal = _native.as_botocore(_crt_error("AWS_ERROR_S3_INTERNAL_ERROR"), "http://h:1")
    assert (error_code(internal), http_status(internal)) == ("InternalError", 500)


@pytest.mark.parametrize(
    ("status", "body", "code", "expected"),
    [
        (
            404,
            b"<Error><Code>NoSuchBucket</Code><Message>no</Message></Error>",
            "NoSuchBucket",
            ObjectNotFoundException,
        ),
        (
            403,
            b"<Error><Code>AccessDenied</Code></Error>",
            "AccessDenied",
            ObjectClerkServerAuthException,
        ),
        (
            412,
            b"<Error><Code>PreconditionFailed</Code></Error>",
            "PreconditionFailed",
            ObjectVerificationException,
        ),
        (400, b"<Error><Code>BadDigest</Code></Error>", "BadDigest", ObjectVerificationException),
        (500, b"", "500", ObjectClerkServerInternalException),
        (503, None, "503", ObjectClerkServerInternalException),
        (502, b"<html>not xml", "502", ObjectClerkServerInternalException),
        (
            403,
            b"<!DOCTYPE x [<!ENTITY a 'b'>]><Error><Code>&a;</Code></Error>",
            "b",
            ObjectClerkServerAuthException,
        ),
    ],
)
def test_an_error_answer_is_the_client_error_botocore_raises(
    status: int, body: bytes | None, code: str, expected: type[Exception]
) -> None:
    answer = S3ResponseError(
        code=14343,
        name="AWS_ERROR_S3_INVALID_RESPONSE_STATUS",
        message="Invalid response status from request",
        status_code=status,
        headers=[("Content-Type", "application/xml")],
        body=body,
        operation_name="PutObject",
    )
    error = _native.as_botocore(answer, "http://127.0.0.1:1")
    assert isinstance(error, ClientError)
    assert (error_code(error), http_status(error)) == (code, status)
    assert isinstance(translate(error, "upload_object b/k"), expected)


# -- where the native path is not used -------------------------------------------


def test_without_the_retry_switch_botocore_sends_everything(
    make_clerk: Callable[..., ObjectClerk],
    s3: Any,
    bucket: str,
    native_puts: NativePuts,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An awscrt without S3RetryMode.NONE would retry behind the clerk's
    back: it is not used."""
    monkeypatch.setattr(_native, "has_retry_switch", lambda: False)
    make_clerk().upload_object(SMALL, bucket, "k")
    assert native_puts.count == 0
    assert stored_bytes(s3, bucket, "k") == SMALL


@pytest.mark.parametrize("value", ["0", "false", "No", "off"])
def test_the_setting_turns_the_native_path_off(
    make_clerk: Callable[..., ObjectClerk],
    s3: Any,
    bucket: str,
    native_puts: NativePuts,
    value: str,
) -> None:
    make_clerk(env={"S3_NATIVE_REQUESTS": value}).upload_object(SMALL, bucket, "k")
    assert native_puts.count == 0
    assert stored_bytes(s3, bucket, "k") == SMALL


def test_a_bad_setting_names_the_variable(make_clerk: Callable[..., ObjectClerk]) -> None:
    with pytest.raises(ObjectClerkConfigurationException, match="S3_NATIVE_REQUESTS"):
        make_clerk(env={"S3_NATIVE_REQUESTS": "maybe"})


def test_a_handler_on_put_object_keeps_it_with_botocore(
    clerk: ObjectClerk, s3: Any, bucket: str, native_puts: NativePuts
) -> None:
    """Handlers registered on the client's events see (or change) every
    PutObject, as they did before the native path existed."""
    seen: list[str] = []
    client_of(clerk).raw.meta.events.register(
        "before-send.s3.PutObject", lambda request, **_: seen.append(request.url)
    )
    clerk.upload_object(SMALL, bucket, "k")
    assert native_puts.count == 0
    assert len(seen) == 1
    client_of(clerk).raw.meta.events.register("after-call.s3.GetObject", lambda **_: None)
    assert stored_bytes(s3, bucket, "k") == SMALL


@needs_native
def test_a_handler_on_other_operations_leaves_put_object_native(
    clerk: ObjectClerk, bucket: str, native_puts: NativePuts
) -> None:
    client_of(clerk).raw.meta.events.register("after-call.s3.GetObject", lambda **_: None)
    clerk.upload_object(os.urandom(TEST_THRESHOLD + 1), bucket, "multipart")  # s3transfer's own
    clerk.upload_object(SMALL, bucket, "k")
    assert native_puts.count == 1


# -- TLS -------------------------------------------------------------------------


@pytest.fixture
def https_port(endpoint: Endpoint) -> int:
    if not (endpoint.live and os.environ.get("HTTPS_PORT") and os.environ.get("CA_BUNDLE")):
        pytest.skip("needs a live gateway's TLS endpoint: HTTPS_PORT and CA_BUNDLE")
    return int(os.environ["HTTPS_PORT"])


@needs_native
def test_tls_with_the_ca_bundle(
    make_clerk: Callable[..., ObjectClerk],
    https_port: int,
    s3: Any,
    bucket: str,
    native_puts: NativePuts,
) -> None:
    clerk = make_clerk(port=https_port, use_ssl=True, verify=os.environ["CA_BUNDLE"])
    clerk.upload_object(SMALL, bucket, "k")
    unverified = make_clerk(port=https_port, use_ssl=True, verify=False)
    unverified.upload_object(SMALL + b"2", bucket, "k2")
    assert native_puts.count == 2
    assert stored_bytes(s3, bucket, "k") == SMALL
    assert stored_bytes(s3, bucket, "k2") == SMALL + b"2"


@needs_native
def test_an_untrusted_certificate_is_refused_at_once(
    make_clerk: Callable[..., ObjectClerk], https_port: int, bucket: str, native_puts: NativePuts
) -> None:
    untrusting = make_clerk(port=https_port, use_ssl=True, verify=None)
    with pytest.raises(ObjectClerkConnectionException, match="TLS"):
        untrusting.upload_object(SMALL, bucket, "k")
    assert native_puts.count == 1, "not retried"


# -- other processes -------------------------------------------------------------


@needs_native
def test_a_forked_child_makes_its_own_native_client(
    clerk: ObjectClerk, s3: Any, bucket: str, native_puts: NativePuts
) -> None:
    clerk.upload_object(SMALL, bucket, "parent")
    connection = client_of(clerk).native_connection
    assert connection is not None
    parent_native = _native.client_for(connection)
    assert parent_native is not None
    pid = os.fork()
    if pid == 0:  # the child: report by exit status only
        status = 1
        try:
            child_connection = client_of(clerk).native_connection
            assert child_connection is not None
            own = _native.client_for(child_connection)
            clerk.upload_object(SMALL + b"child", bucket, "child")
            status = 0 if own is not None and own is not parent_native else 2
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert stored_bytes(s3, bucket, "child") == SMALL + b"child"
    clerk.upload_object(SMALL, bucket, "parent again")  # the parent's still works
    assert native_puts.count == 2


@needs_native
def test_a_pickled_clerk_keeps_its_setting_and_makes_its_own_client(
    make_clerk: Callable[..., ObjectClerk],
    s3: Any,
    bucket: str,
    native_puts: NativePuts,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    on = make_clerk(env={"S3_NATIVE_REQUESTS": "1"})
    off = make_clerk(env={"S3_NATIVE_REQUESTS": "0"})
    monkeypatch.setenv("S3_NATIVE_REQUESTS", "not read again")
    travelled_on, travelled_off = pickle.loads(pickle.dumps((on, off)))
    assert b"NativeClient" not in pickle.dumps(on), "no client travels"
    travelled_off.upload_object(SMALL, bucket, "off")
    assert native_puts.count == 0
    travelled_on.upload_object(SMALL, bucket, "on")
    assert native_puts.count == 1
    assert stored_bytes(s3, bucket, "on") == stored_bytes(s3, bucket, "off") == SMALL


def _connection(url: str = "http://127.0.0.1:9", **config: Any) -> Any:
    from botocore.config import Config

    from object_clerk._client import Connection, Secret

    return Connection(url, "access", Secret("secret"), Config(**config), None)


def test_only_a_store_botocore_reaches_directly_and_path_style_goes_natively(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [n for n in os.environ if n.upper().endswith("_PROXY")]:
        monkeypatch.delenv(name)
    assert _native.reachable(_connection())
    assert _native.reachable(_connection("https://s3.example.com", s3={"addressing_style": "path"}))
    assert not _native.reachable(_connection(s3={"addressing_style": "virtual"}))
    assert not _native.reachable(_connection(proxies={"http": "http://127.0.0.1:3128"}))
    assert not _native.reachable(_connection("http://127.0.0.1:9/prefix"))
    monkeypatch.setenv("NO_PROXY", "example.com")
    assert _native.reachable(_connection())
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    assert not _native.reachable(_connection())


def test_which_handlers_observe_put_object(clerk: ObjectClerk) -> None:
    raw = client_of(clerk).raw
    assert not _native.observed(raw, "PutObject"), "the clerk's and boto3's own do not"
    raw.meta.events.register("before-send.s3.GetObject", lambda **_: None)
    raw.meta.events.register_first(
        "request-created.s3", lambda **_: None, unique_id="s3upload-not-transferring"
    )
    assert not _native.observed(raw, "PutObject")
    raw.meta.events.register_last("before-sign.s3", lambda **_: None)
    assert _native.observed(raw, "PutObject")


def test_connections_of_the_aws_configuration_or_with_a_token_go_by_botocore(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The native client signs with the connection's own keys for us-east-1
    against an endpoint URL: credentials botocore resolves (and refreshes),
    a session token, another region or AWS's own endpoint stay with botocore."""
    import dataclasses

    from object_clerk._client import Secret

    for name in [n for n in os.environ if n.upper().endswith("_PROXY")]:
        monkeypatch.delenv(name)
    plain = _connection()
    assert _native.reachable(plain)
    assert not _native.reachable(dataclasses.replace(plain, aws_config=True))
    assert not _native.reachable(dataclasses.replace(plain, session_token=Secret("token")))
    assert not _native.reachable(dataclasses.replace(plain, region="eu-west-1"))
    assert not _native.reachable(dataclasses.replace(plain, endpoint_url=None))
