"""The `local` code path against the real embedded AWS (moto server + Lambda runner), end to end."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from deploy_support import PREFIX, clean_env, mutating, record_calls  # noqa: F401

from lambdalab.deploy import deploy_face_blur, deploy_songs, teardown
from lambdalab.deploy.target import connect
from lambdalab.localaws import local_aws
from lambdalab.messaging import drain_queue

SAMPLE = Path(__file__).resolve().parents[1] / "sample-video.mp4"


@pytest.fixture
def local(clean_env):
    with local_aws():
        yield connect("local")


def test_songs_on_local_deliver_and_tear_down(local):
    songs = deploy_songs(local, prefix=PREFIX, verbose=False)
    calls = record_calls(local)
    assert deploy_songs(local, prefix=PREFIX, verbose=False).changes.changed == []
    assert mutating(calls) == []

    local.client("dynamodb").put_item(
        TableName=songs.table_name, Item={"Artist": {"S": "Nina Simone"}, "SongTitle": {"S": "Sinnerman"}}
    )
    (message,) = drain_queue(local.client("sqs"), songs.queue_url, expected=1, timeout_seconds=60)
    assert "Sinnerman" in message["Message"]

    report = teardown(PREFIX, local, verbose=False)
    assert report.complete and report.deleted


@pytest.mark.slow
def test_face_blur_on_local_blurs_the_sample_video(local):
    blur = deploy_face_blur(local, prefix=PREFIX, poll_interval_seconds=1, verbose=False)
    s3, sfn = local.client("s3"), local.client("stepfunctions")
    s3.upload_file(str(SAMPLE), blur.input_bucket, "sample-video.mp4")
    deadline = time.monotonic() + 300
    while True:
        executions = sfn.list_executions(stateMachineArn=blur.state_machine_arn)["executions"]
        if executions and executions[0]["status"] != "RUNNING":
            break
        assert time.monotonic() < deadline, "the pipeline did not finish in 5 minutes"
        time.sleep(1)
    assert [e["status"] for e in executions] == ["SUCCEEDED"]
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=blur.output_bucket)["Contents"]}
    assert keys == {"blurred/sample-video.mp4", "faces/sample-video.mp4.json"}

    report = teardown(PREFIX, local, verbose=False)
    assert report.complete
    assert local.client("s3").list_buckets()["Buckets"] == []
