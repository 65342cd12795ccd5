"""The DynamoDB Streams exercise end to end on the local target: stream → Lambda → SNS → SQS.

The songs system is deployed by running notebook 04 (its one implementation) up to its clean-up
cell, with the reference handler; the test then loads it far beyond what the notebook does.
Absence ("nothing else arrived") is proven causally: a marker song written after the records that
must not announce anything arrives alone, and stream order puts it behind them.
"""

from __future__ import annotations

import concurrent.futures
import json
import re

import pytest

from lambdalab.deploy import teardown
from lambdalab.deploy.naming import Names
from lambdalab.deploy.target import connect
from lambdalab.messaging import drain_queue
from lambdalab.notebook_run import run_notebook
from lambdalab.viz.logs import wait_for_log_lines

PREFIX = "lab-songs-5e2e"


@pytest.fixture
def songs(local_endpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("LAMBDALAB_HOME", str(tmp_path))  # the notebook's session file, not the user's
    run_notebook("04_dynamodb_streams_sns", {"TARGET": "local", "PREFIX": PREFIX}, stop_before_tag="clean-up")
    target = connect("local")
    yield target, Names(PREFIX, target.account)
    assert teardown(PREFIX, target, verbose=False).complete


def _put(dynamodb, table: str, artist: str, title: str) -> None:
    dynamodb.put_item(TableName=table, Item={"Artist": {"S": artist}, "SongTitle": {"S": title}})


def test_twenty_concurrent_songs_make_exactly_twenty_messages(songs):
    target, names = songs
    dynamodb, sqs = target.client("dynamodb"), target.client("sqs")
    queue_url = sqs.get_queue_url(QueueName=names.queue)["QueueUrl"]
    titles = {f"Artist {i:02d}": f"Song {i:02d}" for i in range(20)}

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda artist: _put(dynamodb, names.table, artist, titles[artist]), titles))
    messages = drain_queue(sqs, queue_url, expected=20, timeout_seconds=90)
    # No redelivered stream record announces twice: a marker written after all twenty arrives alone.
    _put(dynamodb, names.table, "Marker One", "After the twenty")
    messages += drain_queue(sqs, queue_url, expected=1, timeout_seconds=90)
    assert [m["Subject"] for m in messages[20:]] == ["A new song from Marker One"]
    messages = messages[:20]
    assert sorted(m["Subject"] for m in messages) == sorted(f"A new song from {a}" for a in titles)
    assert sorted(m["Message"] for m in messages) == sorted(f"The song is: {t}" for t in titles.values())
    assert all(m["MessageAttributes"]["Artist"]["Value"] in titles for m in messages)

    # Updates and deletes reach the function (it logs them) but announce nothing: the next marker,
    # written after them, is the only message.
    for artist in list(titles)[:3]:
        key = {"Artist": {"S": artist}, "SongTitle": {"S": titles[artist]}}
        dynamodb.update_item(
            TableName=names.table,
            Key=key,
            UpdateExpression="SET Plays = :n",
            ExpressionAttributeValues={":n": {"N": "1"}},
        )
        dynamodb.delete_item(TableName=names.table, Key=key)
    _put(dynamodb, names.table, "Marker Two", "After the changes")
    assert [m["Subject"] for m in drain_queue(sqs, queue_url, expected=1, timeout_seconds=90)] == [
        "A new song from Marker Two"
    ]
    ours = re.compile(r'"Artist \d\d"')
    seen = wait_for_log_lines(
        target.client("logs"),
        names.function("publish_new_song"),
        lambda line: line.startswith("{") and bool(ours.search(line)),
        count=26,
        timeout_seconds=90,
    )
    events = [json.loads(line)["eventName"] for line in seen]
    assert events.count("INSERT") == 20 and events.count("MODIFY") == 3 and events.count("REMOVE") == 3
