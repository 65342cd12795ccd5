"""One poll of a Rekognition Video face-detection job, for the state machine's Wait/Choice loop.

Input: the execution state (only ``JobId`` is read).
Returns ``{"JobStatus": "IN_PROGRESS" | "SUCCEEDED" | "FAILED", "StatusMessage": str}``.
``StatusMessage`` is always present ("" when Rekognition gives none) because the state machine's
ResultSelector copies it, and a JSONPath that matches nothing fails the task.
"""

from __future__ import annotations

import functools
from typing import Any

import boto3


@functools.cache
def _rekognition() -> Any:
    return boto3.client("rekognition")


def handler(event: dict[str, Any], context: Any = None) -> dict[str, str]:
    return job_status(event["JobId"])


def job_status(job_id: str) -> dict[str, str]:
    # MaxResults=1: we only want the status, not the faces (those are fetched once, at the end).
    response = _rekognition().get_face_detection(JobId=job_id, MaxResults=1)
    return {"JobStatus": response["JobStatus"], "StatusMessage": response.get("StatusMessage", "")}
