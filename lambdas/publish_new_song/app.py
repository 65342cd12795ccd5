"""DynamoDB stream (NEW_AND_OLD_IMAGES) -> one SNS message per newly inserted song.

INSERT records publish ``Subject: "A new song from <Artist>"`` / ``Message: "The song is: <SongTitle>"``
to ``$TOPIC_ARN``, with Artist and SongTitle also as message attributes (subscribers can filter on
them). MODIFY and REMOVE are logged and skipped.

A record that cannot be handled (missing or non-string Artist/SongTitle, or a failed publish) does
not stop the batch: the others are still processed and the bad one is reported in
``{"batchItemFailures": [{"itemIdentifier": <SequenceNumber>}]}`` (the event source mapping needs
``FunctionResponseTypes=["ReportBatchItemFailures"]``). On a stream, Lambda resumes from the lowest
reported sequence number, so records after it are delivered again: give the mapping a small
``MaximumRetryAttempts``, ``BisectBatchOnFunctionError`` and an on-failure destination.

Every record seen is logged as one JSON line (level, eventName, keys, sequence number, outcome) so
CloudWatch Logs shows exactly what the stream delivered.
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any

import boto3
from boto3.dynamodb.types import TypeDeserializer

_deserializer = TypeDeserializer()


@functools.cache
def _sns() -> Any:
    return boto3.client("sns")


class MalformedRecord(ValueError):
    """The record lacks a usable Artist/SongTitle; retrying will not fix it, so it is reported."""


def handler(event: dict[str, Any], context: Any = None) -> dict[str, list[dict[str, str]]]:
    topic_arn = os.environ.get("TOPIC_ARN")
    if not topic_arn:
        raise RuntimeError("TOPIC_ARN is not set: put the SNS topic ARN in the function's environment")
    failures: list[dict[str, str]] = []
    for record in event.get("Records", []):
        sequence_number = record["dynamodb"]["SequenceNumber"]
        try:
            outcome = handle_record(record, topic_arn)
        except Exception as exc:  # one bad record must not hide the rest of the batch
            outcome = f"failed: {type(exc).__name__}: {exc}"
            failures.append({"itemIdentifier": sequence_number})
        log_record(record, outcome)
    return {"batchItemFailures": failures}


def handle_record(record: dict[str, Any], topic_arn: str) -> str:
    if record.get("eventName") != "INSERT":
        return "skipped"
    artist, title = song_of(record)
    message_id = publish_song(topic_arn, artist, title)
    return f"published {message_id}"


def song_of(record: dict[str, Any]) -> tuple[str, str]:
    """(Artist, SongTitle) from the record's NewImage, as plain strings."""
    try:
        image = {k: _deserializer.deserialize(v) for k, v in record["dynamodb"]["NewImage"].items()}
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise MalformedRecord(f"no readable NewImage ({exc!r})") from exc
    values = []
    for name in ("Artist", "SongTitle"):
        value = image.get(name)
        if not isinstance(value, str) or not value.strip():
            raise MalformedRecord(f"{name} must be a non-empty string, got {value!r}")
        values.append(value)
    return values[0], values[1]


def publish_song(topic_arn: str, artist: str, title: str) -> str:
    # SNS subjects: no line breaks or control characters, under 100 characters.
    subject = "".join(c if c.isprintable() else " " for c in f"A new song from {artist}")[:99]
    response = _sns().publish(
        TopicArn=topic_arn,
        Subject=subject,
        Message=f"The song is: {title}",
        MessageAttributes={
            "Artist": {"DataType": "String", "StringValue": artist},
            "SongTitle": {"DataType": "String", "StringValue": title},
        },
    )
    return response["MessageId"]


def log_record(record: dict[str, Any], outcome: str) -> None:
    ddb = record.get("dynamodb", {})
    try:
        keys = {k: _deserializer.deserialize(v) for k, v in ddb.get("Keys", {}).items()}
    except Exception:  # log what arrived even when it is not valid DynamoDB JSON
        keys = ddb.get("Keys")
    line = {
        # ERROR for a record reported as failed: what log filters and the notebook's waits look for.
        "level": "ERROR" if outcome.startswith("failed") else "INFO",
        "eventName": record.get("eventName"),
        "keys": keys,
        "sequenceNumber": ddb.get("SequenceNumber"),
        "outcome": outcome,
    }
    print(json.dumps(line, default=str, ensure_ascii=False))
