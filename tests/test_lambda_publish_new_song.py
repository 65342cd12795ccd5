"""publish_new_song: INSERTs become SNS messages, MODIFY/REMOVE are skipped, bad records are reported."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

FOLDER = Path(__file__).resolve().parents[1] / "lambdas" / "publish_new_song"
BATCH = json.loads((FOLDER / "events" / "dynamodb_stream_batch.json").read_text(encoding="utf-8"))


def load_app():
    spec = importlib.util.spec_from_file_location("lambda_publish_new_song_app", FOLDER / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def sns_to_sqs(monkeypatch, offline_credentials):
    """A moto SNS topic with an SQS subscriber (the notebook's offline stand-in for email)."""
    with mock_aws():
        sns = boto3.client("sns", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        topic_arn = sns.create_topic(Name="new-songs")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="new-songs-inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        monkeypatch.setenv("TOPIC_ARN", topic_arn)
        app = load_app()
        yield app, sqs, queue_url


def received(sqs, queue_url: str) -> list[dict]:
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def log_lines(captured: str) -> list[dict]:
    return [json.loads(line) for line in captured.splitlines() if line.startswith("{")]


def test_inserts_are_published_others_skipped_malformed_reported(sns_to_sqs, capsys):
    app, sqs, queue_url = sns_to_sqs

    result = app.handler(copy.deepcopy(BATCH), None)

    # Record 4 is a KEYS_ONLY record: no NewImage, so no song to announce.
    assert result == {"batchItemFailures": [{"itemIdentifier": "111000000000000000004"}]}
    notes = sorted(received(sqs, queue_url), key=lambda n: n["Subject"])
    assert [(n["Subject"], n["Message"]) for n in notes] == [
        ("A new song from Beyoncé", "The song is: Déjà Vu"),
        ("A new song from No One You Know", "The song is: Call Me Today"),
    ]
    assert notes[1]["MessageAttributes"] == {
        "Artist": {"Type": "String", "Value": "No One You Know"},
        "SongTitle": {"Type": "String", "Value": "Call Me Today"},
    }
    lines = log_lines(capsys.readouterr().out)
    assert [(line["eventName"], line["sequenceNumber"]) for line in lines] == [
        (r["eventName"], r["dynamodb"]["SequenceNumber"]) for r in BATCH["Records"]
    ]
    assert lines[1]["keys"] == {"Artist": "Acme Band", "SongTitle": "Happy Day"}
    assert [line["outcome"].split(" ")[0].rstrip(":") for line in lines] == [
        "published",
        "skipped",
        "skipped",
        "failed",
        "published",
    ]


@pytest.mark.parametrize(
    "new_image",
    [
        {"Artist": {"S": "Acme Band"}},  # SongTitle missing
        {"Artist": {"N": "7"}, "SongTitle": {"S": "Happy Day"}},  # wrong type
        {"Artist": {"S": "  "}, "SongTitle": {"S": "Happy Day"}},  # blank
        {"Artist": {"X": "?"}, "SongTitle": {"S": "Happy Day"}},  # not DynamoDB JSON
        "not-a-map",
    ],
)
def test_each_kind_of_malformed_insert_is_reported_and_the_batch_goes_on(sns_to_sqs, new_image):
    app, sqs, queue_url = sns_to_sqs
    event = copy.deepcopy(BATCH)
    bad, good = event["Records"][0], event["Records"][4]
    bad["dynamodb"]["NewImage"] = new_image
    event["Records"] = [bad, good]

    result = app.handler(event, None)

    assert result == {"batchItemFailures": [{"itemIdentifier": bad["dynamodb"]["SequenceNumber"]}]}
    assert [n["Subject"] for n in received(sqs, queue_url)] == ["A new song from Beyoncé"]


def test_publish_failure_is_reported_not_swallowed(sns_to_sqs, monkeypatch):
    app, sqs, queue_url = sns_to_sqs
    monkeypatch.setenv("TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:no-such-topic")
    result = app.handler(copy.deepcopy(BATCH), None)
    assert result == {
        "batchItemFailures": [
            {"itemIdentifier": s} for s in ("111000000000000000001", "111000000000000000004", "111000000000000000005")
        ]
    }
    assert received(sqs, queue_url) == []


def test_modify_and_remove_only_publish_nothing(sns_to_sqs):
    app, sqs, queue_url = sns_to_sqs
    event = {"Records": copy.deepcopy(BATCH["Records"][1:3])}
    assert app.handler(event, None) == {"batchItemFailures": []}
    assert received(sqs, queue_url) == []


def test_long_artist_names_fit_the_sns_subject_limit(sns_to_sqs):
    app, sqs, queue_url = sns_to_sqs
    event = {"Records": copy.deepcopy(BATCH["Records"][:1])}
    event["Records"][0]["dynamodb"]["NewImage"]["Artist"] = {"S": "The Very\nLong Band " * 10}
    assert app.handler(event, None) == {"batchItemFailures": []}
    [note] = received(sqs, queue_url)
    assert len(note["Subject"]) < 100 and "\n" not in note["Subject"]
    assert note["MessageAttributes"]["Artist"]["Value"] == "The Very\nLong Band " * 10


def test_missing_topic_arn_is_a_clear_error(sns_to_sqs, monkeypatch):
    app, *_ = sns_to_sqs
    monkeypatch.delenv("TOPIC_ARN")
    with pytest.raises(RuntimeError, match="TOPIC_ARN is not set"):
        app.handler(copy.deepcopy(BATCH), None)
