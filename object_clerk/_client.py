"""The S3 client: a boto3 client whose every request is retried, made
once in each process that uses it.

RetryingClient stands in for the boto3 client everywhere, in the clerk and
in the s3transfer managers it hands the client to, so that each request
(each page of a listing, each part of a transfer) is retried on its own.
ProcessClient keeps what a client is made from rather than the client, so
that a clerk can be pickled to another process (a boto3 client cannot) and
used after a fork (a boto3 client made before it is unsafe after it).

The clients themselves are shared within a process by every clerk made from
the same connection, and all are made by one botocore session, whose loader
keeps the parsed S3 service model: a clerk made for each call, as pipelines
do, then costs a look-up rather than a session, a parse of the model and a
connection pool of its own.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import hmac
import logging
import os
import re
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import boto3
import botocore.loaders
import botocore.session
import botocore.utils
from botocore.config import Config

from object_clerk import _aws_config, _native
from object_clerk._aws_config import DEFAULT_REGION
from object_clerk._retry import RetryPolicy
from object_clerk._settings import native_requests

T = TypeVar("T")

# Bodies up to this size go without "Expect: 100-continue".
IN_ONE_WRITE = 1024 * 1024


class Secret:
    """A secret key that shows as *** wherever it is printed, logged or
    formatted into a message; reveal() is for the client alone."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'***'"

    __str__ = __repr__

    def __getstate__(self) -> str:
        return self._value  # a worker needs it to sign its requests

    def __setstate__(self, value: str) -> None:
        self._value = value


@dataclass(frozen=True)
class Connection:
    """What a client is made from: picklable, and without a client.

    With aws_config, the credentials are the AWS configuration's (see
    _aws_config): access_key, secret_key and session_token are what it gave
    when the connection was made, which tell connections apart (key), while
    each client is made by botocore's own session of the profile, whose
    credentials botocore refreshes where they expire (an assumed role).
    Pickled, such a connection carries its profile, endpoint and region,
    never its credentials: the other process resolves them again from the
    same profile (see __reduce__)."""

    endpoint_url: str | None
    access_key: str
    secret_key: Secret
    config: Config
    verify: bool | str | None
    session_token: Secret | None = None
    region: str = DEFAULT_REGION
    profile: str | None = None
    aws_config: bool = False

    def client(self) -> Any:
        """The boto3 client of this connection in this process: the one
        already made from the same connection, else a new one."""
        return _SHARED.client(self)

    def new_client(self, session: boto3.session.Session, loader: Any = None) -> Any:
        # A copy: botocore rewrites the retries of the config it is given.
        config = copy.deepcopy(self.config)
        if self.aws_config or self.session_token is not None:
            hide_tokens_in_logs()
        if not self.aws_config:
            token = self.session_token.reveal() if self.session_token is not None else None
            return make_s3_client(
                session,
                self.endpoint_url,
                self.access_key,
                self.secret_key.reveal(),
                config,
                self.verify,
                token,
                self.region,
            )
        if self.endpoint_url is None:
            # AWS's own endpoint, as resolved where the connection was made:
            # not one this process's environment or files would name.
            ignored: dict[str, Any] = {"ignore_configured_endpoint_urls": True}
            config = config.merge(Config(**ignored))
        core = _aws_config.session(self.profile, loader)
        _parse_timestamps(core)
        profile_session = boto3.session.Session(botocore_session=core)
        return make_s3_client(
            profile_session, self.endpoint_url, None, None, config, self.verify, None, self.region
        )

    def __reduce__(self) -> tuple[Any, ...]:
        if self.aws_config:
            # Credentials that expire (assumed roles, SSO) would be stale in
            # a long-lived worker, and a pickled task graph would hold them:
            # the worker resolves its own, as boto3 there would. Where the
            # data goes (endpoint, region) is the one resolved here.
            where = (self.profile, self.endpoint_url, self.region, self.config, self.verify)
            return (_reresolved, where)
        fields = (self.endpoint_url, self.access_key, self.secret_key, self.config, self.verify)
        return (Connection, (*fields, self.session_token, self.region))

    def key(self) -> bytes | None:
        """What the client is made from, as a digest under a key of this
        process: equal exactly when the clients would be, and showing no
        secret wherever it is kept. It covers the environment botocore reads
        when it makes a client (AWS_*, proxies), so that a clerk made after
        a change to it gets a client made after it too. None where the
        config holds a value that cannot be compared by value: such a client
        is not shared."""
        try:
            made_from = (
                self.endpoint_url,
                self.access_key,
                self.secret_key.reveal(),
                self.session_token.reveal() if self.session_token is not None else None,
                self.region,
                self.profile,
                self.aws_config,
                tuple((name, _canonical(getattr(self.config, name))) for name in _CONFIG_OPTIONS),
                _canonical(self.verify),
                tuple(sorted(_client_environment().items())),
            )
        except TypeError:
            return None
        return hmac.digest(_DIGEST_KEY, repr(made_from).encode(), hashlib.sha256)


def aws_config_connection(
    resolved: _aws_config.Resolved, config: Config, verify: bool | str | None
) -> Connection:
    """The connection of what the AWS configuration resolved to."""
    return Connection(
        endpoint_url=resolved.endpoint_url,
        access_key=resolved.access_key,
        secret_key=Secret(resolved.secret_key),
        config=config,
        verify=verify,
        session_token=Secret(resolved.token) if resolved.token is not None else None,
        region=resolved.region,
        profile=resolved.profile,
        aws_config=True,
    )


def _reresolved(
    profile: str | None,
    endpoint_url: str | None,
    region: str,
    config: Config,
    verify: bool | str | None,
) -> Connection:
    """A connection unpickled in another process: the same profile's
    credentials as resolved there, to the endpoint and region resolved where
    it was made."""
    resolved = _aws_config.resolve(profile, endpoint_url, region)
    pinned = dataclasses.replace(resolved, endpoint_url=endpoint_url, region=region)
    return aws_config_connection(pinned, config, verify)


class ProcessClient:
    """The retrying client of the current process, made on first use in
    each process and shared by its threads. Pickling carries the connection,
    the policy and whether small PutObjects may go natively (read from
    S3_NATIVE_REQUESTS when the clerk is made, unless native says), never
    the client."""

    def __init__(
        self, connection: Connection, policy: RetryPolicy, native: bool | None = None
    ) -> None:
        self._connection = connection
        self._policy = policy
        self._native = native_requests(keyword=native)
        self._reset()
        _LIVE.add(self)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._client: RetryingClient | None = None

    def get(self) -> RetryingClient:
        client = self._client
        if client is None:
            with self._lock:
                if self._client is None:
                    self._client = RetryingClient(
                        self._connection.client(),
                        self._policy,
                        self._connection if self._native else None,
                    )
                client = self._client
        return client

    def __getstate__(self) -> dict[str, Any]:
        return {"connection": self._connection, "policy": self._policy, "native": self._native}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["connection"], state["policy"], state.get("native"))  # type: ignore[misc]


# botocore's loggers that write a request's headers at DEBUG level, the
# session token (X-Amz-Security-Token) among them.
_HEADER_LOGGERS = ("botocore.endpoint", "botocore.auth")
_SECURITY_TOKEN = re.compile(
    r"""(x-amz-security-token['"]?\s*[:=]\s*b?['"]?)[^'"\s,}&]+""", re.IGNORECASE
)


class _HiddenTokens(logging.Filter):
    """Shows a session token in botocore's DEBUG records of requests as ***,
    whatever its value (a refreshed token is a new one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        hidden = _SECURITY_TOKEN.sub(r"\1***", message)
        if hidden != message:
            record.msg, record.args = hidden, None
        return True


_HIDDEN_TOKENS = _HiddenTokens()


def hide_tokens_in_logs() -> None:
    """Filter botocore's request logs (once per process): from the first
    client that may send a session token on."""
    for name in _HEADER_LOGGERS:
        logger = logging.getLogger(name)
        if _HIDDEN_TOKENS not in logger.filters:
            logger.addFilter(_HIDDEN_TOKENS)


# The clients of this process, shared by connection: the latest this many.
# A client still in use by a clerk stays its client when it leaves the cache.
SHARED_CLIENTS = 16

# Config options are compared by name; botocore lists them all here.
_CONFIG_OPTIONS = tuple(Config.OPTION_DEFAULTS)

# The digests of connections are keyed, so that a digest kept in memory
# cannot be tested against guessed secrets.
_DIGEST_KEY = os.urandom(32)

# Values compared by value; of these exact types only (a subclass may
# compare, or print, otherwise).
_PLAIN = (type(None), bool, int, float, str, bytes)


def _canonical(value: Any) -> Any:
    """value as nested tuples of plain values, whose repr is equal exactly
    when the values are; TypeError for a value of any other type."""
    if type(value) in _PLAIN:
        return value
    if type(value) is dict:
        items = [(repr(_canonical(k)), _canonical(v)) for k, v in value.items()]
        return ("dict", tuple(sorted(items)))
    if type(value) in (list, tuple):
        return (type(value).__name__, tuple(_canonical(item) for item in value))
    raise TypeError(f"{type(value).__name__} is not compared by value")


def _client_environment() -> dict[str, str]:
    """The variables botocore consults when it makes a client: its own
    (AWS_CA_BUNDLE, AWS_ENDPOINT_URL_S3...) and the proxies."""
    return {
        name: value
        for name, value in os.environ.items()
        if name.upper().startswith("AWS_") or name.upper().endswith("_PROXY")
    }


class SharedClients:
    """This process's boto3 session and the clients made with it, by the
    digest of their connection, the latest SHARED_CLIENTS of them. The
    session's loader keeps the parsed service model and endpoint data for
    every client it makes. Used under the lock: a session is not
    thread-safe (its clients are)."""

    def __init__(self, session: boto3.session.Session | None = None, loader: Any = None) -> None:
        self.lock = threading.Lock()
        self.session = session
        # The session's loader, lent to the sessions of AWS profiles.
        self.loader = loader
        self._clients: OrderedDict[bytes, Any] = OrderedDict()

    def client(self, connection: Connection) -> Any:
        key = connection.key()
        with self.lock:
            if key is not None and key in self._clients:
                self._clients.move_to_end(key)
                return self._clients[key]
            if self.session is None:
                self.loader = botocore.loaders.create_loader()
                self.session = _new_session(self.loader)
            client = connection.new_client(self.session, self.loader)
            if key is not None:
                self._clients[key] = client
                while len(self._clients) > SHARED_CLIENTS:
                    self._clients.popitem(last=False)
            return client

    def forget(self) -> None:
        """Make new clients from now on; the session, and its parsed
        models, stay."""
        with self.lock:
            self._clients.clear()


_SHARED = SharedClients()


def forget_shared_clients() -> None:
    """Clerks made from now on get new clients, not the ones made so far
    (on which earlier code may have registered event handlers)."""
    _SHARED.forget()
    _native.forget()


# Every ProcessClient forgets its client in a forked child: the child makes
# its own (and a lock held by a parent's thread at the fork is not held).
_LIVE: weakref.WeakSet[ProcessClient] = weakref.WeakSet()


def _forget_clients_after_fork() -> None:
    """In a forked child: no client of the parent (they hold its
    connections) is used again. The session and its parsed models are
    kept, unless a parent's thread was using it at the fork."""
    global _SHARED
    kept = not _SHARED.lock.locked()
    _SHARED = SharedClients(_SHARED.session if kept else None, _SHARED.loader if kept else None)
    for process_client in list(_LIVE):
        process_client._reset()


os.register_at_fork(after_in_child=_forget_clients_after_fork)


def _new_session(loader: Any = None) -> boto3.session.Session:
    """A boto3 session whose responses' timestamps are read by
    parse_timestamp, with loader's parsed models where one is given."""
    core = botocore.session.get_session()
    if loader is not None:
        core.register_component("data_loader", loader)
    _parse_timestamps(core)
    return boto3.session.Session(botocore_session=core)


def _parse_timestamps(core: botocore.session.Session) -> None:
    """The timestamps of core's responses read by parse_timestamp."""
    core.get_component("response_parser_factory").set_parser_defaults(
        timestamp_parser=parse_timestamp
    )


def make_s3_client(
    session: boto3.session.Session,
    endpoint_url: str | None,
    access_key: str | None,
    secret_key: str | None,
    config: Config,
    verify: bool | str | None,
    session_token: str | None = None,
    region: str = DEFAULT_REGION,
) -> Any:
    """A boto3 S3 client made by session, which the caller holds the lock
    of: sessions are not thread-safe, clients are. Without keys, the
    session's own credentials (botocore's, refreshed where they expire)."""
    client = session.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        aws_session_token=session_token,
        region_name=region,
        config=config,
        verify=verify,
    )
    # After botocore's own handler, which asks every body to wait for it.
    client.meta.events.register_last("before-call.s3", _no_wait_for_small_bodies)
    _native.watch(client)  # handlers registered from now on are the caller's
    return client


def _no_wait_for_small_bodies(params: dict[str, Any], **_: Any) -> None:
    """No "Expect: 100-continue" for a body up to IN_ONE_WRITE bytes: the
    store's go-ahead costs a round trip and a request's worth of its work,
    and is worth waiting for only before a body large enough to be worth
    refusing unsent (a wrong signature, a missing bucket)."""
    headers = params.get("headers", {})
    if "Expect" in headers and params.get("body") is not None:
        length = botocore.utils.determine_content_length(params["body"])
        if length is not None and length <= IN_ONE_WRITE:
            del headers["Expect"]


def parse_timestamp(value: str) -> datetime:
    """A timestamp of a response: the ISO 8601 UTC form every listing entry
    carries at a fortieth of the cost of botocore's general parser (which
    takes the rest), the same instant either way. Its tzinfo is
    datetime.UTC (botocore's own parser gives dateutil's)."""
    if isinstance(value, str) and value.endswith("Z") and "T" in value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if parsed.utcoffset() == timedelta(0):
                return parsed
    parsed_by_botocore: datetime = botocore.utils.parse_timestamp(value)
    return parsed_by_botocore


class RetryingClient:
    """Delegates to a boto3 S3 client; its S3 operations are retried by the
    policy when they fail transiently.

    A request body that is a stream is rewound before each attempt, so a
    repeated PutObject or UploadPart sends the same bytes.

    native_connection is the connection a native client (see _native) may
    be made from for small PutObjects; None: botocore sends every request.
    """

    def __init__(
        self, client: Any, policy: RetryPolicy, native_connection: Connection | None = None
    ) -> None:
        self._client = client
        self._policy = policy
        self.native_connection = native_connection
        self._operations = frozenset(client.meta.method_to_api_mapping)

    @property
    def raw(self) -> Any:
        """The boto3 client itself, without retries."""
        return self._client

    def retried(self, function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Call function (which makes requests with raw) under the policy."""
        return self._policy.call(function, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name not in self._operations:
            return attribute

        def operation(**kwargs: Any) -> Any:
            return self._policy.call(_rewinding(attribute, kwargs.get("Body")), **kwargs)

        operation.__name__ = name
        return operation


def _rewinding(operation: Any, body: Any) -> Any:
    if not (callable(getattr(body, "seek", None)) and callable(getattr(body, "tell", None))):
        return operation
    start = body.tell()

    def from_start(**kwargs: Any) -> Any:
        body.seek(start)
        return operation(**kwargs)

    return from_start
