"""IAM roles as teardown meets them: inline and attached policies first, then the role."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from lambdalab.deploy.responses import error_code, paginate


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
            iam.remove_role_from_instance_profile(InstanceProfileName=profile["InstanceProfileName"], RoleName=name)
        iam.delete_role(RoleName=name)
    except ClientError as error:
        if error_code(error) == "NoSuchEntity":
            return False
        raise
    return True
