"""A clerk travels to other processes (pickled, or across a fork) with the
configuration it was made with, and builds its own client there (shared
there by the clerks of the same connection, never the parent's); every
exception it raises survives a pickle round trip."""

from __future__ import annotations

import copy
import inspect
import logging
import os
import pickle
import time
from collections.abc import Callable
from typing import Any

import botocore.loaders
import pytest

import object_clerk
from object_clerk import ObjectClerk, ObjectClerkException, _client
from object_clerk._verify import Mismatch
from tests.support import TEST_THRESHOLD, MiB, client_of, engine_of, stored_bytes

DATA = os.urandom(TEST_THRESHOLD + 1234)  # two parts at the test threshold


def test_an_unpickled_clerk_works_with_the_configuration_it_was_made_with(
    make_clerk: Callable[..., ObjectClerk],
    s3: Any,
    bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clerk = make_clerk(env={"MULTIPART_THRESHOLD": str(6 * MiB)}, retry_tries=5)
    assert client_of(clerk) is not None  # a client exists, and is not pickled along
    monkeypatch.setenv("MULTIPART_THRESHOLD", "not read again")
    travelled = pickle.loads(pickle.dumps(clerk))
    assert client_of(travelled) is not client_of(clerk)
    assert engine_of(travelled).policy.tries == 5
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
    assert client_of(copy.copy(clerk)) is client_of(clerk), (
        "one process: one client, shared by threads"
    )
    assert client_of(pickle.loads(pickle.dumps(copy.copy(clerk)))) is not client_of(clerk)


def test_a_clerk_made_before_a_fork_works_in_the_child(
    clerk: ObjectClerk, s3: Any, bucket: str
) -> None:
    clerk.upload_object(b"before the fork", bucket, "parent")
    parent_client = client_of(clerk)  # held, so that its id cannot be reused
    pid = os.fork()
    if pid == 0:  # the child: report by exit status only
        status = 1
        try:
            fresh = client_of(clerk) is not parent_client
            clerk.upload_object(DATA, bucket, "child")
            status = 0 if fresh and clerk.get_object(bucket, "child") == DATA else 2
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert stored_bytes(s3, bucket, "child") == DATA
    assert clerk.get_object(bucket, "parent") == b"before the fork"


def test_unpickled_clerks_share_the_client_of_their_connection(
    make_clerk: Callable[..., ObjectClerk], bucket: str
) -> None:
    clerk = make_clerk(own_client=False)
    pickled = pickle.dumps(clerk)
    assert b"botocore.client" not in pickled, "no client travels"
    first, second = pickle.loads(pickled), pickle.loads(pickled)
    assert client_of(first).raw is client_of(second).raw is client_of(clerk).raw
    first.upload_object(DATA, bucket, "k")
    assert second.get_object(bucket, "k") == DATA


def exit_status(pid: int, timeout: float = 60) -> int:
    """The exit code of the child pid; killed (and reported as -9) if it
    has not exited within timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)  # polling a child process, not pacing a retry
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    return -9


def count_model_loads() -> list[str]:
    """In a child: the S3 service models decoded from now on."""
    loads: list[str] = []
    load_file = botocore.loaders.JSONFileLoader.load_file

    def counted(loader: Any, file_path: str) -> Any:
        if "service-2" in file_path and "/s3/" in file_path.replace("\\", "/"):
            loads.append(file_path)
        return load_file(loader, file_path)

    botocore.loaders.JSONFileLoader.load_file = counted  # type: ignore[method-assign]
    return loads


def test_clerks_made_in_a_forked_child_share_a_client_of_the_childs(
    make_clerk: Callable[..., ObjectClerk], s3: Any, bucket: str
) -> None:
    """The child uses none of the parent's clients (nor their connections),
    and parses the service model no more: the session is kept."""
    clerk = make_clerk(own_client=False)
    clerk.upload_object(b"before the fork", bucket, "parent")
    parent_client = client_of(clerk).raw
    pid = os.fork()
    if pid == 0:  # the child: report by exit status only
        status = 1
        try:
            loads = count_model_loads()
            made = make_clerk(own_client=False), make_clerk(own_client=False)
            shared = client_of(made[0]).raw is client_of(made[1]).raw is client_of(clerk).raw
            made[0].upload_object(DATA, bucket, "child")
            works = made[1].get_object(bucket, "child") == DATA
            status = 0 if shared and client_of(clerk).raw is not parent_client and works else 2
            status = status or (3 if loads else 0)
        finally:
            os._exit(status)
    assert exit_status(pid) == 0
    assert stored_bytes(s3, bucket, "child") == DATA
    assert client_of(clerk).raw is parent_client
    assert make_clerk(own_client=False).get_object(bucket, "parent") == b"before the fork"


def test_a_fork_while_a_client_is_being_made_leaves_the_child_a_new_session(
    make_clerk: Callable[..., ObjectClerk], bucket: str
) -> None:
    """A parent's thread inside the shared session at the fork (here: its
    lock held) may have left it half changed: the child neither waits for
    that lock nor uses that session."""
    clerk = make_clerk(own_client=False)
    parent_session = _client._SHARED.session
    with _client._SHARED.lock:
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                clerk.upload_object(b"from the child", bucket, "child")
                fresh = _client._SHARED.session is not parent_session
                status = (
                    0 if fresh and clerk.get_object(bucket, "child") == b"from the child" else 2
                )
            finally:
                os._exit(status)
    assert exit_status(pid) == 0


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
