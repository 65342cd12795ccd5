"""`python -m lambdalab blur INPUT.mp4 OUTPUT.mp4`: the whole face-blurring pipeline, once, locally.

Deploys the pipeline under a throw-away prefix on the embedded AWS (the one `$AWS_ENDPOINT_URL`
names, else a private one for this run), uploads INPUT through the real S3 trigger, shows the
states the execution enters, downloads OUTPUT and prints a summary; then deletes everything it
deployed, also after a failure or Ctrl-C. Exit 0 on success; 1 with a one-line reason when the
pipeline fails (no OUTPUT is written then); 2 for unusable arguments.

stderr carries only what went wrong (one line) and, in a terminal, a status line that is redrawn in
place and erased at the end; without a terminal the progress is plain lines on stdout before the
summary. So `blur a.mp4 b.mp4 > run.log` keeps the whole story, and `2> reason.txt` only the reason.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from typing import TextIO

from lambdalab.blur_command.pipeline_run import (
    DEFAULT_TIMEOUT_SECONDS,
    PipelineError,
    PipelineResult,
    Progress,
    blur_file,
)
from lambdalab.notebook_run import NotebookFailed

#: The Wait/Check/Choice loop repeats once per poll; in a log, only its first round is worth a line.
POLL_LOOP = frozenset({"WaitForRekognition", "CheckJobStatus", "IsJobDone"})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="INPUT.mp4", help="the video to blur (H.264 in MP4/MOV)")
    parser.add_argument("output", metavar="OUTPUT.mp4", help="where to write the blurred video (never INPUT)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_SECONDS,
        help=f"give up (and stop the execution) after this many seconds (default {DEFAULT_TIMEOUT_SECONDS:.0f})",
    )


class LineProgress(Progress):
    """Plain lines, for logs and pipes: every step, every state except repeated poll rounds."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def step(self, text: str) -> None:
        print(f"blur: {text}", file=self.stream, flush=True)

    def state(self, name: str, times_entered: int, elapsed_seconds: float) -> None:
        if name in POLL_LOOP and times_entered > 1:
            return
        print(f"blur: {elapsed_seconds:6.1f} s  state {name}", file=self.stream, flush=True)


class TerminalProgress(Progress):
    """One status line, redrawn in place: the current step or state and how often it was polled."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.width = 0

    def _draw(self, text: str) -> None:
        # A line longer than the terminal wraps, and "\r" would then redraw only its last row.
        text = text[: max(20, shutil.get_terminal_size().columns - 1)]
        self.stream.write("\r" + text.ljust(self.width))
        self.stream.flush()
        self.width = len(text)

    def step(self, text: str) -> None:
        self._draw(text)

    def state(self, name: str, times_entered: int, elapsed_seconds: float) -> None:
        rounds = f" (poll {times_entered})" if name in POLL_LOOP and times_entered > 1 else ""
        self._draw(f"[{elapsed_seconds:6.1f} s] {name}{rounds}")

    def close(self) -> None:
        if self.width:
            self.stream.write("\r" + " " * self.width + "\r")
            self.stream.flush()
            self.width = 0


def summary(result: PipelineResult) -> str:
    """The one-screen report of a successful run."""
    rows = [
        f"blurred {result.input_key} -> {result.output_path}",
        f"  faces found       {result.face_boxes} face boxes in {result.face_samples} sampled frames "
        f"({result.faces_blurred} applied)",
        f"  frames            {result.frames}",
        "  time per stage",
    ]
    labels = {
        "trigger": "upload -> execution start",
        "detection job": "detection job (Rekognition)",
        "collecting faces": "collecting faces",
        "blurring": "blurring",
        "download": "download",
    }
    for stage, label in labels.items():
        if stage in result.stages:
            rows.append(f"    {label:<30} {result.stages[stage]:6.1f} s")
    rows.append(f"  total (upload -> output saved)   {result.total_seconds:6.1f} s")
    return "\n".join(rows)


def run(args: argparse.Namespace) -> int:
    progress: Progress = TerminalProgress(sys.stderr) if sys.stderr.isatty() else LineProgress(sys.stdout)
    try:
        result = blur_file(args.input, args.output, progress=progress, timeout=args.timeout)
    except ValueError as error:
        _close(progress)
        print(f"blur: {error}", file=sys.stderr)
        return 2
    except (PipelineError, NotebookFailed) as error:
        _close(progress)
        print(f"blur: {error}", file=sys.stderr)
        return 1
    finally:
        _close(progress)
    if result.cleanup:
        print(f"blur: warning: {result.cleanup}", file=sys.stderr)
    if not result.succeeded:
        print(f"blur: execution {result.status}: {result.reason}", file=sys.stderr)
        return 1
    print(summary(result))
    return 0


def _close(progress: Progress) -> None:
    if isinstance(progress, TerminalProgress):
        progress.close()
