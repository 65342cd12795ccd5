"""Read what a Lambda function wrote to CloudWatch Logs, the way the console shows it."""

from __future__ import annotations

from typing import Any


def recent_invocations(logs: Any, function_name: str, count: int = 1) -> list[list[str]]:
    """The last `count` invocations of a function: each a list of lines from START to REPORT."""
    group = f"/aws/lambda/{function_name}"
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"logGroupName": group}
    while True:
        page = logs.filter_log_events(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            break
        kwargs["nextToken"] = page["nextToken"]
    # Lines keep their order within a stream; streams are ordered by their first line.
    streams: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        streams.setdefault(event.get("logStreamName", ""), []).append(event)
    ordered = sorted(streams.values(), key=lambda lines: lines[0]["timestamp"])
    invocations: list[list[str]] = []
    for event in (e for stream in ordered for e in stream):
        message = event["message"].rstrip("\n")
        if message.startswith("START RequestId:"):
            invocations.append([])
        if invocations:
            invocations[-1].append(message)
    return invocations[-count:]


def print_invocations(logs: Any, function_name: str, count: int = 1) -> None:
    for lines in recent_invocations(logs, function_name, count):
        print("\n".join(lines))


def wait_for_log_lines(logs: Any, function_name: str, keep: Any, *, count: int, timeout_seconds: float = 30) -> list[str]:
    """Lines the function printed that satisfy `keep`, once at least `count` are there (stream order).

    CloudWatch Logs is eventually consistent and the trigger is asynchronous: poll, don't sleep.
    """
    import time

    deadline = time.monotonic() + timeout_seconds
    while True:
        try:
            lines = [line for invocation in recent_invocations(logs, function_name, count=10_000)
                     for line in invocation if keep(line)]
        except logs.exceptions.ResourceNotFoundException:
            lines = []
        if len(lines) >= count:
            return lines
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(lines)} of {count} log lines from {function_name} within {timeout_seconds} s")
        time.sleep(0.5)
