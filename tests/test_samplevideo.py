"""The sample-video generator: deterministic, browser-playable, and its ground truth meets the brief."""

from __future__ import annotations

import av
import numpy as np
import pytest
from face_clips import SAMPLE_VIDEO, clip, sample_truth

from lambdalab.commands.sample_video import KIND_NAMES
from lambdalab.samplevideo import KINDS, build_scene, generate, ground_truth
from lambdalab.samplevideo.ground_truth import load
from lambdalab.samplevideo.render import truth_at
from lambdalab.samplevideo.sources import SOURCES


def _top_level_boxes(path) -> list[bytes]:
    with open(path, "rb") as fh:
        data = fh.read()
    boxes, pos = [], 0
    while pos + 8 <= len(data):
        size = int.from_bytes(data[pos : pos + 4], "big")
        boxes.append(data[pos + 4 : pos + 8])
        if size < 8:
            break
        pos += size
    return boxes


def test_command_lists_every_kind():
    assert set(KIND_NAMES) == set(KINDS)


def test_same_arguments_give_the_same_bytes(tmp_path):
    a, b = tmp_path / "a.mp4", tmp_path / "b.mp4"
    generate(a, "border", 320, 180, seconds=0.6)
    generate(b, "border", 320, 180, seconds=0.6)
    assert a.read_bytes() == b.read_bytes()


def test_output_is_h264_yuv420p_with_aac_and_faststart():
    path, truth = clip("mirrored", 320, 180, seconds=1.0, audio=True)
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0]
        assert video.codec_context.name == "h264"
        assert video.codec_context.pix_fmt == "yuv420p"
        assert (video.codec_context.width, video.codec_context.height) == (320, 180)
        assert video.average_rate == 25
        assert audio.codec_context.name == "aac" and audio.codec_context.sample_rate == 44100
        frames = list(container.decode(video=0))
    assert len(frames) == len(truth.frames) == 25
    assert [round(f.time * 1000) for f in frames] == [f.timestamp_ms for f in truth.frames]
    boxes = _top_level_boxes(path)
    assert boxes.index(b"moov") < boxes.index(b"mdat")  # +faststart: playable while downloading


def test_ground_truth_round_trips_through_json(tmp_path):
    truth = ground_truth(build_scene("border", 320, 180, seconds=0.5))
    truth.write(tmp_path / "gt.json")
    assert load(tmp_path / "gt.json") == truth


def test_sample_scene_has_every_situation_the_brief_asks_for():
    scene = build_scene("sample")
    assert (scene.width, scene.height, scene.fps, scene.frame_count) == (1280, 720, 25, 250)
    truth = ground_truth(scene)
    counts = [len(f.faces) for f in truth.frames]
    assert sum(1 for c in counts if c >= 2) >= 25, "a stretch (≥1 s) with two faces"
    faceless = [f.index for f in truth.frames if not f.faces]
    assert len(faceless) >= 25, "a stretch (≥1 s) without faces"
    cat = next(i for i, t in enumerate(scene.tracks) if t.source == "cat")
    cat_frames = [i for i in faceless if scene.tracks[cat].at(i / scene.fps, 1280, 720) is not None]
    assert len(cat_frames) >= 20, "the face-free stretch shows the cat distractor"
    assert any(0.05 < face.visible < 1 for f in truth.frames for face in f.faces), "a face at a border"
    assert {face.source for f in truth.frames for face in f.faces} == {"astronaut", "cameraman"}


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "sample"])
def test_hard_kinds_are_what_their_names_say(kind):
    scene = build_scene(kind, 640, 360)
    truth = ground_truth(scene)
    faces = [face for f in truth.frames for face in f.faces]
    assert faces
    heights = [face.box[3] - face.box[1] for face in faces]
    if kind == "small":
        assert 18 <= min(heights) and max(heights) <= 26
    if kind == "border":
        assert sum(face.visible < 0.95 for face in faces) > len(faces) / 3
    if kind == "tilt":
        angles = [t.at(f.index / 25, 640, 360).angle for t in scene.tracks for f in truth.frames]
        assert max(angles) > 24 and min(angles) < -24
    if kind == "fast":
        track = scene.tracks[0]
        inside = [f.index for f in truth.frames if any(x.track == 0 and x.visible == 1 for x in f.faces)]
        span = (inside[-1] - inside[0]) / 25
        assert span < 2.0 and track.keys[-1].t - track.keys[0].t == pytest.approx(2.0)
    if kind == "mirrored":
        assert all(t.mirror for t in scene.tracks)


def test_rotated_face_truth_is_the_rotated_ellipses_box():
    scene = build_scene("tilt", 640, 360)
    track = scene.tracks[0]
    for t in (0.0, 0.5, 1.0, 1.5):
        p = track.at(t, 640, 360)
        (face,) = [f for f in truth_at(scene, t) if f.track == 0]
        x1, y1, x2, y2 = SOURCES["astronaut"].face
        s = p.height / (y2 - y1)
        w, h = face.box[2] - face.box[0], face.box[3] - face.box[1]
        assert (x2 - x1) * s - 0.02 <= w and h <= (y2 - y1) * s + 0.02  # widest/tallest when level
        assert (face.box[0] + face.box[2]) / 2 == pytest.approx(p.x, abs=0.01)


def test_committed_sample_video_matches_the_generator_settings():
    assert SAMPLE_VIDEO.stat().st_size < 2_000_000
    truth = sample_truth()
    with av.open(str(SAMPLE_VIDEO)) as container:
        video = container.streams.video[0]
        assert (video.codec_context.width, video.codec_context.height) == (1280, 720)
        assert video.average_rate == 25 and video.frames == len(truth.frames) == 250
        assert video.codec_context.pix_fmt == "yuv420p"
        assert container.streams.audio[0].codec_context.name == "aac"
    assert _top_level_boxes(SAMPLE_VIDEO).index(b"moov") < _top_level_boxes(SAMPLE_VIDEO).index(b"mdat")


@pytest.mark.slow
def test_committed_sample_video_is_what_the_generator_makes_now(tmp_path):
    """Regenerates the 10 s clip (~10 s): fails if the scene changed and the file was not remade.
    Compares decoded pictures, not bytes: x264 is bit-exact across CPUs, but this need not bet on it."""
    fresh = tmp_path / "sample.mp4"
    generate(fresh, audio=False)
    with av.open(str(fresh)) as a, av.open(str(SAMPLE_VIDEO)) as b:
        pairs = zip(a.decode(video=0), b.decode(video=0), strict=True)
        worst = max(
            float(np.abs(x.to_ndarray().astype(np.int16) - y.to_ndarray().astype(np.int16)).mean()) for x, y in pairs
        )
    assert worst < 0.5
