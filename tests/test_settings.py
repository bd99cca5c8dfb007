"""Configuration from the environment: parsed and validated per clerk."""

import pytest
from botocore.config import Config

from object_clerk import (
    ObjectClerk,
    ObjectClerkConfigurationException,
    ObjectClerkException,
)
from object_clerk._settings import DEFAULT_MULTIPART_THRESHOLD, settings_from_env
from tests.support import engine_of


def test_defaults() -> None:
    settings = settings_from_env({})
    assert settings.multipart_threshold == DEFAULT_MULTIPART_THRESHOLD == 524288000
    assert settings.upload_config.multipart_threshold == DEFAULT_MULTIPART_THRESHOLD
    assert settings.upload_config.multipart_chunksize == DEFAULT_MULTIPART_THRESHOLD
    client = settings.client_config
    assert (client.connect_timeout, client.read_timeout) == (60, 60)
    assert client.retries == {"max_attempts": 0}
    assert client.request_checksum_calculation == "when_required"
    assert client.response_checksum_validation == "when_required"
    assert client.s3 == {"payload_signing_enabled": False}


def test_threshold_sets_threshold_and_part_size() -> None:
    settings = settings_from_env({"MULTIPART_THRESHOLD": "8388608"})
    assert settings.upload_config.multipart_threshold == 8388608
    assert settings.upload_config.multipart_chunksize == 8388608


def test_upload_config_multipart_keys_are_discarded_others_kept() -> None:
    settings = settings_from_env(
        {
            "MULTIPART_THRESHOLD": "6000000",
            "S3_UPLOAD_CONFIG": '{"multipart_threshold": 1, "multipart_chunksize": 2, '
            '"max_concurrency": 3}',
        }
    )
    config = settings.upload_config
    assert (config.multipart_threshold, config.multipart_chunksize) == (
        6000000,
        6000000,
    )
    assert config.max_concurrency == 3


def test_download_config_is_its_own() -> None:
    settings = settings_from_env(
        {"S3_DOWNLOAD_CONFIG": '{"multipart_threshold": 1048576, "max_concurrency": 2}'}
    )
    assert settings.download_config.multipart_threshold == 1048576
    assert settings.download_config.max_concurrency == 2
    assert settings.upload_config.max_concurrency != 2


def test_client_config_overrides_defaults_key_by_key() -> None:
    settings = settings_from_env(
        {
            "S3_CLIENT_CONFIG": '{"read_timeout": 5, '
            '"request_checksum_calculation": "when_supported"}'
        }
    )
    config: Config = settings.client_config
    assert config.read_timeout == 5
    assert config.connect_timeout == 60
    assert config.request_checksum_calculation == "when_supported"


def test_client_config_merges_nested_objects_key_by_key() -> None:
    settings = settings_from_env(
        {
            "S3_CLIENT_CONFIG": '{"s3": {"addressing_style": "path"}, '
            '"retries": {"mode": "standard"}}'
        }
    )
    config: Config = settings.client_config
    assert config.s3 == {"payload_signing_enabled": False, "addressing_style": "path"}
    assert config.retries == {"max_attempts": 0, "mode": "standard"}


def test_client_config_can_turn_payload_signing_back_on() -> None:
    settings = settings_from_env({"S3_CLIENT_CONFIG": '{"s3": {"payload_signing_enabled": true}}'})
    assert settings.client_config.s3 == {"payload_signing_enabled": True}


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("MULTIPART_THRESHOLD", "0", "MULTIPART_THRESHOLD must be positive"),
        ("MULTIPART_THRESHOLD", "-5", "MULTIPART_THRESHOLD must be positive"),
        ("MULTIPART_THRESHOLD", "5MB", "MULTIPART_THRESHOLD must be a whole number"),
        ("S3_CLIENT_CONFIG", "{not json", "S3_CLIENT_CONFIG is not valid JSON"),
        ("S3_CLIENT_CONFIG", "[1, 2]", "S3_CLIENT_CONFIG must be a JSON object"),
        (
            "S3_CLIENT_CONFIG",
            '{"no_such_option": 1}',
            "S3_CLIENT_CONFIG is not accepted.*no_such",
        ),
        (
            "S3_UPLOAD_CONFIG",
            '{"no_such_option": 1}',
            "S3_UPLOAD_CONFIG is not accepted",
        ),
        (
            "S3_UPLOAD_CONFIG",
            '{"max_concurrency": 0}',
            "S3_UPLOAD_CONFIG is not accepted",
        ),
        (
            "S3_DOWNLOAD_CONFIG",
            '{"max_concurrency": "x"}',
            "S3_DOWNLOAD_CONFIG is not accepted",
        ),
        ("S3_DOWNLOAD_CONFIG", "null", "S3_DOWNLOAD_CONFIG must be a JSON object"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(ObjectClerkConfigurationException, match=message) as raised:
        settings_from_env({name: value})
    assert isinstance(raised.value, ObjectClerkException)


def test_environment_is_read_when_a_clerk_is_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MULTIPART_THRESHOLD", "7340032")
    first = ObjectClerk("127.0.0.1", 9, "key", "secret", 0, 1, 0, 0, 1)
    monkeypatch.setenv("MULTIPART_THRESHOLD", "not a number")
    with pytest.raises(ObjectClerkConfigurationException, match="MULTIPART_THRESHOLD"):
        ObjectClerk("127.0.0.1", 9, "key", "secret", 0, 1, 0, 0, 1)
    assert engine_of(first).settings.multipart_threshold == 7340032


def test_clerks_do_not_share_or_change_the_defaults() -> None:
    first = ObjectClerk("127.0.0.1", 9, "key", "secret", 0, 1, 0, 0, 1)
    second = settings_from_env({})
    assert second.client_config.retries == {"max_attempts": 0}
    assert engine_of(first).settings.client_config.retries is not second.client_config.retries
