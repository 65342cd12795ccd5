"""The DynamoDB Streams exercise end to end on the local target: stream → Lambda → SNS → SQS."""

from __future__ import annotations

import concurrent.futures
import json

import pytest
from deploy_support import PREFIX, clean_env  # noqa: F401

from lambdalab.deploy import deploy_songs, teardown
from lambdalab.deploy.target import connect
from lambdalab.localaws import local_aws
from lambdalab.messaging import drain_queue
from lambdalab.viz.logs import wait_for_log_lines


@pytest.fixture
def songs(clean_env):
    with local_aws():
        target = connect("local")
        deployment = deploy_songs(target, prefix=PREFIX, verbose=False)
        yield target, deployment
        assert teardown(PREFIX, target, verbose=False).complete


def test_twenty_concurrent_songs_make_exactly_twenty_messages(songs):
    target, deployment = songs
    dynamodb, sqs = target.client("dynamodb"), target.client("sqs")
    titles = {f"Artist {i:02d}": f"Song {i:02d}" for i in range(20)}

    def put(artist: str) -> None:
        dynamodb.put_item(TableName=deployment.table_name,
                          Item={"Artist": {"S": artist}, "SongTitle": {"S": titles[artist]}})

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(put, titles))
    messages = drain_queue(sqs, deployment.queue_url, expected=20, timeout_seconds=90)
    # Nothing more arrives after the twenty (no redelivered stream records).
    messages += drain_queue(sqs, deployment.queue_url, expected=0, timeout_seconds=3)
    assert len(messages) == 20
    assert sorted(m["Subject"] for m in messages) == sorted(f"A new song from {a}" for a in titles)
    assert sorted(m["Message"] for m in messages) == sorted(f"The song is: {t}" for t in titles.values())
    assert all(m["MessageAttributes"]["Artist"]["Value"] in titles for m in messages)

    # Updates and deletes reach the function (it logs them) but announce nothing.
    for artist in list(titles)[:3]:
        key = {"Artist": {"S": artist}, "SongTitle": {"S": titles[artist]}}
        dynamodb.update_item(TableName=deployment.table_name, Key=key, UpdateExpression="SET Plays = :n",
                             ExpressionAttributeValues={":n": {"N": "1"}})
        dynamodb.delete_item(TableName=deployment.table_name, Key=key)
    logs = target.client("logs")
    function = deployment.function_arn.rsplit(":", 1)[1]
    seen = wait_for_log_lines(logs, function, lambda line: line.startswith("{"), count=26, timeout_seconds=90)
    events = [json.loads(line)["eventName"] for line in seen]
    assert events.count("INSERT") == 20 and events.count("MODIFY") == 3 and events.count("REMOVE") == 3
    assert drain_queue(sqs, deployment.queue_url, expected=0, timeout_seconds=3) == []
