"""Execution environments are reused as AWS reuses them ("Lambda execution environment lifecycle"):
module code runs once per environment, a later invocation of the same function version and
configuration is a warm start (no `Init Duration` in its REPORT line, the same log stream, globals
kept), one environment runs one invocation at a time, and an update of the configuration or code,
or a timeout, gives a cold start. Background processes are frozen between invocations.

Every check goes through boto3 and CloudWatch Logs, as a learner would look.
"""

from __future__ import annotations

import base64
import concurrent.futures
import json
import os
import re
import time

from conftest import zip_source

STATE = """
import os, time
LOADED_AT = time.time()  # module code: runs once per execution environment
COUNT = 0

def handler(event, context):
    global COUNT
    COUNT += 1
    print(f"call {COUNT} of {context.aws_request_id}")
    if event.get("hang"):
        time.sleep(30)
    if event.get("fail"):
        raise ValueError("no")
    return {"loaded_at": LOADED_AT, "count": COUNT, "pid": os.getpid(), "request_id": context.aws_request_id,
            "stream": context.log_stream_name, "remaining": context.get_remaining_time_in_millis()}
"""


def invoke(aws, name: str, event: dict | None = None) -> tuple[dict, dict]:
    response = aws("lambda").invoke(FunctionName=name, Payload=json.dumps(event or {}), LogType="Tail")
    return response, json.loads(response["Payload"].read())


def stream_events(aws, name: str, reports: int) -> dict[str, list[str]]:
    """The function's log events by stream, once `reports` REPORT lines are there."""
    logs = aws("logs")
    deadline = time.monotonic() + 15
    while True:
        try:
            events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
        except logs.exceptions.ResourceNotFoundException:
            events = []
        if sum(e["message"].startswith("REPORT") for e in events) >= reports or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    streams: dict[str, list[str]] = {}
    for event in events:
        streams.setdefault(event["logStreamName"], []).append(event["message"])
    return streams


def reports(messages: list[str]) -> list[str]:
    return [m for m in messages if m.startswith("REPORT")]


def test_second_invocation_is_warm_and_keeps_globals_and_its_log_stream(aws, make_function):
    name = make_function(STATE)
    _, first = invoke(aws, name)
    response, second = invoke(aws, name)
    assert "FunctionError" not in response, second
    assert second["loaded_at"] == first["loaded_at"]  # the module was imported once
    assert (first["count"], second["count"]) == (1, 2)  # a global set by one invocation, seen by the next
    assert second["request_id"] != first["request_id"] and second["stream"] == first["stream"]
    assert 0 < second["remaining"] <= 10_000  # each invocation gets its own deadline

    streams = stream_events(aws, name, reports=2)
    assert list(streams) == [first["stream"]]
    one, two = first["request_id"], second["request_id"]
    messages = streams[first["stream"]]
    assert [m.split("\t")[0] for m in messages] == [
        f"START RequestId: {one} Version: $LATEST",
        f"call 1 of {one}",
        f"END RequestId: {one}",
        f"REPORT RequestId: {one}",
        f"START RequestId: {two} Version: $LATEST",
        f"call 2 of {two}",
        f"END RequestId: {two}",
        f"REPORT RequestId: {two}",
    ]
    cold, warm = reports(messages)
    assert "\tInit Duration: " in cold
    assert "Init Duration" not in warm and "\tMax Memory Used: " in warm
    assert "Init Duration" not in base64.b64decode(response["LogResult"]).decode()


def test_concurrent_invocations_get_separate_environments(aws, make_function, gate):
    """Each handler waits until both have started: one environment running both in turn would never
    see the second start."""
    name = make_function(
        """
        import boto3, os, time
        def handler(event, context):
            s3 = boto3.client("s3")
            s3.put_object(Bucket=os.environ["GATE_BUCKET"], Key=f"started/{context.aws_request_id}", Body=b"")
            while s3.list_objects_v2(Bucket=os.environ["GATE_BUCKET"], Prefix="started/")["KeyCount"] < 2:
                if context.get_remaining_time_in_millis() < 1000:
                    raise TimeoutError("the other invocation never started")
                time.sleep(0.1)
            return {"pid": os.getpid(), "stream": context.log_stream_name}
        """,
        env={"GATE_BUCKET": gate},
        timeout=15,
    )
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: invoke(aws, name), range(2)))
    assert all("FunctionError" not in response for response, _ in results), results
    (_, a), (_, b) = results
    assert a["pid"] != b["pid"] and a["stream"] != b["stream"]
    streams = stream_events(aws, name, reports=2)
    assert sorted(streams) == sorted([a["stream"], b["stream"]])
    assert all("Init Duration" in reports(messages)[0] for messages in streams.values())


def test_configuration_or_code_update_gives_a_cold_start(aws, make_function):
    name = make_function(STATE, env={"VERSION": "1"})
    _, first = invoke(aws, name)
    _, warm = invoke(aws, name)
    assert warm["loaded_at"] == first["loaded_at"]

    aws("lambda").update_function_configuration(FunctionName=name, Environment={"Variables": {"VERSION": "2"}})
    _, after_config = invoke(aws, name)
    assert after_config["count"] == 1 and after_config["loaded_at"] != first["loaded_at"]
    assert after_config["stream"] != first["stream"]

    aws("lambda").update_function_code(FunctionName=name, ZipFile=zip_source(STATE + "\n# changed\n"))
    _, after_code = invoke(aws, name)
    assert after_code["count"] == 1 and after_code["loaded_at"] != after_config["loaded_at"]

    streams = stream_events(aws, name, reports=4)
    assert len(streams) == 3
    assert ["Init Duration" in r for r in reports(streams[first["stream"]])] == [True, False]
    assert all("Init Duration" in reports(streams[s])[0] for s in (after_config["stream"], after_code["stream"]))


def test_after_a_timeout_the_next_invocation_is_a_cold_start(aws, make_function):
    name = make_function(STATE, timeout=1)
    _, first = invoke(aws, name)
    response, error = invoke(aws, name, {"hang": True})
    assert error["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in error["errorMessage"]
    response, after = invoke(aws, name)
    assert "FunctionError" not in response, after
    assert after["count"] == 1 and after["loaded_at"] != first["loaded_at"] and after["pid"] != first["pid"]
    streams = stream_events(aws, name, reports=3)
    assert "Init Duration" in reports(streams[after["stream"]])[0]


def test_a_handler_error_keeps_the_environment_warm(aws, make_function):
    """An exception the runtime catches does not end the environment (as in AWS's Python runtime)."""
    name = make_function(STATE)
    _, first = invoke(aws, name)
    response, error = invoke(aws, name, {"fail": True})
    assert response["FunctionError"] == "Unhandled" and error["errorType"] == "ValueError"
    _, after = invoke(aws, name)
    assert after["loaded_at"] == first["loaded_at"] and after["count"] == 3


def test_background_processes_are_frozen_between_invocations(aws, make_function):
    """AWS freezes the environment after an invocation: a process the handler left running makes no
    progress until the next invocation, then goes on."""
    name = make_function(
        """
        import os, subprocess, sys, tempfile, time
        TICKS = os.path.join(tempfile.mkdtemp(), "ticks")
        LOOP = "import time\\nwhile True:\\n    open(%r, 'a').write('x')\\n    time.sleep(0.02)" % TICKS
        def size():
            return os.path.getsize(TICKS) if os.path.exists(TICKS) else 0
        def handler(event, context):
            if event.get("start"):
                subprocess.Popen([sys.executable, "-c", LOOP])
                while size() < 5:
                    time.sleep(0.01)
            at_start = size()
            time.sleep(event.get("sleep", 0))
            return {"at_start": at_start, "at_end": size()}
        """
    )
    _, first = invoke(aws, name, {"start": True})
    time.sleep(1.0)  # ~50 ticks if it ran
    _, second = invoke(aws, name, {"sleep": 0.5})
    assert second["at_start"] - first["at_end"] <= 5, (first, second)  # frozen while idle
    assert second["at_end"] - second["at_start"] >= 5, (first, second)  # resumed with the invocation


def test_a_deleted_functions_environment_ends(aws, make_function):
    name = make_function(STATE)
    _, result = invoke(aws, name)
    os.kill(result["pid"], 0)  # idle, still there
    aws("lambda").delete_function(FunctionName=name)
    deadline = time.monotonic() + 10
    while _alive(result["pid"]):
        assert time.monotonic() < deadline, "the environment outlived its function"
        time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return re.search(r"\) (\S)", stat.read()).group(1) != "Z"
    except OSError:
        return False


def test_recent_invocations_orders_invocations_across_shared_streams():
    """A warm environment's stream holds several invocations: the last invocation is the last START,
    not the last line of the stream that began last."""
    from lambdalab.viz.logs import recent_invocations

    def event(stream: str, stamp: int, message: str) -> dict:
        return {"logStreamName": stream, "timestamp": stamp, "message": message}

    events = [  # stream a: invocations 1 and 3 (warm); stream b: invocation 2, concurrent with 1
        event("a", 1, "START RequestId: 1"),
        event("a", 3, "REPORT RequestId: 1"),
        event("a", 6, "START RequestId: 3"),
        event("a", 7, "REPORT RequestId: 3"),
        event("b", 2, "START RequestId: 2"),
        event("b", 4, "REPORT RequestId: 2"),
    ]

    class Logs:
        def filter_log_events(self, **_):
            return {"events": events}

    assert [lines[0] for lines in recent_invocations(Logs(), "f", count=3)] == [
        "START RequestId: 1",
        "START RequestId: 2",
        "START RequestId: 3",
    ]
    assert recent_invocations(Logs(), "f") == [["START RequestId: 3", "REPORT RequestId: 3"]]


def test_a_function_deleted_and_created_again_starts_cold(aws, make_function):
    """Teardown and a new deployment under the same name: a new function, so new environments."""
    name = make_function(STATE)
    _, first = invoke(aws, name)
    configuration = aws("lambda").get_function(FunctionName=name)["Configuration"]
    aws("lambda").delete_function(FunctionName=name)
    aws("lambda").create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=configuration["Role"],
        Handler="app.handler",
        Code={"ZipFile": zip_source(STATE)},
        Timeout=configuration["Timeout"],
        Environment={"Variables": {}},
    )
    _, again = invoke(aws, name)
    assert again["count"] == 1 and again["loaded_at"] != first["loaded_at"]


def test_an_update_that_changes_nothing_still_gives_a_cold_start(aws, make_function):
    """AWS starts new environments after any UpdateFunctionCode, even of the same package."""
    name = make_function(STATE)
    _, first = invoke(aws, name)
    aws("lambda").update_function_code(FunctionName=name, ZipFile=zip_source(STATE))
    _, after = invoke(aws, name)
    assert after["count"] == 1 and after["loaded_at"] != first["loaded_at"]
