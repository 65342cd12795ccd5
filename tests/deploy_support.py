"""Shared fixtures and helpers for tests/test_deploy_*.py (imported by them; candidates for conftest.py).

Everything runs against moto in-process (`mock_aws`): no network, no Docker, no server.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from lambdalab.deploy import target as target_module
from lambdalab.deploy.target import Target, use_target

PREFIX = "lab-tester-1a2b"
REGION = "eu-west-1"  # not us-east-1: exercises the LocationConstraint path
MUTATING = re.compile(
    r"^(Create|Put|Update|Delete|Tag|Untag|Add|Remove|Subscribe|Unsubscribe|Set|Attach|Detach|Start|Stop)"
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[None]:
    """No real AWS config, no endpoints, a private session file; everything restored afterwards."""
    for var in list(os.environ):
        if var.startswith("AWS_") or var in ("LAMBDALAB_TARGET", "MOTO_LAMBDA_STUB_ECR"):
            monkeypatch.delenv(var)
    # setenv first so monkeypatch records the variable: the aws target sets it in os.environ, and
    # undo must remove it again even when it was absent before (delenv alone records nothing then).
    monkeypatch.setenv(target_module.IGNORE_ENDPOINTS_ENV, "")
    monkeypatch.delenv(target_module.IGNORE_ENDPOINTS_ENV)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("LAMBDALAB_HOME", str(tmp_path / "lambdalab-home"))
    # moto then checks that an ImageUri exists in its ECR and reports the image digest, like Lambda.
    monkeypatch.setenv("MOTO_LAMBDA_STUB_ECR", "false")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    monkeypatch.setattr(target_module, "_current", None)
    monkeypatch.setattr(target_module, "_local_env_changes", {})
    yield


@pytest.fixture
def aws(clean_env: None) -> Iterator[Target]:
    """The `aws` target (real code paths) on an in-process moto account."""
    with mock_aws():
        yield use_target("aws", region=REGION, verbose=False)


def push_fake_image(ecr: Any, repository: str, tag: str = "latest", content: bytes = b"v1") -> str:
    """What `docker push` leaves in ECR (a manifest; no layer blobs); returns the digest (hex, as Lambda reports it)."""
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": len(content),
            "digest": "sha256:" + hashlib.sha256(content).hexdigest(),
        },
        "layers": [  # moto derives the image digest from the layer digests
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": len(content),
                "digest": "sha256:" + hashlib.sha256(b"layer " + content).hexdigest(),
            }
        ],
    }
    image = ecr.put_image(repositoryName=repository, imageManifest=json.dumps(manifest), imageTag=tag)["image"]
    return str(image["imageId"]["imageDigest"]).removeprefix("sha256:")


def record_calls(target: Target) -> list[str]:
    """Every API operation clients of `target.session` make from now on (clients created later)."""
    calls: list[str] = []

    def note(**kwargs: Any) -> None:
        calls.append(kwargs["model"].name)

    target.session.events.register("before-call", note)
    return calls


def mutating(calls: list[str]) -> list[str]:
    return [c for c in calls if MUTATING.match(c)]


def _strip(response: dict[str, Any]) -> dict[str, Any]:
    response.pop("ResponseMetadata", None)
    return response


def _bucket_tags(s3: Any, name: str) -> list[dict[str, str]] | None:
    try:
        return s3.get_bucket_tagging(Bucket=name)["TagSet"]
    except s3.exceptions.ClientError as error:
        if error.response["Error"]["Code"] == "NoSuchTagSet":
            return None
        raise


def snapshot(target: Target, prefix: str) -> dict[str, Any]:
    """Configuration, policies, definitions, tags of everything whose name contains `prefix`.

    Read with plain boto3, independently of the deploy library, so a bug there cannot hide here.
    """
    lam, iam, s3, sfn = (target.client(s) for s in ("lambda", "iam", "s3", "stepfunctions"))
    logs, ddb, sns, sqs, ecr = (target.client(s) for s in ("logs", "dynamodb", "sns", "sqs", "ecr"))
    snap: dict[str, Any] = {}
    for fn in lam.list_functions()["Functions"]:
        name = fn["FunctionName"]
        if prefix in name:
            got = _strip(lam.get_function(FunctionName=name))
            got["Code"].pop("Location", None)  # a pre-signed URL, different on every read
            try:
                got["Policy"] = json.loads(lam.get_policy(FunctionName=name)["Policy"])
            except lam.exceptions.ResourceNotFoundException:
                got["Policy"] = None
            snap[f"function {name}"] = got
    for role in iam.list_roles()["Roles"]:
        name = role["RoleName"]
        if prefix in name:
            snap[f"role {name}"] = {
                "role": _strip(iam.get_role(RoleName=name)),
                "inline": {
                    p: iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"]
                    for p in iam.list_role_policies(RoleName=name)["PolicyNames"]
                },
                "attached": iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"],
            }
    for bucket in s3.list_buckets()["Buckets"]:
        name = bucket["Name"]
        if prefix in name:
            snap[f"bucket {name}"] = {
                "notifications": _strip(s3.get_bucket_notification_configuration(Bucket=name)),
                "tags": _bucket_tags(s3, name),
                "location": s3.get_bucket_location(Bucket=name)["LocationConstraint"],
            }
    for machine in sfn.list_state_machines()["stateMachines"]:
        if prefix in machine["name"]:
            arn = machine["stateMachineArn"]
            snap[f"state machine {machine['name']}"] = {
                "describe": _strip(sfn.describe_state_machine(stateMachineArn=arn)),
                "tags": sfn.list_tags_for_resource(resourceArn=arn)["tags"],
            }
    for group in logs.describe_log_groups()["logGroups"]:
        if prefix in group["logGroupName"]:
            snap[f"log group {group['logGroupName']}"] = {
                "group": group,
                "tags": logs.list_tags_log_group(logGroupName=group["logGroupName"])["tags"],
            }
    for table in ddb.list_tables()["TableNames"]:
        if prefix in table:
            described = ddb.describe_table(TableName=table)["Table"]
            snap[f"table {table}"] = {
                "table": described,
                "tags": ddb.list_tags_of_resource(ResourceArn=described["TableArn"])["Tags"],
            }
    for topic in sns.list_topics()["Topics"]:
        arn = topic["TopicArn"]
        if prefix in arn:
            snap[f"topic {arn}"] = {
                "attributes": sns.get_topic_attributes(TopicArn=arn)["Attributes"],
                "subscriptions": sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"],
                "tags": sns.list_tags_for_resource(ResourceArn=arn)["Tags"],
            }
    for url in sqs.list_queues().get("QueueUrls", []):
        if prefix in url:
            snap[f"queue {url}"] = {
                "attributes": sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"],
                "tags": sqs.list_queue_tags(QueueUrl=url).get("Tags"),
            }
    for mapping in lam.list_event_source_mappings()["EventSourceMappings"]:
        if prefix in mapping["FunctionArn"]:
            snap[f"mapping {mapping['UUID']}"] = mapping
    for repository in ecr.describe_repositories()["repositories"]:
        if prefix in repository["repositoryName"]:
            snap[f"ecr {repository['repositoryName']}"] = {
                "repository": repository,
                "tags": ecr.list_tags_for_resource(resourceArn=repository["repositoryArn"])["tags"],
            }
    return snap
