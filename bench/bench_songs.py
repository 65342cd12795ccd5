"""How soon a new song's announcement reaches the SQS subscriber on the local target.

put_item → stream → publish_new_song (a cold Lambda subprocess) → SNS → SQS, timed until
receive_message returns it, against a baseline in the same run: sns.publish straight to the same
topic until the queue has it (the part of the path without DynamoDB and Lambda).
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from lambdalab.deploy import deploy_songs, teardown  # noqa: E402
from lambdalab.deploy.target import connect  # noqa: E402
from lambdalab.localaws import local_aws  # noqa: E402
from lambdalab.messaging import drain_queue  # noqa: E402

ROUNDS = 5
PREFIX = "lab-bench-5a5a"


def main() -> None:
    with local_aws():
        target = connect("local")
        songs = deploy_songs(target, prefix=PREFIX, verbose=False)
        dynamodb, sns, sqs = target.client("dynamodb"), target.client("sns"), target.client("sqs")
        through_stream, direct = [], []
        for i in range(ROUNDS):
            started = time.perf_counter()
            dynamodb.put_item(TableName=songs.table_name, Item={"Artist": {"S": f"A{i}"}, "SongTitle": {"S": f"S{i}"}})
            drain_queue(sqs, songs.queue_url, expected=1, timeout_seconds=60)
            through_stream.append(time.perf_counter() - started)
            started = time.perf_counter()
            sns.publish(TopicArn=songs.topic_arn, Subject="baseline", Message="baseline")
            drain_queue(sqs, songs.queue_url, expected=1, timeout_seconds=60)
            direct.append(time.perf_counter() - started)
        teardown(PREFIX, target, verbose=False)
    stream_s, direct_s = statistics.median(through_stream), statistics.median(direct)
    print(f"put_item -> message in the queue   {stream_s:6.2f} s  (median of {ROUNDS})")
    print(f"sns.publish -> message (baseline)  {direct_s:6.2f} s")
    print(f"ratio                              {stream_s / direct_s:6.1f}")


if __name__ == "__main__":
    main()
