"""CloudWatch log groups as teardown meets them."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from lambdalab.deploy.responses import error_code


def delete_log_group(logs: Any, name: str) -> bool:
    try:
        logs.delete_log_group(logGroupName=name)
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return False
        raise
    return True
