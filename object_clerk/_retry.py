"""How failures are retried.

A request is retried only when repeating it is safe and may succeed: a
failed connection, a store that asks to be asked again, a body damaged on
the way (_errors.is_transient says which failures those are, and why).
Everything else (not found, access denied, bad request) would fail the same
way again and is raised at once. TLS certificate failures are not retried.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from retry.api import retry_call

from object_clerk._errors import is_transient
from object_clerk.exceptions import ObjectClerkConfigurationException

T = TypeVar("T")

logger = logging.getLogger("object_clerk.retry")


class _Transient(Exception):
    """Carries a transient failure through retry_call, which can only select
    exceptions by class."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


@dataclass(frozen=True)
class RetryPolicy:
    """The clerk's retry settings, in retry_call's terms.

    tries is the number of attempts in all (-1: no limit); delay is the first
    wait, multiplied by backoff and increased by jitter (a number, or a
    (min, max) range for a random amount) after each failure, up to max_delay.
    Zero delays are valid: tests use them so that nothing sleeps.
    """

    delay: float
    backoff: float
    jitter: float | tuple[float, float]
    max_delay: float | None
    tries: int

    def __post_init__(self) -> None:
        for name in ("delay", "backoff", "max_delay"):
            value = getattr(self, name)
            if value is None and name == "max_delay":
                continue
            _check_number(f"retry_{name}", value)
        if isinstance(self.jitter, tuple):
            if len(self.jitter) != 2:
                raise ObjectClerkConfigurationException(
                    f"retry_jitter must be a number or a (min, max) pair, not {self.jitter!r}"
                )
            for bound in self.jitter:
                _check_number("retry_jitter", bound)
        else:
            _check_number("retry_jitter", self.jitter)
        if not isinstance(self.tries, int) or isinstance(self.tries, bool):
            raise TypeError(f"retry_tries must be an int, not {type(self.tries).__name__}")
        if self.tries == 0 or self.tries < -1:
            raise ObjectClerkConfigurationException(
                f"retry_tries must be -1 (no limit) or at least 1, not {self.tries}"
            )

    def call(self, function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Call function, repeating it while it fails transiently.

        When the tries run out, the last failure itself is raised (botocore's
        own exception, with its traceback), for the caller to translate.
        """

        def attempt() -> T:
            try:
                return function(*args, **kwargs)
            except Exception as error:
                if is_transient(error):
                    raise _Transient(error) from error
                raise

        try:
            return self.retry(attempt, _Transient)
        except _Transient as exhausted:
            raise exhausted.error from None

    def retry(
        self,
        function: Callable[[], T],
        exceptions: type[BaseException] | tuple[type[BaseException], ...],
        tries: int | None = None,
    ) -> T:
        """Call function through retry_call while it raises exceptions."""
        result: T = retry_call(
            function,
            exceptions=exceptions,
            tries=self.tries if tries is None else tries,
            delay=self.delay,
            max_delay=self.max_delay,
            backoff=self.backoff,
            jitter=self.jitter,
            logger=logger,
        )
        return result


def _check_number(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, not {type(value).__name__}")
    if value < 0:
        raise ObjectClerkConfigurationException(f"{name} must not be negative, not {value}")
