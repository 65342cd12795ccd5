"""Run the whole face-blurring pipeline once on a local file, on a throw-away deployment.

What `python -m lambdalab blur IN.mp4 OUT.mp4` does, as a library: deploy the pipeline under a
fresh prefix on the `local` target, upload the video through the real S3 trigger, follow the
Step Functions execution, download the result, and tear everything down again, whatever happens.

The deployment's life cycle (private session file, own or shared server, cleanup even after
Ctrl-C) is in lambdalab.blur_command.throwaway; this module is the run itself.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from lambdalab.blur_command.throwaway import local_target, private_session_state, throwaway_deployment
from lambdalab.deploy.deployed import FaceBlurDeployment
from lambdalab.deploy.session_state import make_prefix
from lambdalab.deploy.target import Target
from lambdalab.execution_history import failure_reason, iter_history, stage_seconds, states_entered

#: How long S3 -> face_detection -> StartExecution may take before we say the trigger did nothing.
TRIGGER_TIMEOUT_SECONDS = 60.0
#: The state machine's own limit is 2 h; a local run that takes 30 min is stuck.
DEFAULT_TIMEOUT_SECONDS = 1800.0


class PipelineError(RuntimeError):
    """The run could not complete; the message is one line for the user."""


class Progress:
    """What the run reports while it works. The default says nothing; the CLI draws it."""

    def step(self, text: str) -> None:
        """A step outside the execution (deploy, upload, download, cleanup)."""

    def state(self, name: str, times_entered: int, elapsed_seconds: float) -> None:
        """The execution entered state `name` (for the `times_entered`-th time)."""


@dataclass
class PipelineResult:
    """Everything the summary shows. `stages` holds seconds per stage, in pipeline order."""

    prefix: str
    input_key: str
    status: str = "NOT_STARTED"
    reason: str = ""
    execution_arn: str | None = None
    face_boxes: int | None = None
    face_samples: int | None = None
    faces_blurred: int | None = None
    frames: int | None = None
    stages: dict[str, float] = field(default_factory=dict)
    total_seconds: float = 0.0
    output_path: Path | None = None
    cleanup: str = ""  # empty when everything of the prefix was deleted

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED" and self.output_path is not None


def upload_key(path: Path, trigger_suffixes: tuple[str, ...]) -> str:
    """The S3 key to upload `path` as: its name, ending in a suffix the bucket's trigger listens for."""
    return path.name if path.name.endswith(trigger_suffixes) else path.stem + trigger_suffixes[0]


def check_paths(input_path: Path, output_path: Path) -> None:
    """Refuse what cannot work before deploying anything (ValueError, one line)."""
    if not input_path.is_file():
        raise ValueError(f"{input_path}: no such file" if not input_path.exists() else f"{input_path}: not a file")
    if output_path.resolve() == input_path.resolve() or (output_path.exists() and output_path.samefile(input_path)):
        raise ValueError(f"OUTPUT must not be INPUT ({input_path}): the input would be overwritten")
    if output_path.is_dir():
        raise ValueError(f"{output_path}: is a directory; give a file name for the output")
    if not output_path.resolve().parent.is_dir():
        raise ValueError(f"{output_path.parent}: no such directory for the output")


def blur_file(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    *,
    progress: Progress | None = None,
    poll_interval: float = 1.0,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> PipelineResult:
    """Blur the faces in `input_path` with the real pipeline; write `output_path` only on success.

    Raises ValueError for unusable paths (nothing deployed then) and PipelineError when the run
    cannot finish (no execution started, timeout); a failed execution is a result, not an error.
    """
    src, dst = Path(input_path), Path(output_path)
    check_paths(src, dst)
    progress = progress or Progress()
    prefix = make_prefix("blur")
    result = PipelineResult(prefix=prefix, input_key="")  # the key follows from the deployed trigger
    with private_session_state(), local_target() as (target, ours):
        with throwaway_deployment(target, prefix, progress, result, server_is_ours=ours) as deployment:
            run_once(target, deployment, src, dst, result, progress, poll_interval=poll_interval, timeout=timeout)
    return result


def run_once(
    target: Target,
    deployment: FaceBlurDeployment,
    src: Path,
    dst: Path,
    result: PipelineResult,
    progress: Progress,
    *,
    poll_interval: float = 1.0,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
) -> PipelineResult:
    """Upload `src` into `deployment`'s input bucket, follow the execution, download the output."""
    s3, sfn = target.client("s3"), target.client("stepfunctions")
    started = time.monotonic()
    result.input_key = upload_key(src, deployment.video_suffixes)
    progress.step(f"uploading {src.name} to s3://{deployment.input_bucket}/{result.input_key}")
    s3.upload_file(str(src), deployment.input_bucket, result.input_key, ExtraArgs={"ContentType": "video/mp4"})
    uploaded_at = dt.datetime.now(dt.UTC)
    progress.step("waiting for the S3 trigger to start an execution")
    execution = wait_for_execution(target, deployment, poll_interval=poll_interval)
    result.execution_arn = execution["executionArn"]
    result.stages["trigger"] = max(0.0, (execution["startDate"] - uploaded_at).total_seconds())

    description, events = follow_execution(
        sfn, result.execution_arn, progress, poll_interval=poll_interval, deadline=started + timeout
    )
    result.status = description["status"]
    result.stages.update(stage_seconds(events))
    if result.status != "SUCCEEDED":
        result.reason = failure_reason(description, events)
        result.total_seconds = time.monotonic() - started
        return result

    state = json.loads(description.get("output") or "{}")
    faces, output = state.get("Faces", {}), state.get("Output", {})
    result.face_boxes, result.face_samples = faces.get("FaceCount"), faces.get("SampleCount")
    result.frames, result.faces_blurred = output.get("Frames"), output.get("FacesBlurred")
    progress.step(f"downloading s3://{output['Bucket']}/{output['Key']}")
    downloading = time.monotonic()
    download_atomically(s3, output["Bucket"], output["Key"], dst)
    result.stages["download"] = time.monotonic() - downloading
    result.output_path = dst
    result.total_seconds = time.monotonic() - started
    return result


def wait_for_execution(
    target: Target,
    deployment: FaceBlurDeployment,
    *,
    poll_interval: float = 1.0,
    timeout: float = TRIGGER_TIMEOUT_SECONDS,
) -> dict[str, Any]:
    """The execution the upload started (the state machine is ours alone, so the first one)."""
    sfn = target.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while True:
        executions = sfn.list_executions(stateMachineArn=deployment.state_machine_arn)["executions"]
        if executions:
            return executions[-1]
        if time.monotonic() > deadline:
            said = face_detection_said(target, deployment)
            raise PipelineError(
                f"no execution started within {timeout:.0f} s of the upload"
                + (f"; face_detection: {said}" if said else "")
            )
        time.sleep(poll_interval)


def follow_execution(
    sfn: Any, execution_arn: str, progress: Progress, *, poll_interval: float = 1.0, deadline: float | None = None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Report each state entered until the execution ends; returns (description, full history)."""
    events: list[dict[str, Any]] = []
    entered_count: dict[str, int] = {}
    while True:
        description = sfn.describe_execution(executionArn=execution_arn)
        new = list(iter_history(sfn, execution_arn, after_event_id=events[-1]["id"] if events else 0))
        events.extend(new)
        for state in states_entered(new):
            entered_count[state.name] = entered_count.get(state.name, 0) + 1
            elapsed = (state.timestamp - description["startDate"]).total_seconds()
            progress.state(state.name, entered_count[state.name], elapsed)
        if description["status"] != "RUNNING":
            # The history may have grown between the two reads: take the rest once more.
            events.extend(iter_history(sfn, execution_arn, after_event_id=events[-1]["id"] if events else 0))
            return description, events
        if deadline is not None and time.monotonic() > deadline:
            sfn.stop_execution(executionArn=execution_arn, error="Lambda Lab blur", cause="the blur command timed out")
            raise PipelineError(f"the execution did not finish in time and was stopped: {execution_arn}")
        time.sleep(poll_interval)


def face_detection_said(target: Target, deployment: FaceBlurDeployment) -> str:
    """The last thing face_detection logged besides START/END/REPORT (why no execution started)."""
    group = f"/aws/lambda/{deployment.function_name('face_detection')}"
    try:
        events = target.client("logs").filter_log_events(logGroupName=group)["events"]
    except ClientError:
        return ""
    lines = [e["message"].strip() for e in sorted(events, key=lambda e: e["timestamp"])]
    lines = [line for line in lines if line and not line.startswith(("START ", "END ", "REPORT "))]
    if not lines:
        return "never invoked (is the key's suffix .mp4?)"
    return " ".join(lines[-1].split())[:300]


def download_atomically(s3: Any, bucket: str, key: str, dst: Path) -> None:
    """Download next to `dst`, then rename: an interrupted download never leaves a partial OUTPUT."""
    fd, partial = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".partial", dir=dst.resolve().parent)
    os.close(fd)
    try:
        s3.download_file(bucket, key, partial)
        os.replace(partial, dst)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
