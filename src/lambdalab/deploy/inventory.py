"""Find every resource of one learner: by name prefix first, then confirmed by the owner tag.

Names alone could catch a stranger's resource that happens to share the prefix; tags alone miss
resources whose creation was interrupted before tagging, and IAM is not in the tagging API. So a
resource counts as ours when its name starts with `<prefix>-` (or `<prefix>/`) and its owner tag
is ours or absent; a different owner tag makes it `foreign` and teardown leaves it alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from lambdalab.cleanup import GONE_CODES
from lambdalab.deploy import tags as tagging
from lambdalab.deploy.buckets import bucket_tags
from lambdalab.deploy.mappings import function_name_of, source_label
from lambdalab.deploy.naming import Names, owns_name
from lambdalab.deploy.responses import error_code, paginate
from lambdalab.deploy.target import Target

# Deletion order: stop work first (state machine, triggers), then compute, then data and identity.
KINDS = (
    "state machine",
    "bucket",
    "event source mapping",
    "function",
    "subscription",
    "topic",
    "queue",
    "table",
    "ecr repository",
    "role",
    "log group",
)


@dataclass(frozen=True)
class Resource:
    kind: str
    name: str  # what the delete call needs (name, ARN, UUID or URL)
    ownership: str = "owned"  # owned | untagged | foreign
    state: str = ""  # e.g. "deleting": AWS finishes the deletion asynchronously
    detail: str = ""


def _tags_or_gone(read: Callable[[], dict[str, str]]) -> dict[str, str] | None:
    """Tags of a resource, or None when it vanished between listing and reading."""
    try:
        return read()
    except ClientError as error:
        if error_code(error) in GONE_CODES:
            return None
        raise


def _resource(
    kind: str, name: str, prefix: str, read_tags: Callable[[], dict[str, str]], **extra: str
) -> Resource | None:
    found = _tags_or_gone(read_tags)
    if found is None:
        return None
    return Resource(kind, name, tagging.ownership(found, prefix), **extra)


def find_resources(prefix: str, target: Target) -> list[Resource]:
    """Everything of `prefix` on `target`, in deletion order (see KINDS)."""
    found: list[Resource] = []
    for finder in (
        _state_machines,
        _buckets,
        _mappings,
        _functions,
        _subscriptions,
        _topics,
        _queues,
        _tables,
        _repositories,
        _roles,
        _log_groups,
    ):
        found.extend(r for r in finder(prefix, target) if r is not None)
    return sorted(found, key=lambda r: (KINDS.index(r.kind), r.detail or r.name))  # stable order to read


def _state_machines(prefix: str, target: Target) -> Iterator[Resource | None]:
    sfn = target.client("stepfunctions")
    for machine in paginate(sfn, "list_state_machines", "stateMachines"):
        if owns_name(machine["name"], prefix):
            arn = machine["stateMachineArn"]
            try:
                status = sfn.describe_state_machine(stateMachineArn=arn).get("status", "ACTIVE")
            except ClientError as error:
                if error_code(error) in GONE_CODES:
                    continue
                raise
            yield _resource(
                "state machine",
                arn,
                prefix,
                lambda: tagging.from_list(sfn.list_tags_for_resource(resourceArn=arn).get("tags")),
                state="deleting" if status == "DELETING" else "",
                detail=machine["name"],
            )


def _buckets(prefix: str, target: Target) -> Iterator[Resource | None]:
    s3 = target.client("s3")
    for bucket in s3.list_buckets().get("Buckets", []):
        name = bucket["Name"]
        if owns_name(name, prefix):
            yield _resource("bucket", name, prefix, lambda: bucket_tags(s3, name))


def _mappings(prefix: str, target: Target) -> Iterator[Resource | None]:
    lam = target.client("lambda")
    for mapping in paginate(lam, "list_event_source_mappings", "EventSourceMappings"):
        function = function_name_of(mapping["FunctionArn"])
        if owns_name(function, prefix):
            state = "deleting" if mapping.get("State") == "Deleting" else ""
            source = source_label(mapping.get("EventSourceArn", ""))
            yield Resource("event source mapping", mapping["UUID"], "owned", state, f"{source} -> {function}")


def _functions(prefix: str, target: Target) -> Iterator[Resource | None]:
    lam = target.client("lambda")
    for function in paginate(lam, "list_functions", "Functions"):
        name, arn = function["FunctionName"], function["FunctionArn"]
        if owns_name(name, prefix):
            yield _resource("function", name, prefix, lambda: lam.list_tags(Resource=arn).get("Tags", {}))


def _topics(prefix: str, target: Target) -> Iterator[Resource | None]:
    sns = target.client("sns")
    for topic in paginate(sns, "list_topics", "Topics"):
        arn = topic["TopicArn"]
        if owns_name(arn.rsplit(":", 1)[1], prefix):
            yield _resource(
                "topic",
                arn,
                prefix,
                lambda: tagging.from_list(sns.list_tags_for_resource(ResourceArn=arn).get("Tags")),
                detail=arn.rsplit(":", 1)[1],
            )


def _subscriptions(prefix: str, target: Target) -> Iterator[Resource | None]:
    """Subscriptions of our topics (an SQS or email endpoint outlives nothing once the topic is gone)."""
    sns = target.client("sns")
    for subscription in paginate(sns, "list_subscriptions", "Subscriptions"):
        topic = subscription["TopicArn"].rsplit(":", 1)[1]
        arn = subscription["SubscriptionArn"]
        if owns_name(topic, prefix) and arn.startswith("arn:"):  # "PendingConfirmation" cannot be removed
            yield Resource("subscription", arn, "owned", "", f"{topic} -> {subscription['Protocol']}")


def _queues(prefix: str, target: Target) -> Iterator[Resource | None]:
    sqs = target.client("sqs")
    for url in sqs.list_queues(QueueNamePrefix=f"{prefix}-").get("QueueUrls", []):
        name = url.rsplit("/", 1)[1]
        if owns_name(name, prefix):
            # list_queues may show a queue for up to 60 s after deletion: read tags to be sure it exists.
            yield _resource(
                "queue", url, prefix, lambda: sqs.list_queue_tags(QueueUrl=url).get("Tags", {}), detail=name
            )


def _tables(prefix: str, target: Target) -> Iterator[Resource | None]:
    dynamodb = target.client("dynamodb")
    for name in paginate(dynamodb, "list_tables", "TableNames"):
        if owns_name(name, prefix):
            try:
                table = dynamodb.describe_table(TableName=name)["Table"]
            except ClientError as error:
                if error_code(error) in GONE_CODES:
                    continue
                raise
            yield _resource(
                "table",
                name,
                prefix,
                lambda: tagging.from_list(
                    paginate(dynamodb, "list_tags_of_resource", "Tags", ResourceArn=table["TableArn"])
                ),
                state="deleting" if table.get("TableStatus") == "DELETING" else "",
            )


def _repositories(prefix: str, target: Target) -> Iterator[Resource | None]:
    ecr = target.client("ecr")
    for repository in paginate(ecr, "describe_repositories", "repositories"):
        name, arn = repository["repositoryName"], repository["repositoryArn"]
        if owns_name(name, prefix):
            yield _resource(
                "ecr repository",
                name,
                prefix,
                lambda: tagging.from_list(ecr.list_tags_for_resource(resourceArn=arn).get("tags")),
            )


def _roles(prefix: str, target: Target) -> Iterator[Resource | None]:
    iam = target.client("iam")
    for role in paginate(iam, "list_roles", "Roles"):
        name = role["RoleName"]
        if owns_name(name, prefix):
            yield _resource(
                "role", name, prefix, lambda: tagging.from_list(paginate(iam, "list_role_tags", "Tags", RoleName=name))
            )


def _log_groups(prefix: str, target: Target) -> Iterator[Resource | None]:
    logs = target.client("logs")
    for group_prefix in Names(prefix, target.account).log_group_prefixes():
        for group in paginate(logs, "describe_log_groups", "logGroups", logGroupNamePrefix=group_prefix):
            name = group["logGroupName"]
            yield _resource(
                "log group", name, prefix, lambda: logs.list_tags_log_group(logGroupName=name).get("tags", {})
            )


def describe(resources: list[Resource]) -> list[dict[str, Any]]:
    """Rows for printing or a DataFrame."""
    return [{"kind": r.kind, "name": r.detail or r.name, "ownership": r.ownership, "state": r.state} for r in resources]
