"""Delete everything one learner created, in dependency order, and say what (if anything) is left.

Safe to run at any time, any number of times: every delete tolerates "already gone", one failure
does not stop the rest, and the final re-scan is the truth about what remains.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from lambdalab.cleanup import GONE_CODES
from lambdalab.deploy import session_state
from lambdalab.deploy.buckets import delete_bucket
from lambdalab.deploy.iam import delete_role
from lambdalab.deploy.images import delete_repository
from lambdalab.deploy.inventory import Resource, find_resources
from lambdalab.deploy.logs import delete_log_group
from lambdalab.deploy.responses import error_code
from lambdalab.deploy.state_machine import delete_state_machine
from lambdalab.deploy.target import Target, current_target


@dataclass
class TeardownReport:
    prefix: str
    target: str
    deleted: list[Resource] = field(default_factory=list)
    already_gone: list[Resource] = field(default_factory=list)
    skipped: list[Resource] = field(default_factory=list)  # another owner's tag: left alone
    failed: list[tuple[Resource, str]] = field(default_factory=list)
    remaining: list[Resource] = field(default_factory=list)  # still there after the re-scan
    deleting: list[Resource] = field(default_factory=list)  # AWS is finishing these asynchronously

    @property
    def complete(self) -> bool:
        return not self.remaining and not self.failed

    def rows(self) -> list[tuple[str, str, str]]:
        out: list[tuple[str, str, str]] = []
        for label, items in (
            ("deleted", self.deleted),
            ("already gone", self.already_gone),
            ("skipped (other owner)", self.skipped),
            ("deleting", self.deleting),
            ("REMAINS", self.remaining),
        ):
            out.extend((r.kind, r.detail or r.name, label) for r in items)
        out.extend((r.kind, r.detail or r.name, f"FAILED: {why}") for r, why in self.failed)
        return out

    def table(self) -> str:
        return format_table(self.rows(), ("kind", "name", "result"))


def format_table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    if not rows:
        return "(nothing)"
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def _delete_one(target: Target, resource: Resource, clients: dict[str, Any]) -> bool:
    """Delete one resource; False when it was already gone."""

    def client(service: str) -> Any:
        if service not in clients:
            clients[service] = target.client(service)
        return clients[service]

    kind, name = resource.kind, resource.name
    if kind == "state machine":
        delete_state_machine(client("stepfunctions"), name)
        return True
    if kind == "bucket":
        return delete_bucket(client("s3"), name)
    if kind == "event source mapping":
        client("lambda").delete_event_source_mapping(UUID=name)
        return True
    if kind == "function":
        client("lambda").delete_function(FunctionName=name)  # also removes its resource policy
        return True
    if kind == "subscription":
        client("sns").unsubscribe(SubscriptionArn=name)
        return True
    if kind == "topic":
        client("sns").delete_topic(TopicArn=name)
        return True
    if kind == "queue":
        client("sqs").delete_queue(QueueUrl=name)
        return True
    if kind == "table":
        dynamodb = client("dynamodb")
        dynamodb.delete_table(TableName=name)
        dynamodb.get_waiter("table_not_exists").wait(TableName=name, WaiterConfig={"Delay": 2, "MaxAttempts": 60})
        return True
    if kind == "ecr repository":
        return delete_repository(client("ecr"), name)
    if kind == "role":
        return delete_role(client("iam"), name)
    if kind == "log group":
        return delete_log_group(client("logs"), name)
    raise ValueError(f"unknown resource kind {kind!r}")


def teardown(
    prefix: str | None = None,
    target: Target | None = None,
    *,
    verbose: bool = True,
    progress: Callable[[Resource, str], None] | None = None,
) -> TeardownReport:
    """Delete every resource of `prefix` (default: the session's) on `target` (default: current).

    Order (see inventory.KINDS): running executions are stopped and the state machine deleted;
    buckets lose their trigger, every object version and delete marker, then the bucket; event
    source mappings go before their functions; subscriptions, topic, queue, table; the ECR
    repositories with their images; roles after their inline policies and attachments; log groups
    last, since deleting the rest can still write to them.
    """
    chosen = target if target is not None else current_target()
    chosen_prefix = prefix or session_state.load_session().get("prefix")
    if not chosen_prefix:
        raise ValueError("no prefix given and none saved in the session file: nothing to tear down")
    report = TeardownReport(prefix=chosen_prefix, target=chosen.name)
    clients: dict[str, Any] = {}
    for resource in find_resources(chosen_prefix, chosen):
        if resource.ownership == "foreign":
            report.skipped.append(resource)
            continue
        if resource.state == "deleting":
            continue
        try:
            gone_before = not _delete_one(chosen, resource, clients)
        except ClientError as error:
            if error_code(error) in GONE_CODES:
                gone_before = True
            else:
                report.failed.append((resource, f"{error_code(error)}: {error.response['Error'].get('Message', '')}"))
                continue
        (report.already_gone if gone_before else report.deleted).append(resource)
        if progress is not None:
            progress(resource, "already gone" if gone_before else "deleted")
        elif verbose:
            print(
                f"{'already gone' if gone_before else 'deleted':>12}  {resource.kind:<21} {resource.detail or resource.name}"
            )
    for resource in find_resources(chosen_prefix, chosen):
        if resource.ownership == "foreign":
            continue
        (report.deleting if resource.state == "deleting" else report.remaining).append(resource)
    if report.complete:
        session_state.forget_deployments(chosen.name, chosen_prefix)
    return report
