"""The Lambda runtime inside one execution environment: import the handler once, then run it for
one invocation after another, as AWS's runtime loop does.

Run as `python lambda_bootstrap.py HANDLER` with the task folder as the working directory. The init
phase (importing the handler's module) runs once; then the runtime reads invocations, one JSON line
each (request id, deadline, event), from the runner's invocation pipe (its fd in
_LAMBDALAB_INVOKE_FD), runs the handler, and answers with a result frame on the telemetry pipe
after the invocation's last log frame, so nothing a handler prints can be mistaken for its result
and every line belongs to the invocation it was written in. Module globals, threads and files
stay for the next invocation; the runner freezes whatever else the handler left running between
invocations. When the invocation pipe closes (the server stopped), the runtime ends its whole
process group. Standard library only: it must start fast.

Logging behaves as AWS's Python runtime (awslambdaric) sets it up: a handler on the root logger,
the root level from AWS_LAMBDA_LOG_LEVEL (else Python's default, WARNING), the Text format
`[LEVEL]\\t<UTC time>\\t<request id>\\t<message>` or, with AWS_LAMBDA_LOG_FORMAT=JSON, one JSON object
per record. Records go to the runner as frames on a separate pipe (the runtime's telemetry log
sink), so a multi-line message or traceback stays one CloudWatch event, as on AWS.
"""

from __future__ import annotations

import importlib
import io
import json
import logging
import os
import re
import resource
import signal
import sys
import threading
import time
import traceback
from datetime import UTC, datetime
from typing import Any

TELEMETRY_FD_ENV = "_LAMBDA_TELEMETRY_LOG_FD"  # the variable AWS's runtime reads its log sink from
INVOKE_FD_ENV = "_LAMBDALAB_INVOKE_FD"  # the runner's invocations, one JSON line each
# Written to fd 1 at the end of each invocation: the raw output before it belongs to that invocation.
STDOUT_MARK = b"\x00LLAB-END\n"
TEXT_FORMAT = "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n"
TEXT_DATEFMT = "%Y-%m-%dT%H:%M:%S"
NBSP = "\u00a0"  # the runtime indents traceback lines with no-break spaces, so CloudWatch keeps them
# LogRecord attributes that are not "extra" fields of a JSON log line
_RECORD_FIELDS = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"aws_request_id", "message", "asctime"}


class LambdaContext:
    """The attributes and method of AWS's Python context object that handlers actually use."""

    def __init__(self, request_id: str, deadline: float) -> None:
        self.function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.invoked_function_arn = os.environ["LAMBDALAB_FUNCTION_ARN"]
        self.memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
        self.aws_request_id = request_id
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.time()) * 1000))


class FrameSink:
    """Writes each log message as one frame: type, length, timestamp (µs), UTF-8 text; big-endian."""

    FRAME_TYPE = (0xA55A0003).to_bytes(4, "big")
    INIT_DONE_TYPE = b"LLAB"  # not a log line: marks the end of the init phase for the runner
    RESULT_TYPE = b"LRES"  # not a log line: the invocation's outcome (JSON), after its last log frame

    def __init__(self, fd: int | None) -> None:
        self._fd = fd
        self._lock = threading.Lock()  # frames from several threads must not interleave

    def log(self, message: str, frame_type: bytes = FRAME_TYPE) -> None:
        if self._fd is None:  # no runner pipe (run by hand): plain stdout
            sys.__stdout__.write(message)
            return
        data = message.encode("utf-8", errors="replace")
        stamp = time.time_ns() // 1000
        frame = memoryview(frame_type + len(data).to_bytes(4, "big") + stamp.to_bytes(8, "big") + data)
        with self._lock:
            while frame:
                frame = frame[os.write(self._fd, frame) :]

    def init_done(self) -> None:
        """Tell the runner the handler is imported (an empty frame of the runner's own type)."""
        if self._fd is not None:
            self.log("", self.INIT_DONE_TYPE)

    def result(self, outcome: dict) -> None:
        if self._fd is not None:
            self.log(json.dumps(outcome), self.RESULT_TYPE)


class LineFramer(io.TextIOBase):
    """sys.stdout/sys.stderr for the handler: each complete line becomes one frame, like each
    CloudWatch event Lambda makes of a printed line, in order with the log records around it.
    Writes to the file descriptor itself (subprocesses, C code) bypass it and reach the runner raw."""

    def __init__(self, sink: FrameSink, original: Any) -> None:
        super().__init__()
        self._sink, self._original, self._pending = sink, original, ""

    def write(self, text: str) -> int:
        *lines, self._pending = (self._pending + text).split("\n")
        for line in lines:
            self._sink.log(line)
        return len(text)

    def flush(self) -> None:
        """Nothing: like Lambda's log capture, a line becomes an event only once it is complete."""

    def finish(self) -> None:
        """At the end of the invocation, an unterminated last line is still logged."""
        if self._pending:
            self._sink.log(self._pending)
            self._pending = ""

    def fileno(self) -> int:
        return self._original.fileno()

    @property
    def buffer(self) -> Any:
        return self._original.buffer

    @property
    def encoding(self) -> str:
        return "utf-8"

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True


class LambdaLogHandler(logging.Handler):
    def __init__(self, sink: FrameSink) -> None:
        super().__init__()
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.sink.log(self.format(record))
        except Exception:  # noqa: BLE001 - logging must never break the handler
            self.handleError(record)


class JsonLogFormatter(logging.Formatter):
    """AWS's JSON log line: timestamp, level, message, logger, requestId, exception fields, extras."""

    def format(self, record: logging.LogRecord) -> str:
        level = min(50, max(0, record.levelno)) // 10 * 10
        stamp = datetime.fromtimestamp(record.created, tz=UTC)
        line = {
            "timestamp": stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z",
            "level": logging.getLevelName(level),
            "message": record.getMessage(),
            "logger": record.name,
            "requestId": getattr(record, "aws_request_id", None) or None,  # none during init
        }
        if record.exc_info and record.exc_info[0] is not None:
            kind, value, tb = record.exc_info
            line.update(
                stackTrace=traceback.format_tb(tb),
                errorType=kind.__name__,
                errorMessage=str(value),
                location=f"{record.pathname}:{record.funcName}:{record.lineno}",
            )
        line.update((k, v) for k, v in vars(record).items() if k not in _RECORD_FIELDS and k not in line)
        return json.dumps({k: v for k, v in line.items() if v is not None}, default=str, ensure_ascii=False) + "\n"


def _log_level() -> str:
    level = (os.environ.get("AWS_LAMBDA_LOG_LEVEL") or "").upper()
    return "DEBUG" if level == "TRACE" else level  # Python has no TRACE; the runtime maps it to DEBUG


def json_format() -> bool:
    return (os.environ.get("AWS_LAMBDA_LOG_FORMAT") or "").upper() == "JSON"


class Invocation:
    """The invocation being run: the runtime's log records carry its request id (empty during init,
    as in AWS's runtime)."""

    request_id = ""


def setup_logging(sink: FrameSink) -> None:
    logging.Formatter.converter = time.gmtime  # the runtime logs UTC
    handler = LambdaLogHandler(sink)
    handler.setFormatter(JsonLogFormatter() if json_format() else logging.Formatter(TEXT_FORMAT, TEXT_DATEFMT))

    def add_request_id(record: logging.LogRecord) -> bool:
        record.aws_request_id = Invocation.request_id
        return True

    handler.addFilter(add_request_id)
    root = logging.getLogger()
    level = _log_level()
    if level in logging.getLevelNamesMapping():
        root.setLevel(level)
    root.addHandler(handler)


def log_error(sink: FrameSink, error: dict) -> None:
    """The runtime's own log line for an error that escaped the handler (or its import)."""
    if json_format():
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        sink.log(json.dumps({"timestamp": stamp, "level": "ERROR", **error}) + "\n")
        return
    lines = [
        f"[ERROR] {error['errorType']}: {error['errorMessage']}"
        if error["errorMessage"]
        else f"[ERROR] {error['errorType']}"
    ]
    if error.get("stackTrace") is not None:
        lines.append("Traceback (most recent call last):")
        for entry in error["stackTrace"]:
            for line in entry.splitlines():
                stripped = line.lstrip(" ")
                lines.append(NBSP * (len(line) - len(stripped)) + stripped)
    sink.log("\n".join(lines) + "\n")


def _load_handler(spec: str):
    module_name, _, function_name = spec.rpartition(".")
    if not module_name:
        raise ValueError(f"Bad handler '{spec}': not enough values to unpack (expected 2, got 1)")
    module = importlib.import_module(module_name.replace("/", "."))
    try:
        return getattr(module, function_name)
    except AttributeError:
        raise AttributeError(f"Handler '{function_name}' missing on module '{module_name}'") from None


def _error(exc: BaseException, *, request_id: str, import_phase: str | None = None) -> dict:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename != __file__]
    error_type, message = type(exc).__name__, str(exc)
    if import_phase is not None:  # the names and wording AWS's Python runtime uses at init
        if isinstance(exc, SyntaxError):
            error_type = "Runtime.UserCodeSyntaxError"
            message = f"Syntax error in module '{import_phase}': {exc}"
        elif isinstance(exc, AttributeError):
            error_type = "Runtime.HandlerNotFound"
        elif isinstance(exc, ValueError):
            error_type = "Runtime.MalformedHandlerName"
        else:
            error_type = "Runtime.ImportModuleError"
            message = f"Unable to import module '{import_phase}': {exc}"
        frames = []
    return {
        "errorMessage": message,
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": traceback.format_list(frames),
    }


def peak_rss_mb() -> int:
    """Peak resident memory of this process since exec (VmHWM; the runner samples its children).

    Not ru_maxrss of RUSAGE_SELF: Linux carries that across exec from the forking parent, so a
    handler started by a 500 MB server would report the server's size."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            return int(re.search(r"^VmHWM:\s+(\d+)", status.read(), re.M).group(1)) // 1024
    except (OSError, AttributeError):  # no procfs: the best the platform offers
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024


def _run(handler: Any, sink: FrameSink, request: dict) -> dict:
    request_id = request["request_id"]
    # A cold start's deadline counts from the end of init (the runner cannot know it in advance).
    deadline = request.get("deadline") or time.time() + float(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT", "3"))
    try:
        result = handler(request["event"], LambdaContext(request_id, deadline))
    except Exception as exc:  # noqa: BLE001
        outcome = {"ok": False, "error": _error(exc, request_id=request_id)}
    else:
        try:
            outcome = {"ok": True, "payload": json.dumps(result)}
        except (TypeError, ValueError) as exc:
            error = _error(exc, request_id=request_id)
            error.update(
                errorType="Runtime.MarshalError", errorMessage=f"Unable to marshal response: {exc}", stackTrace=[]
            )
            outcome = {"ok": False, "error": error}
    if not outcome["ok"]:
        log_error(sink, outcome["error"])
    return outcome


def _finish_invocation(sink: FrameSink, outcome: dict) -> None:
    """Flush the invocation's output, mark the end of its raw output, then send its result."""
    outcome["max_rss_mb"] = peak_rss_mb()
    for stream in (sys.stdout, sys.stderr):
        stream.finish() if isinstance(stream, LineFramer) else stream.flush()
    try:
        os.write(1, STDOUT_MARK)
    except OSError:
        pass
    sink.result(outcome)


def main() -> int:
    handler_spec = sys.argv[1]
    sink_fd = os.environ.pop(TELEMETRY_FD_ENV, None)  # the runtime hides it from the function
    invoke_fd = os.environ.pop(INVOKE_FD_ENV, None)
    for fd in (sink_fd, invoke_fd):
        if fd:
            os.set_inheritable(int(fd), False)  # the handler's subprocesses must not hold them
    sink = FrameSink(int(sink_fd) if sink_fd else None)
    if sink_fd:
        sys.stdout, sys.stderr = LineFramer(sink, sys.stdout), LineFramer(sink, sys.stderr)
    setup_logging(sink)
    sys.path.insert(0, os.getcwd())
    init_error: BaseException | None = None
    try:
        handler = _load_handler(handler_spec)
    except Exception as exc:  # noqa: BLE001 - reported to the caller exactly as Lambda does
        init_error = exc
    else:
        sink.init_done()  # the function's timeout runs from here: Lambda's init phase has its own
    requests = os.fdopen(int(invoke_fd), "rb") if invoke_fd else sys.stdin.buffer
    for line in iter(requests.readline, b""):
        request = json.loads(line)
        Invocation.request_id = request["request_id"]
        if init_error is not None:  # the first invocation gets the init error; the environment is done
            error = _error(init_error, request_id=Invocation.request_id, import_phase=handler_spec.rpartition(".")[0])
            log_error(sink, error)
            _finish_invocation(sink, {"ok": False, "error": error})
            return 1
        _finish_invocation(sink, _run(handler, sink, request))
        Invocation.request_id = ""
    # The runner closed the pipe (server stopped or environment retired): end what the handler left,
    # frozen or not; only ever the environment's own process group (the runner starts it as one).
    if invoke_fd and os.getpgrp() == os.getpid():
        os.killpg(0, signal.SIGKILL)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
