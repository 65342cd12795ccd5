"""The blur_faces Lambda handler against moto's in-process S3.

The handler is called directly with the Step Functions state it receives in the pipeline. Checked:
the blurred video lands at OUTPUT_PREFIX + input key with ContentType video/mp4 and the documented
return shape; every failure raises and leaves the output bucket empty; /tmp is cleaned either way.
"""

from __future__ import annotations

import json
import tempfile
from fractions import Fraction

import av
import boto3
import cv2
import numpy as np
import pytest
from blur_faces_loading import load_app
from blur_video_synth import ClipSpec, FaceTrack, detections_doc, make_clip, truth_boxes
from botocore.exceptions import ClientError
from moto import mock_aws

app = load_app()

IN, OUT, DET = "lab-input", "lab-output", "lab-detections"
KEY = "uploads/my video été.mp4"
SPEC = ClipSpec(
    width=192,
    height=144,
    rate=Fraction(30000, 1001),
    frames=30,
    audio=True,
    faces=(FaceTrack((-20, 30), (120, 50), (48, 56), seed=11), FaceTrack((150, 90), (160, 100), (40, 48), seed=12)),
)


class FakeContext:
    function_name = "blur_faces"
    aws_request_id = "00000000-0000-0000-0000-000000000000"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 300_000


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(tmp_path_factory.mktemp("clip") / "in.mp4", SPEC).read_bytes()


@pytest.fixture
def scratch(tmp_path, monkeypatch):
    """The handler's temporary directory parent, to check it is left empty."""
    d = tmp_path / "scratch"
    d.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    return d


@pytest.fixture
def s3(monkeypatch, clip, scratch, offline_credentials):
    monkeypatch.setenv("OUTPUT_BUCKET", OUT)
    monkeypatch.delenv("OUTPUT_PREFIX", raising=False)
    with mock_aws():
        client = boto3.client("s3")
        for bucket in (IN, OUT, DET):
            client.create_bucket(Bucket=bucket)
        yield client


def _state(s3, video: bytes, detections: dict | None = None) -> dict:
    """Upload a video and its detections object; return the state the BlurFaces task receives."""
    etag = s3.put_object(Bucket=IN, Key=KEY, Body=video)["ETag"].strip('"')
    doc = detections if detections is not None else detections_doc(SPEC, key=KEY)
    s3.put_object(Bucket=DET, Key=f"faces/{KEY}.json", Body=json.dumps(doc), ContentType="application/json")
    return {
        "JobId": "job-1",
        "Video": {"Bucket": IN, "Key": KEY, "ETag": etag},
        "PollIntervalSeconds": 5,
        "Job": {"JobStatus": "SUCCEEDED"},
        "Faces": {
            "Bucket": DET,
            "Key": f"faces/{KEY}.json",
            "FaceCount": sum(len(s["Boxes"]) for s in doc.get("Samples", [])),
            "SampleCount": len(doc.get("Samples", [])),
        },
    }


def _output_keys(s3) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=OUT).get("Contents", [])]


def test_blurs_the_video_into_the_output_bucket(s3, clip, scratch, tmp_path):
    state = _state(s3, clip)
    result = app.handler(state, FakeContext())
    assert result == {
        "Bucket": OUT,
        "Key": f"blurred/{KEY}",
        "Frames": SPEC.frames,
        "FacesBlurred": state["Faces"]["FaceCount"],
    }
    assert _output_keys(s3) == [f"blurred/{KEY}"]
    assert s3.head_object(Bucket=OUT, Key=f"blurred/{KEY}")["ContentType"] == "video/mp4"
    out = tmp_path / "out.mp4"
    s3.download_file(OUT, f"blurred/{KEY}", str(out))
    before = tmp_path / "in.mp4"
    before.write_bytes(clip)
    with av.open(str(out)) as o, av.open(str(before)) as i:
        assert o.streams.video[0].codec_context.name == "h264"
        assert len(o.streams.audio) == 1
        pairs = list(zip(i.decode(video=0), o.decode(video=0)))
    assert len(pairs) == SPEC.frames
    lap = lambda g, r: cv2.Laplacian(g.astype(np.float32), cv2.CV_32F)[r[1] + 1 : r[3] - 1, r[0] + 1 : r[2] - 1].var()  # noqa: E731
    for index, (a, b) in enumerate(pairs):
        ga, gb = a.to_ndarray(format="gray"), b.to_ndarray(format="gray")
        for rect in truth_boxes(SPEC, index):
            if rect[2] - rect[0] >= 8:
                assert lap(gb, rect) <= 0.1 * lap(ga, rect), (index, rect)
    assert list(scratch.iterdir()) == []


def test_output_prefix_is_configurable(s3, clip, monkeypatch):
    monkeypatch.setenv("OUTPUT_PREFIX", "out/v1/")
    assert app.handler(_state(s3, clip), FakeContext())["Key"] == f"out/v1/{KEY}"
    assert _output_keys(s3) == [f"out/v1/{KEY}"]


def test_a_video_without_faces_is_still_delivered(s3, clip):
    result = app.handler(_state(s3, clip, {"Video": {"Bucket": IN, "Key": KEY}, "Samples": []}), FakeContext())
    assert result["FacesBlurred"] == 0 and result["Frames"] == SPEC.frames
    assert _output_keys(s3) == [f"blurred/{KEY}"]


def test_missing_output_bucket_is_a_clear_error(s3, clip, monkeypatch):
    monkeypatch.delenv("OUTPUT_BUCKET")
    with pytest.raises(RuntimeError, match="OUTPUT_BUCKET"):
        app.handler(_state(s3, clip), FakeContext())


def test_writing_into_the_input_bucket_is_refused(s3, clip, monkeypatch):
    """face_detection fires on every .mp4 in the input bucket: the output would loop forever."""
    monkeypatch.setenv("OUTPUT_BUCKET", IN)
    with pytest.raises(RuntimeError, match="input bucket"):
        app.handler(_state(s3, clip), FakeContext())
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=IN)["Contents"]] == [KEY]


def test_missing_detections_object_raises_and_uploads_nothing(s3, clip, scratch):
    state = _state(s3, clip)
    s3.delete_object(Bucket=DET, Key=state["Faces"]["Key"])
    with pytest.raises(ClientError, match="NoSuchKey"):
        app.handler(state, FakeContext())
    assert _output_keys(s3) == []
    assert list(scratch.iterdir()) == []


def test_corrupt_video_raises_and_uploads_nothing(s3, scratch):
    with pytest.raises((av.FFmpegError, RuntimeError)):
        app.handler(_state(s3, b"\x00\x00\x00\x18ftypisom" + b"garbage" * 500), FakeContext())
    assert _output_keys(s3) == []
    assert list(scratch.iterdir()) == []


def test_truncated_video_raises_and_uploads_nothing(s3, clip, tmp_path):
    """A partial upload: blurring what decodes would deliver a partial video as a success."""
    whole = tmp_path / "whole.mp4"
    whole.write_bytes(clip)
    faststart = tmp_path / "faststart.mp4"
    with av.open(str(whole)) as i, av.open(str(faststart), "w", options={"movflags": "+faststart"}) as o:
        streams = {s.index: o.add_stream_from_template(s) for s in i.streams}
        for packet in i.demux():
            if packet.size:
                packet.stream = streams[packet.stream.index]
                o.mux(packet)
    data = faststart.read_bytes()
    with pytest.raises(RuntimeError, match="truncated"):
        app.handler(_state(s3, data[: len(data) * 3 // 4]), FakeContext())
    assert _output_keys(s3) == []


def test_video_replaced_since_detection_is_refused(s3, clip):
    """The ETag in the state pins the object Rekognition analysed."""
    state = _state(s3, clip)
    s3.put_object(Bucket=IN, Key=KEY, Body=clip + b"\x00")
    with pytest.raises(ClientError, match="PreconditionFailed"):
        app.handler(state, FakeContext())
    assert _output_keys(s3) == []


def test_detections_of_another_video_are_refused(s3, clip):
    doc = detections_doc(SPEC, key="uploads/other.mp4")
    with pytest.raises(RuntimeError, match="other.mp4"):
        app.handler(_state(s3, clip, doc), FakeContext())
    assert _output_keys(s3) == []


def test_the_lambda_imports_nothing_from_lambdalab():
    from blur_faces_loading import LAMBDA_DIR

    sources = [p.read_text() for p in LAMBDA_DIR.rglob("*.py")]
    assert sources and not any("lambdalab" in s for s in sources)
