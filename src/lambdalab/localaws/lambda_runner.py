"""Run moto's Lambda functions for real, without Docker, in execution environments that are reused
as AWS reuses them.

moto funnels every invocation path (Invoke API, S3/SNS/SQS/stream triggers, Step Functions) into
`LambdaFunction._invoke_lambda(event) -> (payload, errored, logs)`. Replacing that one method makes
all of them execute the function's real code. The function's zip is extracted once per code hash,
as Lambda unpacks it (stored Unix modes and symlinks kept).

An execution environment is one subprocess (`lambda_bootstrap.py`, under this venv's Python, with
the function's environment variables): it imports the handler once (the init phase, reported as
`Init Duration` on its first invocation only) and then runs one invocation at a time, sent over a
pipe, with the function's timeout and memory size enforced. Between invocations the environment
waits, its leftover processes frozen as AWS freezes them, for the next invocation of the same
function and configuration (ARN, code, handler, runtime, memory, timeout, variables): module
globals, clients made at import and /tmp files stay; a concurrent invocation gets an environment
of its own; an update of the code or configuration gets new ones. A timeout, the memory limit, or a
runtime that died ends the environment (the next invocation is a cold start); idle ones stop after
IDLE_ENVIRONMENT_S, a deleted function's at once, all of them with the server. Each environment
has its own CloudWatch log stream, to which every invocation it runs appends START/END/REPORT and
each printed line and log record, a separate event stamped when it was written.
"""

from __future__ import annotations

import atexit
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
INVOKE_FD_ENV = "_LAMBDALAB_INVOKE_FD"
INIT_DONE_FRAME = b"LLAB"  # the bootstrap's signal that the handler module is imported
RESULT_FRAME = b"LRES"  # the bootstrap's outcome of an invocation, after the invocation's last log frame
STDOUT_MARK = "\x00LLAB-END"  # the bootstrap's last raw output line of an invocation
INIT_LIMIT_S = 10.0  # Lambda's init phase: up to 10 s, not counted in the function's timeout
# How long an idle environment is kept for the next invocation. AWS does not document it (minutes,
# observed 5-15); 120 s keeps a function warm through a notebook section or a Step Functions polling
# loop, yet soon gives back the memory an idle environment holds (a boto3 handler ~70 MB, the face
# detector's several hundred) on a laptop or a 2-core lab machine.
IDLE_ENVIRONMENT_S = 120.0
# At most this many idle environments in all (the least recently used goes first): a test session or a
# lab that creates many functions must not keep one frozen process per function for two minutes.
MAX_IDLE_ENVIRONMENTS = 16
STDOUT_DRAIN_S = 2.0  # at most this long for raw output written before the invocation's end to arrive


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


def code_dir(code_bytes: bytes, digest: str | None = None) -> Path:
    """Extract a deployment package once per content hash (safe under concurrent invocations)."""
    digest = digest or hashlib.sha256(code_bytes).hexdigest()[:32]
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


def _function_environment(fn: Any, log_stream: str) -> dict[str, str]:
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
    from moto.logs.exceptions import ResourceAlreadyExistsException

    fn.logs_backend.ensure_log_group(fn.logs_group_name)
    try:  # the environment's stream exists from its first invocation on
        fn.logs_backend.create_log_stream(fn.logs_group_name, log_stream)
    except ResourceAlreadyExistsException:
        pass
    records = [{"timestamp": int(stamp * 1000), "message": message} for stamp, message in events]
    fn.logs_backend.put_log_events(fn.logs_group_name, log_stream, records)


class _OutputCollector:
    """Collects an environment's log events from two pipes, on two threads so neither can fill up:
    frames from the bootstrap (each print line and each log record, stamped by the handler's
    process, so their order is exact; then each invocation's result) and raw lines written straight
    to file descriptors 1/2 (by subprocesses such as ffmpeg, or C code), stamped as they arrive.
    `take()` hands over what arrived for the invocation that just ended; what arrives between
    invocations (from a thread the handler left running) goes to the next one."""

    def __init__(self, stdout: Any, frames_fd: int) -> None:
        self.events: list[tuple[float, str]] = []
        self.init_done_at: float | None = None  # when the handler's module finished importing
        self.outcome: dict | None = None
        self.ended = threading.Event()  # a result frame arrived, or the frames pipe closed (the runtime died)
        self.stdout_marked = threading.Event()  # the invocation's raw output is all in
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
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            if line.endswith(STDOUT_MARK):  # an unterminated raw line ends just before the mark
                if line := line[: -len(STDOUT_MARK)]:
                    self._add(time.time(), line)
                self.stdout_marked.set()
                continue
            self._add(time.time(), line)
        stream.close()
        self.stdout_marked.set()

    def _read_frames(self, fd: int) -> None:
        with os.fdopen(fd, "rb") as frames:
            while len(header := frames.read(16)) == 16:
                length = int.from_bytes(header[4:8], "big")
                stamp = int.from_bytes(header[8:16], "big") / 1e6
                data = frames.read(length)
                if header[:4] == INIT_DONE_FRAME:
                    self.init_done_at = stamp
                elif header[:4] == RESULT_FRAME:
                    self.outcome = json.loads(data)
                    self.ended.set()
                else:
                    self._add(stamp, data.decode("utf-8", errors="replace").rstrip("\n"))
        self.ended.set()

    def begin(self) -> None:
        self.outcome = None
        self.ended.clear()
        self.stdout_marked.clear()

    def take(self) -> list[tuple[float, str]]:
        with self._lock:
            events, self.events = self.events, []
        return sorted(events, key=lambda event: event[0])

    def finish(self, timeout: float = 5.0) -> None:
        """After the runtime's process group is killed: wait for its pipes to close."""
        for thread in self._threads:
            thread.join(timeout)


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
    """Polls the environment's process tree while it runs (not while it is frozen between
    invocations); past MemorySize it kills the tree, as Lambda's limit does. `peak_mb` is the
    environment's peak over all its invocations, what AWS's REPORT line shows."""

    def __init__(self, process: subprocess.Popen, limit_mb: int) -> None:
        self.peak_mb = 0.0
        self.exceeded = False
        self._process, self._limit = process, limit_mb
        self._stop = threading.Event()
        self._active = threading.Event()
        self._active.set()  # the init phase runs at once
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set() and self._process.poll() is None:
            if not self._active.is_set():
                self._active.wait(1.0)
                continue
            self.peak_mb = max(self.peak_mb, _tree_rss_mb(self._process.pid))
            if self.peak_mb > self._limit:
                self.exceeded = True
                _kill_group(self._process.pid)
                return
            self._stop.wait(MEMORY_POLL_S)

    def resume(self) -> None:
        self._active.set()

    def pause(self) -> None:
        """Between invocations: one last measurement, then none until the next invocation."""
        self._active.clear()
        if self._process.poll() is None:
            self.peak_mb = max(self.peak_mb, _tree_rss_mb(self._process.pid))

    def stop(self) -> None:
        self._stop.set()
        self._active.set()
        self._thread.join()


def _kill_group(pid: int) -> None:
    _signal_group(pid, signal.SIGKILL)


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
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


# --- execution environments --------------------------------------------------------------------


def _environment_key(fn: Any, digest: str) -> tuple:
    """What makes AWS start new execution environments: another function, or a change to its code or
    configuration (UpdateFunctionCode and UpdateFunctionConfiguration both give cold starts)."""
    variables = tuple(sorted((str(k), str(v)) for k, v in (fn.environment_vars or {}).items()))
    return (fn.function_arn, digest, fn.handler, fn.run_time, fn.memory_size, fn.timeout, variables)


class _Environment:
    """One execution environment: a bootstrap process that imported the handler and runs one
    invocation at a time, with its own log stream."""

    def __init__(self, fn: Any, key: tuple, task_root: Path) -> None:
        self.fn, self.key = fn, key
        self.memory_mb = int(fn.memory_size or 128)
        self.timeout = float(fn.timeout or 3)
        today = dt.datetime.now(dt.UTC)
        self.log_stream = f"{today:%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
        self.invocations = 0
        self.idle_since = 0.0
        self.generation = 0  # of its function, see _generations
        self._stopped = False
        self._stop_lock = threading.Lock()
        env = _function_environment(fn, self.log_stream)
        env["LAMBDA_TASK_ROOT"] = str(task_root)
        frames_read, frames_write = os.pipe()
        invoke_read, invoke_write = os.pipe()
        env[TELEMETRY_FD_ENV] = str(frames_write)
        env[INVOKE_FD_ENV] = str(invoke_read)
        self.started = time.time()
        try:
            self.process = subprocess.Popen(
                [sys.executable, str(BOOTSTRAP), fn.handler or "app.handler"],
                cwd=task_root,
                env=env,
                stdin=subprocess.DEVNULL,  # invocations come on their own pipe: a child reading stdin can't steal them
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                pass_fds=(frames_write, invoke_read),
                start_new_session=True,  # its own process group: freezing and ending it reach its children too
            )
        except BaseException:
            os.close(frames_read)
            os.close(invoke_write)
            raise
        finally:
            os.close(frames_write)
            os.close(invoke_read)
        self._requests = os.fdopen(invoke_write, "wb")
        self.collector = _OutputCollector(self.process.stdout, frames_read)
        self.memory = _MemoryWatch(self.process, self.memory_mb)

    # -- freezing, as AWS freezes an environment between invocations

    def _freeze(self) -> None:
        """Stop what the handler left running (child processes), until the next invocation. The
        runtime itself goes on, blocked on its pipe, so it notices the server going away."""
        _signal_group(self.process.pid, signal.SIGSTOP)
        try:
            os.kill(self.process.pid, signal.SIGCONT)
        except ProcessLookupError:
            pass

    def _thaw(self) -> None:
        _signal_group(self.process.pid, signal.SIGCONT)

    def stop(self) -> None:
        with self._stop_lock:
            if self._stopped:  # the server's shutdown and the invocation it interrupted both stop it
                return
            self._stopped = True
            try:
                self._requests.close()
            except OSError:
                pass
            _kill_group(self.process.pid)  # SIGKILL ends stopped processes too; before the wait reaps the pid
            self.process.wait()
        self.memory.stop()
        self.collector.finish()

    # -- one invocation

    def _wait(self, cold: bool, start: float) -> bool:
        """Wait for the invocation's result; False if it ran out of time. As on Lambda, the init
        phase has up to INIT_LIMIT_S of its own; the function's timeout counts from the end of init
        (an init that overruns eats into it)."""
        while not self.collector.ended.is_set():
            limit = start + self.timeout
            if cold:
                init_done = self.collector.init_done_at
                limit += INIT_LIMIT_S if init_done is None else min(init_done - start, INIT_LIMIT_S)
            remaining = limit - time.time()
            if remaining <= 0:
                return self.collector.ended.is_set()
            if self.process.poll() is not None:  # died; its pipes close at once unless a child holds them
                self.collector.ended.wait(0.5)
                return True
            self.collector.ended.wait(min(remaining, 0.25))
        return True

    def invoke(self, request_id: str, event_json: str) -> tuple[str, bool, list[tuple[float, str]], bool]:
        """Run one invocation; returns (payload, errored, log events, environment still usable)."""
        cold = self.invocations == 0
        self.invocations += 1
        self.collector.begin()
        if cold:
            start, deadline = self.started, None  # the bootstrap's deadline runs from the end of init
        else:
            self._thaw()
            self.memory.resume()
            start = time.time()
            deadline = start + self.timeout
        request = '{"request_id": %s, "deadline": %s, "event": %s}\n' % (
            json.dumps(request_id),
            json.dumps(deadline),
            # JSON text has newlines only as whitespace: one line per invocation
            (event_json or "{}").replace("\r", " ").replace("\n", " "),
        )
        try:
            self._requests.write(request.encode("utf-8"))
            self._requests.flush()
        except OSError:  # it died before reading its event; the exit code tells why
            pass
        timed_out = not self._wait(cold, start)
        ended = time.time()
        self.memory.pause()
        outcome = self.collector.outcome
        peak_mb = max(self.memory.peak_mb, (outcome or {}).get("max_rss_mb", 0))
        out_of_memory = self.memory.exceeded or peak_mb > self.memory_mb
        init_done = self.collector.init_done_at
        usable = not (timed_out or out_of_memory or outcome is None or init_done is None)
        if usable and self.process.poll() is None:
            self.collector.stdout_marked.wait(STDOUT_DRAIN_S)
        else:
            usable = False  # AWS resets the environment: the next invocation is a cold start
            self.stop()
        printed = self.collector.take()

        if out_of_memory:
            errored = True
            error = _exit_error(request_id, self.process.returncode, out_of_memory=True)
            payload = json.dumps(error)
            printed.append((time.time(), f"{error['errorMessage']}\n{error['errorType']}"))
            peak_mb = min(peak_mb, self.memory_mb)  # Lambda's limit is hard: its report never shows more
        elif timed_out:
            errored, payload = True, json.dumps(_timeout_error(request_id, self.timeout))
            now = dt.datetime.now(dt.UTC)
            printed.append(
                (
                    now.timestamp(),
                    f"{now:%Y-%m-%dT%H:%M:%S}.{now.microsecond // 1000:03d}Z {request_id} Task timed out after {self.timeout:.2f} seconds",
                )
            )
        elif outcome is None:
            errored = True
            error = _exit_error(request_id, self.process.returncode, out_of_memory=False)
            payload = json.dumps(error)
            printed.append((time.time(), f"{error['errorMessage']}\n{error['errorType']}"))
        elif outcome["ok"]:
            errored, payload = False, outcome["payload"]
        else:
            errored, payload = True, json.dumps(outcome["error"])
        if usable:
            self._freeze()

        finished = time.time()
        if cold:
            init_ms = ((init_done or ended) - start) * 1000
            duration_ms = (ended - init_done) * 1000 if init_done else 0.0
            billed = max(1, int(-(-(init_ms + duration_ms) // 1)))  # AWS bills the init phase too (since 2025-08)
            init_field = f"\tInit Duration: {init_ms:.2f} ms"  # only on the environment's first invocation
        else:
            duration_ms = (ended - start) * 1000
            billed = max(1, int(-(-duration_ms // 1)))
            init_field = ""
        events = [(start, f"START RequestId: {request_id} Version: $LATEST"), *printed]
        events.append((finished, f"END RequestId: {request_id}"))
        events.append(
            (
                finished,
                f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\tBilled Duration: {billed} ms"
                f"\tMemory Size: {self.memory_mb} MB\tMax Memory Used: {max(1, round(peak_mb))} MB{init_field}",
            )
        )
        return payload, errored, events, usable


# --- the environments kept between invocations -------------------------------------------------

_lock = threading.Lock()
_idle: dict[tuple, list[_Environment]] = {}  # by _environment_key, most recently used last
_busy: set[_Environment] = set()
# Bumped by every update or deletion of a function (by ARN): environments of an earlier generation are
# never used again, even when the update left every value as it was (AWS starts new ones after any update).
_generations: dict[str, int] = {}
_reaper_started = False
_closed = False


def _acquire(fn: Any, key: tuple, task_root: Path) -> _Environment:
    """An idle environment of this function and configuration, else a new one (a cold start)."""
    global _reaper_started
    retired: list[_Environment] = []
    chosen = None
    with _lock:
        stack = _idle.get(key, [])
        while stack and chosen is None:
            candidate = stack.pop()
            if (
                candidate.fn is fn
                and candidate.generation == _generations.get(key[0], 0)
                and candidate.process.poll() is None
            ):
                chosen = candidate
            else:
                retired.append(candidate)
        if chosen is None:  # environments of an earlier code or configuration will not be used again
            for other in [k for k in _idle if k[0] == key[0] and k != key]:
                retired.extend(_idle.pop(other))
        if not _reaper_started:
            threading.Thread(target=_reap_idle, name="lambda-idle-environments", daemon=True).start()
            _reaper_started = True
    for environment in retired:
        environment.stop()
    if chosen is None:
        with _lock:
            generation = _generations.get(key[0], 0)
        chosen = _Environment(fn, key, task_root)
        chosen.generation = generation
    with _lock:
        _busy.add(chosen)
    return chosen


def _release(environment: _Environment, usable: bool) -> None:
    with _lock:
        _busy.discard(environment)
        keep = (
            usable
            and not _closed
            and environment.generation == _generations.get(environment.key[0], 0)
            and environment.process.poll() is None
        )
        if keep:
            environment.idle_since = time.monotonic()
            _idle.setdefault(environment.key, []).append(environment)
        idle = sorted((e for stack in _idle.values() for e in stack), key=lambda e: e.idle_since)
        evicted = {id(e) for e in idle[: max(0, len(idle) - MAX_IDLE_ENVIRONMENTS)]}
    if not keep:
        environment.stop()
    if evicted:
        for oldest in _take_idle(lambda e: id(e) in evicted):
            oldest.stop()


def _take_idle(select: Any) -> list[_Environment]:
    with _lock:
        taken = []
        for key in list(_idle):
            kept = [e for e in _idle[key] if not select(e)]
            taken.extend(e for e in _idle[key] if select(e))
            if kept:
                _idle[key] = kept
            else:
                del _idle[key]
        return taken


def _reap_idle() -> None:
    while not _closed:
        time.sleep(min(10.0, IDLE_ENVIRONMENT_S / 4))
        now = time.monotonic()
        stale = _take_idle(lambda e: now - e.idle_since > IDLE_ENVIRONMENT_S or e.process.poll() is not None)
        for environment in stale:
            environment.stop()


def discard_function(function_arn: str) -> None:
    """After an update or deletion of the function: its idle environments end now, a running one
    when its invocation does; the next invocation starts a new one (a cold start)."""
    with _lock:
        _generations[function_arn] = _generations.get(function_arn, 0) + 1
    for environment in _take_idle(lambda e: e.key[0] == function_arn):
        environment.stop()


def shutdown() -> None:
    """Stop every environment (the server is stopping)."""
    global _closed
    with _lock:
        _closed = True
        running = list(_busy)
    for environment in _take_idle(lambda e: True) + running:
        environment.stop()


atexit.register(shutdown)


# --- one invocation ----------------------------------------------------------------------------


def invoke(fn: Any, event: Any) -> tuple[str, bool, str]:
    """Run `fn` once on `event`; returns (payload JSON, errored, log text) like moto expects."""
    request_id = str(uuid.uuid4())
    event_json = event if isinstance(event, str) else json.dumps(event if event is not None else {})

    if getattr(fn, "package_type", "Zip") == "Image":
        error = {
            "errorType": "Runtime.InvalidEntrypoint",
            "errorMessage": "Container-image functions run only on the aws target; locally, deploy "
            "the same handler as a zip of its folder.",
        }
        return json.dumps(error), True, error["errorMessage"]
    digest = hashlib.sha256(fn.code_bytes).hexdigest()[:32]
    try:
        task_root = code_dir(fn.code_bytes, digest)
    except PackageError as exc:
        error = {"errorType": "InvalidZipFileException", "errorMessage": str(exc)}
        return json.dumps(error), True, error["errorMessage"]

    environment = _acquire(fn, _environment_key(fn, digest), task_root)
    usable = False
    try:
        payload, errored, events, usable = environment.invoke(request_id, event_json)
    finally:
        # A function deleted while it ran keeps no environment (and, below, writes no logs).
        _release(environment, usable and _still_deployed(fn))
    _write_logs(fn, environment.log_stream, events)
    return payload, errored, "\n".join(message for _, message in events)


def log_tail(logs: str) -> str:
    return logs.encode("utf-8")[-LOG_TAIL_BYTES:].decode("utf-8", errors="ignore")
