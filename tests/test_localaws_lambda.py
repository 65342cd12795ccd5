"""Lambda execution without Docker, driven only through boto3 as a learner's code would."""

from __future__ import annotations

import base64
import concurrent.futures
import inspect
import json
import time

from conftest import RECORDER, open_gate


def _log_messages(aws, function_name: str, wait_for: str = "REPORT", timeout: float = 15) -> list[str]:
    logs = aws("logs")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            events = logs.filter_log_events(logGroupName=f"/aws/lambda/{function_name}")["events"]
        except logs.exceptions.ResourceNotFoundException:
            events = []
        messages = [e["message"] for e in events]
        if any(m.startswith(wait_for) for m in messages):
            return messages
        time.sleep(0.1)
    raise AssertionError(f"no {wait_for} line in /aws/lambda/{function_name}")


def test_runs_handler_with_env_context_and_logs(aws, make_function):
    name = make_function(
        """
        import os
        def handler(event, context):
            print("hello from", context.function_name)
            return {
                "echo": event,
                "greeting": os.environ["GREETING"],
                "request_id": context.aws_request_id,
                "arn": context.invoked_function_arn,
                "remaining": context.get_remaining_time_in_millis(),
            }
        """,
        env={"GREETING": "hej"},
        timeout=7,
    )
    response = aws("lambda").invoke(FunctionName=name, Payload=json.dumps({"n": 1}), LogType="Tail")
    result = json.loads(response["Payload"].read())
    assert response["StatusCode"] == 200 and "FunctionError" not in response
    assert result["echo"] == {"n": 1} and result["greeting"] == "hej"
    assert result["arn"].endswith(f":function:{name}")
    assert 0 < result["remaining"] <= 7000
    tail = base64.b64decode(response["LogResult"]).decode()
    assert f"hello from {name}" in tail
    messages = _log_messages(aws, name)
    assert messages[0] == f"START RequestId: {result['request_id']} Version: $LATEST"
    assert f"hello from {name}" in messages
    assert messages[-2] == f"END RequestId: {result['request_id']}"
    assert "Duration:" in messages[-1] and "Max Memory Used:" in messages[-1]


def test_handler_exception_is_aws_error_payload(aws, make_function):
    name = make_function(
        """
        def handler(event, context):
            raise ValueError("bad input: " + event["what"])
        """
    )
    response = aws("lambda").invoke(FunctionName=name, Payload=json.dumps({"what": "x"}))
    error = json.loads(response["Payload"].read())
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "bad input: x"
    assert any("raise ValueError" in line for line in error["stackTrace"])


def test_timeout_returns_task_timed_out(aws, make_function):
    name = make_function(
        """
        import time
        def handler(event, context):
            time.sleep(30)
        """,
        timeout=1,
    )
    response = aws("lambda").invoke(FunctionName=name, Payload=b"{}")
    error = json.loads(response["Payload"].read())
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in error["errorMessage"]
    assert any("Task timed out after 1.00 seconds" in m for m in _log_messages(aws, name))


def test_missing_handler_module_is_import_error(aws, make_function):
    name = make_function("def handler(event, context):\n    return 1\n", handler="nowhere.handler")
    response = aws("lambda").invoke(FunctionName=name, Payload=b"{}")
    error = json.loads(response["Payload"].read())
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Runtime.ImportModuleError"


def test_event_invoke_returns_202_before_the_handler_finishes(aws, make_function, gate):
    name = make_function(RECORDER, env={"GATE_BUCKET": gate}, timeout=15)
    response = aws("lambda").invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"tag": "t1"}))
    assert response["StatusCode"] == 202
    open_gate(aws, gate)  # only now can the handler finish: the invoke returned before it did
    assert 'SEEN {"tag": "t1"}' in _log_messages(aws, name)


def test_patched_moto_methods_have_not_changed():
    """The runner replaces private moto methods: a moto upgrade that changes them must fail here."""
    from lambdalab.localaws import lambda_patches

    assert lambda_patches.original_signatures() == lambda_patches.EXPECTED_SIGNATURES
    source = inspect.getsource(lambda_patches.ORIGINALS["_invoke_lambda"])
    assert "docker" in source  # still the Docker implementation we replace
    # Every invocation path must still funnel into _invoke_lambda (moto's own invoke calls it).
    assert "self._invoke_lambda(" in inspect.getsource(lambda_patches.ORIGINALS["invoke"])


def test_function_deleted_while_running_leaves_no_log_group(aws, make_function, gate):
    """Teardown deletes a function whose invocation is still running: the invocation must not
    recreate the log group teardown removes (on AWS its deleted role could not)."""
    name = make_function(
        """
        import boto3, os, time
        def handler(event, context):
            s3 = boto3.client("s3")
            s3.put_object(Bucket=os.environ["GATE_BUCKET"], Key="started", Body=b"")
            while not s3.list_objects_v2(Bucket=os.environ["GATE_BUCKET"], Prefix="open").get("KeyCount"):
                time.sleep(0.1)
            print("finished after my function was deleted")
            return "finished"
        """,
        env={"GATE_BUCKET": gate},
        timeout=15,
    )
    # A synchronous invoke returns only after the runner has written (or skipped) the logs, so once
    # it has returned nothing is still to come: no waiting for a log group that might appear later.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        running = pool.submit(aws("lambda").invoke, FunctionName=name, Payload=b"{}")
        s3 = aws("s3")
        deadline = time.monotonic() + 15
        while not s3.list_objects_v2(Bucket=gate, Prefix="started").get("KeyCount"):
            assert time.monotonic() < deadline, "the invocation never started"
            time.sleep(0.1)
        aws("lambda").delete_function(FunctionName=name)
        open_gate(aws, gate)
        response = running.result(timeout=30)
    assert json.loads(response["Payload"].read()) == "finished"
    groups = [g["logGroupName"] for g in aws("logs").describe_log_groups()["logGroups"]]
    assert f"/aws/lambda/{name}" not in groups
