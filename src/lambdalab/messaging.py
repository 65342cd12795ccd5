"""Read what SNS delivered to an SQS subscriber, the way a test or a notebook needs it."""

from __future__ import annotations

import json
import time
from typing import Any

from lambdalab.viz.logs import FunctionWatch


def drain_queue(
    sqs: Any, queue_url: str, *, expected: int, timeout_seconds: float = 30, watch: FunctionWatch | None = None
) -> list[dict[str, Any]]:
    """Receive and delete messages until `expected` have arrived (or, for 0, until the timeout).

    Each SNS→SQS message body is the SNS envelope (Type, MessageId, Subject, Message, ...), which is
    what is returned. Raises TimeoutError naming how many arrived when fewer than `expected` do.
    With a `watch` on the function that publishes, the wait stops as soon as that function's log
    shows a failure (`FunctionFailed`), and a timeout carries its last log lines and the next step.
    """
    received: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline and (expected == 0 or len(received) < expected):
        wait = max(0, min(1, int(deadline - time.monotonic())))
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait).get(
            "Messages", []
        )
        for message in batch:
            received.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        if not batch and watch is not None and len(received) < expected:
            watch.raise_if_failed(f"{len(received)} of {expected} messages had arrived")
        if not batch and wait == 0:
            time.sleep(0.2)
    if len(received) < expected:
        headline = f"{len(received)} of {expected} messages arrived"
        if watch is not None:
            raise watch.timed_out(headline, timeout_seconds)
        raise TimeoutError(f"{headline} within {timeout_seconds} s")
    return received
