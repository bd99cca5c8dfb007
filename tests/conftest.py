"""Fixtures: an S3 endpoint (an embedded moto server on 127.0.0.1, or a live
one named by HOST/PORT/ACCESS_KEY/SECRET_KEY), fresh buckets, plain boto3
clients to check what the store holds, and clerks that never sleep."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from object_clerk import ObjectClerk
from object_clerk._client import forget_shared_clients
from tests.support import TEST_THRESHOLD, Endpoint, empty_and_delete, plain_client


def _live_endpoint() -> Endpoint | None:
    names = ("HOST", "PORT", "ACCESS_KEY", "SECRET_KEY")
    if not all(os.environ.get(name) for name in names):
        return None
    return Endpoint(
        host=os.environ["HOST"],
        port=int(os.environ["PORT"]),
        access_key=os.environ["ACCESS_KEY"],
        secret_key=os.environ["SECRET_KEY"],
        use_ssl=os.environ.get("USE_SSL", "").lower() in ("1", "true", "yes"),
        live=True,
    )


@pytest.fixture(scope="session")
def endpoint() -> Iterator[Endpoint]:
    live = _live_endpoint()
    if live is not None:
        yield live
        return
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield Endpoint(host, port, "test-access-key", "test-secret-key", False, live=False)
    finally:
        server.stop()


@pytest.fixture
def moto_only(endpoint: Endpoint) -> None:
    if endpoint.live:
        pytest.skip("shows a behaviour of the embedded moto server only")


@pytest.fixture(scope="session")
def s3(endpoint: Endpoint) -> Any:
    """Plain boto3, to prepare objects and to check what the store holds."""
    return plain_client(endpoint)


@pytest.fixture
def make_bucket(s3: Any) -> Iterator[Callable[[], str]]:
    made: list[str] = []

    def make() -> str:
        name = f"clerk-test-{uuid.uuid4().hex[:16]}"
        s3.create_bucket(Bucket=name)
        made.append(name)
        return name

    yield make
    for name in made:
        empty_and_delete(s3, name)


@pytest.fixture
def bucket(make_bucket: Callable[[], str]) -> str:
    return make_bucket()


@pytest.fixture(autouse=True)
def fresh_clients() -> None:
    """Each test's clerks share no client with an earlier test's: tests
    register event handlers (faults, counters) on their clerks' clients."""
    forget_shared_clients()


@pytest.fixture
def make_clerk(endpoint: Endpoint, monkeypatch: pytest.MonkeyPatch) -> Callable[..., ObjectClerk]:
    """Clerks on the endpoint with zero retry delays and a 5 MiB threshold;
    keyword arguments override constructor arguments, env= the environment.
    Each has a client of its own (tests register event handlers on it),
    unless own_client=False: then it shares the one of its connection."""

    def make(
        env: dict[str, str] | None = None, *, own_client: bool = True, **overrides: Any
    ) -> ObjectClerk:
        settings = {"MULTIPART_THRESHOLD": str(TEST_THRESHOLD), **(env or {})}
        for name, value in settings.items():
            monkeypatch.setenv(name, value)
        arguments: dict[str, Any] = {
            "host": endpoint.host,
            "port": endpoint.port,
            "access_key": endpoint.access_key,
            "secret_key": endpoint.secret_key,
            "retry_delay": 0,
            "retry_backoff": 1,
            "retry_jitter": 0,
            "retry_max_delay": 0,
            "retry_tries": 3,
            "use_ssl": endpoint.use_ssl,
            "verify": os.environ.get("CA_BUNDLE") or None,
        }
        arguments.update(overrides)
        if own_client:
            forget_shared_clients()
        return ObjectClerk(**arguments)

    return make


@pytest.fixture
def clerk(make_clerk: Callable[..., ObjectClerk]) -> ObjectClerk:
    return make_clerk()


# Fixtures that reach an S3 endpoint: a test using any of them (directly or
# through another fixture) is a store test, every other one a unit test.
STORE_FIXTURES = frozenset({"endpoint", "s3", "bucket", "make_bucket", "clerk", "make_clerk"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test unit or store by the fixtures it uses, so that the
    tiers need no hand-marking (slow is marked by hand, by measurement)."""
    for item in items:
        if item.get_closest_marker("store") or item.get_closest_marker("unit"):
            continue  # marked by hand: it reaches a store of its own making
        uses = set(getattr(item, "fixturenames", ()))
        item.add_marker(pytest.mark.store if uses & STORE_FIXTURES else pytest.mark.unit)
