"""Notebook 03's exercise: `why_it_failed(events)` reads a failed execution's history.

It must return the last Task state that ran and Rekognition's StatusMessage as that state returned
it. The cases: the real history of the broken upload the notebook just made, and two histories
built here with several polling rounds, where the first CheckJobStatus said IN_PROGRESS and only
the last said FAILED, so reading the first exit, the Fail state or the execution's Cause gives a
different answer from the right one.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from lambdalab.exercises.report import Case, Mismatch, conclude

FIX = 'the cell under "Exercise: why did it fail?" (def why_it_failed)'


def expected_answer(events: list[dict]) -> dict[str, Any]:
    """The last TaskStateExited event: its state name and the StatusMessage in its output."""
    last = [e for e in events if e["type"] == "TaskStateExited"][-1]["stateExitedEventDetails"]
    return {"state": last["name"], "message": json.loads(last["output"])["Job"]["StatusMessage"]}


def polled_history(rounds: int, message: str) -> list[dict]:
    """A history of `rounds` polls (IN_PROGRESS, ..., FAILED) ending in the Fail state."""
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    events: list[dict] = []

    def add(kind: str, **details: Any) -> None:
        events.append(
            {
                "id": len(events) + 1,
                "previousEventId": len(events),
                "type": kind,
                "timestamp": start + dt.timedelta(seconds=len(events)),
                **details,
            }
        )

    state = {"JobId": "0" * 64, "Video": {"Bucket": "in", "Key": "broken.mp4", "ETag": "e"}, "PollIntervalSeconds": 1}
    add("ExecutionStarted", executionStartedEventDetails={"input": json.dumps(state)})
    for round_ in range(1, rounds + 1):
        add("WaitStateEntered", stateEnteredEventDetails={"name": "WaitForRekognition", "input": json.dumps(state)})
        add("WaitStateExited", stateExitedEventDetails={"name": "WaitForRekognition", "output": json.dumps(state)})
        add("TaskStateEntered", stateEnteredEventDetails={"name": "CheckJobStatus", "input": json.dumps(state)})
        failed = round_ == rounds
        job = {"JobStatus": "FAILED" if failed else "IN_PROGRESS", "StatusMessage": message if failed else None}
        state = {**state, "Job": job}
        add("TaskStateExited", stateExitedEventDetails={"name": "CheckJobStatus", "output": json.dumps(state)})
        add("ChoiceStateEntered", stateEnteredEventDetails={"name": "IsJobDone", "input": json.dumps(state)})
        add("ChoiceStateExited", stateExitedEventDetails={"name": "IsJobDone", "output": json.dumps(state)})
    add("FailStateEntered", stateEnteredEventDetails={"name": "RekognitionJobFailed", "input": json.dumps(state)})
    add(
        "ExecutionFailed",
        executionFailedEventDetails={
            "error": "RekognitionJobFailed",
            "cause": f"Rekognition job {state['JobId']} failed: {message}",
        },
    )
    return events


# Answers a learner may reach by a shortcut, and what to say when theirs is one (first match wins).
def _shortcuts(events: list[dict]) -> list[tuple[str, dict[str, Any]]]:
    exits = [e["stateExitedEventDetails"] for e in events if e["type"] == "TaskStateExited"]
    failed = next((e["executionFailedEventDetails"] for e in events if e["type"] == "ExecutionFailed"), {})
    fail_state = next((e["stateEnteredEventDetails"]["name"] for e in events if e["type"] == "FailStateEntered"), None)
    first = exits[0]
    return [
        (
            "you read the first CheckJobStatus: the job is polled until it ends, so read the LAST Task state's output",
            {"state": first["name"], "message": json.loads(first["output"])["Job"]["StatusMessage"]},
        ),
        (
            "that is the execution's Cause (describe_execution has it too): return Rekognition's StatusMessage alone, "
            "from the Task state's output",
            {"state": exits[-1]["name"], "message": failed.get("cause")},
        ),
        (
            "that is the Fail state the Choice went to: return the last TASK state, the one that ran",
            {"state": fail_state, "message": json.loads(exits[-1]["output"])["Job"]["StatusMessage"]},
        ),
    ]


def check_why_it_failed(why_it_failed: Callable[[list[dict]], Any], real_events: list[dict]) -> None:
    """Run the learner's function on each history; print the passes or raise ExerciseFailed."""
    histories = [
        ("the broken upload you just made", real_events),
        ("a job polled three times (IN_PROGRESS, IN_PROGRESS, FAILED)", polled_history(3, "Unsupported codec/format.")),
        ("a job polled twice, another message", polled_history(2, "The video is too long.")),
    ]
    results = []
    for name, events in histories:
        expected = expected_answer(events)
        case = Case(name, f"{expected['state']}: {expected['message']}")
        try:
            got = why_it_failed(copy.deepcopy(events))
        except Exception as error:  # noqa: BLE001 - any error of the learner's code is the answer here
            case.mismatches.append(
                Mismatch("why_it_failed(events)", repr(expected), f"{type(error).__name__}: {error}")
            )
            results.append(case)
            continue
        if got != expected:
            hint = next((why for why, answer in _shortcuts(events) if got == answer), "")
            if not hint and not isinstance(got, dict):
                hint = 'return a dict: {"state": ..., "message": ...}'
            case.mismatches.append(Mismatch("why_it_failed(events)", repr(expected), repr(got), hint=hint))
        results.append(case)
    conclude(
        results, exercise="why_it_failed", fix=FIX, next_step="You can read any execution's story from its history."
    )
