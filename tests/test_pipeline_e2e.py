"""The face-blurring pipeline end to end on the local target, always through the real S3 trigger.

One deployment serves every upload test (module fixture), made by running notebook 02 (the one
implementation of the deployment) with this module's prefix; each test uses its own keys. The `blur`
CLI tests deploy their own throw-away prefix, as the command does, on the same embedded AWS so
that what it leaves behind can be inspected afterwards.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import numpy as np
import pytest
from deploy_support import snapshot
from face_clips import SAMPLE_VIDEO, clip, sample_truth
from pipeline_e2e_support import (
    MIN_MEASURABLE,
    blurred_fraction,
    clipped_box,
    executions_for,
    face_detection_reports,
    finished_execution,
    gray_frames,
    keys,
    local_energy,
    rgb_frames,
)
from test_blur_engine import _atoms, _audio_packets, _psnr, _video_info  # shared video probes

from lambdalab.deploy import teardown
from lambdalab.deploy.deployed import face_blur_from_notebook
from lambdalab.deploy.session_state import make_prefix
from lambdalab.deploy.target import connect

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pipeline(local_endpoint, tmp_path_factory):
    """(target, deployment) of one face-blur pipeline for the whole module, torn down after."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LAMBDALAB_HOME", str(tmp_path_factory.mktemp("lambdalab-home")))  # not the user's session file
        target = connect("local")
        prefix = make_prefix("e2e")
        deployment = face_blur_from_notebook(prefix, poll_interval_seconds=1)
        yield target, deployment
        report = teardown(prefix, target, verbose=False)
    assert report.complete, report.table()


@pytest.fixture(scope="module")
def tiny_video() -> bytes:
    """A 1 s 320×180 clip with faces and an AAC track: cheap to detect and blur."""
    path, _truth = clip("mirrored", 320, 180, seconds=1.0, audio=True)
    return path.read_bytes()


def _clients(pipeline):
    target, deployment = pipeline
    return target.client("s3"), target.client("stepfunctions"), deployment


def _assert_input_untouched(s3, bucket: str, key: str, body: bytes, etag: str) -> None:
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ETag"] == etag
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body


# --- the sample video --------------------------------------------------------------------------


@pytest.mark.slow
def test_sample_video_comes_out_blurred_and_otherwise_intact(pipeline, tmp_path):
    s3, sfn, blur = _clients(pipeline)
    body = SAMPLE_VIDEO.read_bytes()
    etag = s3.put_object(Bucket=blur.input_bucket, Key="sample-video.mp4", Body=body)["ETag"]
    execution = finished_execution(sfn, blur.state_machine_arn, "sample-video.mp4")
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    output = json.loads(execution["output"])["Output"]
    assert (output["Bucket"], output["Key"]) == (blur.output_bucket, "blurred/sample-video.mp4")
    dst = tmp_path / "blurred.mp4"
    s3.download_file(output["Bucket"], output["Key"], str(dst))
    assert s3.head_object(Bucket=output["Bucket"], Key=output["Key"])["ContentType"] == "video/mp4"
    _assert_input_untouched(s3, blur.input_bucket, "sample-video.mp4", body, etag)

    before, after = _video_info(SAMPLE_VIDEO), _video_info(dst)
    assert after["codec"] == "h264" and after["pix_fmt"] == "yuv420p"
    frame_time = 1 / float(before["rate"])
    assert abs(len(after["pts"]) - len(before["pts"])) <= 1
    assert abs(after["duration"] - before["duration"]) <= frame_time
    assert output["Frames"] == len(after["pts"])
    audio = _audio_packets(SAMPLE_VIDEO)
    assert audio and _audio_packets(dst) == audio, "audio packets must be copied byte for byte"
    atoms = _atoms(dst)
    assert atoms.index("moov") < atoms.index("mdat"), "faststart: playable while downloading"

    truth = sample_truth()
    assert len(truth.frames) == len(before["pts"])
    w, h = truth.width, truth.height
    rows = []  # (frame, visible fraction, blurred fraction, measurable pixels)
    for frame, a, b in zip(truth.frames, gray_frames(SAMPLE_VIDEO), gray_frames(dst)):
        if not frame.faces:
            continue
        e_in, e_out = local_energy(a), local_energy(b)
        for face in frame.faces:
            box = clipped_box(face.box, w, h)
            if box is not None:
                rows.append((frame.index, face.visible, *blurred_fraction(e_in, e_out, box)))
    mostly_inside = [r for r in rows if r[1] >= 0.5]
    # Faces cut by a border count too, from 10% inside on, wherever their visible part has enough
    # detail to measure a loss of it; slivers without detail are reported, not asserted.
    at_border = [r for r in rows if 0.1 <= r[1] < 0.5]
    measured = [r for r in mostly_inside + at_border if r[3] >= MIN_MEASURABLE]
    unmeasurable = [r for r in at_border if r[3] < MIN_MEASURABLE]
    print(
        f"{len(measured)} face boxes measured ({len(mostly_inside)} at least half inside), worst "
        f"{min(r[2] for r in measured):.1%} blurred; too little detail to measure: "
        + ", ".join(f"frame {r[0]} ({r[1]:.0%} inside)" for r in unmeasurable)
    )
    assert all(r[3] >= MIN_MEASURABLE for r in mostly_inside), (
        "every mostly-visible face box has enough detail to measure"
    )
    assert len([r for r in at_border if r[3] >= MIN_MEASURABLE]) >= 5, "faces cut by the border are measured too"
    assert len({r[0] for r in measured}) >= len(truth.frames) // 2, "faces are on screen most of the clip"
    worst = min(measured, key=lambda r: r[2])
    assert worst[2] >= 0.90, f"frame {worst[0]} ({worst[1]:.0%} inside): only {worst[2]:.1%} of a face blurred"

    # Face-free frames: no face within 0.6 s, the carry rule's reach (two 200 ms sampling intervals of
    # hold, one of detection lag). Those must match the input up to re-encoding (~45 dB here; a
    # blurred face region in a frame pulls it to ~32 dB).
    reach = round(0.6 * truth.fps)
    has_face = np.array([bool(f.faces) for f in truth.frames])
    far = [i for i in range(len(has_face)) if not has_face[max(0, i - reach) : i + reach + 1].any()]
    assert len(far) >= 10, "the sample has face-free stretches to check"
    psnrs = [_psnr(a, b) for i, (a, b) in enumerate(zip(rgb_frames(SAMPLE_VIDEO), rgb_frames(dst))) if i in set(far)]
    print(f"{len(far)} face-free frames, PSNR vs input min {min(psnrs):.1f} dB")
    assert min(psnrs) >= 40


# --- bad and odd inputs, all through the real trigger ------------------------------------------


@pytest.mark.parametrize(
    "key,body,expected",
    [
        ("empty.mp4", b"", "Unsupported codec/format"),
        ("notes-in-disguise.mp4", b"Meeting notes: not a video at all.\n" * 20, "Unsupported codec/format"),
    ],
    ids=["zero-byte", "text-named-mp4"],
)
def test_not_a_video_fails_the_execution_with_a_readable_cause(pipeline, key, body, expected):
    s3, sfn, blur = _clients(pipeline)
    etag = s3.put_object(Bucket=blur.input_bucket, Key=key, Body=body)["ETag"]
    execution = finished_execution(sfn, blur.state_machine_arn, key)
    assert execution["status"] == "FAILED"
    assert execution["error"] == "RekognitionJobFailed"
    assert expected in execution["cause"] and "\n" not in execution["cause"]
    assert keys(s3, blur.output_bucket) & {f"blurred/{key}", f"faces/{key}.json"} == set()
    _assert_input_untouched(s3, blur.input_bucket, key, body, etag)


def test_upper_case_extension_is_processed(pipeline, tiny_video):
    s3, sfn, blur = _clients(pipeline)
    s3.put_object(Bucket=blur.input_bucket, Key="HOLIDAY.MP4", Body=tiny_video)
    # A video uploaded after it is processed completely; by then HOLIDAY.MP4's execution has started.
    s3.put_object(Bucket=blur.input_bucket, Key="after-holiday.mp4", Body=tiny_video)
    assert finished_execution(sfn, blur.state_machine_arn, "after-holiday.mp4")["status"] == "SUCCEEDED"
    assert executions_for(sfn, blur.state_machine_arn, "HOLIDAY.MP4"), "HOLIDAY.MP4 started no execution"
    execution = finished_execution(sfn, blur.state_machine_arn, "HOLIDAY.MP4")
    assert execution["status"] == "SUCCEEDED", execution.get("cause")
    assert "blurred/HOLIDAY.MP4" in keys(s3, blur.output_bucket)


def test_a_file_that_is_not_a_video_starts_nothing(pipeline, tiny_video):
    target, blur = pipeline
    s3, sfn, logs = target.client("s3"), target.client("stepfunctions"), target.client("logs")
    s3.put_object(Bucket=blur.input_bucket, Key="notes.txt", Body=b"remember the milk\n")
    # A video uploaded after it is processed completely; a notes.txt execution would have started first.
    s3.put_object(Bucket=blur.input_bucket, Key="after-notes.mp4", Body=tiny_video)
    assert finished_execution(sfn, blur.state_machine_arn, "after-notes.mp4")["status"] == "SUCCEEDED"
    assert executions_for(sfn, blur.state_machine_arn, "notes.txt") == []
    assert face_detection_reports(logs, f"/aws/lambda/{blur.function_name('face_detection')}", "notes.txt") == []
    # And should the trigger ever pass it (a wider filter), the function itself skips it.
    event = _s3_event(blur.input_bucket, "notes.txt", s3.head_object(Bucket=blur.input_bucket, Key="notes.txt"))
    result = _invoke(target, blur.function_name("face_detection"), event)
    assert result == {
        "started": [],
        "skipped": [{"bucket": blur.input_bucket, "key": "notes.txt", "reason": "not a video (.mp4/.mov)"}],
    }
    assert executions_for(sfn, blur.state_machine_arn, "notes.txt") == []


def _s3_event(bucket: str, key: str, head: dict) -> dict:
    """The ObjectCreated:Put record S3 delivers (key URL-encoded, ETag without quotes)."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {
                        "key": urllib.parse.quote_plus(key, safe="/"),
                        "size": head["ContentLength"],
                        "eTag": head["ETag"].strip('"'),
                    },
                },
            }
        ]
    }


def _invoke(target, function_name: str, event: dict) -> dict:
    response = target.client("lambda").invoke(FunctionName=function_name, Payload=json.dumps(event).encode())
    payload = json.loads(response["Payload"].read())
    assert "FunctionError" not in response, payload
    return payload


def test_the_same_s3_event_twice_starts_one_execution(pipeline, tiny_video):
    """`.mov` is a video to face_detection but outside the trigger's `.mp4` filter, so here the two
    deliveries are exactly the two invocations below."""
    target, blur = pipeline
    s3, sfn = target.client("s3"), target.client("stepfunctions")
    s3.put_object(Bucket=blur.input_bucket, Key="twice.mov", Body=tiny_video)
    event = _s3_event(blur.input_bucket, "twice.mov", s3.head_object(Bucket=blur.input_bucket, Key="twice.mov"))
    first = _invoke(target, blur.function_name("face_detection"), event)
    second = _invoke(target, blur.function_name("face_detection"), event)
    (started,) = first["started"]
    # While the first execution runs, StartExecution with the same name and input returns it again
    # (AWS's idempotent behaviour); once it has ended, the name is taken and the event is skipped.
    assert second["started"] == [started] or "duplicate" in second["skipped"][0]["reason"], second
    execution = finished_execution(sfn, blur.state_machine_arn, "twice.mov")
    assert execution["status"] == "SUCCEEDED", execution
    assert len(executions_for(sfn, blur.state_machine_arn, "twice.mov")) == 1


def test_uploading_the_identical_object_twice_starts_one_execution(pipeline, tiny_video):
    target, blur = pipeline
    s3, sfn, logs = target.client("s3"), target.client("stepfunctions"), target.client("logs")
    for _ in range(2):
        etag = s3.put_object(Bucket=blur.input_bucket, Key="again.mp4", Body=tiny_video)["ETag"]
    execution = finished_execution(sfn, blur.state_machine_arn, "again.mp4")
    assert execution["status"] == "SUCCEEDED", execution
    group = f"/aws/lambda/{blur.function_name('face_detection')}"
    deadline_polls = 0
    while len(face_detection_reports(logs, group, "again.mp4")) < 2:  # both deliveries were handled
        deadline_polls += 1
        assert deadline_polls < 240, "the second S3 event was never delivered"
        time.sleep(0.5)
    reports = face_detection_reports(logs, group, "again.mp4")
    arns = {s["executionArn"] for r in reports for s in r["started"]}
    skipped = [s["reason"] for r in reports for s in r["skipped"]]
    assert len(arns) == 1 and all("duplicate" in reason for reason in skipped), reports
    assert len(executions_for(sfn, blur.state_machine_arn, "again.mp4")) == 1
    _assert_input_untouched(s3, blur.input_bucket, "again.mp4", tiny_video, etag)


def test_the_same_video_under_two_keys_gives_two_outputs(pipeline, tiny_video):
    s3, sfn, blur = _clients(pipeline)
    etags = {
        key: s3.put_object(Bucket=blur.input_bucket, Key=key, Body=tiny_video)["ETag"]
        for key in ("twin-a.mp4", "twin-b.mp4")
    }
    for key, etag in etags.items():
        assert finished_execution(sfn, blur.state_machine_arn, key)["status"] == "SUCCEEDED"
        _assert_input_untouched(s3, blur.input_bucket, key, tiny_video, etag)
    assert {"blurred/twin-a.mp4", "blurred/twin-b.mp4"} <= keys(s3, blur.output_bucket, "blurred/")


# --- the blur command ---------------------------------------------------------------------------


def _blur_command(*args: str, endpoint: str | None, home: Path, **popen) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    env["LAMBDALAB_HOME"] = str(home)
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    return subprocess.Popen(
        [sys.executable, "-m", "lambdalab", "blur", *args],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
        **popen,
    )


def _prefix_of(stdout: str) -> str:
    match = re.search(r"deploying the pipeline as (lab-blur-[0-9a-f]{4})", stdout)
    assert match, stdout
    return match.group(1)


@pytest.fixture(scope="module")
def short_clip():
    """2.5 s of the sample scene at 640×360 with sound: faces, audio, and quick to process."""
    return clip("sample", 640, 360, seconds=2.5, audio=True)


@pytest.mark.slow
def test_blur_command_writes_a_playable_blurred_video(local_endpoint, short_clip, tmp_path):
    src, truth = short_clip
    dst = tmp_path / "out.mp4"
    process = _blur_command(str(src), str(dst), endpoint=local_endpoint, home=tmp_path)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    assert stderr == ""
    info = _video_info(dst)
    assert info["codec"] == "h264" and len(info["pts"]) == len(truth.frames)
    assert _audio_packets(dst) == _audio_packets(src)
    for needle in (
        "faces found",
        "frames            %d" % len(truth.frames),
        "detection job",
        "collecting faces",
        "blurring",
        "total (upload -> output saved)",
        "state BlurFaces",
    ):
        assert needle in stdout, stdout
    assert snapshot(connect("local"), _prefix_of(stdout)) == {}
    assert list(tmp_path.glob(".out.mp4.*")) == [], "no partial download left behind"


@pytest.mark.slow
def test_blur_command_failure_is_one_line_and_writes_nothing(local_endpoint, tmp_path):
    src, dst = tmp_path / "text.mp4", tmp_path / "out.mp4"
    src.write_text("this is a text file, not a video\n")
    process = _blur_command(str(src), str(dst), endpoint=local_endpoint, home=tmp_path)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 1
    assert len(stderr.splitlines()) == 1, stderr
    assert stderr.startswith("blur: execution FAILED: RekognitionJobFailed: ") and "Unsupported codec/format" in stderr
    assert not dst.exists()
    assert snapshot(connect("local"), _prefix_of(stdout)) == {}


@pytest.mark.slow
def test_blur_command_cleans_up_after_ctrl_c(local_endpoint, short_clip, tmp_path):
    src, dst = short_clip[0], tmp_path / "out.mp4"
    process = _blur_command(str(src), str(dst), endpoint=local_endpoint, home=tmp_path)
    lines = []
    for line in process.stdout:  # interrupt once the execution runs
        lines.append(line)
        if "state " in line:
            process.send_signal(signal.SIGINT)
            break
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1] == "interrupted"
    assert not dst.exists()
    assert snapshot(connect("local"), _prefix_of("".join(lines) + stdout)) == {}


@pytest.mark.slow
def test_blur_command_starts_its_own_embedded_aws_when_none_is_set(short_clip, tmp_path):
    src, dst = short_clip[0], tmp_path / "out.mp4"
    process = _blur_command(str(src), str(dst), endpoint=None, home=tmp_path)
    stdout, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    assert _video_info(dst)["codec"] == "h264"
    assert not (tmp_path / "session.json").exists(), "the learner's session file is left alone"


@pytest.mark.parametrize("case", ["same-file", "missing-input", "same-file-other-spelling"])
def test_blur_command_refuses_unusable_paths_before_deploying(case, tmp_path):
    src = tmp_path / "in.mp4"
    src.write_bytes(b"x")
    args = {
        "same-file": (str(src), str(src)),
        "missing-input": (str(tmp_path / "nope.mp4"), str(tmp_path / "out.mp4")),
        "same-file-other-spelling": (str(src), str(tmp_path / "." / ".." / tmp_path.name / "in.mp4")),
    }[case]
    process = _blur_command(*args, endpoint="http://127.0.0.1:9", home=tmp_path)  # nothing listens there
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 2
    assert len(stderr.splitlines()) == 1 and stderr.startswith("blur: "), stderr
    assert src.read_bytes() == b"x"
    assert "deploying" not in stdout
