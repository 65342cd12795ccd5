"""Collect every face box of a finished Rekognition job and store them in S3.

The detections travel by reference: a long video has thousands of boxes, and a Step Functions
state payload is capped at 256 KiB. So the whole list goes to
``s3://$DETECTIONS_BUCKET/faces/<input key>.json`` (format in docs/CONTRACTS.md) and the state gets
``{"Bucket", "Key", "FaceCount", "SampleCount"}``.

Input: the execution state (``JobId`` and ``Video.Bucket``/``Video.Key`` are read).
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any

import boto3

PAGE_SIZE = 1000  # Rekognition's maximum for GetFaceDetection


@functools.cache
def _clients() -> tuple[Any, Any]:
    """(rekognition, s3), created on first use."""
    return boto3.client("rekognition"), boto3.client("s3")


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    video = {"Bucket": event["Video"]["Bucket"], "Key": event["Video"]["Key"]}
    return store_detections(event["JobId"], video)


def collect_detections(job_id: str, video: dict[str, str]) -> dict[str, Any]:
    """All pages of GetFaceDetection, grouped by timestamp (the detections object)."""
    rekognition, _ = _clients()
    samples: dict[int, list[dict[str, float]]] = {}
    metadata: dict[str, Any] = {}
    kwargs: dict[str, Any] = {"JobId": job_id, "MaxResults": PAGE_SIZE}
    while True:
        page = rekognition.get_face_detection(**kwargs)
        if page["JobStatus"] != "SUCCEEDED":
            raise RuntimeError(f"Rekognition job {job_id} is {page['JobStatus']}: {page.get('StatusMessage', '')}")
        metadata = metadata or page.get("VideoMetadata", {})
        for detection in page.get("Faces", []):
            face = detection["Face"]
            box = {k: face["BoundingBox"][k] for k in ("Left", "Top", "Width", "Height")}
            box["Confidence"] = face.get("Confidence", 0.0)
            samples.setdefault(int(detection["Timestamp"]), []).append(box)
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    return {
        "JobId": job_id,
        "Video": video,
        "VideoMetadata": metadata,
        "Samples": [{"Timestamp": ts, "Boxes": samples[ts]} for ts in sorted(samples)],
    }


def store_detections(job_id: str, video: dict[str, str]) -> dict[str, Any]:
    bucket = os.environ.get("DETECTIONS_BUCKET")
    if not bucket:
        raise RuntimeError("DETECTIONS_BUCKET is not set: the bucket where the face boxes are stored")
    detections = collect_detections(job_id, video)
    key = f"faces/{video['Key']}.json"
    _, s3 = _clients()
    s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=json.dumps(detections, separators=(",", ":")).encode(),
        ContentType="application/json",
    )
    return {
        "Bucket": bucket,
        "Key": key,
        "FaceCount": sum(len(s["Boxes"]) for s in detections["Samples"]),
        "SampleCount": len(detections["Samples"]),
    }
