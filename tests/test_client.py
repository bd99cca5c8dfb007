"""RetryingClient: every S3 operation retried, request bodies rewound; the
clients of a process shared by the clerks made from the same connection."""

from __future__ import annotations

import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import botocore.loaders
import botocore.utils
import pytest
from botocore.config import Config

from object_clerk import ObjectClerk, _client
from object_clerk._client import Connection, Secret, parse_timestamp
from tests.faults import inject
from tests.proxy import FaultProxy, request_matcher
from tests.support import Endpoint, client_of, stored_bytes


def test_operations_are_retried_and_other_attributes_pass_through(
    clerk: ObjectClerk, bucket: str
) -> None:
    faults = inject(clerk)
    faults.fail("ListObjectsV2", "slowdown", times=2)
    assert client_of(clerk).list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    assert faults.sent["ListObjectsV2"] == 3
    assert client_of(clerk).meta is client_of(clerk).raw.meta


def test_a_stream_body_is_rewound_for_each_attempt(
    endpoint: Endpoint, make_clerk: Callable[..., ObjectClerk], s3: Any, bucket: str
) -> None:
    """The first attempt's body is sent whole before the connection drops
    (the proxy reads it, then closes): the repeat must send it again."""
    if endpoint.use_ssl:
        pytest.skip("the test proxy speaks plain http")
    with FaultProxy(endpoint.port) as proxy:
        clerk = make_clerk(host="127.0.0.1", port=proxy.port)
        proxy.inject(request_matcher("PUT", f"/{bucket}/k"), "close_before", times=2)
        body = io.BytesIO(b"0123456789" * 1000)
        body.seek(10)  # sent from where it stood when the call was made
        client_of(clerk).put_object(Bucket=bucket, Key="k", Body=body)
        assert proxy.matched["close_before"] == 2
    assert stored_bytes(s3, bucket, "k") == (b"0123456789" * 1000)[10:]


@pytest.mark.parametrize(
    "value",
    [
        "2026-12-01T11:22:33.000Z",
        "2026-12-01T11:22:33Z",
        "2026-12-01T11:22:33.123456Z",
        "2026-12-01T11:22:33.1Z",
        "2026-12-01T13:22:33+02:00",
        "Tue, 01 Dec 2026 11:22:33 GMT",
        "1796124153",
    ],
)
def test_timestamps_parse_to_the_instant_botocore_gives(value: str) -> None:
    parsed = parse_timestamp(value)
    assert parsed == botocore.utils.parse_timestamp(value)
    assert parsed.utcoffset() is not None


@pytest.mark.parametrize("value", ["2026-12-01Z", "2026-12-01T11:22:33+02:00Z", "soon Z"])
def test_odd_timestamps_are_left_to_botocore(value: str) -> None:
    def outcome(parse: Callable[[str], datetime]) -> object:
        try:
            return parse(value)
        except Exception as error:
            return type(error)

    assert outcome(parse_timestamp) == outcome(botocore.utils.parse_timestamp)


def test_a_listing_gives_aware_timestamps(clerk: ObjectClerk, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    (entry,) = client_of(clerk).list_objects_v2(Bucket=bucket)["Contents"]
    assert entry["LastModified"].tzinfo is UTC, "parsed by parse_timestamp"
    age = datetime.now(UTC) - entry["LastModified"]
    assert abs(age.total_seconds()) < 3600


class ModelLoads:
    """Counts the JSON decodes of the S3 service model (service-2.json)
    from its creation on."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        load_file = botocore.loaders.JSONFileLoader.load_file

        def counted(loader: Any, file_path: str) -> Any:
            if file_path.replace("\\", "/").split("/")[-3:][::2] == ["s3", "service-2"]:
                self.count += 1
            return load_file(loader, file_path)

        monkeypatch.setattr(botocore.loaders.JSONFileLoader, "load_file", counted)


def test_clerks_made_per_call_parse_the_service_model_once_per_process(
    make_clerk: Callable[..., ObjectClerk],
    s3: Any,
    bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each with credentials of its own, so that each makes a client: the
    parsed model is the process's, not the client's. (Counted from after
    the fixtures' own clients are made.)"""
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    loads = ModelLoads(monkeypatch)
    for number in range(5):
        clerk = make_clerk(
            own_client=False, access_key=f"reader-{number}", secret_key=f"secret-{number}"
        )
        assert client_of(clerk).raw.meta.service_model.service_name == "s3"
    assert loads.count <= 1
    for _ in range(5):
        assert make_clerk(own_client=False).get_object(bucket, "k") == b"x"
    assert loads.count <= 1


def test_clerks_of_one_connection_share_one_client(
    make_clerk: Callable[..., ObjectClerk], s3: Any, bucket: str
) -> None:
    first = make_clerk(own_client=False)
    second = make_clerk(
        own_client=False, retry_tries=7
    )  # the policy is the clerk's, not the client's
    assert client_of(second).raw is client_of(first).raw
    assert client_of(second) is not client_of(first)
    first.upload_object(b"shared", bucket, "k")
    assert second.get_object(bucket, "k") == b"shared"
    (entry,) = second.list_objects(bucket)
    assert entry["LastModified"].tzinfo is UTC, "the shared session parses timestamps"


def test_a_shared_client_has_the_clerks_handler_once(
    make_clerk: Callable[..., ObjectClerk],
) -> None:
    """Registered when the client is made, not by each clerk that shares it."""
    clerks = [make_clerk(own_client=False) for _ in range(3)]
    raw = client_of(clerks[0]).raw
    assert all(client_of(clerk).raw is raw for clerk in clerks)
    handlers = raw.meta.events._emitter._handlers.prefix_search("before-call.s3.PutObject")
    assert [h for h in handlers if h is _client._no_wait_for_small_bodies] == [
        _client._no_wait_for_small_bodies
    ]


@pytest.mark.parametrize(
    "other",
    [
        {"access_key": "another-access-key"},
        {"secret_key": "another-secret-key"},
        {"host": "localhost"},
        {"port": 1},
        {"use_ssl": True},
        {"verify": False},
        {"client_config": {"read_timeout": 9}},
        {"client_config": {"s3": {"addressing_style": "virtual"}}},
        {"env": {"S3_CLIENT_CONFIG": '{"max_pool_connections": 3}'}},
        {"env": {"AWS_CA_BUNDLE": "/nonexistent/ca.pem"}},
        {"env": {"HTTPS_PROXY": "http://127.0.0.1:1"}},
    ],
    ids=lambda other: ",".join(f"{k}={v}" for k, v in other.items()),
)
def test_clerks_of_other_connections_share_no_client(
    make_clerk: Callable[..., ObjectClerk], other: dict[str, Any]
) -> None:
    made = make_clerk(own_client=False)
    assert client_of(make_clerk(own_client=False)).raw is client_of(made).raw, (
        "the same connection shares"
    )
    differing = make_clerk(own_client=False, **other)
    assert client_of(differing).raw is not client_of(made).raw
    assert client_of(make_clerk(own_client=False, **other)).raw is client_of(differing).raw


def test_a_client_made_with_another_secret_signs_with_its_own(
    make_clerk: Callable[..., ObjectClerk], endpoint: Endpoint
) -> None:
    right = make_clerk(own_client=False)
    wrong = make_clerk(own_client=False, secret_key="not-the-secret")
    assert client_of(make_clerk(own_client=False)).raw is client_of(right).raw
    secrets = {
        client_of(clerk).raw._request_signer._credentials.secret_key for clerk in (right, wrong)
    }
    assert secrets == {endpoint.secret_key, "not-the-secret"}


def test_a_config_compared_by_identity_only_is_not_shared(endpoint: Endpoint) -> None:
    class Tag(str):
        pass

    def connection(config: Config) -> Connection:
        return Connection(endpoint.url, "a", Secret("s"), config, None)

    plain = connection(Config(user_agent_extra="tag"))
    assert plain.key() is not None
    assert plain.key() == connection(Config(user_agent_extra="tag")).key()
    assert connection(Config(user_agent_extra=Tag("tag"))).key() is None
    odd = connection(Config(user_agent_extra=Tag("tag")))
    assert odd.client() is not odd.client()


def test_the_shared_clients_show_no_secret(make_clerk: Callable[..., ObjectClerk]) -> None:
    make_clerk(own_client=False, secret_key="a-secret-only-the-client-holds")
    shared = _client._SHARED
    shown = repr(vars(shared)) + repr(list(shared._clients)) + repr(vars(_client))
    assert "a-secret-only-the-client-holds" not in shown
    assert b"a-secret-only-the-client-holds".hex() not in shown


def test_the_shared_clients_are_the_latest_few(
    make_clerk: Callable[..., ObjectClerk], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_client, "SHARED_CLIENTS", 2)
    clerks = [make_clerk(own_client=False, access_key=f"key-{number}") for number in range(3)]
    assert len(_client._SHARED._clients) == 2
    assert (
        client_of(make_clerk(own_client=False, access_key="key-2")).raw is client_of(clerks[2]).raw
    )
    assert (
        client_of(make_clerk(own_client=False, access_key="key-0")).raw
        is not client_of(clerks[0]).raw
    ), "dropped"
    assert client_of(clerks[0]).raw is client_of(clerks[0]).raw, "a clerk keeps its client"


def test_clerks_made_by_many_threads_at_once_share_one_client(
    make_clerk: Callable[..., ObjectClerk],
) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        clerks = list(pool.map(lambda _: make_clerk(own_client=False), range(32)))
    assert len({id(client_of(clerk).raw) for clerk in clerks}) == 1
