"""Configuration from the environment, read when a clerk is made.

Nothing here runs at import, so a process can set the variables after
importing object_clerk, and each clerk sees the environment of its own
creation. Every value is validated; a bad one raises
ObjectClerkConfigurationException naming the variable.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from object_clerk.exceptions import ObjectClerkConfigurationException

DEFAULT_MULTIPART_THRESHOLD = 500 * 1024 * 1024

# Retries happen in the clerk (one policy for every request), so botocore's
# own are off. The two checksum settings keep botocore >= 1.36 from sending
# aws-chunked bodies with checksum trailers unless an operation requires it:
# Ceph RGW before 18.2.5 refuses those (411 MissingContentLength) and older
# S3-compatible stores ignore them. Content-MD5 still protects every body.
# Every PutObject and UploadPart carries a signed Content-MD5 that the store
# checks, so signing the body's SHA-256 too (botocore does over http) would
# only hash every byte once more before sending: payload signing is off.
DEFAULT_CLIENT_CONFIG: dict[str, Any] = {
    "connect_timeout": 60,
    "read_timeout": 60,
    "retries": {"max_attempts": 0},
    "request_checksum_calculation": "when_required",
    "response_checksum_validation": "when_required",
    "s3": {"payload_signing_enabled": False},
}

# The upload part layout decides the ETag, so it has one source of truth.
MULTIPART_KEYS = ("multipart_threshold", "multipart_chunksize")


@dataclass(frozen=True)
class Settings:
    """What the environment configures for one clerk."""

    multipart_threshold: int
    client_config: Config
    upload_config: TransferConfig
    download_config: TransferConfig


def settings_from_env(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate MULTIPART_THRESHOLD, S3_CLIENT_CONFIG,
    S3_UPLOAD_CONFIG and S3_DOWNLOAD_CONFIG."""
    env = os.environ if environ is None else environ
    threshold = _positive_int(env, "MULTIPART_THRESHOLD", DEFAULT_MULTIPART_THRESHOLD)
    client_options = _merged(DEFAULT_CLIENT_CONFIG, _json_object(env, "S3_CLIENT_CONFIG"))
    upload_options = {
        key: value
        for key, value in _json_object(env, "S3_UPLOAD_CONFIG").items()
        if key not in MULTIPART_KEYS
    }
    upload_options.update(multipart_threshold=threshold, multipart_chunksize=threshold)
    return Settings(
        multipart_threshold=threshold,
        client_config=_build("S3_CLIENT_CONFIG", Config, client_options),
        upload_config=_build("S3_UPLOAD_CONFIG", TransferConfig, upload_options),
        download_config=_build(
            "S3_DOWNLOAD_CONFIG",
            TransferConfig,
            _json_object(env, "S3_DOWNLOAD_CONFIG"),
        ),
    )


def _merged(defaults: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    """defaults with given's keys replacing them one by one, nested objects
    (retries, s3) key by key too: naming an addressing style must not turn
    payload signing back on. A deep copy: botocore fills in the nested
    retries dict of a client's config."""
    merged = copy.deepcopy(dict(defaults))
    for name, value in given.items():
        if isinstance(value, dict) and isinstance(merged.get(name), dict):
            merged[name].update(copy.deepcopy(value))
        else:
            merged[name] = copy.deepcopy(value)
    return merged


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ObjectClerkConfigurationException(
            f"{name} must be a whole number of bytes, not {raw!r}"
        ) from None
    if value <= 0:
        raise ObjectClerkConfigurationException(f"{name} must be positive, not {value}")
    return value


def _json_object(env: Mapping[str, str], name: str) -> dict[str, Any]:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ObjectClerkConfigurationException(f"{name} is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise ObjectClerkConfigurationException(
            f"{name} must be a JSON object, not {type(value).__name__}"
        )
    return value


def _build(name: str, factory: Any, options: dict[str, Any]) -> Any:
    """Call botocore's Config or TransferConfig, which check names and values
    themselves, and say which variable was wrong when they refuse."""
    try:
        return factory(**options)
    except (TypeError, ValueError) as error:
        raise ObjectClerkConfigurationException(f"{name} is not accepted: {error}") from None
