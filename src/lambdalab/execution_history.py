"""Read a face-blur Step Functions execution: states entered, time per stage, why it failed.

Why from the execution history and not from our own clock: the history is what the learner sees in
the console, its timestamps are the service's own, and it is available after the fact (a notebook
cell, the `blur` CLI and the benchmark read the same numbers the same way).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

#: (label, first state, last state) of the pipeline's stages, in order. The detection stage runs
#: from the execution's start (the Rekognition job was started just before by face_detection) to
#: the moment GetFaces is entered, so it includes up to one poll interval of waiting.
STAGES: tuple[tuple[str, str, str], ...] = (
    ("detection job", "", "GetFaces"),
    ("collecting faces", "GetFaces", "GetFaces"),
    ("blurring", "BlurFaces", "BlurFaces"),
)


@dataclass(frozen=True)
class StateEntered:
    """One `...StateEntered` history event: which state, and when."""

    name: str
    timestamp: dt.datetime
    event_id: int


def iter_history(sfn: Any, execution_arn: str, after_event_id: int = 0) -> Iterator[dict[str, Any]]:
    """Every history event with id > `after_event_id`, oldest first, across all pages."""
    pages = sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn, maxResults=1000)
    for page in pages:
        yield from (event for event in page["events"] if event["id"] > after_event_id)


def states_entered(events: list[dict[str, Any]]) -> list[StateEntered]:
    """The `...StateEntered` events (Wait, Task, Choice, Succeed, Fail), in order."""
    return [
        StateEntered(e["stateEnteredEventDetails"]["name"], e["timestamp"], e["id"])
        for e in events
        if e["type"].endswith("StateEntered")
    ]


def stage_seconds(events: list[dict[str, Any]]) -> dict[str, float]:
    """Seconds per stage (see STAGES) for the stages the execution completed.

    A stage ends when its last state is exited; the detection stage ends when GetFaces is entered.
    Stages the execution never reached are left out rather than reported as zero.
    """
    started = next((e["timestamp"] for e in events if e["type"] == "ExecutionStarted"), None)
    entered: dict[str, dt.datetime] = {}
    exited: dict[str, dt.datetime] = {}
    for event in events:
        if event["type"].endswith("StateEntered"):
            entered.setdefault(event["stateEnteredEventDetails"]["name"], event["timestamp"])
        elif event["type"].endswith("StateExited"):
            exited[event["stateExitedEventDetails"]["name"]] = event["timestamp"]
    seconds: dict[str, float] = {}
    for label, first, last in STAGES:
        begin = started if first == "" else entered.get(first)
        end = entered.get(last) if first == "" else exited.get(last)
        if begin is not None and end is not None:
            seconds[label] = (end - begin).total_seconds()
    return seconds


def failure_reason(description: dict[str, Any], events: list[dict[str, Any]]) -> str:
    """One line saying why an execution did not succeed: `<error>: <cause>`.

    The cause of a failed Lambda task is Lambda's JSON error payload; only its type and message are
    kept (a stack trace is not a one-line reason). Newlines are folded so the reason stays one line.
    """
    error, cause = description.get("error"), description.get("cause")
    if not error and not cause:
        for event in reversed(events):
            details = (
                event.get("executionFailedEventDetails")
                or event.get("executionTimedOutEventDetails")
                or event.get("executionAbortedEventDetails")
            )
            if details:
                error, cause = details.get("error"), details.get("cause")
                break
    status = description.get("status", "FAILED")
    readable = _readable_cause(cause)
    if error and readable.startswith(f"{error}: "):
        error = None  # a Lambda error's name is also its errorType: say it once
    parts = [p for p in (error, readable) if p]
    text = ": ".join(parts) if parts else f"the execution ended {status} without an error or cause"
    return " ".join(text.split())


def _readable_cause(cause: str | None) -> str:
    if not cause:
        return ""
    try:
        payload = json.loads(cause)
    except ValueError:
        return cause
    if isinstance(payload, dict) and ("errorMessage" in payload or "errorType" in payload):
        kind, message = payload.get("errorType", ""), payload.get("errorMessage", "")
        return f"{kind}: {message}" if kind and message else (kind or message)
    return cause
