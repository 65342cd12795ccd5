"""Every trigger reaches the real handler, asynchronously where AWS is asynchronous."""

from __future__ import annotations

import concurrent.futures
import json
import time
import uuid

import pytest

from conftest import RECORDER, open_gate


def _records(aws, function_name: str) -> list[dict]:
    logs = aws("logs")
    try:
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{function_name}")["events"]
    except logs.exceptions.ResourceNotFoundException:
        events = []
    ordered = sorted(events, key=lambda e: e["timestamp"])
    return [json.loads(e["message"][5:]) for e in ordered if e["message"].startswith("SEEN ")]


def seen_until(aws, function_name: str, *expected, timeout: float = 30) -> list[dict]:
    """The records the function has seen, read once every `expected` predicate matches one."""
    deadline = time.monotonic() + timeout
    records: list[dict] = []
    while time.monotonic() < deadline:
        records = _records(aws, function_name)
        if all(any(match(r) for r in records) for match in expected):
            return records
        time.sleep(0.1)
    raise AssertionError(f"{function_name}: not every expected record among the {len(records)} seen: {records}")


# "Nothing else arrived", proven without waiting a fixed time. S3 notifications, SNS deliveries and
# SQS polls are queued on the embedded AWS's first-in first-out pool of POOL_SIZE threads while the
# request that causes them is handled. Once POOL_SIZE blocking invocations queued after them are
# all running at once, every thread is theirs: all work queued earlier, wrongly caused or not, has
# finished, logs included. (A DynamoDB stream is delivered in order by one thread: a marker record
# written last proves the same for it.)
POOL_SIZE = 8
BARRIER = """
import boto3, os, time
def handler(event, context):
    s3 = boto3.client("s3")
    s3.put_object(Bucket=os.environ["GATE_BUCKET"], Key=f"running/{event['i']}", Body=b"")
    while not s3.list_objects_v2(Bucket=os.environ["GATE_BUCKET"], Prefix="open").get("KeyCount"):
        time.sleep(0.1)
"""


def test_the_barrier_fills_the_whole_pool():
    from lambdalab.localaws import async_pool

    assert async_pool.WORKERS == POOL_SIZE


def settled(aws, make_function, gate_bucket: str) -> None:
    """Return once everything queued on the asynchronous pool before this call has finished."""
    name = make_function(BARRIER, env={"GATE_BUCKET": gate_bucket}, timeout=30)
    for i in range(POOL_SIZE):
        aws("lambda").invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"i": i}))
    s3, deadline = aws("s3"), time.monotonic() + 60
    while s3.list_objects_v2(Bucket=gate_bucket, Prefix="running/").get("KeyCount", 0) < POOL_SIZE:
        assert time.monotonic() < deadline, "the barrier never held the whole pool"
        time.sleep(0.1)
    open_gate(aws, gate_bucket)


@pytest.fixture()
def barrier_gate(aws):
    bucket = f"barrier-{uuid.uuid4().hex[:8]}"
    aws("s3").create_bucket(Bucket=bucket)
    return bucket


def _s3_key(record: dict) -> str:
    return record["s3"]["object"]["key"]


def test_s3_notification_filters_and_does_not_block(aws, make_function, gate, barrier_gate):
    s3, lam = aws("s3"), aws("lambda")
    name = make_function(RECORDER, env={"GATE_BUCKET": gate}, timeout=15)
    bucket = f"in-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [
                {
                    "LambdaFunctionArn": arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {
                        "Key": {
                            "FilterRules": [{"Name": "prefix", "Value": "videos/"}, {"Name": "suffix", "Value": ".mp4"}]
                        }
                    },
                }
            ]
        },
    )
    s3.put_object(Bucket=bucket, Key="videos/my clip.mp4", Body=b"x")
    s3.put_object(Bucket=bucket, Key="videos/notes.txt", Body=b"x")
    s3.put_object(Bucket=bucket, Key="other/clip.mp4", Body=b"x")
    open_gate(aws, gate)
    seen_until(aws, name, lambda r: _s3_key(r) == "videos/my+clip.mp4")
    settled(aws, make_function, barrier_gate)
    records = _records(aws, name)
    assert [_s3_key(r) for r in records] == ["videos/my+clip.mp4"]
    assert records[0]["eventName"].startswith("ObjectCreated:")


def test_multipart_upload_notifies_once(aws, make_function, barrier_gate):
    s3, lam = aws("s3"), aws("lambda")
    name = make_function(RECORDER)
    bucket = f"mp-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "LambdaFunctionConfigurations": [{"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}]
        },
    )
    upload = s3.create_multipart_upload(Bucket=bucket, Key="big.mp4")
    part = s3.upload_part(
        Bucket=bucket, Key="big.mp4", UploadId=upload["UploadId"], PartNumber=1, Body=b"a" * 5 * 1024 * 1024
    )
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="big.mp4",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
    )
    seen_until(aws, name, lambda r: _s3_key(r) == "big.mp4")
    settled(aws, make_function, barrier_gate)
    assert [r["eventName"] for r in _records(aws, name)] == ["ObjectCreated:CompleteMultipartUpload"]


def test_sns_delivers_real_message_to_lambda_asynchronously(aws, make_function, gate, barrier_gate):
    sns, lam = aws("sns"), aws("lambda")
    name = make_function(RECORDER, env={"GATE_BUCKET": gate}, timeout=15)
    topic = sns.create_topic(Name=f"t-{uuid.uuid4().hex[:8]}")["TopicArn"]
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=arn)
    sns.publish(
        TopicArn=topic,
        Subject="A new song",
        Message="hello",
        MessageAttributes={"Artist": {"DataType": "String", "StringValue": "Nina"}},
    )
    open_gate(aws, gate)
    seen_until(aws, name, lambda r: r["Sns"]["Message"] == "hello")
    settled(aws, make_function, barrier_gate)
    (record,) = _records(aws, name)  # delivered once
    assert record["Sns"]["TopicArn"] == topic
    assert record["Sns"]["Subject"] == "A new song" and record["Sns"]["Message"] == "hello"
    assert record["Sns"]["MessageAttributes"]["Artist"]["Value"] == "Nina"


def test_dynamodb_stream_concurrent_writes_each_once_in_order(aws, make_function):
    ddb, lam = aws("dynamodb"), aws("lambda")
    name = make_function(RECORDER)
    table = f"songs-{uuid.uuid4().hex[:8]}"
    stream_arn = ddb.create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "Artist", "KeyType": "HASH"}, {"AttributeName": "SongTitle", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "Artist", "AttributeType": "S"},
            {"AttributeName": "SongTitle", "AttributeType": "S"},
        ],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]["LatestStreamArn"]
    lam.create_event_source_mapping(
        EventSourceArn=stream_arn, FunctionName=name, StartingPosition="LATEST", BatchSize=5
    )

    def put(i: int | str) -> None:
        ddb.put_item(TableName=table, Item={"Artist": {"S": f"A{i}"}, "SongTitle": {"S": f"S{i}"}})

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(20)))
    ddb.update_item(
        TableName=table,
        Key={"Artist": {"S": "A1"}, "SongTitle": {"S": "S1"}},
        UpdateExpression="SET Plays = :p",
        ExpressionAttributeValues={":p": {"N": "3"}},
    )
    put("-marker")
    records = seen_until(aws, name, lambda r: r["dynamodb"]["Keys"]["Artist"]["S"] == "A-marker")  # written last
    marker = records.pop()
    assert marker["eventName"] == "INSERT" and marker["dynamodb"]["Keys"]["Artist"]["S"] == "A-marker"
    assert all("eventSourceARN" in r and r["eventSource"] == "aws:dynamodb" for r in records)
    inserts = [r for r in records if r["eventName"] == "INSERT"]
    assert sorted(r["dynamodb"]["Keys"]["Artist"]["S"] for r in inserts) == sorted(f"A{i}" for i in range(20))
    sequence = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
    assert len(set(sequence)) == len(records) == 21  # each record once
    assert sequence == sorted(sequence)  # in order per shard
    assert records[-1]["eventName"] == "MODIFY" and records[-1]["dynamodb"]["NewImage"]["Plays"] == {"N": "3"}


def test_sqs_event_source_mapping_delivers_and_deletes(aws, make_function, gate, barrier_gate):
    sqs, lam = aws("sqs"), aws("lambda")
    name = make_function(RECORDER, env={"GATE_BUCKET": gate}, timeout=15)
    url = sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    lam.create_event_source_mapping(EventSourceArn=queue_arn, FunctionName=name, BatchSize=10)
    sqs.send_message(QueueUrl=url, MessageBody="first")
    sqs.send_message(QueueUrl=url, MessageBody="second")
    open_gate(aws, gate)
    seen_until(aws, name, lambda r: r["body"] == "first", lambda r: r["body"] == "second")
    settled(aws, make_function, barrier_gate)
    assert sorted(r["body"] for r in _records(aws, name)) == ["first", "second"]  # each once
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        if (
            attributes["ApproximateNumberOfMessages"] == "0"
            and attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
        ):
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"messages not deleted after delivery: {attributes}")
