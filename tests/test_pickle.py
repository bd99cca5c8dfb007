"""A clerk travels to other processes (pickled, or across a fork) with the
configuration it was made with, and builds its own client there; every
exception it raises survives a pickle round trip."""

from __future__ import annotations

import copy
import inspect
import logging
import os
import pickle
from collections.abc import Callable
from typing import Any

import pytest

import object_clerk
from object_clerk import ObjectClerk, ObjectClerkException
from object_clerk._verify import Mismatch
from tests.conftest import TEST_THRESHOLD, MiB, stored_bytes

DATA = os.urandom(TEST_THRESHOLD + 1234)  # two parts at the test threshold


def test_an_unpickled_clerk_works_with_the_configuration_it_was_made_with(
    make_clerk: Callable[..., ObjectClerk],
    s3: Any,
    bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clerk = make_clerk(env={"MULTIPART_THRESHOLD": str(6 * MiB)}, retry_tries=5)
    assert clerk._s3 is not None  # a client exists, and is not pickled along
    monkeypatch.setenv("MULTIPART_THRESHOLD", "not read again")
    travelled = pickle.loads(pickle.dumps(clerk))
    assert travelled._s3 is not clerk._s3
    assert travelled._policy.tries == 5
    data = os.urandom(13 * MiB)
    travelled.upload_object(data, bucket, "k")
    etag = s3.head_object(Bucket=bucket, Key="k")["ETag"].strip('"')
    assert etag.endswith("-3"), "6 MiB parts, as the clerk was made with"
    assert travelled.get_object(bucket, "k") == data


def test_the_secret_travels_in_the_pickle_and_shows_nowhere(
    make_clerk: Callable[..., ObjectClerk], endpoint: Any, caplog: pytest.LogCaptureFixture
) -> None:
    clerk = make_clerk(secret_key="a-secret-only-the-pickle-holds")
    assert b"a-secret-only-the-pickle-holds" in pickle.dumps(clerk), "a worker needs it"
    travelled = pickle.loads(pickle.dumps(clerk))
    with caplog.at_level(logging.DEBUG, logger="object_clerk"):
        shown = [repr(travelled), str(travelled), repr(vars(travelled)), str(vars(travelled))]
    shown += [record.getMessage() for record in caplog.records]
    assert not any("a-secret-only-the-pickle-holds" in text for text in shown)


def test_a_copy_shares_nothing_it_should_not(make_clerk: Callable[..., ObjectClerk]) -> None:
    clerk = make_clerk()
    assert copy.copy(clerk)._s3 is clerk._s3, "one process: one client, shared by threads"
    assert pickle.loads(pickle.dumps(copy.copy(clerk)))._s3 is not clerk._s3


def test_a_clerk_made_before_a_fork_works_in_the_child(
    clerk: ObjectClerk, s3: Any, bucket: str
) -> None:
    clerk.upload_object(b"before the fork", bucket, "parent")
    parent_client = clerk._s3  # held, so that its id cannot be reused
    pid = os.fork()
    if pid == 0:  # the child: report by exit status only
        status = 1
        try:
            fresh = clerk._s3 is not parent_client
            clerk.upload_object(DATA, bucket, "child")
            status = 0 if fresh and clerk.get_object(bucket, "child") == DATA else 2
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert stored_bytes(s3, bucket, "child") == DATA
    assert clerk.get_object(bucket, "parent") == b"before the fork"


def exception_classes() -> list[type[ObjectClerkException]]:
    public = [
        value
        for value in vars(object_clerk).values()
        if inspect.isclass(value) and issubclass(value, ObjectClerkException)
    ]
    return [*public, Mismatch]


@pytest.mark.parametrize("exception_class", exception_classes(), ids=lambda c: c.__name__)
def test_every_exception_survives_a_pickle_round_trip(
    exception_class: type[ObjectClerkException],
) -> None:
    error = exception_class("get_object b/k: the store said no")
    travelled = pickle.loads(pickle.dumps(error))
    assert type(travelled) is exception_class
    assert str(travelled) == str(error)


def test_a_raised_exception_survives_a_pickle_round_trip(clerk: ObjectClerk, bucket: str) -> None:
    with pytest.raises(ObjectClerkException) as raised:
        clerk.get_object(bucket, "no-such-key")
    travelled = pickle.loads(pickle.dumps(raised.value))
    assert (type(travelled), str(travelled)) == (type(raised.value), str(raised.value))
