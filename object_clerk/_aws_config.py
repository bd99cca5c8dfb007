"""The standard AWS configuration, resolved by botocore as boto3 and the
aws command line resolve it: the environment (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_PROFILE, AWS_DEFAULT_REGION,
AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3, AWS_CONFIG_FILE,
AWS_SHARED_CREDENTIALS_FILE), then the profile of ~/.aws/credentials and
~/.aws/config (its keys, session token, role to assume, region,
endpoint_url and services section), then the instance's role.

Nothing is parsed here: botocore's session does it all, so that a clerk
sees what boto3 would. Its errors (a missing profile, partial or no
credentials, an unreadable file) become ObjectClerkConfigurationException,
whose messages (botocore's) name what is missing and never a secret.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import botocore.session
import botocore.utils
from botocore.configprovider import ConfiguredEndpointProvider
from botocore.exceptions import BotoCoreError

from object_clerk.exceptions import ObjectClerkConfigurationException

# The region where nothing configures one: what the published constructor
# always used.
DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class Resolved:
    """What the configuration says for S3 now: the endpoint (None: AWS's own
    for the region), the region, and the credentials botocore found, frozen
    (access key, secret key, session token or None) with the object they
    came from, which botocore refreshes where they expire."""

    profile: str | None
    endpoint_url: str | None
    region: str
    access_key: str
    secret_key: str
    token: str | None
    credentials: Any

    def __repr__(self) -> str:
        return (
            f"Resolved(profile={self.profile!r}, endpoint_url={self.endpoint_url!r}, "
            f"region={self.region!r}, access_key={self.access_key!r}, secret_key='***', "
            f"token={'***' if self.token else None})"
        )


@contextlib.contextmanager
def _configuration(profile: str | None) -> Iterator[None]:
    """botocore's configuration errors as ObjectClerkConfigurationException."""
    try:
        yield
    except BotoCoreError as error:
        where = f"profile {profile!r}" if profile else "the AWS configuration"
        raise ObjectClerkConfigurationException(f"{where}: {error}") from None


def session(profile: str | None, loader: Any = None) -> botocore.session.Session:
    """A botocore session of profile (None: AWS_PROFILE, else "default"),
    with loader's parsed service models where one is given."""
    with _configuration(profile):
        core = botocore.session.Session(profile=profile)
        if loader is not None:
            core.register_component("data_loader", loader)
        core.get_scoped_config()  # a profile that does not exist is refused here
    return core


def resolve(
    profile: str | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
) -> Resolved:
    """The endpoint, region and credentials of profile, endpoint_url and
    region taking precedence over what it configures."""
    if profile is not None and (not isinstance(profile, str) or not profile):
        raise ObjectClerkConfigurationException(
            f"profile must be a profile's name, not {profile!r}"
        )
    core = session(profile)
    with _configuration(profile):
        credentials = core.get_credentials()
        frozen = credentials.get_frozen_credentials() if credentials is not None else None
        if region is None:
            region = core.get_config_variable("region") or DEFAULT_REGION
        # botocore would refuse it only when the client is made.
        if not isinstance(region, str) or not region:
            raise ObjectClerkConfigurationException(
                f"region must be a region's name, not {region!r}"
            )
        botocore.utils.validate_region_name(region)
        if endpoint_url is None:
            endpoint_url = _configured_endpoint(core)
    if endpoint_url is not None:
        endpoint_url = _checked_endpoint(endpoint_url)
    if frozen is None or not frozen.access_key or not frozen.secret_key:
        where = f"profile {profile!r}" if profile else "the AWS configuration"
        raise ObjectClerkConfigurationException(
            f"no credentials found in {where}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "or aws_access_key_id and aws_secret_access_key in the profile of "
            f"{_credentials_file()} or {_config_file()}"
        )
    return Resolved(
        profile=profile or core.profile,
        endpoint_url=endpoint_url,
        region=region,
        access_key=frozen.access_key,
        secret_key=frozen.secret_key,
        token=frozen.token or None,
        credentials=credentials,
    )


def _configured_endpoint(core: botocore.session.Session) -> str | None:
    """The S3 endpoint the configuration names (AWS_ENDPOINT_URL_S3,
    AWS_ENDPOINT_URL, the profile's services section or endpoint_url), as
    botocore finds it for a client; None where it names none."""
    if core.get_config_variable("ignore_configured_endpoint_urls"):
        return None
    provider = ConfiguredEndpointProvider(
        full_config=core.full_config,
        scoped_config=core.get_scoped_config(),
        client_name="s3",
        environ=os.environ,
    )
    found = provider.provide()
    return str(found) if found else None


def host_port_ssl(endpoint_url: str | None) -> tuple[str | None, int | None, bool]:
    """host, port and use_ssl of an endpoint URL (None, None, True: AWS's own)."""
    if endpoint_url is None:
        return None, None, True
    parts = urlsplit(endpoint_url)
    use_ssl = parts.scheme == "https"
    return parts.hostname, parts.port or (443 if use_ssl else 80), use_ssl


def _checked_endpoint(endpoint_url: str) -> str:
    """endpoint_url when it is an http or https URL naming a host."""
    try:
        parts = urlsplit(endpoint_url)
        parts.port  # noqa: B018 (a port that is not a number raises)
    except ValueError as error:
        raise ObjectClerkConfigurationException(
            f"the endpoint URL {endpoint_url!r} is not valid: {error}"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ObjectClerkConfigurationException(
            f"the endpoint URL {endpoint_url!r} must be http:// or https:// and name a host"
        )
    return endpoint_url


def _credentials_file() -> str:
    return os.environ.get("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials")


def _config_file() -> str:
    return os.environ.get("AWS_CONFIG_FILE", "~/.aws/config")
