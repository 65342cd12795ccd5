"""`python -m lambdalab detect` and `sample-video`: JSON out, clean one-line errors, exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from face_clips import REPO, clip

from lambdalab.cli import main


@pytest.fixture(scope="module")
def short_clip():
    return clip("mirrored", 320, 180, seconds=1.0, audio=True)


def test_detect_writes_the_merged_get_face_detection_result(short_clip, tmp_path, capsys):
    path, _ = short_clip
    out = tmp_path / "faces.json"
    assert main(["detect", str(path), "--out", str(out), "--interval-ms", "250"]) == 0
    doc = json.loads(out.read_text())
    assert set(doc) == {"JobStatus", "VideoMetadata", "Faces"}
    assert doc["JobStatus"] == "SUCCEEDED" and doc["VideoMetadata"]["FrameWidth"] == 320
    assert sorted({f["Timestamp"] for f in doc["Faces"]}) == [0, 280, 520, 760]  # first frames at/after k·250 ms
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "detecting" not in captured.err  # no progress bar when stderr is not a terminal


def test_detect_prints_json_to_stdout_without_out(short_clip, capsys):
    path, _ = short_clip
    assert main(["detect", str(path)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert len(doc["Faces"]) >= 8


@pytest.mark.parametrize("content", [None, b"this is not a video"])
def test_detect_bad_input_exits_1_with_one_line(tmp_path, content):
    target = tmp_path / "input.mp4"
    if content is not None:
        target.write_bytes(content)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run(
        [sys.executable, "-m", "lambdalab", "detect", str(target)], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 1
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert lines[0].startswith("detect: ") and str(target) in lines[0]


def test_detect_rejects_a_non_positive_interval(short_clip):
    path, _ = short_clip
    with pytest.raises(SystemExit) as info:
        main(["detect", str(path), "--interval-ms", "0"])
    assert info.value.code == 2


def test_sample_video_command_writes_video_and_ground_truth(tmp_path, capsys):
    out, gt = tmp_path / "clip.mp4", tmp_path / "clip.gt.json"
    args = [
        "sample-video",
        str(out),
        "--ground-truth",
        str(gt),
        "--size",
        "320x180",
        "--fps",
        "10",
        "--kind",
        "border",
        "--seconds",
        "1",
        "--no-audio",
    ]
    assert main(args) == 0
    truth = json.loads(gt.read_text())
    assert (truth["kind"], truth["width"], truth["height"], truth["fps"], truth["frame_count"]) == (
        "border",
        320,
        180,
        10.0,
        10,
    )
    assert [f["timestamp_ms"] for f in truth["frames"]] == list(range(0, 1000, 100))
    assert truth["source_faces"]["astronaut"] == [181.0, 61.0, 270.0, 177.0]
    from lambdalab.faces.video_source import probe

    meta = probe(out)
    assert (meta.frame_width, meta.frame_height, meta.frame_rate, meta.codec) == (320, 180, 10.0, "h264")
    assert "10 frames" in capsys.readouterr().err


@pytest.mark.parametrize("bad", [["--size", "320by180"], ["--size", "321x180"], ["--kind", "nope"], ["--fps", "0"]])
def test_sample_video_rejects_bad_arguments(tmp_path, bad):
    with pytest.raises(SystemExit) as info:
        main(["sample-video", str(tmp_path / "x.mp4"), *bad])
    assert info.value.code == 2


def test_sample_video_unwritable_output_is_a_one_line_error(tmp_path, capsys):
    assert main(["sample-video", str(tmp_path / "missing-dir" / "x.mp4"), "--size", "64x64", "--seconds", "0.2"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sample-video: ")
