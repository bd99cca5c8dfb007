"""object-clerk: S3 object operations that retry transient failures and
verify every transfer against the checksum the store holds."""

from object_clerk.clerk import ObjectClerk
from object_clerk.exceptions import (
    ObjectClerkConfigurationException,
    ObjectClerkConnectionException,
    ObjectClerkException,
    ObjectClerkServerAuthException,
    ObjectClerkServerInternalException,
    ObjectNotFoundException,
    ObjectSaveException,
    ObjectVerificationException,
)

__all__ = [
    "ObjectClerk",
    "ObjectClerkConfigurationException",
    "ObjectClerkConnectionException",
    "ObjectClerkException",
    "ObjectClerkServerAuthException",
    "ObjectClerkServerInternalException",
    "ObjectNotFoundException",
    "ObjectSaveException",
    "ObjectVerificationException",
]
