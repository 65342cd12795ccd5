"""Run moto's Lambda functions for real, without Docker: one subprocess per invocation.

moto funnels every invocation path (Invoke API, S3/SNS/SQS/stream triggers, Step Functions) into
`LambdaFunction._invoke_lambda(event) -> (payload, errored, logs)`. Replacing that one method makes
all of them execute the function's real code. The function's zip is extracted once per code hash;
the handler runs under this venv's Python with the function's environment, its timeout enforced,
and START/END/REPORT lines written to CloudWatch Logs as Lambda does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

from lambdalab.localaws import runtime

BOOTSTRAP = Path(__file__).with_name("lambda_bootstrap.py")
CODE_CACHE = Path(tempfile.gettempdir()) / "lambdalab-functions"
LOG_TAIL_BYTES = 4096  # Invoke's LogType=Tail returns the last 4 KB, as AWS does


def code_dir(code_bytes: bytes) -> Path:
    """Extract a deployment package once per content hash (safe under concurrent invocations)."""
    digest = hashlib.sha256(code_bytes).hexdigest()[:32]
    target = CODE_CACHE / digest
    if target.is_dir():
        return target
    CODE_CACHE.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=CODE_CACHE, prefix=".extract-"))
    with zipfile.ZipFile(io.BytesIO(code_bytes)) as archive:
        archive.extractall(staging)
    try:
        staging.rename(target)
    except OSError:  # another invocation extracted the same code first
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _function_environment(fn: Any, request_id: str, log_stream: str) -> dict[str, str]:
    """A clean environment like Lambda's: nothing of the server's own, plus the function's vars."""
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "SYSTEMROOT") if key in os.environ}
    env.update(
        {
            "AWS_REGION": fn.region,
            "AWS_DEFAULT_REGION": fn.region,
            "AWS_ACCESS_KEY_ID": "lambda-role-key",
            "AWS_SECRET_ACCESS_KEY": "lambda-role-secret",
            "AWS_SESSION_TOKEN": "lambda-session-token",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{fn.run_time}",
            "AWS_LAMBDA_FUNCTION_NAME": fn.function_name,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_size),
            "AWS_LAMBDA_FUNCTION_TIMEOUT": str(fn.timeout),
            "AWS_LAMBDA_LOG_GROUP_NAME": fn.logs_group_name,
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
            "_HANDLER": fn.handler or "",
            "TZ": ":UTC",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "LAMBDALAB_FUNCTION_ARN": fn.function_arn,
            "LAMBDALAB_REQUEST_ID": request_id,
        }
    )
    env.update({key: str(value) for key, value in (fn.environment_vars or {}).items()})
    # The function talks to the same embedded AWS, whatever its own variables say.
    env["AWS_ENDPOINT_URL"] = runtime.endpoint()
    env["LAMBDA_TASK_ROOT"] = env.get("LAMBDA_TASK_ROOT", "")
    return env


def _still_deployed(fn: Any) -> bool:
    from moto.awslambda.utils import get_backend

    try:
        get_backend(fn.account_id, fn.region).get_function(fn.function_name)
    except Exception:  # moto raises its own not-found error types
        return False
    return True


def _write_logs(fn: Any, log_stream: str, lines: list[str]) -> None:
    # A function deleted while it ran (teardown) must not recreate its log group afterwards: on AWS
    # its role is deleted with it, and a role that is gone can no longer create log groups.
    if not _still_deployed(fn):
        return
    fn.logs_backend.ensure_log_group(fn.logs_group_name)
    fn.logs_backend.create_log_stream(fn.logs_group_name, log_stream)
    now = int(time.time() * 1000)
    events = [{"timestamp": now, "message": line} for line in lines]
    fn.logs_backend.put_log_events(fn.logs_group_name, log_stream, events)


def _timeout_error(request_id: str, timeout: float) -> dict[str, Any]:
    return {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds",
    }


def invoke(fn: Any, event: Any) -> tuple[str, bool, str]:
    """Run `fn` once on `event`; returns (payload JSON, errored, log text) like moto expects."""
    request_id = str(uuid.uuid4())
    today = dt.datetime.now(dt.timezone.utc)
    log_stream = f"{today:%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
    event_json = event if isinstance(event, str) else json.dumps(event if event is not None else {})

    if getattr(fn, "package_type", "Zip") == "Image":
        error = {
            "errorType": "Runtime.InvalidEntrypoint",
            "errorMessage": "Container-image functions run only on the aws target; locally, deploy "
            "the same handler as a zip of its folder.",
        }
        return json.dumps(error), True, error["errorMessage"]

    task_root = code_dir(fn.code_bytes)
    env = _function_environment(fn, request_id, log_stream)
    env["LAMBDA_TASK_ROOT"] = str(task_root)
    timeout = float(fn.timeout or 3)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="lambdalab-invoke-") as scratch:
        result_file = Path(scratch) / "result.json"
        process = subprocess.Popen(
            [sys.executable, str(BOOTSTRAP), fn.handler or "app.handler", str(result_file)],
            cwd=task_root,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so a timeout can kill the handler's children too
        )
        try:
            output, _ = process.communicate(event_json.encode("utf-8"), timeout=timeout)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            output, _ = process.communicate()
            timed_out = True
        duration_ms = (time.monotonic() - started) * 1000
        outcome = json.loads(result_file.read_text()) if result_file.exists() else None

    printed = output.decode("utf-8", errors="replace").splitlines()
    if timed_out:
        errored, payload = True, json.dumps(_timeout_error(request_id, timeout))
        printed.append(f"{today:%Y-%m-%dT%H:%M:%S.%fZ} {request_id} Task timed out after {timeout:.2f} seconds")
    elif outcome is None:
        errored = True
        payload = json.dumps(
            {
                "errorType": "Runtime.ExitError",
                "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: exit status {process.returncode}",
            }
        )
    elif outcome["ok"]:
        errored, payload = False, outcome["payload"]
    else:
        errored, payload = True, json.dumps(outcome["error"])

    max_rss = (outcome or {}).get("max_rss_mb", 0)
    billed = max(1, int(-(-duration_ms // 1)))
    lines = [f"START RequestId: {request_id} Version: $LATEST", *printed, f"END RequestId: {request_id}"]
    lines.append(
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\tBilled Duration: {billed} ms"
        f"\tMemory Size: {fn.memory_size} MB\tMax Memory Used: {max_rss} MB"
    )
    _write_logs(fn, log_stream, lines)
    return payload, errored, "\n".join(lines)


def log_tail(logs: str) -> str:
    return logs.encode("utf-8")[-LOG_TAIL_BYTES:].decode("utf-8", errors="ignore")
