"""Bounded retries for AWS's eventual consistency right after IAM changes.

A new role (or a new inline policy) takes a few seconds to reach Lambda, Step Functions, S3 and the
stream pollers. During that window they answer with specific errors that mean "try again", not
"you are wrong". We retry only those, with exponential backoff, and give up after a bound so a real
mistake still surfaces within about a minute.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from botocore.exceptions import ClientError

T = TypeVar("T")

# Looked up at call time (not bound as a default) so tests can observe the waits without sleeping.
_sleep: Callable[[float], None] = time.sleep

# (error code, fragment of the message) pairs known to be IAM propagation delays.
PROPAGATION_ERRORS: tuple[tuple[str, str], ...] = (
    ("InvalidParameterValueException", "cannot be assumed by Lambda"),
    ("InvalidParameterValueException", "role defined for the function"),
    ("InvalidParameterValueException", "Cannot access stream"),
    ("InvalidParameterValueException", "execution role does not have permissions"),
    ("InvalidParameterValueException", "Please ensure the role can perform"),
    ("AccessDeniedException", "is not authorized to assume the provided role"),
    ("AccessDeniedException", "nor the regional one is authorized to assume"),
    ("AccessDeniedException", "not authorized to access the Log Destination"),
    ("InvalidArgument", "Unable to validate the following destination configurations"),
)
# Lambda refuses a second change while the previous one is still being applied.
CONFLICT_ERRORS: tuple[tuple[str, str], ...] = (
    ("ResourceConflictException", "update is in progress"),
    ("ResourceConflictException", "The operation cannot be performed at this time"),
)


def error_matches(error: ClientError, known: tuple[tuple[str, str], ...]) -> bool:
    code = error.response.get("Error", {}).get("Code", "")
    message = error.response.get("Error", {}).get("Message", "")
    return any(code == c and fragment.lower() in message.lower() for c, fragment in known)


def is_transient(error: ClientError) -> bool:
    """True for IAM propagation delays and Lambda update conflicts."""
    return error_matches(error, PROPAGATION_ERRORS) or error_matches(error, CONFLICT_ERRORS)


def with_backoff(
    call: Callable[[], T],
    *,
    retry_if: Callable[[ClientError], bool] = is_transient,
    attempts: int = 8,
    first_delay: float = 1.0,
    max_delay: float = 16.0,
    sleep: Callable[[float], None] | None = None,
    on_retry: Callable[[ClientError, float], None] | None = None,
) -> T:
    """Call `call()`; on a retryable ClientError wait 1, 2, 4, 8, 16, 16 ... s and try again.

    Eight attempts wait at most ~63 s in total. The last error is re-raised unchanged.
    """
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except ClientError as error:
            if attempt == attempts or not retry_if(error):
                raise
            if on_retry is not None:
                on_retry(error, delay)
            (sleep or _sleep)(delay)
            delay = min(delay * 2, max_delay)
    raise AssertionError("unreachable")
