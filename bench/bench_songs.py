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

from lambdalab.blur_command.throwaway import private_session_state  # noqa: E402
from lambdalab.deploy import teardown  # noqa: E402
from lambdalab.deploy.naming import Names  # noqa: E402
from lambdalab.deploy.target import connect  # noqa: E402
from lambdalab.localaws import local_aws  # noqa: E402
from lambdalab.messaging import drain_queue  # noqa: E402
from lambdalab.notebook_run import run_notebook  # noqa: E402

ROUNDS = 5
PREFIX = "lab-bench-5a5a"


def main() -> None:
    with private_session_state(), local_aws():  # the notebook's session file is not the learner's
        # The songs system as notebook 04 deploys it (its one implementation), without its clean-up.
        run_notebook("04_dynamodb_streams_sns", {"TARGET": "local", "PREFIX": PREFIX}, stop_before_tag="clean-up")
        target = connect("local")
        names = Names(PREFIX, target.account)
        dynamodb, sns, sqs = target.client("dynamodb"), target.client("sns"), target.client("sqs")
        table, topic_arn = names.table, target.arn("sns", names.topic)
        queue_url = sqs.get_queue_url(QueueName=names.queue)["QueueUrl"]
        through_stream, direct = [], []
        for i in range(ROUNDS):
            started = time.perf_counter()
            dynamodb.put_item(TableName=table, Item={"Artist": {"S": f"A{i}"}, "SongTitle": {"S": f"S{i}"}})
            drain_queue(sqs, queue_url, expected=1, timeout_seconds=60)
            through_stream.append(time.perf_counter() - started)
            started = time.perf_counter()
            sns.publish(TopicArn=topic_arn, Subject="baseline", Message="baseline")
            drain_queue(sqs, queue_url, expected=1, timeout_seconds=60)
            direct.append(time.perf_counter() - started)
        teardown(PREFIX, target, verbose=False)
    stream_s, direct_s = statistics.median(through_stream), statistics.median(direct)
    print(f"put_item -> message in the queue   {stream_s:6.2f} s  (median of {ROUNDS})")
    print(f"sns.publish -> message (baseline)  {direct_s:6.2f} s")
    print(f"ratio                              {stream_s / direct_s:6.1f}")


if __name__ == "__main__":
    main()
