"""Let a deployment's running work end before it is torn down, so teardown leaves nothing behind.

Why: stopping an execution does not stop the Lambda invocation its current Task started, and an
invocation that ends after teardown writes its log lines and so recreates its log group (Lambda
does the same on AWS). Measured: Ctrl-C during CheckJobStatus left
`/aws/lambda/<prefix>-check-rekognition-job-status` behind. So before tearing down we stop every
running execution and wait until each function has logged a REPORT line for every invocation we
know was made: one face_detection per upload, and one per `TaskScheduled` in the histories.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from typing import Any

from lambdalab.deploy.deployed import FaceBlurDeployment
from lambdalab.deploy.target import Target
from lambdalab.execution_history import iter_history

POLL_SECONDS = 0.25


def stop_running_executions(sfn: Any, state_machine_arn: str) -> list[str]:
    """Stop every RUNNING execution of the machine; returns all execution ARNs (running or not)."""
    arns = []
    for execution in sfn.list_executions(stateMachineArn=state_machine_arn)["executions"]:
        arns.append(execution["executionArn"])
        if execution["status"] == "RUNNING":
            sfn.stop_execution(
                executionArn=execution["executionArn"],
                error="LambdaLab.Cleanup",
                cause="stopped before tearing the deployment down",
            )
    return arns


def scheduled_invocations(sfn: Any, execution_arns: list[str]) -> Counter[str]:
    """Function name -> how many Lambda tasks the executions scheduled (retries included)."""
    counts: Counter[str] = Counter()
    for arn in execution_arns:
        for event in iter_history(sfn, arn):
            if event["type"] == "TaskScheduled":
                parameters = json.loads(event["taskScheduledEventDetails"].get("parameters") or "{}")
                function = str(parameters.get("FunctionName", ""))
                if function:
                    counts[function.rsplit(":", 1)[-1]] += 1
    return counts


def reported_invocations(logs: Any, function_name: str) -> int:
    """How many invocations of `function_name` have ended (REPORT lines in its log group)."""
    pages = logs.get_paginator("filter_log_events").paginate(
        logGroupName=f"/aws/lambda/{function_name}", filterPattern="REPORT"
    )
    try:
        return sum(1 for page in pages for e in page["events"] if e["message"].startswith("REPORT "))
    except logs.exceptions.ResourceNotFoundException:
        return 0


def outstanding(target: Target, deployment: FaceBlurDeployment, uploads: int) -> dict[str, int]:
    """Function name -> invocations started but not yet ended, after stopping every execution."""
    sfn, logs = target.client("stepfunctions"), target.client("logs")
    expected = scheduled_invocations(sfn, stop_running_executions(sfn, deployment.state_machine_arn))
    expected[deployment.function_name("face_detection")] += uploads
    missing = {}
    for function, count in expected.items():
        ended = reported_invocations(logs, function)
        if ended < count:
            missing[function] = count - ended
    return missing


def wait_until_settled(
    target: Target,
    deployment: FaceBlurDeployment,
    *,
    uploads: int,
    timeout: float,
    give_up: threading.Event | None = None,
) -> dict[str, int]:
    """Wait until every known invocation has ended; returns what is still running (empty = settled).

    Re-checks after each round because an ending face_detection may just have started an execution.
    `give_up` (set by a second Ctrl-C) or `timeout` end the wait early.
    """
    deadline = time.monotonic() + timeout
    while True:
        missing = outstanding(target, deployment, uploads)
        if not missing or time.monotonic() > deadline or (give_up is not None and give_up.is_set()):
            return missing
        time.sleep(POLL_SECONDS)
