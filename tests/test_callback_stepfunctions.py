"""`.waitForTaskToken` on the offline AWS: the execution pauses until its token is answered.

What the callback variant of the pipeline relies on, checked on moto's interpreter with the lab's
patches (stepfunctions_patch, callbacks section): SendTaskSuccess resumes with its output,
SendTaskFailure fails with its error *and cause*, TimeoutSeconds and HeartbeatSeconds fire, and a
token answered twice, or after its task timed out, gets TaskTimedOut as on AWS (an unknown one
InvalidToken). The Lambda hands the token over through S3, so the test answers it from outside.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from botocore.exceptions import ClientError

SFN_ROLE_POLICY = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
    '"Principal":{"Service":"states.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
)
HAND_OVER = """
import boto3
def handler(event, context):
    boto3.client("s3").put_object(Bucket=event["bucket"], Key=event["key"], Body=event["token"].encode())
    return {"handed_over": True}
"""


@pytest.fixture()
def waiting(aws, make_function):
    """start(task_settings) -> (execution ARN, its task token), the execution paused on the token."""
    s3, sfn = aws("s3"), aws("stepfunctions")
    bucket = f"tokens-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    function = aws("lambda").get_function(FunctionName=make_function(HAND_OVER))["Configuration"]["FunctionArn"]
    role = aws("iam").create_role(RoleName=f"sfn-{uuid.uuid4().hex[:8]}", AssumeRolePolicyDocument=SFN_ROLE_POLICY)[
        "Role"
    ]["Arn"]

    def start(settings: dict) -> tuple[str, str]:
        key = uuid.uuid4().hex
        definition = {
            "StartAt": "Wait",
            "States": {
                "Wait": {
                    "Type": "Task",
                    "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                    "Parameters": {
                        "FunctionName": function,
                        "Payload": {"bucket": bucket, "key": key, "token.$": "$$.Task.Token"},
                    },
                    **settings,
                    "End": True,
                }
            },
        }
        machine = sfn.create_state_machine(name=f"sm-{key[:8]}", definition=json.dumps(definition), roleArn=role)
        execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], input="{}")["executionArn"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                return execution, s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
            except s3.exceptions.NoSuchKey:
                time.sleep(0.1)
        raise AssertionError("the task never handed its token over")

    return start


def finished(sfn, execution: str, within: float = 60) -> dict:
    deadline = time.monotonic() + within
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "execution did not finish"
        time.sleep(0.1)
    return described


def error_code(call) -> str:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["Error"]["Code"]


def test_the_execution_waits_for_its_token_and_resumes_with_the_output(aws, waiting):
    sfn = aws("stepfunctions")
    execution, token = waiting({"TimeoutSeconds": 60})
    time.sleep(1)  # the function returned long ago: only the token can end the task
    assert sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
    sfn.send_task_success(taskToken=token, output=json.dumps({"JobId": "j-1"}))
    result = finished(sfn, execution)
    assert result["status"] == "SUCCEEDED"
    assert json.loads(result["output"]) == {"JobId": "j-1"}


def test_send_task_failure_fails_the_execution_with_error_and_cause(aws, waiting):
    sfn = aws("stepfunctions")
    execution, token = waiting({"TimeoutSeconds": 60})
    sfn.send_task_failure(taskToken=token, error="RekognitionJobFailed", cause="Unsupported codec/format.")
    result = finished(sfn, execution)
    assert (result["status"], result["error"], result["cause"]) == (
        "FAILED",
        "RekognitionJobFailed",
        "Unsupported codec/format.",
    )
    failed = [e for e in sfn.get_execution_history(executionArn=execution)["events"] if e["type"] == "TaskFailed"]
    assert failed[0]["taskFailedEventDetails"]["cause"] == "Unsupported codec/format."


# TimeoutSecondsPath (what the pipeline uses) is covered end to end in test_callback_pipeline.py.
@pytest.mark.parametrize(
    "settings", [{"TimeoutSeconds": 2}, {"HeartbeatSeconds": 2, "TimeoutSeconds": 60}], ids=["timeout", "heartbeat"]
)
def test_an_unanswered_token_times_out_and_a_late_answer_is_task_timed_out(aws, waiting, settings):
    sfn = aws("stepfunctions")
    execution, token = waiting(settings)
    started = time.monotonic()
    result = finished(sfn, execution)
    assert (result["status"], result["error"]) == ("FAILED", "States.Timeout")
    assert time.monotonic() - started < 30, "the timeout did not fire"
    assert error_code(lambda: sfn.send_task_success(taskToken=token, output="{}")) == "TaskTimedOut"


def test_a_second_answer_to_the_same_token_is_task_timed_out(aws, waiting):
    sfn = aws("stepfunctions")
    execution, token = waiting({"TimeoutSeconds": 60})
    sfn.send_task_success(taskToken=token, output="{}")
    assert error_code(lambda: sfn.send_task_success(taskToken=token, output="{}")) == "TaskTimedOut"
    assert error_code(lambda: sfn.send_task_failure(taskToken=token, error="Late")) == "TaskTimedOut"
    assert finished(sfn, execution)["status"] == "SUCCEEDED"  # the first answer stands


def test_an_unknown_token_is_invalid(aws):
    sfn = aws("stepfunctions")
    assert error_code(lambda: sfn.send_task_success(taskToken="not-a-token", output="{}")) == "InvalidToken"
