"""The secret key appears in no repr, str, log record or exception."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from object_clerk import ObjectClerk, ObjectClerkException
from tests.faults import inject

SECRET = "s3cr3t-K3y-that-must-never-show-4242"

LOGGERS = ("", "boto3", "botocore", "urllib3", "s3transfer", "retry", "object_clerk")


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def test_repr_and_str_hide_the_secret() -> None:
    clerk = ObjectClerk("127.0.0.1", 9, "access", SECRET, 0, 1, 0, 0, 1)
    assert SECRET not in repr(clerk)
    assert SECRET not in str(clerk)
    assert "secret_key='***'" in repr(clerk)
    assert not any(SECRET in repr(value) for value in vars(clerk).values())


def test_no_log_record_or_exception_shows_the_secret(
    make_clerk: Callable[..., ObjectClerk],
    s3: Any,
    bucket: str,
    endpoint: Any,
    debug_logs: pytest.LogCaptureFixture,
) -> None:
    """Every operation, succeeding, retried and failing, with DEBUG logging
    of every library on. On moto any secret is accepted; on a live endpoint
    this secret is wrong, so every request is refused."""
    clerk = make_clerk(secret_key=SECRET)
    faults = inject(clerk)
    s3.put_object(Bucket=bucket, Key="k", Body=b"data")
    messages: list[str] = []
    operations: list[Callable[[], Any]] = [
        lambda: clerk.upload_object(b"x" * 100, bucket, "new"),
        lambda: clerk.get_object(bucket, "k"),
        lambda: clerk.get_object_info(bucket, "k"),
        lambda: clerk.copy_object(bucket, "k", bucket, "copy"),
        lambda: clerk.move_object(bucket, "copy", bucket, "moved"),
        lambda: list(clerk.list_objects(bucket)),
        lambda: clerk.delete_object(bucket, "moved"),
        lambda: clerk.get_object(bucket, "no-such-key"),
    ]
    for operation in operations:
        faults.fail("HeadObject", "slowdown", times=1)
        try:
            operation()
        except ObjectClerkException as error:
            messages += [str(error), repr(error), str(error.__cause__), repr(error.__cause__)]
    records = debug_logs.records
    assert len(records) > 50, "DEBUG logging was captured"
    assert any(record.name.startswith("botocore") for record in records)
    for record in records:
        assert SECRET not in record.getMessage()
        assert SECRET not in repr(record.args)
    for message in messages:
        assert SECRET not in message
    if endpoint.live:
        assert messages, "a wrong secret is refused by a real store"


def test_a_wrong_secret_is_refused_once_and_not_echoed(
    make_clerk: Callable[..., ObjectClerk], endpoint: Any, bucket: str
) -> None:
    if not endpoint.live:
        pytest.skip("moto accepts any secret; a real store refuses a wrong one")
    from object_clerk import ObjectClerkServerAuthException

    clerk = make_clerk(secret_key=SECRET)
    faults = inject(clerk)
    with pytest.raises(ObjectClerkServerAuthException) as raised:
        clerk.get_object_info(bucket, "k")
    assert faults.sent["HeadObject"] == 1, "an auth failure is not retried"
    assert SECRET not in str(raised.value) + repr(raised.value.__cause__)
