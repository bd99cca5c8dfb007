"""The S3 client: a boto3 client whose every request is retried.

RetryingClient stands in for the boto3 client everywhere, in the clerk and
in the s3transfer managers it hands the client to, so that each request
(each page of a listing, each part of a transfer) is retried on its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import boto3
from botocore.config import Config

from object_clerk._retry import RetryPolicy

T = TypeVar("T")


def make_s3_client(
    endpoint_url: str,
    access_key: str,
    secret_key: str,
    config: Config,
    verify: bool | str | None,
) -> Any:
    """A boto3 S3 client of its own session: sessions are not thread-safe,
    clients are."""
    session = boto3.session.Session()
    return session.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
        config=config,
        verify=verify,
    )


class RetryingClient:
    """Delegates to a boto3 S3 client; its S3 operations are retried by the
    policy when they fail transiently.

    A request body that is a stream is rewound before each attempt, so a
    repeated PutObject or UploadPart sends the same bytes.
    """

    def __init__(self, client: Any, policy: RetryPolicy) -> None:
        self._client = client
        self._policy = policy
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
