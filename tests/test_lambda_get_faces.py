"""get_rekognized_faces: every page, grouped and sorted samples, stored in S3, small reference returned."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

FOLDER = Path(__file__).resolve().parents[1] / "lambdas" / "get_rekognized_faces"
EVENT = json.loads((FOLDER / "events" / "execution_state.json").read_text(encoding="utf-8"))
JOB_ID = EVENT["JobId"]
DETECTIONS_BUCKET = "lambda-lab-detections-123456789012"
METADATA = {
    "Codec": "h264",
    "DurationMillis": 4000,
    "Format": "QuickTime / MOV",
    "FrameRate": 25.0,
    "FrameHeight": 720,
    "FrameWidth": 1280,
    "ColorRange": "LIMITED",
}


def face(ts: int, left: float, confidence: float = 99.5) -> dict:
    return {
        "Timestamp": ts,
        "Face": {
            "BoundingBox": {"Left": left, "Top": 0.25, "Width": 0.12, "Height": 0.2},
            "Confidence": confidence,
            "Landmarks": [{"Type": "eyeLeft", "X": left + 0.03, "Y": 0.3}],
            "Pose": {"Roll": 1.0, "Yaw": -3.0, "Pitch": 2.0},
            "Quality": {"Brightness": 60.0, "Sharpness": 80.0},
        },
    }


@pytest.fixture
def env(monkeypatch, offline_credentials):
    monkeypatch.setenv("DETECTIONS_BUCKET", DETECTIONS_BUCKET)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=DETECTIONS_BUCKET)
        rekognition = boto3.client("rekognition", region_name="us-east-1")
        spec = importlib.util.spec_from_file_location("lambda_get_rekognized_faces_app", FOLDER / "app.py")
        app = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(app)
        monkeypatch.setattr(app, "_clients", lambda: (rekognition, s3))
        with Stubber(rekognition) as stubber:
            yield app, s3, stubber
            stubber.assert_no_pending_responses()


def expect_page(stubber: Stubber, faces: list[dict], next_token: str | None, token_in: str | None) -> None:
    response = {"JobStatus": "SUCCEEDED", "VideoMetadata": METADATA, "Faces": faces}
    if next_token:
        response["NextToken"] = next_token
    params = {"JobId": JOB_ID, "MaxResults": 1000}
    if token_in:
        params["NextToken"] = token_in
    stubber.add_response("get_face_detection", response, params)


def test_collects_all_pages_groups_by_timestamp_and_stores_in_s3(env):
    app, s3, stubber = env
    expect_page(stubber, [face(0, 0.1), face(0, 0.6, 97.0), face(200, 0.11)], "t1", None)
    expect_page(stubber, [face(200, 0.61), face(400, -0.02)], "t2", "t1")  # a face past the left border
    expect_page(stubber, [], None, "t2")

    result = app.handler(EVENT, None)

    key = "faces/my video été.MP4.json"
    assert result == {"Bucket": DETECTIONS_BUCKET, "Key": key, "FaceCount": 5, "SampleCount": 3}
    obj = s3.get_object(Bucket=DETECTIONS_BUCKET, Key=key)
    assert obj["ContentType"] == "application/json"
    stored = json.loads(obj["Body"].read())
    assert stored["JobId"] == JOB_ID
    assert stored["Video"] == {"Bucket": "lambda-lab-input-123456789012", "Key": "my video été.MP4"}
    assert stored["VideoMetadata"] == METADATA
    assert [s["Timestamp"] for s in stored["Samples"]] == [0, 200, 400]
    assert [[b["Left"] for b in s["Boxes"]] for s in stored["Samples"]] == [[0.1, 0.6], [0.11, 0.61], [-0.02]]
    assert stored["Samples"][0]["Boxes"][1] == {
        "Left": 0.6,
        "Top": 0.25,
        "Width": 0.12,
        "Height": 0.2,
        "Confidence": 97.0,
    }


def test_reference_stays_small_when_detections_exceed_the_state_limit(env):
    app, s3, stubber = env
    # 3 pages x 1000 faces: far more than a 256 KiB Step Functions payload once serialised with all fields.
    for page in range(3):
        faces = [face(page * 40_000 + i * 40, 0.1 + (i % 5) * 0.15) for i in range(1000)]
        expect_page(stubber, faces, f"t{page + 1}" if page < 2 else None, f"t{page}" if page else None)

    result = app.handler(EVENT, None)

    assert result["FaceCount"] == 3000 and result["SampleCount"] == 3000
    assert len(json.dumps(result)) < 512
    stored = s3.get_object(Bucket=DETECTIONS_BUCKET, Key=result["Key"])["Body"].read()
    assert len(stored) > 256 * 1024
    assert len(json.loads(stored)["Samples"]) == 3000


def test_video_without_faces_still_writes_an_object(env):
    app, s3, stubber = env
    expect_page(stubber, [], None, None)
    result = app.handler(EVENT, None)
    assert (result["FaceCount"], result["SampleCount"]) == (0, 0)
    assert json.loads(s3.get_object(Bucket=DETECTIONS_BUCKET, Key=result["Key"])["Body"].read())["Samples"] == []


def test_unfinished_job_and_missing_bucket_are_errors(env, monkeypatch):
    app, s3, stubber = env
    stubber.add_response(
        "get_face_detection",
        {"JobStatus": "FAILED", "StatusMessage": "Access denied to S3 object."},
        {"JobId": JOB_ID, "MaxResults": 1000},
    )
    with pytest.raises(RuntimeError, match="FAILED: Access denied"):
        app.handler(EVENT, None)
    assert s3.list_objects_v2(Bucket=DETECTIONS_BUCKET).get("KeyCount") == 0
    monkeypatch.delenv("DETECTIONS_BUCKET")
    with pytest.raises(RuntimeError, match="DETECTIONS_BUCKET is not set"):
        app.handler(EVENT, None)
