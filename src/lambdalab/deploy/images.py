"""ECR repositories as teardown meets them (notebooks 02 and 05 create and push them on `aws`)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from lambdalab.deploy.responses import error_code


def delete_repository(ecr: Any, name: str) -> bool:
    """Delete the repository and every image in it (`force`); False when it was already gone."""
    try:
        ecr.delete_repository(repositoryName=name, force=True)
    except ClientError as error:
        if error_code(error) == "RepositoryNotFoundException":
            return False
        raise
    return True
