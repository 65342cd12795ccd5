"""Start the Rekognition Video job of a callback execution, and park the execution's task token.

Invoked by the state machine's `.waitForTaskToken` Task (state_machine_callback.json) with
``{"Video": {"Bucket", "Key", ...}, "TaskToken": str, "ExecutionArn": str}``. The execution then
waits, at no cost, until resume_face_blur_execution answers the token.

Why the token goes to DynamoDB: Rekognition's completion notice carries the JobId and the JobTag,
but a task token is far longer than a JobTag may be (256 characters, ``[a-zA-Z0-9_.\\-:]``). So the
token is stored keyed by JobId, with an ``ExpiresAt`` TTL attribute that lets DynamoDB delete it
once no notice can matter any more.

Idempotent: the ClientRequestToken is derived from the execution ARN, so a retried Task gets the
same job (and stores its new token over the old one) instead of starting a second job.

Returns ``{"JobId": str}`` (the execution ignores it: only SendTaskSuccess/SendTaskFailure resume it).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from typing import Any

import boto3

JOB_TAG = "lambda-lab-face-blur-callback"


@functools.cache
def _clients() -> tuple[Any, Any]:
    """(rekognition, dynamodb), created on first use."""
    return boto3.client("rekognition"), boto3.client("dynamodb")


def handler(event: dict[str, Any], context: Any = None) -> dict[str, str]:
    return start_job(event["Video"], event["TaskToken"], event["ExecutionArn"])


def start_job(video: dict[str, str], task_token: str, execution_arn: str) -> dict[str, str]:
    rekognition, dynamodb = _clients()
    job_id = rekognition.start_face_detection(
        Video={"S3Object": {"Bucket": video["Bucket"], "Name": video["Key"]}},
        ClientRequestToken=hashlib.sha256(execution_arn.encode()).hexdigest(),  # 64 hex: one job per execution
        JobTag=JOB_TAG,
        NotificationChannel={"SNSTopicArn": setting("TOPIC_ARN"), "RoleArn": setting("REKOGNITION_ROLE_ARN")},
    )["JobId"]
    dynamodb.put_item(
        TableName=setting("TOKEN_TABLE"),
        Item={
            "JobId": {"S": job_id},
            "TaskToken": {"S": task_token},
            "ExecutionArn": {"S": execution_arn},
            "ExpiresAt": {"N": str(int(time.time()) + int(setting("TOKEN_TTL_SECONDS")))},
        },
    )
    print(json.dumps({"JobId": job_id, "ExecutionArn": execution_arn}))
    return {"JobId": job_id}


def setting(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"{name} is not set on this function (see notebook 06, section 3)")
    return value
