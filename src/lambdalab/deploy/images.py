"""The container-image path for blur_faces on `aws`: ECR repository, push commands, image checks.

blur_faces needs PyAV (FFmpeg) and OpenCV: over Lambda's 250 MB unzipped limit for a zip package,
well within the 10 GB limit for an image. The library does not run docker itself: the notebook
shows the commands so the learner sees (and runs) the same steps the console's "View push
commands" shows.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from lambdalab.deploy import tags as tagging
from lambdalab.deploy.changes import CREATED, UNCHANGED, UPDATED, Changes
from lambdalab.deploy.pages import error_code

DEFAULT_TAG = "latest"


def ensure_repository(ecr: Any, name: str, *, tags: Mapping[str, str], changes: Changes | None = None) -> str:
    """Create-or-reuse ECR repository `name` (scan on push); returns its URI."""
    changes = changes if changes is not None else Changes()
    try:
        repository = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
    except ClientError as error:
        if error_code(error) != "RepositoryNotFoundException":
            raise
        repository = ecr.create_repository(
            repositoryName=name,
            imageScanningConfiguration={"scanOnPush": True},
            imageTagMutability="MUTABLE",
            tags=tagging.as_list(tags),
        )["repository"]
        changes.add("ecr repository", name, CREATED)
        return str(repository["repositoryUri"])
    current = tagging.from_list(ecr.list_tags_for_resource(resourceArn=repository["repositoryArn"]).get("tags"))
    wanted = tagging.missing(current, tags)
    if wanted:
        ecr.tag_resource(resourceArn=repository["repositoryArn"], tags=tagging.as_list(wanted))
    changes.add("ecr repository", name, UPDATED if wanted else UNCHANGED, "tags" if wanted else "")
    return str(repository["repositoryUri"])


def registry_of(repository_uri: str) -> str:
    """`123456789012.dkr.ecr.eu-west-1.amazonaws.com/x/y` -> the registry host docker logs in to."""
    return repository_uri.split("/", 1)[0]


def push_commands(
    repository_uri: str,
    *,
    region: str,
    context: str = "lambdas/blur_faces",
    tag: str = DEFAULT_TAG,
    profile: str | None = None,
) -> list[str]:
    """The shell commands that build and push the image, for the notebook to show (and the learner to run).

    `--platform linux/amd64`: the function runs on x86_64, and a laptop may be arm64.
    `--provenance=false`: BuildKit otherwise pushes a manifest list with an attestation, which
    Lambda rejects ("image manifest ... media type ... is not supported").
    """
    profile_flag = f" --profile {shlex.quote(profile)}" if profile else ""
    image = f"{repository_uri}:{tag}"
    return [
        f"aws ecr get-login-password --region {region}{profile_flag}"
        f" | docker login --username AWS --password-stdin {registry_of(repository_uri)}",
        f"docker build --platform linux/amd64 --provenance=false -t {image} {shlex.quote(context)}",
        f"docker push {image}",
    ]


def image_digest(ecr: Any, repository: str, tag: str = DEFAULT_TAG) -> str | None:
    """The pushed image's digest as Lambda reports it in CodeSha256 (hex, no `sha256:`), or None."""
    try:
        details = ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])["imageDetails"]
    except ClientError as error:
        if error_code(error) in ("ImageNotFoundException", "RepositoryNotFoundException"):
            return None
        raise
    if not details:
        return None
    return str(details[0]["imageDigest"]).removeprefix("sha256:")


def delete_repository(ecr: Any, name: str) -> bool:
    """Delete the repository and every image in it (`force`); False when it was already gone."""
    try:
        ecr.delete_repository(repositoryName=name, force=True)
    except ClientError as error:
        if error_code(error) == "RepositoryNotFoundException":
            return False
        raise
    return True
