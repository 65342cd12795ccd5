"""Read what a Lambda function wrote to CloudWatch Logs, the way the console shows it, and notice
when it has failed, so a wait can stop at once and say why."""

from __future__ import annotations

import time
from typing import Any

from lambdalab.exercises.report import LearnerFacingError

# What AWS's runtimes (and the local runner) write when a function fails, plus the `"level": "ERROR"`
# of structured (JSON) log lines such as the songs handler's failed records.
FAILURE_MARKERS = ("[ERROR]", "Task timed out after", "Unhandled", "Runtime.", '"level": "ERROR"')
CLOCK_SLACK_MS = 1000  # log timestamps come from the service's clock, `since` from this machine's


def recent_invocations(
    logs: Any, function_name: str, count: int = 1, *, since_ms: int | None = None
) -> list[list[str]]:
    """The last `count` invocations of a function (after `since_ms`): each a list of lines from START to REPORT."""
    group = f"/aws/lambda/{function_name}"
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"logGroupName": group}
    if since_ms is not None:
        kwargs["startTime"] = since_ms
    while True:
        page = logs.filter_log_events(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            break
        kwargs["nextToken"] = page["nextToken"]
    # Lines keep their order within a stream (one per execution environment, which runs one
    # invocation at a time, so a warm environment's stream holds several); invocations are ordered
    # by their START line.
    streams: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        streams.setdefault(event.get("logStreamName", ""), []).append(event)
    started: list[tuple[int, list[str]]] = []
    for stream in streams.values():
        current: list[str] | None = None
        for event in stream:
            message = event["message"].rstrip("\n")
            if message.startswith("START RequestId:"):
                current = []
                started.append((event["timestamp"], current))
            if current is not None:
                current.append(message)
    started.sort(key=lambda item: item[0])
    invocations = [lines for _, lines in started]
    return invocations[-count:]


def print_invocations(logs: Any, function_name: str, count: int = 1) -> None:
    for lines in recent_invocations(logs, function_name, count):
        print("\n".join(lines))


class FunctionFailed(LearnerFacingError):
    """The function's log shows it failed: waiting longer would only end in a timeout."""


class WaitTimedOut(LearnerFacingError, TimeoutError):
    """What was waited for did not arrive in time; the message holds the function's last log lines."""


class FunctionWatch:
    """A function's log from now on: has it failed, and what did it say last.

    `next_step` is what the learner should do when it fails, e.g. "fix the handler cell (section 4)
    and re-run from section 5"; every error raised through this watch ends with it.
    """

    def __init__(self, logs: Any, function_name: str, *, next_step: str, since_ms: int | None = None) -> None:
        self.logs = logs
        self.function_name = function_name
        self.next_step = next_step
        self.since_ms = int(time.time() * 1000) - CLOCK_SLACK_MS if since_ms is None else since_ms
        self.started = time.monotonic()

    def lines(self) -> list[str]:
        try:
            invocations = recent_invocations(self.logs, self.function_name, count=10_000, since_ms=self.since_ms)
        except self.logs.exceptions.ResourceNotFoundException:  # no invocation has logged yet
            return []
        return [line for invocation in invocations for line in invocation]

    def failure(self, lines: list[str] | None = None) -> str | None:
        """The first line that shows a failure, or None."""
        lines = self.lines() if lines is None else lines
        return next((line for line in lines if any(marker in line for marker in FAILURE_MARKERS)), None)

    def report(self, headline: str, lines: list[str] | None = None, last: int = 12) -> str:
        lines = self.lines() if lines is None else lines
        shown = lines[-last:] or ["(nothing logged since the wait began: was the function invoked at all?)"]
        return "\n".join(
            [
                headline,
                f"Last log lines of {self.function_name}:",
                *(f"    {line}" for line in shown),
                f"Next step: {self.next_step}",
            ]
        )

    def raise_if_failed(self, waiting_for: str) -> None:
        lines = self.lines()
        failed = self.failure(lines)
        if failed:
            elapsed = time.monotonic() - self.started
            raise FunctionFailed(
                self.report(
                    f"{self.function_name} failed after {elapsed:.0f} s, while {waiting_for}:\n    {failed}", lines
                )
            )

    def timed_out(self, waiting_for: str, timeout_seconds: float) -> WaitTimedOut:
        return WaitTimedOut(self.report(f"{waiting_for} within {timeout_seconds:g} s."))


def wait_for_log_lines(
    logs: Any,
    function_name: str,
    keep: Any,
    *,
    count: int,
    timeout_seconds: float = 30,
    watch: FunctionWatch | None = None,
    since_ms: int | None = None,
) -> list[str]:
    """Lines the function printed that satisfy `keep`, once at least `count` are there (stream order).

    CloudWatch Logs is eventually consistent and the trigger is asynchronous: poll, don't sleep.
    Only lines after `since_ms` (or the watch's start) count, so a re-run does not read an earlier
    run's lines. With a `watch`, the wait stops as soon as the function's log shows a failure.
    """
    if watch is not None and since_ms is None:
        since_ms = watch.since_ms
    deadline = time.monotonic() + timeout_seconds
    while True:
        try:
            every = [
                line
                for invocation in recent_invocations(logs, function_name, count=10_000, since_ms=since_ms)
                for line in invocation
            ]
        except logs.exceptions.ResourceNotFoundException:
            every = []
        lines = [line for line in every if keep(line)]
        if len(lines) >= count:
            return lines
        if watch is not None:
            watch.raise_if_failed(f"{len(lines)} of {count} log lines had arrived")
        if time.monotonic() > deadline:
            headline = f"{len(lines)} of {count} log lines from {function_name}"
            if watch is not None:
                raise watch.timed_out(headline, timeout_seconds)
            raise TimeoutError(f"{headline} within {timeout_seconds} s")
        time.sleep(0.5)
