"""Execution roles: create-or-update a role, its trust policy, its inline policies and its tags.

Inline (not managed) policies: they live and die with the role, so teardown cannot leave a policy
behind, and the learner sees the whole permission set on one page of the console.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from botocore.exceptions import ClientError

from lambdalab.deploy import tags as tagging
from lambdalab.deploy.changes import CREATED, UNCHANGED, UPDATED, Changes
from lambdalab.deploy.pages import error_code, paginate


def _document(value: Any) -> Any:
    """IAM returns documents URL-encoded; botocore decodes some of them. Accept both."""
    if isinstance(value, str):
        return json.loads(unquote(value))
    return value


def ensure_role(
    iam: Any,
    name: str,
    *,
    trust_policy: Mapping[str, Any],
    inline_policies: Mapping[str, Mapping[str, Any]],
    tags: Mapping[str, str],
    description: str = "",
    changes: Changes | None = None,
) -> str:
    """Converge role `name` to exactly these trust and inline policies; returns the role ARN.

    Extra inline policies and any attached managed policy are removed: the role is ours, and a
    forgotten `AdministratorAccess` would defeat the least-privilege point of the lab.
    """
    changes = changes if changes is not None else Changes()
    done: list[str] = []
    try:
        role = iam.get_role(RoleName=name)["Role"]
    except ClientError as error:
        if error_code(error) != "NoSuchEntity":
            raise
        role = iam.create_role(
            RoleName=name,
            AssumeRolePolicyDocument=json.dumps(trust_policy),
            Description=description,
            Tags=tagging.as_list(tags),
        )["Role"]
        iam.get_waiter("role_exists").wait(RoleName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
        for policy_name, document in inline_policies.items():
            iam.put_role_policy(RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(document))
        changes.add("role", name, CREATED)
        return role["Arn"]

    if _document(role["AssumeRolePolicyDocument"]) != trust_policy:
        iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust_policy))
        done.append("trust policy")
    if description and role.get("Description", "") != description:
        iam.update_role(RoleName=name, Description=description)
        done.append("description")

    current = set(paginate(iam, "list_role_policies", "PolicyNames", RoleName=name))
    for policy_name, document in inline_policies.items():
        existing = None
        if policy_name in current:
            existing = _document(iam.get_role_policy(RoleName=name, PolicyName=policy_name)["PolicyDocument"])
        if existing != document:
            iam.put_role_policy(RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(document))
            done.append(f"policy {policy_name}")
    for stale in sorted(current - set(inline_policies)):
        iam.delete_role_policy(RoleName=name, PolicyName=stale)
        done.append(f"removed policy {stale}")
    for attached in paginate(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=name):
        iam.detach_role_policy(RoleName=name, PolicyArn=attached["PolicyArn"])
        done.append(f"detached {attached['PolicyName']}")

    current_tags = tagging.from_list(paginate(iam, "list_role_tags", "Tags", RoleName=name))
    wanted = tagging.missing(current_tags, tags)
    if wanted:
        iam.tag_role(RoleName=name, Tags=tagging.as_list(wanted))
        done.append("tags")
    changes.add("role", name, UPDATED if done else UNCHANGED, ", ".join(done))
    return role["Arn"]


def delete_role(iam: Any, name: str) -> bool:
    """Delete a role after what blocks it (inline policies, attachments, instance profiles).

    Returns False when the role was already gone.
    """
    try:
        for policy_name in paginate(iam, "list_role_policies", "PolicyNames", RoleName=name):
            iam.delete_role_policy(RoleName=name, PolicyName=policy_name)
        for attached in paginate(iam, "list_attached_role_policies", "AttachedPolicies", RoleName=name):
            iam.detach_role_policy(RoleName=name, PolicyArn=attached["PolicyArn"])
        for profile in paginate(iam, "list_instance_profiles_for_role", "InstanceProfiles", RoleName=name):
            iam.remove_role_from_instance_profile(
                InstanceProfileName=profile["InstanceProfileName"], RoleName=name
            )
        iam.delete_role(RoleName=name)
    except ClientError as error:
        if error_code(error) == "NoSuchEntity":
            return False
        raise
    return True

