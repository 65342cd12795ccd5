"""Step Functions really execute: Task (both Lambda ARN styles), Wait, Choice, Succeed, Fail, Retry/Catch."""

from __future__ import annotations

import json
import time
import uuid

SFN_ROLE_POLICY = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
    '"Principal":{"Service":"states.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
)

COUNTER = """
def handler(event, context):
    count = event.get("count", 0) + 1
    return {"count": count, "done": count >= 3}
"""

FLAKY = """
import boto3, os
def handler(event, context):
    # Fails on the first attempt (no marker yet), succeeds on the retry.
    s3 = boto3.client("s3")
    bucket = os.environ["MARKER_BUCKET"]
    if not s3.list_objects_v2(Bucket=bucket).get("KeyCount"):
        s3.put_object(Bucket=bucket, Key="attempted", Body=b"")
        raise RuntimeError("first attempt fails")
    return {"recovered": True}
"""

BROKEN = """
def handler(event, context):
    raise KeyError("missing-field")
"""


def _arn(aws, name: str) -> str:
    return aws("lambda").get_function(FunctionName=name)["Configuration"]["FunctionArn"]


def _run(aws, definition: dict, execution_input: dict, name: str | None = None) -> dict:
    sfn = aws("stepfunctions")
    role = aws("iam").create_role(RoleName=f"sfn-{uuid.uuid4().hex[:8]}", AssumeRolePolicyDocument=SFN_ROLE_POLICY)[
        "Role"
    ]["Arn"]
    machine = sfn.create_state_machine(
        name=f"sm-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition), roleArn=role
    )["stateMachineArn"]
    kwargs = {"name": name} if name else {}
    execution = sfn.start_execution(stateMachineArn=machine, input=json.dumps(execution_input), **kwargs)[
        "executionArn"
    ]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            described["history"] = sfn.get_execution_history(executionArn=execution)["events"]
            described["machine"] = machine
            return described
        time.sleep(0.2)
    raise AssertionError("execution did not finish")


def test_wait_choice_loop_with_zip_lambdas(aws, make_function):
    counter = _arn(aws, make_function(COUNTER))
    definition = {
        "StartAt": "Count",
        "States": {
            "Count": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": counter, "Payload.$": "$"},
                "OutputPath": "$.Payload",
                "Next": "Done?",
            },
            "Done?": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.done", "BooleanEquals": True, "Next": "Finish"}],
                "Default": "Pause",
            },
            "Pause": {"Type": "Wait", "Seconds": 1, "Next": "CountAgain"},
            "CountAgain": {"Type": "Task", "Resource": counter, "Next": "Done?"},
            "Finish": {"Type": "Succeed"},
        },
    }
    result = _run(aws, definition, {"count": 0})
    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"]) == {"count": 3, "done": True}
    entered = [e["stateEnteredEventDetails"]["name"] for e in result["history"] if "stateEnteredEventDetails" in e]
    assert entered == ["Count", "Done?", "Pause", "CountAgain", "Done?", "Pause", "CountAgain", "Done?", "Finish"]


def test_retry_then_catch_to_fail_with_cause(aws, make_function):
    marker = f"marker-{uuid.uuid4().hex[:8]}"
    aws("s3").create_bucket(Bucket=marker)
    flaky = _arn(aws, make_function(FLAKY, env={"MARKER_BUCKET": marker}))
    broken = _arn(aws, make_function(BROKEN))
    definition = {
        "StartAt": "Flaky",
        "States": {
            "Flaky": {
                "Type": "Task",
                "Resource": flaky,
                "ResultPath": "$.flaky",
                "Retry": [{"ErrorEquals": ["RuntimeError"], "IntervalSeconds": 1, "MaxAttempts": 2}],
                "Next": "Broken",
            },
            "Broken": {
                "Type": "Task",
                "Resource": broken,
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Failed"}],
                "Next": "Never",
            },
            "Never": {"Type": "Succeed"},
            "Failed": {"Type": "Fail", "Error": "BrokenStep", "Cause": "the broken step raised"},
        },
    }
    result = _run(aws, definition, {})
    assert result["status"] == "FAILED"
    assert result["error"] == "BrokenStep"
    types = [e["type"] for e in result["history"]]
    assert types.count("TaskFailed") + types.count("LambdaFunctionFailed") >= 2  # flaky once, broken once
    caught = [e for e in result["history"] if e.get("stateExitedEventDetails", {}).get("name") == "Broken"]
    assert caught, "the Catch should exit the Broken state"


def test_start_execution_without_name_works_twice(aws, make_function):
    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
    sfn = aws("stepfunctions")
    role = aws("iam").create_role(RoleName=f"sfn-{uuid.uuid4().hex[:8]}", AssumeRolePolicyDocument=SFN_ROLE_POLICY)[
        "Role"
    ]["Arn"]
    machine = sfn.create_state_machine(
        name=f"sm-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition), roleArn=role
    )["stateMachineArn"]
    first = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    second = sfn.start_execution(stateMachineArn=machine)["executionArn"]
    assert first != second and not first.endswith(":None")
