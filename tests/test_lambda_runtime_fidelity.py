"""The offline Lambda behaves as AWS documents it for code written against real AWS: deployment
packages keep their Unix modes and symlinks, the Python runtime's logging format and levels,
memory measured and limited per function, and deprecated runtimes refused.

Each expectation comes from AWS's documentation or its Python runtime (awslambdaric), not from the
runner's code; every check goes through boto3 and CloudWatch Logs, as a learner would look.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import re
import stat
import textwrap
import time
import uuid
import zipfile

import pytest
from botocore.exceptions import ClientError

from conftest import LAMBDA_ROLE_POLICY

UNZIP_ERROR = "Could not unzip uploaded file. Please check your file, then try to upload again."
TEXT_LINE = re.compile(
    r"^\[(?P<level>[A-Z]+)\]\t(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)\t(?P<rid>[0-9a-f-]{36})\t(?P<msg>.*)$",
    re.S,
)


def package(entries: list[tuple[str, str | bytes, int]]) -> bytes:
    """A zip as `zip -y` on Linux writes it: each entry's full st_mode in external_attr >> 16."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            info.create_system = 3  # Unix
            info.external_attr = mode << 16
            archive.writestr(info, textwrap.dedent(data) if isinstance(data, str) else data)
    return buffer.getvalue()


def source(code: str) -> tuple[str, str, int]:
    return ("app.py", code, stat.S_IFREG | 0o644)


@pytest.fixture()
def deploy(aws):
    role = aws("iam").create_role(RoleName=f"r-{uuid.uuid4().hex[:8]}", AssumeRolePolicyDocument=LAMBDA_ROLE_POLICY)[
        "Role"
    ]["Arn"]

    def create(
        zip_bytes: bytes, *, memory: int = 128, timeout: int = 20, env: dict | None = None, runtime: str = "python3.12"
    ) -> str:
        name = f"fid-{uuid.uuid4().hex[:8]}"
        aws("lambda").create_function(
            FunctionName=name,
            Runtime=runtime,
            Role=role,
            Handler="app.handler",
            Code={"ZipFile": zip_bytes},
            MemorySize=memory,
            Timeout=timeout,
            Environment={"Variables": env or {}},
        )
        return name

    create.role = role
    return create


def invoke(aws, name: str, event: dict | None = None) -> tuple[dict, dict]:
    response = aws("lambda").invoke(FunctionName=name, Payload=json.dumps(event or {}), LogType="Tail")
    return response, json.loads(response["Payload"].read())


def log_events(aws, name: str) -> list[str]:
    """The function's CloudWatch events, in order, once its REPORT line is there."""
    logs = aws("logs")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            events = logs.filter_log_events(logGroupName=f"/aws/lambda/{name}")["events"]
        except logs.exceptions.ResourceNotFoundException:
            events = []
        messages = [e["message"] for e in events]
        if any(m.startswith("REPORT") for m in messages):
            return messages
        time.sleep(0.1)
    raise AssertionError(f"no REPORT line for {name}")


def report_memory(messages: list[str]) -> tuple[int, int]:
    report = next(m for m in messages if m.startswith("REPORT"))
    size = int(re.search(r"Memory Size: (\d+) MB", report).group(1))
    used = int(re.search(r"Max Memory Used: (\d+) MB", report).group(1))
    return size, used


# --- deployment packages: Lambda uses the POSIX permissions stored in the zip ------------------


def test_package_keeps_unix_modes_so_a_bundled_executable_runs(aws, deploy):
    """AWS: "Lambda uses POSIX file permissions"; executables need 755, other files 644."""
    name = deploy(
        package(
            [
                source("""
            import os, subprocess
            def handler(event, context):
                out = subprocess.run(["./bin/tool"], capture_output=True, text=True, check=True).stdout
                return {"out": out.strip(),
                        "tool": oct(os.stat("bin/tool").st_mode & 0o777),
                        "data": oct(os.stat("data.txt").st_mode & 0o777)}
        """),
                ("bin/tool", "#!/bin/sh\necho tool ran\n", stat.S_IFREG | 0o755),
                ("data.txt", "x", stat.S_IFREG | 0o644),
            ]
        )
    )
    response, result = invoke(aws, name)
    assert "FunctionError" not in response, result
    assert result == {"out": "tool ran", "tool": "0o755", "data": "0o644"}


def test_package_symlinks_stay_symlinks(aws, deploy):
    name = deploy(
        package(
            [
                source("""
            import os
            def handler(event, context):
                return {"link": os.readlink("current"), "is_link": os.path.islink("current"),
                        "read": open("current/version.txt").read()}
        """),
                ("v1/version.txt", "one", stat.S_IFREG | 0o644),
                ("current", "v1", stat.S_IFLNK | 0o777),
            ]
        )
    )
    response, result = invoke(aws, name)
    assert "FunctionError" not in response, result
    assert result == {"link": "v1", "is_link": True, "read": "one"}


@pytest.mark.parametrize(
    "entries",
    [
        [("../escaped.py", "x = 1", stat.S_IFREG | 0o644)],
        [("/etc/escaped.py", "x = 1", stat.S_IFREG | 0o644)],
        [("sub/../../escaped.py", "x = 1", stat.S_IFREG | 0o644)],
        # a link out of the package, then a file written through it
        [("out", "/tmp", stat.S_IFLNK | 0o777), ("out/escaped.py", "x = 1", stat.S_IFREG | 0o644)],
    ],
    ids=["parent", "absolute", "nested-parent", "through-symlink"],
)
def test_package_with_entries_outside_the_task_root_is_refused(deploy, entries):
    """Undocumented on AWS; the safe choice: the upload is refused with the unzip error AWS gives."""
    with pytest.raises(ClientError) as error:
        deploy(package([source("def handler(e, c):\n    return 1\n"), *entries]))
    assert error.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert error.value.response["Error"]["Message"] == UNZIP_ERROR


def test_not_a_zip_is_refused_at_upload(deploy):
    with pytest.raises(ClientError) as error:
        deploy(b"this is not a zip file")
    assert error.value.response["Error"]["Message"] == UNZIP_ERROR


# --- logging: the Python runtime's handler on the root logger ------------------------------------


LOGGING_HANDLER = """
    import logging
    logger = logging.getLogger()
    if __import__("os").environ.get("SET_INFO"):
        logger.setLevel(logging.INFO)
    def handler(event, context):
        logger.debug("debug line")
        logger.info("info %s", "line")
        print("printed line")
        logger.warning("two\\nlines")
        logging.getLogger("child").error("from a child logger")
        return context.aws_request_id
"""


def test_root_logger_writes_lambda_text_format(aws, deploy):
    """The documented Text format: [LEVEL]<tab>UTC timestamp<tab>request id<tab>message; INFO shown
    once the code sets the level, as the original tutorial's code does; a multi-line message is one
    event; records and prints keep their order."""
    name = deploy(package([source(LOGGING_HANDLER)]), env={"SET_INFO": "1"})
    before = dt.datetime.now(dt.UTC)
    _, request_id = invoke(aws, name)
    messages = log_events(aws, name)
    body = messages[1:-2]  # between START and END/REPORT
    parsed = [TEXT_LINE.match(m) for m in body]
    assert [(p["level"], p["msg"]) if p else m for p, m in zip(parsed, body)] == [
        ("INFO", "info line"),
        "printed line",
        ("WARNING", "two\nlines"),
        ("ERROR", "from a child logger"),
    ]
    for match in filter(None, parsed):
        assert match["rid"] == request_id
        stamp = dt.datetime.strptime(match["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
        assert abs((stamp - before).total_seconds()) < 60  # UTC, not local time


def test_a_printed_line_is_one_event_even_when_written_in_pieces(aws, deploy):
    """print(".", end="", flush=True) three times, then a newline: one event, as Lambda's capture
    splits output on newlines only; an unterminated last line is still logged."""
    name = deploy(
        package(
            [
                source("""
        def handler(event, context):
            for _ in range(3):
                print(".", end="", flush=True)
            print("Complete")
            print("no newline", end="")
        """)
            ]
        )
    )
    invoke(aws, name)
    assert log_events(aws, name)[1:-2] == ["...Complete", "no newline"]


def test_default_level_is_python_default_and_aws_lambda_log_level_sets_it(aws, deploy):
    quiet = deploy(package([source(LOGGING_HANDLER)]))
    invoke(aws, quiet)
    levels = [m.split("\t")[0] for m in log_events(aws, quiet) if m.startswith("[")]
    assert levels == ["[WARNING]", "[ERROR]"]  # WARNING, Python's default: no INFO, no DEBUG

    verbose = deploy(package([source(LOGGING_HANDLER)]), env={"AWS_LAMBDA_LOG_LEVEL": "DEBUG"})
    invoke(aws, verbose)
    levels = [m.split("\t")[0] for m in log_events(aws, verbose) if m.startswith("[")]
    assert levels == ["[DEBUG]", "[INFO]", "[WARNING]", "[ERROR]"]


def test_json_log_format(aws, deploy):
    """AWS_LAMBDA_LOG_FORMAT=JSON: one object per record with timestamp, level, message, logger and
    requestId; prints stay plain text."""
    name = deploy(
        package([source(LOGGING_HANDLER)]), env={"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "INFO"}
    )
    _, request_id = invoke(aws, name)
    body = log_events(aws, name)[1:-2]
    assert body[1] == "printed line"
    records = [json.loads(m) for m in body if m.startswith("{")]
    assert [(r["level"], r["message"], r["logger"]) for r in records] == [
        ("INFO", "info line", "root"),
        ("WARNING", "two\nlines", "root"),
        ("ERROR", "from a child logger", "child"),
    ]
    assert all(r["requestId"] == request_id for r in records)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", r["timestamp"]) for r in records)


def test_unhandled_exception_is_one_error_event_in_either_format(aws, deploy):
    code = source("""
        def handler(event, context):
            raise ValueError("bad input")
    """)
    text = deploy(package([code]))
    response, error = invoke(aws, text)
    assert response["FunctionError"] == "Unhandled" and error["errorType"] == "ValueError"
    event = next(m for m in log_events(aws, text) if m.startswith("[ERROR]"))
    assert event.startswith("[ERROR] ValueError: bad input\nTraceback (most recent call last):\n")
    assert 'raise ValueError("bad input")' in event

    as_json = deploy(package([code]), env={"AWS_LAMBDA_LOG_FORMAT": "JSON"})
    invoke(aws, as_json)
    record = next(json.loads(m) for m in log_events(aws, as_json) if m.startswith("{"))
    assert (record["level"], record["errorType"], record["errorMessage"]) == ("ERROR", "ValueError", "bad input")
    assert record["stackTrace"] and record["requestId"]


def test_import_error_uses_the_runtimes_wording(aws, deploy):
    name = deploy(package([source("import not_a_module_anywhere\ndef handler(e, c):\n    return 1\n")]))
    response, error = invoke(aws, name)
    assert error["errorType"] == "Runtime.ImportModuleError"
    assert error["errorMessage"] == "Unable to import module 'app': No module named 'not_a_module_anywhere'"


# --- memory: measured for the function's own processes, and limited to its MemorySize ------------


def test_trivial_function_reports_its_own_memory(aws, deploy):
    """A function that imports boto3 uses a few tens of MB on AWS; the server's memory must not show."""
    name = deploy(
        package(
            [
                source("""
        import boto3
        s3 = boto3.client("s3")
        def handler(event, context):
            return "ok"
    """)
            ]
        )
    )
    invoke(aws, name)
    size, used = report_memory(log_events(aws, name))
    assert size == 128
    assert 20 <= used <= 90, used


def test_memory_used_follows_what_the_handler_allocates(aws, deploy):
    name = deploy(
        package(
            [
                source("""
        def handler(event, context):
            block = bytearray(200 * 1024 * 1024)
            block[::4096] = b"x" * len(block[::4096])
            return len(block)
    """)
            ]
        ),
        memory=512,
    )
    response, result = invoke(aws, name)
    assert "FunctionError" not in response and result == 200 * 1024 * 1024
    _, used = report_memory(log_events(aws, name))
    assert 200 <= used <= 300, used


OOM_MESSAGE = re.compile(r"^RequestId: [0-9a-f-]{36} Error: Runtime exited with error: signal: killed$")


@pytest.mark.parametrize("where", ["handler", "child process"])
def test_exceeding_memory_size_ends_as_aws_ends_it(aws, deploy, where):
    """Over its MemorySize the function is killed: Runtime.OutOfMemory, `signal: killed`."""
    grow = "block = bytearray(400 * 1024 * 1024); block[::4096] = b'x' * len(block[::4096]); import time; time.sleep(5)"
    body = f"exec({grow!r})" if where == "handler" else f"subprocess.run([sys.executable, '-c', {grow!r}])"
    name = deploy(
        package(
            [
                source(f"""
        import subprocess, sys
        def handler(event, context):
            {body}
            return "survived"
    """)
            ]
        ),
        memory=128,
    )
    response, error = invoke(aws, name)
    assert response["FunctionError"] == "Unhandled"
    assert error["errorType"] == "Runtime.OutOfMemory"
    assert OOM_MESSAGE.match(error["errorMessage"]), error["errorMessage"]
    messages = log_events(aws, name)
    assert any(m.startswith(error["errorMessage"]) and m.endswith("Runtime.OutOfMemory") for m in messages)
    size, used = report_memory(messages)
    assert size == 128 and 100 <= used <= 128


def test_numpy_and_opencv_handlers_run_at_their_memory_size(aws, deploy):
    """Limiting resident memory, not address space: native libraries reserve far more virtual memory
    than they use, and must still run in a small function."""
    name = deploy(
        package(
            [
                source("""
        import cv2, numpy
        def handler(event, context):
            return int(cv2.GaussianBlur(numpy.ones((64, 64), numpy.uint8), (5, 5), 0).sum())
    """)
            ]
        ),
        memory=256,
    )
    response, result = invoke(aws, name)
    assert "FunctionError" not in response, result
    assert result == 64 * 64


# --- deprecated runtimes: refused with AWS's message -----------------------------------------------


@pytest.mark.parametrize("runtime", ["python3.9", "python3.7", "nodejs16.x"])
def test_deprecated_runtime_is_refused_at_create(deploy, runtime):
    with pytest.raises(ClientError) as error:
        deploy(package([source("def handler(e, c):\n    return 1\n")]), runtime=runtime)
    assert error.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert error.value.response["Error"]["Message"] == (
        f"The runtime parameter of {runtime} is no longer supported for creating or updating AWS Lambda "
        "functions. We recommend you use a supported runtime while creating or updating functions."
    )


def test_deprecated_runtime_is_refused_at_update_and_current_ones_accepted(aws, deploy):
    name = deploy(package([source("def handler(e, c):\n    return 1\n")]), runtime="python3.13")
    with pytest.raises(ClientError) as error:
        aws("lambda").update_function_configuration(FunctionName=name, Runtime="python3.8")
    assert error.value.response["Error"]["Code"] == "InvalidParameterValueException"
    aws("lambda").update_function_configuration(FunctionName=name, Runtime="python3.12")
    assert aws("lambda").get_function_configuration(FunctionName=name)["Runtime"] == "python3.12"


def test_invoke_log_tail_is_base64_of_the_stream(aws, deploy):
    name = deploy(package([source("def handler(e, c):\n    print('tail me')\n    return 1\n")]))
    response, _ = invoke(aws, name)
    assert "tail me" in base64.b64decode(response["LogResult"]).decode()


# --- init phase: importing the handler's module has its own time, apart from the timeout ----------


def test_slow_import_does_not_count_against_the_timeout(aws, deploy):
    """Lambda's init phase (module code) may take up to 10 s; the function timeout starts after it,
    and the REPORT line gives it as Init Duration."""
    name = deploy(
        package(
            [
                source("""
        import time
        time.sleep(1.5)
        def handler(event, context):
            return context.get_remaining_time_in_millis()
    """)
            ]
        ),
        timeout=1,
    )
    response, remaining = invoke(aws, name)
    assert "FunctionError" not in response, remaining
    assert 500 < remaining <= 1000
    report = next(m for m in log_events(aws, name) if m.startswith("REPORT"))
    assert float(re.search(r"Init Duration: ([\d.]+) ms", report).group(1)) >= 1500
    assert float(re.search(r"\tDuration: ([\d.]+) ms", report).group(1)) < 1000
