"""CloudWatch log groups, created by us (not lazily by the services) so they carry tags and a retention.

Lambda creates `/aws/lambda/<fn>` on first invocation without tags and with "never expire"
retention: such a group escapes a tag-based teardown and keeps costing money. Creating it first
fixes both; teardown also finds it by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from lambdalab.deploy import tags as tagging
from lambdalab.deploy.changes import CREATED, UNCHANGED, UPDATED, Changes
from lambdalab.deploy.pages import error_code, paginate

RETENTION_DAYS = 7


def find_log_group(logs: Any, name: str) -> dict[str, Any] | None:
    for group in paginate(logs, "describe_log_groups", "logGroups", logGroupNamePrefix=name):
        if group["logGroupName"] == name:
            return group
    return None


def ensure_log_group(
    logs: Any,
    name: str,
    *,
    tags: Mapping[str, str],
    retention_days: int = RETENTION_DAYS,
    changes: Changes | None = None,
) -> str:
    """Create-or-update log group `name`; returns its ARN (ending in `:*`, as Step Functions wants)."""
    changes = changes if changes is not None else Changes()
    group = find_log_group(logs, name)
    done: list[str] = []
    if group is None:
        try:
            logs.create_log_group(logGroupName=name, tags=dict(tags))
        except ClientError as error:
            if error_code(error) != "ResourceAlreadyExistsException":
                raise
        logs.put_retention_policy(logGroupName=name, retentionInDays=retention_days)
        group = find_log_group(logs, name)
        if group is None:
            raise RuntimeError(f"log group {name} was created but cannot be described")
        changes.add("log group", name, CREATED)
        return str(group["arn"])
    if group.get("retentionInDays") != retention_days:
        logs.put_retention_policy(logGroupName=name, retentionInDays=retention_days)
        done.append("retention")
    wanted = tagging.missing(logs.list_tags_log_group(logGroupName=name).get("tags", {}), tags)
    if wanted:
        logs.tag_log_group(logGroupName=name, tags=wanted)
        done.append("tags")
    changes.add("log group", name, UPDATED if done else UNCHANGED, ", ".join(done))
    return str(group["arn"])


def delete_log_group(logs: Any, name: str) -> bool:
    try:
        logs.delete_log_group(logGroupName=name)
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return False
        raise
    return True
