"""Sampling a video with PyAV and shaping the faces the way GetFaceDetection does."""

from __future__ import annotations

import contextlib
import struct
import threading

import av
import numpy as np
import pytest
from face_clips import clip

from lambdalab.faces.detector import LANDMARK_TYPES
from lambdalab.faces.video_faces import detect_video_faces
from lambdalab.faces.video_source import VideoDecodeError, VideoReader, probe, read_ahead


@pytest.fixture(scope="module")
def tilt_clip():
    return clip("tilt", 320, 180, seconds=1.2, audio=True)


def test_metadata_is_what_rekognition_reports(tilt_clip):
    path, _ = tilt_clip
    meta = probe(path).to_rekognition()
    assert meta == {
        "Codec": "h264",
        "DurationMillis": 1200,
        "Format": "QuickTime / MOV",
        "FrameRate": 25.0,
        "FrameHeight": 180,
        "FrameWidth": 320,
        "ColorRange": "LIMITED",
    }


def test_samples_every_interval_on_the_frames_own_timestamps(tilt_clip):
    path, _ = tilt_clip
    with VideoReader(path) as reader:
        frames = list(reader.sample(200))
    assert [f.timestamp_ms for f in frames] == [0, 200, 400, 600, 800, 1000]
    assert [f.index for f in frames] == [0, 5, 10, 15, 20, 25]
    with VideoReader(path) as reader:
        odd = [f.timestamp_ms for f in reader.sample(130)]
    # 25 fps = 40 ms frames: the first frame at or after each multiple of 130 ms.
    assert odd == [0, 160, 280, 400, 520, 680, 800, 920, 1040]  # 1170 → 1200 is past the end


def test_sampled_frames_are_rgb_at_the_requested_width(tilt_clip):
    path, _ = tilt_clip
    with VideoReader(path) as reader:
        frame = next(reader.sample(200, width=640))
    assert frame.rgb.shape == (360, 640, 3) and frame.rgb.dtype == np.uint8


def test_faces_are_rekognition_shaped_and_ordered(tilt_clip):
    path, truth = tilt_clip
    result = detect_video_faces(path)
    doc = result.to_rekognition()
    assert doc["JobStatus"] == "SUCCEEDED"
    faces = doc["Faces"]
    assert len(faces) >= 10  # two faces in each of 6 samples, minus at most a couple of misses
    stamps = [f["Timestamp"] for f in faces]
    assert stamps == sorted(stamps) and all(isinstance(t, int) for t in stamps)
    for entry in faces:
        face = entry["Face"]
        assert set(face) == {"BoundingBox", "Confidence", "Landmarks", "Pose", "Quality"}
        box = face["BoundingBox"]
        assert 0 < box["Width"] <= 1 and 0 < box["Height"] <= 1
        assert -1 < box["Left"] < 1 and -1 < box["Top"] < 1
        assert 40 <= face["Confidence"] <= 100
        assert [lm["Type"] for lm in face["Landmarks"]] == list(LANDMARK_TYPES)
        assert all(-180 <= face["Pose"][k] <= 180 for k in ("Roll", "Yaw", "Pitch"))
        assert all(0 <= face["Quality"][k] <= 100 for k in ("Brightness", "Sharpness"))
    assert len(result.samples) == 6  # empty samples are kept for scoring


def test_roll_follows_the_heads_rotation(tilt_clip):
    """The tilt clip swings the astronaut between ±25°; Roll must follow within a few degrees."""
    path, truth = tilt_clip
    result = detect_video_faces(path)
    from lambdalab.samplevideo.scenes import build_scene

    scene = build_scene("tilt", 320, 180, seconds=1.2)
    astronaut = scene.tracks[0]
    checked = 0
    for sample in result.samples:
        placement = astronaut.at(sample.timestamp_ms / 1000, 320, 180)
        ax, ay = placement.x / 320, placement.y / 180
        for face in sample.faces:
            b = face["BoundingBox"]
            if b["Left"] < ax < b["Left"] + b["Width"] and b["Top"] < ay < b["Top"] + b["Height"]:
                # The source portrait itself is rolled ~+4°.
                assert face["Pose"]["Roll"] == pytest.approx(placement.angle + 4, abs=8)
                checked += 1
    assert checked >= 4


def test_progress_reports_monotonic_ms_up_to_the_duration(tilt_clip):
    path, _ = tilt_clip
    calls: list[tuple[int, int]] = []
    detect_video_faces(path, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (1200, 1200)
    done = [c[0] for c in calls]
    assert done == sorted(done) and len(calls) >= 30


def test_missing_file_is_a_decode_error(tmp_path):
    with pytest.raises(VideoDecodeError, match="no such file"):
        detect_video_faces(tmp_path / "nope.mp4")


def test_garbage_is_a_decode_error(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(1).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    with pytest.raises(VideoDecodeError):
        detect_video_faces(junk)
    with pytest.raises(VideoDecodeError):
        detect_video_faces(b"not a video at all")


def _top_level_boxes(data: bytes) -> dict[str, tuple[int, int]]:
    """MP4 top-level box type -> (offset, size)."""
    boxes, offset = {}, 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        boxes[kind.decode("latin-1")] = (offset, size)
        offset += size
    return boxes


@pytest.mark.parametrize("cut", ["inside the header", "after the header, before any frame", "after the first frames"])
def test_truncated_video_is_a_decode_error(tilt_clip, tmp_path, cut):
    path, _ = tilt_clip
    data = path.read_bytes()
    boxes = _top_level_boxes(data)
    assert list(boxes)[:2] == ["ftyp", "moov"] and "mdat" in boxes  # +faststart: the header comes first
    mdat = boxes["mdat"][0]
    end = {
        "inside the header": boxes["moov"][0] + 1000,
        "after the header, before any frame": mdat + 8,
        "after the first frames": mdat + 500,
    }[cut]
    truncated = tmp_path / "cut.mp4"
    truncated.write_bytes(data[:end])
    with pytest.raises(VideoDecodeError):
        detect_video_faces(truncated)


def test_audio_only_file_is_a_decode_error(tmp_path):
    wav = tmp_path / "tone.wav"
    with av.open(str(wav), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=8000, layout="mono")
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with pytest.raises(VideoDecodeError, match="no video stream"):
        detect_video_faces(wav)


def test_reads_from_bytes_as_from_a_path(tilt_clip):
    path, _ = tilt_clip
    assert detect_video_faces(path.read_bytes()).to_rekognition() == detect_video_faces(path).to_rekognition()


# --- read_ahead: decoding in a thread ahead of the network ------------------------------------


def test_read_ahead_keeps_order_and_raises_the_producers_error_in_the_caller():
    assert list(read_ahead(iter(range(50)), depth=2)) == list(range(50))

    def broken():
        yield from (1, 2, 3)
        raise VideoDecodeError("decoding failed after frame 3")

    got = []
    with pytest.raises(VideoDecodeError, match="after frame 3"):
        for item in read_ahead(broken()):
            got.append(item)
    assert got == [1, 2, 3]


def test_read_ahead_stops_its_thread_and_closes_the_source_when_the_caller_stops_early():
    closed = threading.Event()

    def endless():
        try:
            n = 0
            while True:
                n += 1
                yield n
        finally:
            closed.set()

    with contextlib.closing(read_ahead(endless(), depth=3)) as items:
        assert [next(items), next(items)] == [1, 2]
    assert closed.is_set(), "the source was closed before closing() returned"
    assert not [t for t in threading.enumerate() if t.name == "read-ahead"], "no read-ahead thread is left"
