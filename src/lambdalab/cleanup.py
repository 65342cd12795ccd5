"""Deletion that tolerates what is already gone, so clean-up cells can always be re-run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

# The "does not exist" answers of the services the lab uses.
GONE_CODES = frozenset(
    {
        "ResourceNotFoundException",
        "NoSuchEntity",
        "NoSuchBucket",
        "NoSuchKey",
        "NotFound",
        "NotFoundException",
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "StateMachineDoesNotExist",
        "RepositoryNotFoundException",
        "ExecutionDoesNotExist",
    }
)


def gone_ok(call: Callable[[], Any]) -> bool:
    """Run a delete call; True if it deleted something, False if it was already gone."""
    try:
        call()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in GONE_CODES:
            return False
        raise
    return True
