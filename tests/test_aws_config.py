"""ObjectClerk.from_aws_config: a clerk configured as boto3 and the aws
command line are (environment, profiles of ~/.aws/credentials and
~/.aws/config), against the test endpoint; and the command line without
HOST, keys and endpoint options."""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from object_clerk import ObjectClerk, ObjectClerkConfigurationException, ObjectClerkException, cli
from tests.support import Endpoint, client_of, stored_bytes

TOKEN = "session-token-that-must-never-show-7777"
LOGGERS = ("", "boto3", "botocore", "urllib3", "s3transfer", "object_clerk")

AwsFiles = Callable[..., Path]


@pytest.fixture
def aws_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, endpoint: Endpoint) -> AwsFiles:
    """Writes ~/.aws/credentials and ~/.aws/config under a temporary HOME,
    named by AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE, every other
    AWS_ variable unset; returns the HOME."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / ".aws" / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / ".aws" / "config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance role is looked for
    if os.environ.get("CA_BUNDLE"):
        monkeypatch.setenv("AWS_CA_BUNDLE", os.environ["CA_BUNDLE"])

    def write(credentials: str = "", config: str = "") -> Path:
        keys = {"url": endpoint.url, "key": endpoint.access_key, "secret": endpoint.secret_key}
        (home / ".aws" / "credentials").write_text(credentials.format(**keys))
        (home / ".aws" / "config").write_text(config.format(**keys))
        return home

    return write


DEFAULT_PROFILE = """
[default]
aws_access_key_id = {key}
aws_secret_access_key = {secret}
"""
DEFAULT_CONFIG = """
[default]
region = eu-west-2
endpoint_url = {url}
"""


def test_the_default_profile_gives_a_working_clerk(
    aws_files: AwsFiles, s3: Any, bucket: str, endpoint: Endpoint, tmp_path: Path
) -> None:
    aws_files(DEFAULT_PROFILE, DEFAULT_CONFIG)
    clerk = ObjectClerk.from_aws_config(retry_tries=2, retry_delay=0)
    assert (clerk.endpoint_url, clerk.region, clerk.profile) == (
        endpoint.url,
        "eu-west-2",
        None,
    )
    assert (clerk.host, clerk.port) == (endpoint.host, endpoint.port)
    assert client_of(clerk).raw.meta.region_name == "eu-west-2"
    clerk.upload_object(b"from the profile", bucket, "k")
    assert stored_bytes(s3, bucket, "k") == b"from the profile"
    assert clerk.get_object(bucket, "k") == b"from the profile"
    (tmp_path / "set").mkdir()
    (tmp_path / "set" / "f").write_bytes(b"f")
    assert clerk.sync(tmp_path / "set", f"s3://{bucket}/set").ok


def test_a_named_profile_its_services_endpoint_and_the_environment(
    aws_files: AwsFiles,
    monkeypatch: pytest.MonkeyPatch,
    s3: Any,
    bucket: str,
    endpoint: Endpoint,
) -> None:
    aws_files(
        "[store]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n",
        "[profile store]\nregion = ap-south-1\nservices = here\n\n"
        "[services here]\ns3 =\n  endpoint_url = {url}\n",
    )
    with pytest.raises(ObjectClerkConfigurationException, match="no credentials"):
        ObjectClerk.from_aws_config()  # the default profile has none
    clerk = ObjectClerk.from_aws_config("store", retry_tries=2, retry_delay=0)
    assert (clerk.endpoint_url, clerk.region) == (endpoint.url, "ap-south-1")
    clerk.upload_object(b"x", bucket, "k")

    monkeypatch.setenv("AWS_PROFILE", "store")
    assert ObjectClerk.from_aws_config().profile == "store"
    assert ObjectClerk.from_aws_config(region="us-west-1").region == "us-west-1"
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    assert ObjectClerk.from_aws_config().endpoint_url == "http://127.0.0.1:9"
    explicit = ObjectClerk.from_aws_config(endpoint_url=endpoint.url, retry_tries=1)
    assert explicit.get_object(bucket, "k") == b"x"


def test_environment_credentials_and_region_with_no_files(
    aws_files: AwsFiles, monkeypatch: pytest.MonkeyPatch, bucket: str, endpoint: Endpoint
) -> None:
    aws_files()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", endpoint.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", endpoint.secret_key)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint.url)
    clerk = ObjectClerk.from_aws_config(retry_tries=2, retry_delay=0)
    assert clerk.region == "us-east-1"  # nothing says otherwise
    clerk.upload_object(b"env", bucket, "k")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    assert ObjectClerk.from_aws_config().region == "eu-central-1"


def test_the_published_constructor_keeps_its_region(
    make_clerk: Callable[..., ObjectClerk], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    assert client_of(make_clerk()).raw.meta.region_name == "us-east-1"


def test_missing_credentials_and_profiles_are_named(
    aws_files: AwsFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    aws_files("", "[profile bare]\nregion = eu-west-1\n")
    with pytest.raises(ObjectClerkConfigurationException, match=r"no credentials.*'bare'"):
        ObjectClerk.from_aws_config("bare")
    with pytest.raises(ObjectClerkConfigurationException, match="nowhere"):
        ObjectClerk.from_aws_config("nowhere")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "only-the-key")
    with pytest.raises(ObjectClerkConfigurationException, match=r"(?i)aws_secret_access_key"):
        ObjectClerk.from_aws_config()
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    aws_files(DEFAULT_PROFILE)
    for endpoint_url in ("ftp://example", "http://[::1", ""):
        with pytest.raises(ObjectClerkConfigurationException, match="endpoint URL"):
            ObjectClerk.from_aws_config(endpoint_url=endpoint_url)
    for region in ("bad region!", ""):
        with pytest.raises(ObjectClerkConfigurationException, match="region"):
            ObjectClerk.from_aws_config(region=region)


def test_the_session_token_is_sent_and_shown_nowhere(
    aws_files: AwsFiles,
    endpoint: Endpoint,
    bucket: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    aws_files(
        "[temp]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n"
        f"aws_session_token = {TOKEN}\n",
        "[profile temp]\nendpoint_url = {url}\n",
    )
    clerk = ObjectClerk.from_aws_config("temp", retry_tries=1, retry_delay=0)
    sent: list[str | None] = []

    def record(request: Any, **_: Any) -> None:
        token = request.headers.get("X-Amz-Security-Token")
        sent.append(token.decode() if isinstance(token, bytes) else token)

    client_of(clerk).raw.meta.events.register("before-send.s3", record)
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    messages = []
    try:  # a real store refuses a token it did not issue; moto takes any
        clerk.get_object_info(bucket, "nothing")
    except ObjectClerkException as error:
        messages += [str(error), repr(error), repr(error.__cause__)]
    assert sent and all(token == TOKEN for token in sent)
    shown = [repr(clerk), str(clerk), *messages, pickle.dumps(clerk).decode("latin-1")]
    shown += [record.getMessage() + repr(record.args) for record in caplog.records]
    for text in shown:
        assert TOKEN not in text
        assert endpoint.secret_key not in text


def test_clients_are_shared_by_equal_configurations_only(
    aws_files: AwsFiles, endpoint: Endpoint
) -> None:
    aws_files(
        "[a]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n"
        "[b]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n"
        f"aws_session_token = {TOKEN}\n",
        "[profile a]\nendpoint_url = {url}\n[profile b]\nendpoint_url = {url}\n",
    )
    first, again = ObjectClerk.from_aws_config("a"), ObjectClerk.from_aws_config("a")
    assert client_of(first).raw is client_of(again).raw
    other_region = ObjectClerk.from_aws_config("a", region="eu-west-3")
    with_token = ObjectClerk.from_aws_config("b")
    assert client_of(other_region).raw is not client_of(first).raw
    assert client_of(with_token).raw is not client_of(first).raw


CREDENTIAL_PROCESS = """
import datetime, json, sys
with open(sys.argv[1], "a") as calls:
    calls.write("called\\n")
expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=5)
print(json.dumps({{"Version": 1, "AccessKeyId": sys.argv[2], "SecretAccessKey": sys.argv[3],
                  "Expiration": expires.isoformat()}}))
"""


def test_expiring_credentials_are_refreshed(
    aws_files: AwsFiles, endpoint: Endpoint, bucket: str, tmp_path: Path
) -> None:
    """A credential_process whose credentials expire within botocore's
    refresh window is asked again before requests: the client holds
    botocore's refreshable credentials, not strings frozen once."""
    script, calls = tmp_path / "credentials.py", tmp_path / "calls"
    script.write_text(CREDENTIAL_PROCESS.format())
    process = f"{sys.executable} {script} {calls} {{key}} {{secret}}"
    aws_files("", f"[profile role]\ncredential_process = {process}\nendpoint_url = {{url}}\n")
    clerk = ObjectClerk.from_aws_config("role", retry_tries=2, retry_delay=0)
    made = calls.read_text().count("called")
    clerk.upload_object(b"one", bucket, "k")
    clerk.get_object(bucket, "k")
    assert calls.read_text().count("called") > made


def _read_in_child(clerk: ObjectClerk, bucket: str) -> bytes:
    return clerk.get_object(bucket, "k")


@pytest.mark.slow
def test_pickled_it_carries_no_credentials_and_works_in_another_process(
    aws_files: AwsFiles, endpoint: Endpoint, s3: Any, bucket: str
) -> None:
    aws_files(DEFAULT_PROFILE, DEFAULT_CONFIG)
    clerk = ObjectClerk.from_aws_config(retry_tries=2, retry_delay=0)
    s3.put_object(Bucket=bucket, Key="k", Body=b"pickled")
    dumped = pickle.dumps(clerk)
    assert endpoint.secret_key.encode() not in dumped
    assert pickle.loads(dumped).get_object(bucket, "k") == b"pickled"
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        assert pool.submit(_read_in_child, clerk, bucket).result(timeout=120) == b"pickled"


def test_the_command_line_uses_the_aws_configuration(
    aws_files: AwsFiles,
    monkeypatch: pytest.MonkeyPatch,
    s3: Any,
    bucket: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    aws_files(
        "[store]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n",
        "[profile store]\nregion = eu-west-2\nendpoint_url = {url}\n",
    )
    (tmp_path / "f").write_bytes(b"via the profile")
    base = ["--retry-tries", "2", "--retry-delay", "0"]
    put = [*base, "--profile", "store", "put", str(tmp_path / "f"), f"s3://{bucket}/k"]
    assert cli.main(put, dict(os.environ)) == 0
    assert stored_bytes(s3, bucket, "k") == b"via the profile"
    monkeypatch.setenv("AWS_PROFILE", "store")
    assert cli.main([*base, "--region", "eu-west-1", "info", f"s3://{bucket}/k"]) == 0
    capsys.readouterr()
    assert cli.main([*base, "--profile", "nowhere", "info", f"s3://{bucket}/k"]) == 2
    assert "nowhere" in capsys.readouterr().err
