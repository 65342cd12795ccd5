"""Start, reuse and stop the embedded AWS as a separate process.

A notebook's kernel dies with the notebook, but what notebook 02 deployed must still be there in
notebook 03: so `ensure_running()` starts one detached server on a known port that outlives the
kernel, and every later call (any kernel, any process) finds and reuses it. `local_aws()` is the
throw-away variant for tests: its own port, gone when the block ends.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from lambdalab.deploy.session_state import state_dir  # one folder for all lab state (LAMBDALAB_HOME)
from lambdalab.localaws.server import DEFAULT_HOST, client_environment

DEFAULT_PORT = 4599
START_TIMEOUT_SECONDS = 60


def default_port() -> int:
    return int(os.environ.get("LAMBDALAB_PORT", DEFAULT_PORT))


def _ready_file(port: int) -> Path:
    return state_dir() / f"server-{port}.json"


def _answers(endpoint: str) -> bool:
    """True when a moto server answers there (its lightweight config endpoint)."""
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/config", timeout=2) as response:
            return 200 <= response.status < 300
    except OSError:
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def status(port: int | None = None) -> dict | None:
    """The running server's {pid, port, endpoint}, or None."""
    ready = _ready_file(port or default_port())
    try:
        info = json.loads(ready.read_text())
    except (OSError, ValueError):
        return None
    if _pid_alive(info["pid"]) and _answers(info["endpoint"]):
        return info
    return None


def _spawn(
    port: int,
    ready: Path,
    *,
    detached: bool,
    log_path: Path | None,
    warm_detector: bool = False,
    while_starting: Callable[[], object] | None = None,
) -> subprocess.Popen:
    ready.unlink(missing_ok=True)
    output = open(log_path, "ab") if log_path else subprocess.DEVNULL
    command = [sys.executable, "-m", "lambdalab", "serve", "--port", str(port), "--ready-file", str(ready), "--quiet"]
    command += ["--warm-detector"] if warm_detector else []
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=detached,
        env=env,
    )
    if while_starting is not None:
        try:
            while_starting()  # the caller's own start-up work, while the server's second goes by
        except BaseException:
            process.kill()
            process.wait()
            raise
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if ready.exists():
            return process
        if process.poll() is not None:
            hint = f"; see {log_path}" if log_path else ""
            raise RuntimeError(f"the embedded AWS exited with code {process.returncode} while starting{hint}")
        time.sleep(0.05)
    process.kill()
    raise TimeoutError(f"the embedded AWS did not start within {START_TIMEOUT_SECONDS} s")


def _port_in_use(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex((DEFAULT_HOST, port)) == 0


def configure_environment(endpoint: str) -> dict[str, str]:
    """Point boto3 in this process, and every kernel or subprocess it starts, at `endpoint`."""
    values = client_environment(endpoint)
    os.environ.update(values)
    os.environ.pop("AWS_PROFILE", None)  # a profile would win over the local credentials
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.pop("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", None)  # would make boto3 skip AWS_ENDPOINT_URL
    import boto3

    boto3.DEFAULT_SESSION = None  # a session made before this would keep the old region
    return values


def ensure_running(port: int | None = None) -> str:
    """Start the shared background server, or reuse the running one; configure boto3 for it."""
    port = port or default_port()
    state_dir().mkdir(parents=True, exist_ok=True)
    with open(state_dir() / f"server-{port}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two kernels starting at once get one server
        info = status(port)
        if info is None:
            if _port_in_use(port):
                raise RuntimeError(f"port {port} is taken by another program; set LAMBDALAB_PORT to a free port")
            _spawn(port, _ready_file(port), detached=True, log_path=state_dir() / f"server-{port}.log")
            info = status(port)
            if info is None:
                raise RuntimeError("the embedded AWS started but does not answer")
    configure_environment(info["endpoint"])
    return info["endpoint"]


def stop(port: int | None = None) -> bool:
    """Stop the shared background server; True when one was running."""
    port = port or default_port()
    info = status(port)
    if info is None:
        _ready_file(port).unlink(missing_ok=True)
        return False
    os.kill(info["pid"], signal.SIGTERM)
    deadline = time.monotonic() + 10
    while _pid_alive(info["pid"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _pid_alive(info["pid"]):
        os.kill(info["pid"], signal.SIGKILL)
    _ready_file(port).unlink(missing_ok=True)
    return True


@contextlib.contextmanager
def local_aws(
    port: int = 0, *, warm_detector: bool = False, while_starting: Callable[[], object] | None = None
) -> Iterator[str]:
    """A private embedded AWS for one block (tests, the blur command): own port, environment
    restored after. `warm_detector`: see `serve`; `while_starting` runs while the server starts."""
    saved = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="lambdalab-server-") as scratch:
        ready = Path(scratch) / "ready.json"
        log_path = Path(scratch) / "server.log"
        process = _spawn(
            port, ready, detached=False, log_path=log_path, warm_detector=warm_detector, while_starting=while_starting
        )
        try:
            endpoint = json.loads(ready.read_text())["endpoint"]
            configure_environment(endpoint)
            yield endpoint
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
            os.environ.clear()
            os.environ.update(saved)
            import boto3

            boto3.DEFAULT_SESSION = None
