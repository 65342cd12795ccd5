"""Helpers for tests/test_pipeline_e2e.py: follow executions by input key, measure blur in pixels.

Why a per-pixel blur measure (and not only the per-box Laplacian variance of test_blur_coverage):
the sample's faces are real photos encoded at CRF 23, smooth over most of their area, so one
variance per box is dominated by a few edges (eyes, hair line) and says nothing about the rest.
Per pixel, "detail" is the local high-frequency energy E = mean of the squared Laplacian over a
9×9 neighbourhood, and

* a pixel is **blurred** when its neighbourhood kept at most 10% of its input energy
  (E_out <= 0.1·E_in): the 90% loss the blur tests ask of every face;
* a pixel is **measurable** only when E_in >= 100. Re-encoding alone leaves E up to ~6 in areas
  that had no detail (99th percentile measured on the sample's face-free frames against a plain
  decode+encode), so below E_in ≈ 60 even a perfect blur could not show a 90% loss, and such a
  pixel reveals nothing of a face either way. 100 keeps the 10% level clear of that floor.

A face's blurred fraction is blurred / measurable pixels inside its ground-truth box; a box with
fewer than MIN_MEASURABLE such pixels is reported as unmeasurable instead of counted. An
unblurred face scores near 0 (E_out ≈ E_in), so the measure can fail.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import av
import cv2
import numpy as np

WINDOW = 9
BLURRED_KEEPS_AT_MOST = 0.10
MEASURABLE_ENERGY = 100.0
MIN_MEASURABLE = 100
#: A hang guard, not a speed assertion: the sample takes ~10 s here; nothing waits this long unless stuck.
HANG_GUARD_SECONDS = 240.0


def local_energy(gray: np.ndarray) -> np.ndarray:
    """Mean squared Laplacian over a WINDOW×WINDOW neighbourhood of every pixel."""
    lap = cv2.Laplacian(gray.astype(np.float32), cv2.CV_32F)
    return cv2.boxFilter(lap * lap, -1, (WINDOW, WINDOW))


def blurred_fraction(before: np.ndarray, after: np.ndarray, box: tuple[int, int, int, int]) -> tuple[float, int]:
    """(blurred / measurable pixels, measurable pixels) inside `box` (x0, y0, x1, y1), given the
    local energies of the input and output frames."""
    x0, y0, x1, y1 = box
    e_in, e_out = before[y0:y1, x0:x1], after[y0:y1, x0:x1]
    measurable = e_in >= MEASURABLE_ENERGY
    count = int(measurable.sum())
    if count == 0:
        return 0.0, 0
    blurred = measurable & (e_out <= BLURRED_KEEPS_AT_MOST * e_in)
    return float(blurred.sum()) / count, count


def clipped_box(box: tuple[float, ...], width: int, height: int) -> tuple[int, int, int, int] | None:
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
    return (x0, y0, x1, y1) if x1 - x0 >= 2 and y1 - y0 >= 2 else None


def gray_frames(path: Any) -> Iterator[np.ndarray]:
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="gray")


def rgb_frames(path: Any) -> Iterator[np.ndarray]:
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format="rgb24")


def executions_for(sfn: Any, state_machine_arn: str, key: str) -> list[dict[str, Any]]:
    """Every execution of the machine whose input names `key`, described."""
    found = []
    for item in sfn.list_executions(stateMachineArn=state_machine_arn)["executions"]:
        described = sfn.describe_execution(executionArn=item["executionArn"])
        if json.loads(described["input"])["Video"]["Key"] == key:
            found.append(described)
    return found


def finished_execution(sfn: Any, state_machine_arn: str, key: str) -> dict[str, Any]:
    """Wait until an execution for `key` exists and has ended; returns its description."""
    deadline = time.monotonic() + HANG_GUARD_SECONDS
    while True:
        found = executions_for(sfn, state_machine_arn, key)
        if found and all(e["status"] != "RUNNING" for e in found):
            return found[0] if len(found) == 1 else {"status": "MANY", "executions": found}
        if time.monotonic() > deadline:
            raise AssertionError(f"no finished execution for {key!r} after {HANG_GUARD_SECONDS:.0f} s: {found}")
        time.sleep(0.5)


def face_detection_reports(logs: Any, log_group: str, key: str) -> list[dict[str, Any]]:
    """face_detection's JSON result lines ({"started", "skipped", "failed"}) that mention `key`."""
    try:
        events = logs.filter_log_events(logGroupName=log_group)["events"]
    except logs.exceptions.ResourceNotFoundException:
        return []
    reports = []
    for event in events:
        message = event["message"].strip()
        if message.startswith("{") and key in message:
            reports.append(json.loads(message))
    return reports


def keys(s3: Any, bucket: str, prefix: str = "") -> set[str]:
    return {o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])}
