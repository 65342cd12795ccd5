"""Every trigger reaches the real handler, asynchronously where AWS is asynchronous."""

from __future__ import annotations

import concurrent.futures
import json
import time
import uuid

import pytest
from conftest import RECORDER, open_gate

def seen(aws, function_name: str, expected: int, timeout: float = 30) -> list[dict]:
    logs = aws("logs")
    deadline = time.monotonic() + timeout
    records: list[dict] = []
    while time.monotonic() < deadline:
        try:
            events = logs.filter_log_events(logGroupName=f"/aws/lambda/{function_name}")["events"]
        except logs.exceptions.ResourceNotFoundException:
            events = []
        records = [json.loads(e["message"][5:]) for e in sorted(events, key=lambda e: e["timestamp"]) if e["message"].startswith("SEEN ")]
        if len(records) >= expected:
            time.sleep(0.5)  # and nothing more arrives
            events = logs.filter_log_events(logGroupName=f"/aws/lambda/{function_name}")["events"]
            return [json.loads(e["message"][5:]) for e in events if e["message"].startswith("SEEN ")]
        time.sleep(0.1)
    raise AssertionError(f"{function_name} saw {len(records)} records, expected {expected}")


def test_s3_notification_filters_and_does_not_block(aws, make_function, gate):
    s3, lam = aws("s3"), aws("lambda")
    name = make_function(RECORDER, env={"GATE_BUCKET": gate}, timeout=15)
    bucket = f"in-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={"LambdaFunctionConfigurations": [{
            "LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "videos/"}, {"Name": "suffix", "Value": ".mp4"}]}},
        }]},
    )
    s3.put_object(Bucket=bucket, Key="videos/my clip.mp4", Body=b"x")
    s3.put_object(Bucket=bucket, Key="videos/notes.txt", Body=b"x")
    s3.put_object(Bucket=bucket, Key="other/clip.mp4", Body=b"x")
    open_gate(aws, gate)
    records = seen(aws, name, 1)
    assert [r["s3"]["object"]["key"] for r in records] == ["videos/my+clip.mp4"]
    assert records[0]["eventName"].startswith("ObjectCreated:")


def test_multipart_upload_notifies_once(aws, make_function):
    s3, lam = aws("s3"), aws("lambda")
    name = make_function(RECORDER)
    bucket = f"mp-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={"LambdaFunctionConfigurations": [{"LambdaFunctionArn": arn, "Events": ["s3:ObjectCreated:*"]}]},
    )
    upload = s3.create_multipart_upload(Bucket=bucket, Key="big.mp4")
    part = s3.upload_part(Bucket=bucket, Key="big.mp4", UploadId=upload["UploadId"], PartNumber=1, Body=b"a" * 5 * 1024 * 1024)
    s3.complete_multipart_upload(
        Bucket=bucket, Key="big.mp4", UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
    )
    records = seen(aws, name, 1)
    assert [r["eventName"] for r in records] == ["ObjectCreated:CompleteMultipartUpload"]


def test_sns_delivers_real_message_to_lambda_asynchronously(aws, make_function, gate):
    sns, lam = aws("sns"), aws("lambda")
    name = make_function(RECORDER, env={"GATE_BUCKET": gate}, timeout=15)
    topic = sns.create_topic(Name=f"t-{uuid.uuid4().hex[:8]}")["TopicArn"]
    arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=arn)
    sns.publish(TopicArn=topic, Subject="A new song", Message="hello",
                MessageAttributes={"Artist": {"DataType": "String", "StringValue": "Nina"}})
    open_gate(aws, gate)
    (record,) = seen(aws, name, 1)
    assert record["Sns"]["TopicArn"] == topic
    assert record["Sns"]["Subject"] == "A new song" and record["Sns"]["Message"] == "hello"
    assert record["Sns"]["MessageAttributes"]["Artist"]["Value"] == "Nina"


def test_dynamodb_stream_concurrent_writes_each_once_in_order(aws, make_function):
    ddb, lam = aws("dynamodb"), aws("lambda")
    name = make_function(RECORDER)
    table = f"songs-{uuid.uuid4().hex[:8]}"
    stream_arn = ddb.create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "Artist", "KeyType": "HASH"}, {"AttributeName": "SongTitle", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": "Artist", "AttributeType": "S"}, {"AttributeName": "SongTitle", "AttributeType": "S"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]["LatestStreamArn"]
    lam.create_event_source_mapping(EventSourceArn=stream_arn, FunctionName=name, StartingPosition="LATEST", BatchSize=5)

    def put(i: int) -> None:
        ddb.put_item(TableName=table, Item={"Artist": {"S": f"A{i}"}, "SongTitle": {"S": f"S{i}"}})

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(put, range(20)))
    ddb.update_item(TableName=table, Key={"Artist": {"S": "A1"}, "SongTitle": {"S": "S1"}},
                    UpdateExpression="SET Plays = :p", ExpressionAttributeValues={":p": {"N": "3"}})
    records = seen(aws, name, 21)
    assert all("eventSourceARN" in r and r["eventSource"] == "aws:dynamodb" for r in records)
    inserts = [r for r in records if r["eventName"] == "INSERT"]
    assert sorted(r["dynamodb"]["Keys"]["Artist"]["S"] for r in inserts) == sorted(f"A{i}" for i in range(20))
    sequence = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
    assert len(set(sequence)) == len(records) == 21  # each record once
    assert sequence == sorted(sequence)  # in order per shard
    assert records[-1]["eventName"] == "MODIFY" and records[-1]["dynamodb"]["NewImage"]["Plays"] == {"N": "3"}


def test_sqs_event_source_mapping_delivers_and_deletes(aws, make_function, gate):
    sqs, lam = aws("sqs"), aws("lambda")
    name = make_function(RECORDER, env={"GATE_BUCKET": gate}, timeout=15)
    url = sqs.create_queue(QueueName=f"q-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    lam.create_event_source_mapping(EventSourceArn=queue_arn, FunctionName=name, BatchSize=10)
    sqs.send_message(QueueUrl=url, MessageBody="first")
    sqs.send_message(QueueUrl=url, MessageBody="second")
    open_gate(aws, gate)
    records = seen(aws, name, 2)
    assert sorted(r["body"] for r in records) == ["first", "second"]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        if attributes["ApproximateNumberOfMessages"] == "0" and attributes["ApproximateNumberOfMessagesNotVisible"] == "0":
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"messages not deleted after delivery: {attributes}")
