"""Resume the execution that waits for a Rekognition Video job, when Rekognition announces its end.

Subscribed to the SNS topic named in the jobs' NotificationChannel. Each record's message is
Rekognition's documented payload ``{"JobId", "Status", "API", "JobTag", "Timestamp", "Video":
{"S3ObjectName", "S3Bucket"}}`` (Status SUCCEEDED, FAILED or ERROR). Per notice:

* notices of other jobs (another JobTag) are ignored: a topic may be shared;
* the job's token is claimed with one conditional UpdateItem (``ResumedAt`` set once). A duplicate
  notice finds it claimed and stops: SNS delivers at least once;
* the start function stores the token just *after* StartFaceDetection returns, and a broken video
  can fail sooner than that: a token not there yet is looked for again, for a few seconds;
* SUCCEEDED: ``SendTaskSuccess`` with ``{"JobId", "JobStatus", "JobEndedAt"}`` (Rekognition's
  Timestamp, ms); otherwise ``SendTaskFailure`` with Rekognition's StatusMessage as the cause. The
  notice carries no message, so it is read with GetFaceDetection (MaxResults=1);
* ``TaskTimedOut`` / ``InvalidToken``: the execution no longer waits (it timed out, or was
  stopped): a late notice, ignored.

Returns ``{"resumed": [{"JobId", "Status"}], "ignored": [{"JobId", "reason"}]}``.
"""

from __future__ import annotations

import functools
import json
import os
import time
from typing import Any

import boto3

JOB_TAG = "lambda-lab-face-blur-callback"
#: Seconds between looks for a token not stored yet (about 4 s in all).
TOKEN_RETRY_DELAYS = (0.25, 0.5, 1.0, 2.0)


@functools.cache
def _client(service: str) -> Any:
    """Created on first use: Rekognition's only for a failed job, so a success pays for two clients."""
    return boto3.client(service)


def handler(event: dict[str, Any], context: Any = None) -> dict[str, list[dict[str, str]]]:
    resumed: list[dict[str, str]] = []
    ignored: list[dict[str, str]] = []
    for record in event.get("Records", []):
        notice = json.loads(record["Sns"]["Message"])
        reason = resume(notice)
        entry = {"JobId": notice.get("JobId", ""), **({"reason": reason} if reason else {"Status": notice["Status"]})}
        (ignored if reason else resumed).append(entry)
    print(json.dumps({"resumed": resumed, "ignored": ignored}))
    return {"resumed": resumed, "ignored": ignored}


def resume(notice: dict[str, Any]) -> str | None:
    """Answer the waiting token of `notice`'s job; None when answered, else why it was not."""
    if notice.get("JobTag") != JOB_TAG:
        return f"not a job of this pipeline (JobTag {notice.get('JobTag')!r})"
    token, reason = claim_token(notice["JobId"])
    if token is None:
        return reason
    stepfunctions = _client("stepfunctions")
    try:
        if notice["Status"] == "SUCCEEDED":
            output = {"JobId": notice["JobId"], "JobStatus": "SUCCEEDED", "JobEndedAt": notice["Timestamp"]}
            stepfunctions.send_task_success(taskToken=token, output=json.dumps(output))
        else:
            stepfunctions.send_task_failure(
                taskToken=token, error="RekognitionJobFailed", cause=failure_cause(notice["JobId"], notice["Status"])
            )
    except (stepfunctions.exceptions.TaskTimedOut, stepfunctions.exceptions.InvalidToken) as late:
        return f"the execution no longer waits: {late.response['Error']['Code']}"
    return None


def claim_token(job_id: str) -> tuple[str | None, str]:
    """(task token, "") once per job; (None, why) for a duplicate or unknown job."""
    dynamodb = _client("dynamodb")
    for delay in (0.0, *TOKEN_RETRY_DELAYS):
        time.sleep(delay)
        try:
            item = dynamodb.update_item(
                TableName=os.environ["TOKEN_TABLE"],
                Key={"JobId": {"S": job_id}},
                UpdateExpression="SET ResumedAt = :now",
                ConditionExpression="attribute_exists(JobId) AND attribute_not_exists(ResumedAt)",
                ExpressionAttributeValues={":now": {"N": str(int(time.time()))}},
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )["Attributes"]
            return item["TaskToken"]["S"], ""
        except dynamodb.exceptions.ConditionalCheckFailedException as failed:
            if "Item" in failed.response:  # the token is there and was claimed before
                return None, "duplicate notice: the execution was already resumed"
    return None, "no token stored for this job (expired, or a job started elsewhere)"


def failure_cause(job_id: str, status: str) -> str:
    message = _client("rekognition").get_face_detection(JobId=job_id, MaxResults=1).get("StatusMessage", "")
    return f"Rekognition job {job_id} {status}: {message}"
