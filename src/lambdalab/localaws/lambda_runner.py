"""Run moto's Lambda functions for real, without Docker: one subprocess per invocation.

moto funnels every invocation path (Invoke API, S3/SNS/SQS/stream triggers, Step Functions) into
`LambdaFunction._invoke_lambda(event) -> (payload, errored, logs)`. Replacing that one method makes
all of them execute the function's real code. The function's zip is extracted once per code hash,
as Lambda unpacks it (stored Unix modes and symlinks kept); the handler runs under this venv's
Python with the function's environment, its timeout and memory size enforced, and START/END/REPORT
lines written to CloudWatch Logs as Lambda does, with each printed line and each log record a
separate event stamped when it was written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

from lambdalab.localaws import server_address

BOOTSTRAP = Path(__file__).with_name("lambda_bootstrap.py")
# "-v2": packages extracted by the earlier extractor (modes dropped) must not be reused.
CODE_CACHE = Path(tempfile.gettempdir()) / "lambdalab-functions-v2"
LOG_TAIL_BYTES = 4096  # Invoke's LogType=Tail returns the last 4 KB, as AWS does
MEMORY_POLL_S = 0.05  # how often the handler's process tree is measured against its MemorySize
UNZIP_ERROR = "Could not unzip uploaded file. Please check your file, then try to upload again."
TELEMETRY_FD_ENV = "_LAMBDA_TELEMETRY_LOG_FD"
INIT_DONE_FRAME = b"LLAB"  # the bootstrap's signal that the handler module is imported
INIT_LIMIT_S = 10.0  # Lambda's init phase: up to 10 s, not counted in the function's timeout


class PackageError(ValueError):
    """A deployment package Lambda would not unpack (not a zip, or an entry outside the task root)."""


# --- the deployment package -------------------------------------------------------------------


def _entry_path(name: str) -> PurePosixPath:
    """The entry's path below the task root. Lambda does not document entries that climb out of
    it (`../x`, `/etc/x`); the safe answer, chosen here, is to refuse the whole package."""
    path = PurePosixPath(name)
    parts = [p for p in path.parts if p not in ("", ".")]
    if path.is_absolute() or ".." in parts or not parts:
        raise PackageError(f"{UNZIP_ERROR} (entry {name!r} is outside the task root)")
    return PurePosixPath(*parts)


def check_package(code_bytes: bytes) -> None:
    """Raise PackageError unless `code_bytes` is a zip whose entries all stay inside the task root,
    none of them written through a symlink the package itself contains."""
    try:
        with zipfile.ZipFile(io.BytesIO(code_bytes)) as archive:
            links: set[PurePosixPath] = set()
            for info in archive.infolist():
                path = _entry_path(info.filename)
                if any(parent in links for parent in path.parents):
                    raise PackageError(f"{UNZIP_ERROR} (entry {info.filename!r} passes through a symlink)")
                if stat.S_ISLNK(info.external_attr >> 16):
                    links.add(path)
    except zipfile.BadZipFile:
        raise PackageError(UNZIP_ERROR) from None


def _real_parent(root: Path, relative: PurePosixPath) -> Path:
    """Create the entry's parent folders; never through a symlink, which could lead out of root."""
    current = root
    for part in relative.parts[:-1]:
        current = current / part
        if current.is_symlink():
            raise PackageError(f"{UNZIP_ERROR} (entry {str(relative)!r} passes through a symlink)")
        if not current.exists():
            current.mkdir()
    return current


def extract_package(code_bytes: bytes, root: Path) -> None:
    """Unpack like Lambda does: each entry's stored Unix mode (external_attr >> 16) is kept, so a
    bundled executable stays executable; symlinks stay symlinks. Entries without a Unix mode (zips
    made on Windows) get rw-r--r-- / rwxr-xr-x, what unzip gives them."""
    check_package(code_bytes)
    dir_modes: list[tuple[Path, int]] = []
    with zipfile.ZipFile(io.BytesIO(code_bytes)) as archive:
        for info in archive.infolist():
            relative = _entry_path(info.filename)
            unix_mode = info.external_attr >> 16
            target = _real_parent(root, relative) / relative.name
            if info.is_dir() or stat.S_ISDIR(unix_mode):
                if target.is_symlink():
                    raise PackageError(f"{UNZIP_ERROR} (entry {info.filename!r} passes through a symlink)")
                target.mkdir(exist_ok=True)
                dir_modes.append((target, stat.S_IMODE(unix_mode) or 0o755))
                continue
            if target.is_symlink() or target.is_file():  # a repeated entry replaces the earlier one
                target.unlink()
            if stat.S_ISLNK(unix_mode):
                os.symlink(archive.read(info).decode("utf-8"), target)
                continue
            with archive.open(info) as source, open(target, "xb") as out:  # "x": never follows a link
                shutil.copyfileobj(source, out)
            os.chmod(target, stat.S_IMODE(unix_mode) or 0o644)
    for folder, mode in sorted(dir_modes, key=lambda item: len(item[0].parts), reverse=True):
        os.chmod(folder, mode)  # last, deepest first: a read-only folder must not block its files


def code_dir(code_bytes: bytes) -> Path:
    """Extract a deployment package once per content hash (safe under concurrent invocations)."""
    digest = hashlib.sha256(code_bytes).hexdigest()[:32]
    target = CODE_CACHE / digest
    if target.is_dir():
        return target
    CODE_CACHE.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=CODE_CACHE, prefix=".extract-"))
    try:
        extract_package(code_bytes, staging)
    except BaseException:
        _remove_tree(staging)
        raise
    staging.chmod(0o755)
    try:
        staging.rename(target)
    except OSError:  # another invocation extracted the same code first
        _remove_tree(staging)
    return target


def _remove_tree(path: Path) -> None:
    def allow_and_retry(function, failed_path, _exc_info):  # read-only folders from the package
        os.chmod(os.path.dirname(failed_path), 0o700)
        function(failed_path)

    shutil.rmtree(path, onerror=allow_and_retry)


# --- the invocation's environment and its logs ------------------------------------------------


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
    env["AWS_ENDPOINT_URL"] = server_address.endpoint()
    env["LAMBDA_TASK_ROOT"] = env.get("LAMBDA_TASK_ROOT", "")
    return env


def _still_deployed(fn: Any) -> bool:
    from moto.awslambda.utils import get_backend

    try:
        get_backend(fn.account_id, fn.region).get_function(fn.function_name)
    except Exception:  # moto raises its own not-found error types
        return False
    return True


def _write_logs(fn: Any, log_stream: str, events: list[tuple[float, str]]) -> None:
    # A function deleted while it ran (teardown) must not recreate its log group afterwards: on AWS
    # its role is deleted with it, and a role that is gone can no longer create log groups.
    if not _still_deployed(fn):
        return
    fn.logs_backend.ensure_log_group(fn.logs_group_name)
    fn.logs_backend.create_log_stream(fn.logs_group_name, log_stream)
    records = [{"timestamp": int(stamp * 1000), "message": message} for stamp, message in events]
    fn.logs_backend.put_log_events(fn.logs_group_name, log_stream, records)


class _OutputCollector:
    """Collects the invocation's log events from two pipes, on two threads so neither can fill up:
    frames from the bootstrap (each print line and each log record, stamped by the handler's
    process, so their order is exact) and raw lines written straight to file descriptors 1/2 (by
    subprocesses such as ffmpeg, or C code), stamped as they arrive."""

    def __init__(self, stdout: Any, frames_fd: int) -> None:
        self.events: list[tuple[float, str]] = []
        self.init_done_at: float | None = None  # when the handler's module finished importing
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._read_lines, args=(stdout,), daemon=True),
            threading.Thread(target=self._read_frames, args=(frames_fd,), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _add(self, stamp: float, message: str) -> None:
        with self._lock:
            self.events.append((stamp, message))

    def _read_lines(self, stream: Any) -> None:
        for raw in iter(stream.readline, b""):
            self._add(time.time(), raw.decode("utf-8", errors="replace").rstrip("\n"))
        stream.close()

    def _read_frames(self, fd: int) -> None:
        with os.fdopen(fd, "rb") as frames:
            while len(header := frames.read(16)) == 16:
                length = int.from_bytes(header[4:8], "big")
                stamp = int.from_bytes(header[8:16], "big") / 1e6
                message = frames.read(length).decode("utf-8", errors="replace").rstrip("\n")
                if header[:4] == INIT_DONE_FRAME:
                    self.init_done_at = stamp
                else:
                    self._add(stamp, message)

    def finish(self, timeout: float = 5.0) -> list[tuple[float, str]]:
        for thread in self._threads:
            thread.join(timeout)
        with self._lock:
            return sorted(self.events, key=lambda event: event[0])


# --- memory ------------------------------------------------------------------------------------


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (ffmpeg started by the handler counts:
    Lambda limits the whole execution environment)."""
    page = os.sysconf("SC_PAGE_SIZE")
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            with open(f"/proc/{current}/statm", encoding="ascii") as statm:
                total += int(statm.read().split()[1]) * page
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children", encoding="ascii") as children:
                    pending.extend(int(child) for child in children.read().split())
        except (OSError, ValueError):  # exited meanwhile
            continue
    return total / (1024 * 1024)


class _MemoryWatch:
    """Polls the handler's process tree; past MemorySize it kills the tree, as Lambda's limit does."""

    def __init__(self, process: subprocess.Popen, limit_mb: int) -> None:
        self.peak_mb = 0.0
        self.exceeded = False
        self._process, self._limit = process, limit_mb
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set() and self._process.poll() is None:
            self.peak_mb = max(self.peak_mb, _tree_rss_mb(self._process.pid))
            if self.peak_mb > self._limit:
                self.exceeded = True
                _kill_group(self._process.pid)
                return
            self._stop.wait(MEMORY_POLL_S)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


# --- errors as Lambda reports them -------------------------------------------------------------


def _timeout_error(request_id: str, timeout: float) -> dict[str, Any]:
    return {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds",
    }


def _exit_error(request_id: str, returncode: int | None, *, out_of_memory: bool) -> dict[str, Any]:
    """Lambda's error for a runtime process that died: an OOM kill is `signal: killed` with the
    type Runtime.OutOfMemory; any other death is Runtime.ExitError."""
    if out_of_memory or (returncode is not None and returncode < 0):
        how = (
            "signal: killed"
            if out_of_memory or returncode == -signal.SIGKILL
            else f"signal: {signal.Signals(-returncode).name}"
        )
    else:
        how = f"exit status {returncode}"
    return {
        "errorType": "Runtime.OutOfMemory" if out_of_memory else "Runtime.ExitError",
        "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: {how}",
    }


# --- one invocation ----------------------------------------------------------------------------


def _wait_for_handler(process: subprocess.Popen, collector: _OutputCollector, started: float, timeout: float) -> bool:
    """Wait for the function's process; False if it ran out of time. As on Lambda, importing the
    handler's module (the init phase) has up to INIT_LIMIT_S of its own; the function's timeout
    counts from the end of init (an init that overruns eats into it)."""
    while True:
        init_done = collector.init_done_at
        init_s = INIT_LIMIT_S if init_done is None else min(init_done - started, INIT_LIMIT_S)
        remaining = started + init_s + timeout - time.time()
        if remaining <= 0:
            return process.poll() is not None
        try:
            process.wait(timeout=min(remaining, 0.25))
            return True
        except subprocess.TimeoutExpired:
            continue


def invoke(fn: Any, event: Any) -> tuple[str, bool, str]:
    """Run `fn` once on `event`; returns (payload JSON, errored, log text) like moto expects."""
    request_id = str(uuid.uuid4())
    today = dt.datetime.now(dt.UTC)
    log_stream = f"{today:%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
    event_json = event if isinstance(event, str) else json.dumps(event if event is not None else {})

    if getattr(fn, "package_type", "Zip") == "Image":
        error = {
            "errorType": "Runtime.InvalidEntrypoint",
            "errorMessage": "Container-image functions run only on the aws target; locally, deploy "
            "the same handler as a zip of its folder.",
        }
        return json.dumps(error), True, error["errorMessage"]
    try:
        task_root = code_dir(fn.code_bytes)
    except PackageError as exc:
        error = {"errorType": "InvalidZipFileException", "errorMessage": str(exc)}
        return json.dumps(error), True, error["errorMessage"]

    env = _function_environment(fn, request_id, log_stream)
    env["LAMBDA_TASK_ROOT"] = str(task_root)
    timeout = float(fn.timeout or 3)
    memory_mb = int(fn.memory_size or 128)
    started_wall = time.time()
    frames_read, frames_write = os.pipe()
    env[TELEMETRY_FD_ENV] = str(frames_write)
    with tempfile.TemporaryDirectory(prefix="lambdalab-invoke-") as scratch:
        result_file = Path(scratch) / "result.json"
        process = subprocess.Popen(
            [sys.executable, str(BOOTSTRAP), fn.handler or "app.handler", str(result_file)],
            cwd=task_root,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=(frames_write,),
            start_new_session=True,  # so a timeout or the memory limit can kill its children too
        )
        os.close(frames_write)
        collector = _OutputCollector(process.stdout, frames_read)
        memory = _MemoryWatch(process, memory_mb)
        try:
            process.stdin.write(event_json.encode("utf-8"))
            process.stdin.close()
        except BrokenPipeError:  # it died before reading its event; the exit code tells why
            pass
        timed_out = not _wait_for_handler(process, collector, started_wall, timeout)
        ended_wall = time.time()
        _kill_group(process.pid)  # what the handler left running ends with its invocation
        process.wait()
        memory.stop()
        outcome = json.loads(result_file.read_text()) if result_file.exists() else None
    printed = collector.finish()
    init_ms = ((collector.init_done_at or ended_wall) - started_wall) * 1000
    duration_ms = (ended_wall - (collector.init_done_at or ended_wall)) * 1000 if collector.init_done_at else 0.0

    peak_mb = max(memory.peak_mb, (outcome or {}).get("max_rss_mb", 0))
    out_of_memory = memory.exceeded or peak_mb > memory_mb
    if out_of_memory:
        errored = True
        error = _exit_error(request_id, process.returncode, out_of_memory=True)
        payload = json.dumps(error)
        printed.append((time.time(), f"{error['errorMessage']}\n{error['errorType']}"))
        peak_mb = min(peak_mb, memory_mb)  # Lambda's limit is hard: its report never shows more
    elif timed_out:
        errored, payload = True, json.dumps(_timeout_error(request_id, timeout))
        now = dt.datetime.now(dt.UTC)
        printed.append(
            (
                now.timestamp(),
                f"{now:%Y-%m-%dT%H:%M:%S}.{now.microsecond // 1000:03d}Z {request_id} Task timed out after {timeout:.2f} seconds",
            )
        )
    elif outcome is None:
        errored = True
        error = _exit_error(request_id, process.returncode, out_of_memory=False)
        payload = json.dumps(error)
        printed.append((time.time(), f"{error['errorMessage']}\n{error['errorType']}"))
    elif outcome["ok"]:
        errored, payload = False, outcome["payload"]
    else:
        errored, payload = True, json.dumps(outcome["error"])

    billed = max(1, int(-(-(init_ms + duration_ms) // 1)))  # AWS bills the init phase too (since 2025-08)
    finished = time.time()
    events = [(started_wall, f"START RequestId: {request_id} Version: $LATEST"), *printed]
    events.append((finished, f"END RequestId: {request_id}"))
    events.append(
        (
            finished,
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\tBilled Duration: {billed} ms"
            f"\tMemory Size: {memory_mb} MB\tMax Memory Used: {max(1, round(peak_mb))} MB"
            f"\tInit Duration: {init_ms:.2f} ms",  # every invocation here is a cold start
        )
    )
    _write_logs(fn, log_stream, events)
    return payload, errored, "\n".join(message for _, message in events)


def log_tail(logs: str) -> str:
    return logs.encode("utf-8")[-LOG_TAIL_BYTES:].decode("utf-8", errors="ignore")
