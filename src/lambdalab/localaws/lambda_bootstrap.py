"""The Lambda runtime inside the subprocess: import the handler, call it once, report the result.

Run as `python lambda_bootstrap.py HANDLER RESULT_FILE` with the task folder as the working
directory and the event on stdin. The handler's prints go to stdout/stderr, which the runner turns
into the CloudWatch log stream; the return value (or the error) goes to RESULT_FILE, so nothing a
handler prints can be mistaken for its result. Standard library only: it must start fast.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import sys
import time
import traceback


class LambdaContext:
    """The attributes and method of AWS's Python context object that handlers actually use."""

    def __init__(self, deadline: float) -> None:
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = os.environ["LAMBDALAB_FUNCTION_ARN"]
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = os.environ["LAMBDALAB_REQUEST_ID"]
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


def _load_handler(spec: str):
    module_name, _, function_name = spec.rpartition(".")
    if not module_name:
        raise ValueError(f"Bad handler '{spec}': expected 'module.function'")
    module = importlib.import_module(module_name.replace("/", "."))
    try:
        return getattr(module, function_name)
    except AttributeError:
        raise AttributeError(f"Handler '{function_name}' missing on module '{module_name}'") from None


def _error(exc: BaseException, *, import_phase: bool) -> dict:
    frames = traceback.extract_tb(exc.__traceback__)
    error_type = type(exc).__name__
    if import_phase:  # the names AWS's Python runtime reports before the handler ever runs
        if isinstance(exc, SyntaxError):
            error_type = "Runtime.UserCodeSyntaxError"
        elif isinstance(exc, AttributeError):
            error_type = "Runtime.HandlerNotFound"
        else:
            error_type = "Runtime.ImportModuleError"
    return {
        "errorMessage": str(exc),
        "errorType": error_type,
        "requestId": os.environ.get("LAMBDALAB_REQUEST_ID", ""),
        "stackTrace": [line for line in traceback.format_list(frames)],
    }


def main() -> int:
    handler_spec, result_file = sys.argv[1], sys.argv[2]
    deadline = time.time() + float(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "3"))
    sys.path.insert(0, os.getcwd())
    event = json.loads(sys.stdin.read() or "{}")
    try:
        handler = _load_handler(handler_spec)
    except Exception as exc:  # noqa: BLE001 - reported to the caller exactly as Lambda does
        outcome = {"ok": False, "error": _error(exc, import_phase=True)}
    else:
        try:
            result = handler(event, LambdaContext(deadline))
        except Exception as exc:  # noqa: BLE001
            outcome = {"ok": False, "error": _error(exc, import_phase=False)}
            print(f"[ERROR] {type(exc).__name__}: {exc}", file=sys.stderr)
            traceback.print_exc()
        else:
            try:
                outcome = {"ok": True, "payload": json.dumps(result)}
            except TypeError as exc:
                error = _error(exc, import_phase=False)
                error["errorType"] = "Runtime.MarshalError"
                error["errorMessage"] = f"Unable to marshal response: {exc}"
                outcome = {"ok": False, "error": error}
    outcome["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    sys.stdout.flush()
    sys.stderr.flush()
    with open(result_file, "w", encoding="utf-8") as handle:
        json.dump(outcome, handle)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
