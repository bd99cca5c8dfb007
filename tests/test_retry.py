"""The retry policy: what is retried, how often, with which waits."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    IncompleteReadError,
    ReadTimeoutError,
    ResponseStreamingError,
    SSLError,
)

from object_clerk import ObjectClerkConfigurationException
from object_clerk._retry import RetryPolicy, is_transient
from tests.support import client_error

TRANSIENT = [
    EndpointConnectionError(endpoint_url="http://127.0.0.1:9"),
    ConnectionClosedError(endpoint_url="http://127.0.0.1:9"),
    ReadTimeoutError(endpoint_url="http://127.0.0.1:9"),
    ConnectTimeoutError(endpoint_url="http://127.0.0.1:9"),
    ResponseStreamingError(error="reset"),
    IncompleteReadError(actual_bytes=1, expected_bytes=2),
    ConnectionResetError(),
    client_error("SlowDown", 503),
    client_error("InternalError", 500),
    client_error("ServiceUnavailable", 503),
    client_error("RequestTimeout", 400),
    client_error("BadDigest", 400),
    client_error("XAmzContentSHA256Mismatch", 400),
    client_error("502", 502),
    client_error("", 504),
]
PERMANENT = [
    client_error("NoSuchKey", 404),
    client_error("404", 404),
    client_error("AccessDenied", 403),
    client_error("SignatureDoesNotMatch", 403),
    client_error("InvalidRequest", 400),
    SSLError(endpoint_url="https://127.0.0.1:9", error="certificate verify failed"),
    ValueError("a bug"),
]


@pytest.mark.parametrize("error", TRANSIENT, ids=repr)
def test_transient_failures(error: BaseException) -> None:
    assert is_transient(error)


@pytest.mark.parametrize("error", PERMANENT, ids=repr)
def test_permanent_failures(error: BaseException) -> None:
    assert not is_transient(error)


class Flaky:
    """Fails with error the first failures times, then returns "done"."""

    def __init__(self, error: BaseException, failures: int) -> None:
        self.error, self.failures, self.calls = error, failures, 0

    def __call__(self, *args: Any, **kwargs: Any) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "done"


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits retry_call asks for, recorded instead of slept."""
    recorded: list[float] = []
    monkeypatch.setattr("retry.api.time.sleep", recorded.append)
    return recorded


def policy(**changes: Any) -> RetryPolicy:
    settings: dict[str, Any] = {"delay": 0, "backoff": 1, "jitter": 0, "max_delay": 0, "tries": 3}
    settings.update(changes)
    return RetryPolicy(**settings)


def test_transient_failures_are_retried_until_success(sleeps: list[float]) -> None:
    flaky = Flaky(client_error("SlowDown", 503), failures=2)
    assert policy().call(flaky, Bucket="b") == "done"
    assert flaky.calls == 3
    assert sleeps == [0, 0]


def test_exhausted_retries_raise_the_last_original_failure(sleeps: list[float]) -> None:
    error = client_error("InternalError", 500)
    flaky = Flaky(error, failures=10)
    with pytest.raises(ClientError) as raised:
        policy(tries=4).call(flaky)
    assert raised.value is error
    assert flaky.calls == 4


def test_permanent_failures_are_not_retried(sleeps: list[float]) -> None:
    flaky = Flaky(client_error("NoSuchKey", 404), failures=1)
    with pytest.raises(ClientError):
        policy().call(flaky)
    assert flaky.calls == 1
    assert sleeps == []


def test_minus_one_tries_retries_without_limit(sleeps: list[float]) -> None:
    flaky = Flaky(ConnectionClosedError(endpoint_url="http://127.0.0.1:9"), failures=50)
    assert policy(tries=-1).call(flaky) == "done"
    assert flaky.calls == 51


def test_waits_follow_delay_backoff_jitter_and_max_delay(sleeps: list[float]) -> None:
    flaky = Flaky(client_error("SlowDown", 503), failures=5)
    policy(delay=1, backoff=2, jitter=(0.5, 0.5), max_delay=6, tries=6).call(flaky)
    assert sleeps == [1, 2.5, 5.5, 6, 6]


def test_number_jitter_is_added_after_each_failure(sleeps: list[float]) -> None:
    flaky = Flaky(client_error("SlowDown", 503), failures=2)
    policy(delay=1, backoff=1, jitter=1, max_delay=None).call(flaky)
    assert sleeps == [1, 2]


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"tries": 0}, ObjectClerkConfigurationException),
        ({"tries": -2}, ObjectClerkConfigurationException),
        ({"delay": -1}, ObjectClerkConfigurationException),
        ({"jitter": (1, 2, 3)}, ObjectClerkConfigurationException),
        ({"jitter": (-1, 2)}, ObjectClerkConfigurationException),
        ({"tries": 2.5}, TypeError),
        ({"delay": "1"}, TypeError),
        ({"backoff": None}, TypeError),
    ],
)
def test_bad_settings_are_refused(changes: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error, match="retry_"):
        policy(**changes)
