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
from dataclasses import dataclass, field
from typing import Any

from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from object_clerk._checksum import FULL_OBJECT_CRCS
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

# Entries per ListObjectsV2 request (S3 answers at most 1,000 whatever is asked).
DEFAULT_LIST_PAGE_SIZE = 1000
# Chains of requests a dataset's listing runs at once (S3_LIST_LANES), each
# holding at most a few pages: more lanes list faster, as far as the store
# keeps up; 1 lists in one chain.
DEFAULT_LIST_LANES = 4
MAX_LIST_LANES = 64


@dataclass(frozen=True)
class Settings:
    """What the environment (and the constructor) configures for one clerk.

    Pickled, it carries the validated options and builds the config objects
    again: a TransferConfig does not survive pickling (boto3 marks the
    defaults it fills in with a sentinel object of its own process)."""

    multipart_threshold: int
    client_config: Config
    upload_config: TransferConfig
    download_config: TransferConfig
    list_page_size: int
    options: Mapping[str, dict[str, Any]] = field(repr=False)
    # The full-object checksum uploads also store (None: none).
    checksum_algorithm: str | None = None
    list_lanes: int = DEFAULT_LIST_LANES

    @property
    def multipart_chunksize(self) -> int:
        return int(self.upload_config.multipart_chunksize)

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _settings,
            (
                self.multipart_threshold,
                self.list_page_size,
                self.options,
                self.checksum_algorithm,
                self.list_lanes,
            ),
        )


def _settings(
    threshold: int,
    list_page_size: int,
    options: Mapping[str, Any],
    checksum_algorithm: str | None = None,
    list_lanes: int = DEFAULT_LIST_LANES,
) -> Settings:
    return Settings(
        multipart_threshold=threshold,
        client_config=Config(**options["client"]),
        upload_config=TransferConfig(**options["upload"]),
        download_config=TransferConfig(**options["download"]),
        list_page_size=list_page_size,
        options=options,
        checksum_algorithm=checksum_algorithm,
        list_lanes=list_lanes,
    )


def settings_from_env(
    environ: Mapping[str, str] | None = None,
    *,
    client_config: Mapping[str, Any] | None = None,
    transfer_config: Mapping[str, Any] | None = None,
    list_objects_page_size: int = DEFAULT_LIST_PAGE_SIZE,
    checksum_algorithm: str | None = None,
) -> Settings:
    """Read and validate MULTIPART_THRESHOLD, S3_CLIENT_CONFIG,
    S3_UPLOAD_CONFIG, S3_DOWNLOAD_CONFIG, S3_CHECKSUM_ALGORITHM and
    S3_LIST_LANES.

    The constructor keywords of the published 1.1.0 release take precedence:
    client_config is used instead of S3_CLIENT_CONFIG, transfer_config instead
    of S3_UPLOAD_CONFIG. Unlike the variable, transfer_config may set
    multipart_threshold and multipart_chunksize (1.1.0 honoured them); either
    one alone sets both, so the part layout still has one source of truth.
    checksum_algorithm is used instead of S3_CHECKSUM_ALGORITHM.
    """
    env = os.environ if environ is None else environ
    threshold = _positive_int(env, "MULTIPART_THRESHOLD", DEFAULT_MULTIPART_THRESHOLD)
    client_name, client_given = _given(env, "S3_CLIENT_CONFIG", "client_config", client_config)
    upload_name, upload_given = _given(env, "S3_UPLOAD_CONFIG", "transfer_config", transfer_config)
    upload_options = {k: v for k, v in upload_given.items() if k not in MULTIPART_KEYS}
    chunksize = threshold
    if transfer_config is not None:
        threshold, chunksize = _multipart_keywords(transfer_config, threshold)
    upload_options.update(multipart_threshold=threshold, multipart_chunksize=chunksize)
    client_options = _merged(DEFAULT_CLIENT_CONFIG, client_given)
    download_options = _json_object(env, "S3_DOWNLOAD_CONFIG")
    return Settings(
        multipart_threshold=threshold,
        client_config=_build(client_name, Config, client_options),
        upload_config=_build(upload_name, TransferConfig, upload_options),
        download_config=_build("S3_DOWNLOAD_CONFIG", TransferConfig, download_options),
        list_page_size=page_size("list_objects_page_size", list_objects_page_size),
        options=copy.deepcopy(
            {"client": client_options, "upload": upload_options, "download": download_options}
        ),
        checksum_algorithm=_checksum_algorithm(env, checksum_algorithm),
        list_lanes=_list_lanes(env),
    )


def _list_lanes(env: Mapping[str, str]) -> int:
    """S3_LIST_LANES: a whole number from 1 to MAX_LIST_LANES (unset or
    empty: DEFAULT_LIST_LANES)."""
    raw = env.get("S3_LIST_LANES", "").strip()
    if not raw:
        return DEFAULT_LIST_LANES
    try:
        value = int(raw)
    except ValueError:
        raise ObjectClerkConfigurationException(
            f"S3_LIST_LANES must be a whole number, not {raw!r}"
        ) from None
    if not 1 <= value <= MAX_LIST_LANES:
        raise ObjectClerkConfigurationException(
            f"S3_LIST_LANES must be from 1 to {MAX_LIST_LANES}, not {value}"
        )
    return value


def _checksum_algorithm(env: Mapping[str, str], keyword: str | None) -> str | None:
    """The full-object checksum uploads store: the keyword where given, else
    S3_CHECKSUM_ALGORITHM; unset or empty, none. Only the CRCs S3 can keep
    for an object uploaded in parts are accepted, so that the setting means
    the same for every size."""
    if keyword is not None:
        if not isinstance(keyword, str):
            raise TypeError(f"checksum_algorithm must be a str, not {type(keyword).__name__}")
        name, raw = "checksum_algorithm", keyword
    else:
        name, raw = "S3_CHECKSUM_ALGORITHM", env.get("S3_CHECKSUM_ALGORITHM", "")
    value = raw.strip().upper()
    if not value:
        return None
    if value not in FULL_OBJECT_CRCS:
        raise ObjectClerkConfigurationException(
            f"{name} must be one of {', '.join(FULL_OBJECT_CRCS)}, not {raw!r}"
        )
    return value


# The values S3_NATIVE_REQUESTS takes (any case), by what they mean.
_SWITCH = {
    **dict.fromkeys(("1", "true", "yes", "on"), True),
    **dict.fromkeys(("0", "false", "no", "off"), False),
}


def native_requests(environ: Mapping[str, str] | None = None, keyword: bool | None = None) -> bool:
    """Whether small PutObjects may go by awscrt's native client (see
    _native, which also decides where it can): the keyword where given,
    else S3_NATIVE_REQUESTS (1/true/yes/on or 0/false/no/off); unset or
    empty, on."""
    if keyword is not None:
        if not isinstance(keyword, bool):
            raise TypeError(f"native_requests must be a bool, not {type(keyword).__name__}")
        return keyword
    env = os.environ if environ is None else environ
    raw = env.get("S3_NATIVE_REQUESTS", "")
    if not raw.strip():
        return True
    value = _SWITCH.get(raw.strip().lower())
    if value is None:
        raise ObjectClerkConfigurationException(
            f"S3_NATIVE_REQUESTS must be 1 or 0 (true/false, yes/no, on/off), not {raw!r}"
        )
    return value


def _given(
    env: Mapping[str, str], variable: str, keyword: str, value: Mapping[str, Any] | None
) -> tuple[str, dict[str, Any]]:
    """The options a clerk is given, and the name to report them under: the
    constructor keyword where it was passed, else the environment variable."""
    if value is None:
        return variable, _json_object(env, variable)
    if not isinstance(value, Mapping):
        raise TypeError(f"{keyword} must be a dict, not {type(value).__name__}")
    return keyword, dict(value)


def _multipart_keywords(options: Mapping[str, Any], threshold: int) -> tuple[int, int]:
    """(threshold, part size) from transfer_config, each checked as
    MULTIPART_THRESHOLD is; one given alone sets the other."""
    given = {
        key: _positive_value(f"transfer_config[{key!r}]", options[key])
        for key in MULTIPART_KEYS
        if key in options
    }
    first = given.get("multipart_threshold", given.get("multipart_chunksize", threshold))
    return first, given.get("multipart_chunksize", first)


def page_size(name: str, value: Any) -> int:
    """A listing's entries per request: a whole number, at least 1."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if value < 1:
        raise ObjectClerkConfigurationException(f"{name} must be at least 1, not {value}")
    return value


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
    return _positive_value(name, raw)


def _positive_value(name: str, raw: Any) -> int:
    """A positive whole number of bytes: an int, or a str that reads as one."""
    try:
        if isinstance(raw, bool) or not isinstance(raw, (int, str)):
            raise ValueError
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


# Config values botocore only checks when a request is made.
_CLIENT_NUMBERS = {"connect_timeout": (int, float), "read_timeout": (int, float)}


def _build(name: str, factory: Any, options: dict[str, Any]) -> Any:
    """Call botocore's Config or TransferConfig, which check names and values
    themselves, and say which variable was wrong when they refuse."""
    try:
        if factory is Config:
            for key, types in _CLIENT_NUMBERS.items():
                value = options.get(key)
                if isinstance(value, bool) or not isinstance(value, (*types, type(None))):
                    raise ValueError(f"{key} must be a number of seconds, not {value!r}")
        return factory(**options)
    except (TypeError, ValueError) as error:
        raise ObjectClerkConfigurationException(f"{name} is not accepted: {error}") from None
