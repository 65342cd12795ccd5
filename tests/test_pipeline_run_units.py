"""The `blur` command's pure parts: path checks, upload key, stage times and failure reasons.

The history events are shaped as Step Functions (and the embedded AWS) return them; the end-to-end
tests in test_pipeline_e2e.py read real ones.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pytest

from lambdalab.blur_command.pipeline_run import PipelineResult, check_paths, upload_key
from lambdalab.commands.blur import LineProgress, summary
from lambdalab.execution_history import failure_reason, stage_seconds, states_entered

T0 = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC)


def _event(i: int, seconds: float, kind: str, name: str | None = None, **details) -> dict:
    event = {"id": i, "timestamp": T0 + dt.timedelta(seconds=seconds), "type": kind}
    if name is not None:
        key = "stateEnteredEventDetails" if kind.endswith("Entered") else "stateExitedEventDetails"
        event[key] = {"name": name}
    event.update(details)
    return event


SUCCEEDED = [
    _event(1, 0.0, "ExecutionStarted"),
    _event(2, 0.0, "WaitStateEntered", "WaitForRekognition"),
    _event(3, 1.0, "TaskStateEntered", "CheckJobStatus"),
    _event(4, 1.5, "TaskStateExited", "CheckJobStatus"),
    _event(5, 1.5, "WaitStateEntered", "WaitForRekognition"),
    _event(6, 2.5, "TaskStateEntered", "CheckJobStatus"),
    _event(7, 3.0, "TaskStateExited", "CheckJobStatus"),
    _event(8, 3.0, "TaskStateEntered", "GetFaces"),
    _event(9, 3.4, "TaskStateExited", "GetFaces"),
    _event(10, 3.4, "TaskStateEntered", "BlurFaces"),
    _event(11, 5.9, "TaskStateExited", "BlurFaces"),
    _event(12, 5.9, "SucceedStateEntered", "Done"),
    _event(13, 5.9, "ExecutionSucceeded"),
]


def test_stage_seconds_come_from_the_history_timestamps():
    assert stage_seconds(SUCCEEDED) == pytest.approx({"detection job": 3.0, "collecting faces": 0.4, "blurring": 2.5})


def test_stages_never_reached_are_absent_not_zero():
    failed = SUCCEEDED[:7] + [_event(8, 3.0, "FailStateEntered", "RekognitionJobFailed")]
    assert stage_seconds(failed) == {}


def test_states_entered_keeps_order_and_repeats():
    assert [s.name for s in states_entered(SUCCEEDED)] == [
        "WaitForRekognition",
        "CheckJobStatus",
        "WaitForRekognition",
        "CheckJobStatus",
        "GetFaces",
        "BlurFaces",
        "Done",
    ]


def test_a_lambda_error_cause_becomes_type_and_message_on_one_line():
    cause = json.dumps(
        {
            "errorType": "VideoError",
            "errorMessage": "cannot decode\nframe 12",
            "stackTrace": ['  File "app.py", line 3\n', "    raise VideoError\n"],
        }
    )
    reason = failure_reason({"status": "FAILED", "error": "VideoError", "cause": cause}, [])
    assert reason == "VideoError: cannot decode frame 12"


def test_the_reason_is_read_from_the_history_when_the_description_has_none():
    events = [
        _event(
            1,
            0,
            "ExecutionFailed",
            executionFailedEventDetails={
                "error": "RekognitionJobFailed",
                "cause": "Rekognition job 1 failed: Unsupported codec/format.",
            },
        )
    ]
    assert failure_reason({"status": "FAILED"}, events) == (
        "RekognitionJobFailed: Rekognition job 1 failed: Unsupported codec/format."
    )
    assert "ABORTED" in failure_reason({"status": "ABORTED"}, [])


def test_upload_key_ends_in_the_suffix_the_trigger_listens_for():
    triggers = (".mp4", ".MP4", ".mov", ".MOV")  # what notebook 02 puts on the input bucket
    assert upload_key(Path("/videos/holiday.mp4"), triggers) == "holiday.mp4"
    assert upload_key(Path("HOLIDAY.MP4"), triggers) == "HOLIDAY.MP4"
    assert upload_key(Path("clip.mov"), triggers) == "clip.mov"
    assert upload_key(Path("clip.mkv"), triggers) == "clip.mp4"


def test_check_paths_refuses_what_cannot_work(tmp_path):
    src = tmp_path / "in.mp4"
    src.write_bytes(b"x")
    check_paths(src, tmp_path / "out.mp4")  # fine
    for bad_out in (src, tmp_path / "sub" / ".." / "in.mp4", tmp_path, tmp_path / "missing-dir" / "out.mp4"):
        with pytest.raises(ValueError):
            check_paths(src, bad_out)
    with pytest.raises(ValueError, match="no such file"):
        check_paths(tmp_path / "nope.mp4", tmp_path / "out.mp4")
    (tmp_path / "link.mp4").symlink_to(src)
    with pytest.raises(ValueError, match="must not be INPUT"):
        check_paths(src, tmp_path / "link.mp4")


def test_plain_progress_prints_the_poll_loop_once():
    out = io.StringIO()
    progress = LineProgress(out)
    for name, times in (
        ("WaitForRekognition", 1),
        ("CheckJobStatus", 1),
        ("WaitForRekognition", 2),
        ("CheckJobStatus", 2),
        ("GetFaces", 1),
    ):
        progress.state(name, times, 1.0)
    assert [line.split()[-1] for line in out.getvalue().splitlines()] == [
        "WaitForRekognition",
        "CheckJobStatus",
        "GetFaces",
    ]


def test_summary_fits_one_screen_and_names_every_stage():
    result = PipelineResult(
        prefix="lab-blur-0000",
        input_key="a.mp4",
        status="SUCCEEDED",
        face_boxes=51,
        face_samples=39,
        faces_blurred=51,
        frames=250,
        total_seconds=7.2,
        stages={"trigger": 0.2, "detection job": 4.1, "collecting faces": 0.3, "blurring": 1.8, "download": 0.0},
    )
    result.output_path = Path("out.mp4")
    text = summary(result)
    assert len(text.splitlines()) <= 24 and max(len(line) for line in text.splitlines()) <= 80
    for needle in ("51 face boxes", "250", "detection job", "collecting faces", "blurring", "7.2 s"):
        assert needle in text
