"""check_rekognition_job_status: one cheap poll, a stable output shape, errors surface."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

FOLDER = Path(__file__).resolve().parents[1] / "lambdas" / "check_rekognition_job_status"
EVENT = json.loads((FOLDER / "events" / "execution_state.json").read_text(encoding="utf-8"))


@pytest.fixture
def app_and_stubber(monkeypatch):
    spec = importlib.util.spec_from_file_location("lambda_check_job_status_app", FOLDER / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    rekognition = boto3.client(
        "rekognition", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    monkeypatch.setattr(app, "_rekognition", lambda: rekognition)
    with Stubber(rekognition) as stubber:
        yield app, stubber
        stubber.assert_no_pending_responses()


def expect(stubber: Stubber, response: dict) -> None:
    stubber.add_response("get_face_detection", response, {"JobId": EVENT["JobId"], "MaxResults": 1})


def test_in_progress(app_and_stubber):
    app, stubber = app_and_stubber
    expect(stubber, {"JobStatus": "IN_PROGRESS", "Faces": []})
    assert app.handler(EVENT, None) == {"JobStatus": "IN_PROGRESS", "StatusMessage": ""}


def test_succeeded_ignores_the_faces(app_and_stubber):
    app, stubber = app_and_stubber
    expect(
        stubber,
        {
            "JobStatus": "SUCCEEDED",
            "VideoMetadata": {
                "Codec": "h264",
                "DurationMillis": 4000,
                "Format": "QuickTime / MOV",
                "FrameRate": 25.0,
                "FrameHeight": 720,
                "FrameWidth": 1280,
            },
            "Faces": [
                {
                    "Timestamp": 0,
                    "Face": {"BoundingBox": {"Left": 0.1, "Top": 0.2, "Width": 0.1, "Height": 0.2}, "Confidence": 99.9},
                }
            ],
            "NextToken": "page-2",
        },
    )
    assert app.handler(EVENT, None) == {"JobStatus": "SUCCEEDED", "StatusMessage": ""}


def test_failed_carries_rekognitions_message(app_and_stubber):
    app, stubber = app_and_stubber
    expect(stubber, {"JobStatus": "FAILED", "StatusMessage": "Unsupported codec/format.", "Faces": []})
    assert app.handler(EVENT, None) == {"JobStatus": "FAILED", "StatusMessage": "Unsupported codec/format."}


def test_unknown_job_raises(app_and_stubber):
    app, stubber = app_and_stubber
    stubber.add_client_error("get_face_detection", "ResourceNotFoundException", "The job does not exist.")
    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        app.handler(EVENT, None)
