"""Deploy the DynamoDB Streams exercise: table with stream -> publish_new_song -> SNS topic -> SQS inbox.

The original exercise subscribed an email address; email needs a human to confirm, so the lab
adds an SQS queue subscription that the notebook can read on both targets (email is optional on
`aws`).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from lambdalab.deploy import policies, session_state
from lambdalab.deploy import tags as tagging
from lambdalab.deploy.changes import CREATED, UNCHANGED, UPDATED, Changes
from lambdalab.deploy.context import make_context
from lambdalab.deploy.functions import FunctionSpec, ZipCode, ensure_function
from lambdalab.deploy.iam import ensure_role
from lambdalab.deploy.logs import ensure_log_group
from lambdalab.deploy.mappings import ensure_event_source_mapping
from lambdalab.deploy.naming import SONGS_FUNCTION
from lambdalab.deploy.packaging import zip_folder
from lambdalab.deploy.pages import error_code, paginate
from lambdalab.deploy.paths import lambda_dir
from lambdalab.deploy.target import Target

STREAM_VIEW = "NEW_AND_OLD_IMAGES"


@dataclass(frozen=True)
class SongsDeployment:
    target: str
    region: str
    account: str
    prefix: str
    table_name: str
    table_arn: str
    stream_arn: str
    topic_arn: str
    queue_url: str
    queue_arn: str
    function_arn: str
    role_arn: str
    mapping_uuid: str
    changes: Changes = field(default_factory=Changes, compare=False, repr=False)


def ensure_table(dynamodb: Any, name: str, *, tags: Mapping[str, str], changes: Changes) -> dict[str, Any]:
    """The Songs table (Artist HASH, SongTitle RANGE, on-demand) with a NEW_AND_OLD_IMAGES stream.

    PAY_PER_REQUEST: no capacity to size and nothing billed while idle. Both images in the stream
    let the function tell a new song (no OldImage) from an edit.
    """
    try:
        table = dynamodb.describe_table(TableName=name)["Table"]
    except ClientError as error:
        if error_code(error) != "ResourceNotFoundException":
            raise
        dynamodb.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "Artist", "KeyType": "HASH"}, {"AttributeName": "SongTitle", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "Artist", "AttributeType": "S"},
                {"AttributeName": "SongTitle", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": STREAM_VIEW},
            Tags=tagging.as_list(tags),
        )
        dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 2, "MaxAttempts": 60})
        changes.add("table", name, CREATED)
        return dynamodb.describe_table(TableName=name)["Table"]

    done: list[str] = []
    stream = table.get("StreamSpecification", {})
    if not stream.get("StreamEnabled") or stream.get("StreamViewType") != STREAM_VIEW:
        if stream.get("StreamEnabled"):  # the view type cannot be changed on a live stream
            dynamodb.update_table(TableName=name, StreamSpecification={"StreamEnabled": False})
            dynamodb.get_waiter("table_exists").wait(TableName=name)
        dynamodb.update_table(TableName=name, StreamSpecification={"StreamEnabled": True, "StreamViewType": STREAM_VIEW})
        dynamodb.get_waiter("table_exists").wait(TableName=name)
        table = dynamodb.describe_table(TableName=name)["Table"]
        done.append("stream")
    current = tagging.from_list(paginate(dynamodb, "list_tags_of_resource", "Tags", ResourceArn=table["TableArn"]))
    wanted = tagging.missing(current, tags)
    if wanted:
        dynamodb.tag_resource(ResourceArn=table["TableArn"], Tags=tagging.as_list(wanted))
        done.append("tags")
    changes.add("table", name, UPDATED if done else UNCHANGED, ", ".join(done))
    return table


def ensure_topic(sns: Any, arn: str, name: str, *, tags: Mapping[str, str], changes: Changes) -> str:
    try:
        sns.get_topic_attributes(TopicArn=arn)
    except ClientError as error:
        if error_code(error) not in ("NotFound", "NotFoundException"):
            raise
        created = sns.create_topic(Name=name, Tags=tagging.as_list(tags))["TopicArn"]
        changes.add("topic", name, CREATED)
        return str(created)
    wanted = tagging.missing(tagging.from_list(sns.list_tags_for_resource(ResourceArn=arn).get("Tags")), tags)
    if wanted:
        sns.tag_resource(ResourceArn=arn, Tags=tagging.as_list(wanted))
    changes.add("topic", name, UPDATED if wanted else UNCHANGED, "tags" if wanted else "")
    return arn


def queue_policy(queue_arn: str, topic_arn: str) -> dict[str, Any]:
    """Only our topic may send to the queue (SNS delivers to SQS with the queue's resource policy)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OnlyTheSongsTopic",
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            }
        ],
    }


def ensure_queue(
    sqs: Any, name: str, *, topic_arn: str, tags: Mapping[str, str], changes: Changes
) -> tuple[str, str]:
    """The inbox queue with a policy admitting only the topic; returns (url, arn)."""
    done: list[str] = []
    try:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        created = False
    except ClientError as error:
        if error_code(error) not in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
            raise
        url = sqs.create_queue(QueueName=name, tags=dict(tags))["QueueUrl"]
        created = True
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn", "Policy"])["Attributes"]
    arn = attributes["QueueArn"]
    wanted_policy = queue_policy(arn, topic_arn)
    if json.loads(attributes.get("Policy", "{}")) != wanted_policy:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(wanted_policy)})
        done.append("policy")
    if not created:
        wanted = tagging.missing(sqs.list_queue_tags(QueueUrl=url).get("Tags", {}), tags)
        if wanted:
            sqs.tag_queue(QueueUrl=url, Tags=wanted)
            done.append("tags")
    changes.add("queue", name, CREATED if created else UPDATED if done else UNCHANGED, "" if created else ", ".join(done))
    return url, arn


def ensure_subscription(sns: Any, topic_arn: str, protocol: str, endpoint: str, *, changes: Changes) -> str:
    """Subscribe `endpoint` once; an email subscription stays "PendingConfirmation" until clicked."""
    for subscription in paginate(sns, "list_subscriptions_by_topic", "Subscriptions", TopicArn=topic_arn):
        if subscription["Protocol"] == protocol and subscription["Endpoint"] == endpoint:
            changes.add("subscription", f"{protocol}:{endpoint}", UNCHANGED)
            return str(subscription["SubscriptionArn"])
    arn = sns.subscribe(TopicArn=topic_arn, Protocol=protocol, Endpoint=endpoint, ReturnSubscriptionArn=True)[
        "SubscriptionArn"
    ]
    changes.add("subscription", f"{protocol}:{endpoint}", CREATED)
    return str(arn)


def deploy_songs(
    target: Target | None = None,
    *,
    prefix: str | None = None,
    starting_position: str = "LATEST",
    batch_size: int = 10,
    email: str | None = None,
    verbose: bool = True,
) -> SongsDeployment:
    """Deploy (or converge) the Songs table, topic, inbox queue, role, function and stream mapping.

    `starting_position`: LATEST (default) delivers only items written after the mapping is
    enabled; TRIM_HORIZON replays the last 24 hours of the stream first.
    """
    ctx = make_context(target, prefix, verbose)
    names = ctx.names
    dynamodb, sns, sqs, iam, lam, logs = (ctx.client(s) for s in ("dynamodb", "sns", "sqs", "iam", "lambda", "logs"))

    table = ensure_table(dynamodb, names.table, tags=ctx.tags, changes=ctx.changes)
    topic_arn = ensure_topic(
        sns, ctx.target.arn("sns", names.topic), names.topic, tags=ctx.tags, changes=ctx.changes
    )
    queue_url, queue_arn = ensure_queue(sqs, names.queue, topic_arn=topic_arn, tags=ctx.tags, changes=ctx.changes)
    ensure_subscription(sns, topic_arn, "sqs", queue_arn, changes=ctx.changes)
    if email:
        if not ctx.target.is_aws:
            raise ValueError("email subscriptions only exist on the aws target; read the SQS inbox locally")
        ensure_subscription(sns, topic_arn, "email", email, changes=ctx.changes)

    function_name = names.function(SONGS_FUNCTION)
    ensure_log_group(logs, names.function_log_group(SONGS_FUNCTION), tags=ctx.tags, changes=ctx.changes)
    values = {
        **policies.base_values(ctx.target),
        "FunctionName": function_name,
        "TableName": names.table,
        "TopicArn": topic_arn,
    }
    role_arn = ensure_role(
        iam,
        names.role(SONGS_FUNCTION),
        trust_policy=policies.lambda_trust_policy(),
        inline_policies={policies.INLINE_POLICY_NAME: policies.render_function_policy(SONGS_FUNCTION, values)},
        tags=ctx.tags,
        description=f"Lambda Lab: execution role of {function_name} only",
        changes=ctx.changes,
    )
    function_arn = ensure_function(
        lam,
        FunctionSpec(
            name=function_name,
            role_arn=role_arn,
            code=ZipCode(zip_folder(lambda_dir(SONGS_FUNCTION))),
            environment={"TOPIC_ARN": topic_arn},
            memory_mb=128,
            timeout_s=30,
            description="Lambda Lab: announce each new song from the table's stream on the topic",
            tags=ctx.tags,
        ),
        changes=ctx.changes,
    )
    # The stream ARN must be read, not built: it ends in the stream's creation timestamp.
    uuid = ensure_event_source_mapping(
        lam,
        function_name,
        table["LatestStreamArn"],
        starting_position=starting_position,
        batch_size=batch_size,
        tags=ctx.tags,
        changes=ctx.changes,
    )
    deployment = SongsDeployment(
        target=ctx.target.name,
        region=ctx.target.region,
        account=ctx.target.account,
        prefix=ctx.prefix,
        table_name=names.table,
        table_arn=table["TableArn"],
        stream_arn=table["LatestStreamArn"],
        topic_arn=topic_arn,
        queue_url=queue_url,
        queue_arn=queue_arn,
        function_arn=function_arn,
        role_arn=role_arn,
        mapping_uuid=uuid,
        changes=ctx.changes,
    )
    summary: dict[str, Any] = dataclasses.asdict(deployment)
    summary.pop("changes", None)
    session_state.save_deployment("songs", ctx.target.name, summary)
    return deployment
