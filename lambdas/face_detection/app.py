"""S3 ObjectCreated -> one Rekognition face-detection job and one Step Functions execution per video.

Why it looks the way it does (the original tutorial code got these wrong):

* every record of the event is handled, not just the last one;
* keys arrive URL-encoded (``my+video+%C3%A9t%C3%A9.mp4``) and are decoded before use;
* objects in the output location are skipped, so writing the blurred video never re-triggers us;
* S3 delivers events at least once: the Rekognition ``ClientRequestToken`` and the execution name
  are derived from bucket/key/ETag, so a duplicate event returns the same job and starts no second
  execution;
* failures are not swallowed: every record is attempted, then the invocation fails if any record
  failed, so Lambda's retry re-drives them (records already started are then skipped as duplicates).

Returns ``{"started": [{"bucket", "key", "jobId", "executionArn"}],
"skipped": [{"bucket", "key", "reason"}]}``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import urllib.parse
from typing import Any

import boto3

VIDEO_SUFFIXES = (".mp4", ".mov")
JOB_TAG = "lambda-lab-face-blur"
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


@functools.cache
def _clients() -> tuple[Any, Any]:
    """(rekognition, stepfunctions), created on first use: cheap cold start, easy to replace in tests."""
    return boto3.client("rekognition"), boto3.client("stepfunctions")


class RecordsFailed(RuntimeError):
    """Raised after all records were attempted, so Lambda retries the event (duplicates are skipped)."""


def handler(event: dict[str, Any], context: Any = None) -> dict[str, list[dict[str, str]]]:
    started: list[dict[str, str]] = []
    skipped: list[dict[str, str]] = []
    failed: list[str] = []
    for record in event.get("Records", []):
        bucket, key, etag = parse_record(record)
        reason = skip_reason(record, bucket, key)
        if reason:
            skipped.append({"bucket": bucket, "key": key, "reason": reason})
            continue
        try:
            result = start_pipeline(bucket, key, etag)
        except Exception as exc:  # attempt the other records first, then fail loudly below
            failed.append(f"s3://{bucket}/{key}: {type(exc).__name__}: {exc}")
            continue
        (started if "executionArn" in result else skipped).append(result)
    print(json.dumps({"started": started, "skipped": skipped, "failed": failed}))
    if failed:
        raise RecordsFailed(f"{len(failed)} record(s) failed: " + "; ".join(failed))
    return {"started": started, "skipped": skipped}


def parse_record(record: dict[str, Any]) -> tuple[str, str, str]:
    """Bucket, decoded key and ETag of one S3 event record."""
    s3 = record["s3"]
    key = urllib.parse.unquote_plus(s3["object"]["key"])
    return s3["bucket"]["name"], key, s3["object"].get("eTag", "")


def skip_reason(record: dict[str, Any], bucket: str, key: str) -> str | None:
    if not record.get("eventName", "ObjectCreated:").startswith("ObjectCreated:"):
        return f"not an ObjectCreated event ({record.get('eventName')})"
    if not key.lower().endswith(VIDEO_SUFFIXES):
        return "not a video (.mp4/.mov)"
    output_bucket = os.environ.get("OUTPUT_BUCKET", "")
    if bucket == output_bucket and key.startswith(os.environ.get("OUTPUT_PREFIX", "blurred/")):
        return "in the output location"
    return None


def start_pipeline(bucket: str, key: str, etag: str) -> dict[str, str]:
    """Start (or find again) the Rekognition job, then start the execution once."""
    state_machine_arn = os.environ.get("STATE_MACHINE_ARN")
    if not state_machine_arn:
        raise RuntimeError("STATE_MACHINE_ARN is not set: create the state machine, then set it on this function")
    rekognition, stepfunctions = _clients()
    digest = hashlib.sha256(f"{bucket}\n{key}\n{etag}".encode()).hexdigest()
    job_id = rekognition.start_face_detection(
        Video={"S3Object": {"Bucket": bucket, "Name": key}},
        ClientRequestToken=digest,  # 64 hex chars: same object version -> same job
        JobTag=JOB_TAG,
    )["JobId"]
    execution_input = {
        "JobId": job_id,
        "Video": {"Bucket": bucket, "Key": key, "ETag": etag},
        "PollIntervalSeconds": poll_interval_seconds(),
    }
    try:
        arn = stepfunctions.start_execution(
            stateMachineArn=state_machine_arn,
            name=execution_name(key, digest),
            input=json.dumps(execution_input),
        )["executionArn"]
    except stepfunctions.exceptions.ExecutionAlreadyExists:
        return {"bucket": bucket, "key": key, "reason": "duplicate event: execution already exists"}
    return {"bucket": bucket, "key": key, "jobId": job_id, "executionArn": arn}


def execution_name(key: str, digest: str) -> str:
    """Readable and deterministic: ``<key stem, safe chars, <= 47>-<32 hex>`` (<= 80 chars)."""
    stem = _NAME_UNSAFE.sub("-", key.rsplit("/", 1)[-1].rsplit(".", 1)[0]).strip("-")[:47]
    return f"{stem}-{digest[:32]}" if stem else digest[:32]


def poll_interval_seconds() -> int:
    raw = os.environ.get("POLL_INTERVAL_SECONDS", "5")
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"POLL_INTERVAL_SECONDS must be a whole number of seconds >= 0, got {raw!r}")
    return value
