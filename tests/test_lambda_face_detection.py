"""face_detection: every S3 record, decoded keys, output skipped, idempotent starts, loud failures."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "lambdas" / "face_detection"
INPUT_BUCKET = "lambda-lab-input-123456789012"
OUTPUT_BUCKET = "lambda-lab-output-123456789012"


def load_app():
    spec = importlib.util.spec_from_file_location("lambda_face_detection_app", FOLDER / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sample_event(name: str) -> dict:
    return json.loads((FOLDER / "events" / name).read_text(encoding="utf-8"))


@pytest.fixture
def aws_env(monkeypatch, offline_credentials):
    monkeypatch.setenv("OUTPUT_BUCKET", OUTPUT_BUCKET)
    monkeypatch.delenv("OUTPUT_PREFIX", raising=False)
    monkeypatch.setenv("POLL_INTERVAL_SECONDS", "7")


@pytest.fixture
def pipeline(aws_env, monkeypatch):
    """The app wired to moto Step Functions (real state machine definition) and a stubbed Rekognition."""
    with mock_aws():
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        definition = (ROOT / "state_machine.json").read_text()
        for placeholder in ("CheckJobStatusArn", "GetRekognizedFacesArn", "BlurFacesArn"):
            definition = definition.replace(
                "${%s}" % placeholder, f"arn:aws:lambda:us-east-1:123456789012:function:{placeholder}"
            )
        arn = sfn.create_state_machine(
            name="lambda-lab-face-blur",
            definition=definition,
            roleArn="arn:aws:iam::123456789012:role/lambda-lab-state-machine",
        )["stateMachineArn"]
        monkeypatch.setenv("STATE_MACHINE_ARN", arn)
        rekognition = boto3.client("rekognition", region_name="us-east-1")
        requests: list[dict] = []
        rekognition.meta.events.register(
            "provide-client-params.rekognition.StartFaceDetection", lambda params, **_: requests.append(dict(params))
        )
        app = load_app()
        monkeypatch.setattr(app, "_clients", lambda: (rekognition, sfn))
        with Stubber(rekognition) as stubber:
            yield app, sfn, arn, stubber, requests
            stubber.assert_no_pending_responses()


def expect_start(stubber: Stubber, key: str, job_id: str, bucket: str = INPUT_BUCKET) -> None:
    stubber.add_response(
        "start_face_detection",
        {"JobId": job_id},
        {"Video": {"S3Object": {"Bucket": bucket, "Name": key}}, "ClientRequestToken": ANY, "JobTag": ANY},
    )


def executions(sfn, arn: str) -> list[dict]:
    return sfn.list_executions(stateMachineArn=arn)["executions"]


KEY_1 = "my video été.MP4"
KEY_2 = "uploads/class 2025/Group photo (1).mov"


def test_every_video_record_starts_one_job_and_one_execution(pipeline):
    app, sfn, arn, stubber, requests = pipeline
    expect_start(stubber, KEY_1, "job-1")
    expect_start(stubber, KEY_2, "job-2")

    result = app.handler(sample_event("s3_put_videos.json"), None)

    assert [(s["bucket"], s["key"], s["jobId"]) for s in result["started"]] == [
        (INPUT_BUCKET, KEY_1, "job-1"),
        (INPUT_BUCKET, KEY_2, "job-2"),
    ]
    assert result["skipped"] == [
        {"bucket": INPUT_BUCKET, "key": "notes/readme.txt", "reason": "not a video (.mp4/.mov)"}
    ]
    runs = executions(sfn, arn)
    assert sorted(r["executionArn"] for r in runs) == sorted(s["executionArn"] for s in result["started"])
    inputs = {}
    for run in runs:
        assert len(run["name"]) <= 80 and re.fullmatch(r"[A-Za-z0-9_-]+", run["name"])
        described = sfn.describe_execution(executionArn=run["executionArn"])
        inputs[run["name"]] = json.loads(described["input"])
    assert sorted(inputs.values(), key=lambda i: i["JobId"]) == [
        {
            "JobId": "job-1",
            "Video": {"Bucket": INPUT_BUCKET, "Key": KEY_1, "ETag": "d41d8cd98f00b204e9800998ecf8427e"},
            "PollIntervalSeconds": 7,
        },
        {
            "JobId": "job-2",
            "Video": {"Bucket": INPUT_BUCKET, "Key": KEY_2, "ETag": "9b2cf535f27731c974343645a3985328"},
            "PollIntervalSeconds": 7,
        },
    ]
    tokens = [r["ClientRequestToken"] for r in requests]
    assert len(set(tokens)) == 2
    for token in tokens:
        assert 1 <= len(token) <= 64 and re.fullmatch(r"[a-zA-Z0-9_-]+", token)
    assert all(re.fullmatch(r"[a-zA-Z0-9_.\-:+=/]{1,1024}", r["JobTag"]) for r in requests)


def test_duplicate_event_starts_nothing_twice(pipeline):
    app, sfn, arn, stubber, requests = pipeline
    event = {"Records": sample_event("s3_put_videos.json")["Records"][:1]}
    for _ in range(3):  # Rekognition answers the same token with the same JobId
        expect_start(stubber, KEY_1, "job-1")

    first = app.handler(event, None)
    # While the execution runs, the same name and input return the same execution (AWS and moto agree).
    second = app.handler(event, None)
    assert second["started"] == first["started"]
    sfn.stop_execution(executionArn=first["started"][0]["executionArn"])
    third = app.handler(event, None)

    assert third["started"] == []
    assert third["skipped"] == [
        {"bucket": INPUT_BUCKET, "key": KEY_1, "reason": "duplicate event: execution already exists"}
    ]
    assert len(executions(sfn, arn)) == 1
    assert len({r["ClientRequestToken"] for r in requests}) == 1


def test_new_upload_of_same_key_is_a_new_run(pipeline):
    app, sfn, arn, stubber, requests = pipeline
    event = {"Records": sample_event("s3_put_videos.json")["Records"][:1]}
    changed = json.loads(json.dumps(event))
    changed["Records"][0]["s3"]["object"]["eTag"] = "0cc175b9c0f1b6a831c399e269772661"
    expect_start(stubber, KEY_1, "job-1")
    expect_start(stubber, KEY_1, "job-1b")

    app.handler(event, None)
    app.handler(changed, None)

    assert len(executions(sfn, arn)) == 2
    assert requests[0]["ClientRequestToken"] != requests[1]["ClientRequestToken"]


def test_output_location_is_skipped_so_results_never_loop(pipeline, monkeypatch):
    app, sfn, arn, stubber, _ = pipeline
    result = app.handler(sample_event("s3_put_output_object.json"), None)
    assert result == {
        "started": [],
        "skipped": [{"bucket": OUTPUT_BUCKET, "key": "blurred/my video été.MP4", "reason": "in the output location"}],
    }

    # Same bucket for input and output: only the output prefix is skipped.
    monkeypatch.setenv("OUTPUT_BUCKET", INPUT_BUCKET)
    monkeypatch.setenv("OUTPUT_PREFIX", "done/")
    event = sample_event("s3_put_videos.json")
    event["Records"][1]["s3"]["object"]["key"] = "done/Group+photo.mov"
    expect_start(stubber, KEY_1, "job-1")
    result = app.handler(event, None)
    assert [s["key"] for s in result["started"]] == [KEY_1]
    assert [(s["key"], s["reason"]) for s in result["skipped"]] == [
        ("done/Group photo.mov", "in the output location"),
        ("notes/readme.txt", "not a video (.mp4/.mov)"),
    ]
    assert len(executions(sfn, arn)) == 1


def test_one_failing_record_does_not_stop_the_others_and_is_not_swallowed(pipeline):
    app, sfn, arn, stubber, _ = pipeline
    stubber.add_client_error(
        "start_face_detection",
        service_error_code="InvalidS3ObjectException",
        service_message="Unable to get object metadata from S3.",
    )
    expect_start(stubber, KEY_2, "job-2")

    with pytest.raises(app.RecordsFailed, match="InvalidS3ObjectException"):
        app.handler(sample_event("s3_put_videos.json"), None)

    [run] = executions(sfn, arn)
    assert json.loads(sfn.describe_execution(executionArn=run["executionArn"])["input"])["Video"]["Key"] == KEY_2


def test_missing_state_machine_arn_is_a_clear_error(pipeline, monkeypatch):
    app, *_ = pipeline
    monkeypatch.delenv("STATE_MACHINE_ARN")
    with pytest.raises(app.RecordsFailed, match="STATE_MACHINE_ARN is not set"):
        app.handler(sample_event("s3_put_videos.json"), None)


def test_poll_interval_defaults_to_5_and_rejects_nonsense(aws_env, monkeypatch):
    app = load_app()
    monkeypatch.delenv("POLL_INTERVAL_SECONDS")
    assert app.poll_interval_seconds() == 5
    monkeypatch.setenv("POLL_INTERVAL_SECONDS", "soon")
    with pytest.raises(ValueError, match="POLL_INTERVAL_SECONDS"):
        app.poll_interval_seconds()


def test_execution_names_are_short_safe_and_distinct():
    app = load_app()
    long_key = "folder/" + "très long nom de vidéo avec des espaces " * 5 + ".mp4"
    name_a = app.execution_name(long_key, "a" * 64)
    name_b = app.execution_name(long_key, "b" * 64)
    for name in (name_a, name_b, app.execution_name("ééé.mp4", "c" * 64)):
        assert 1 <= len(name) <= 80 and re.fullmatch(r"[A-Za-z0-9_-]+", name)
    assert name_a != name_b
