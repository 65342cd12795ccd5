"""Shared fixtures: one private embedded AWS per test session, and tiny Lambda packages."""

from __future__ import annotations

import io
import textwrap
import uuid
import zipfile
from pathlib import Path

import boto3
import pytest

REPO = Path(__file__).resolve().parents[1]
LAMBDA_ROLE_POLICY = (
    '{"Version":"2012-10-17","Statement":[{"Effect":"Allow",'
    '"Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}'
)


@pytest.fixture()
def offline_credentials(monkeypatch):
    """For in-process moto (`mock_aws`): dummy credentials and region, and no endpoint variable or
    profile that would send the calls to a running local server or a real account instead."""
    import os

    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL")] + ["AWS_PROFILE"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture(scope="session")
def local_endpoint():
    """A private embedded AWS (its own process and port), with boto3 pointed at it."""
    from lambdalab.localaws import local_aws

    with local_aws() as endpoint:
        yield endpoint


@pytest.fixture()
def aws(local_endpoint):
    """boto3 client factory for the session's embedded AWS."""
    return lambda service: boto3.client(service, endpoint_url=local_endpoint, region_name="us-east-1")


def zip_source(source: str, filename: str = "app.py") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(filename, textwrap.dedent(source))
    return buffer.getvalue()


@pytest.fixture()
def make_function(aws):
    """Create a zip Lambda from inline source; returns its name. Unique names keep tests apart."""
    iam = aws("iam")
    role_name = f"role-{uuid.uuid4().hex[:8]}"
    role_arn = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=LAMBDA_ROLE_POLICY)["Role"]["Arn"]

    def create(source: str, *, timeout: int = 10, env: dict | None = None, handler: str = "app.handler") -> str:
        name = f"fn-{uuid.uuid4().hex[:8]}"
        aws("lambda").create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role_arn,
            Handler=handler,
            Code={"ZipFile": zip_source(source)},
            Timeout=timeout,
            Environment={"Variables": env or {}},
        )
        return name

    return create


# The handler records what it saw as one JSON line per record, read back from CloudWatch Logs.
# With GATE_BUCKET set it first waits for the object `open` there: a trigger that ran inside the
# request that caused it would block that request until the handler timed out, and the handler
# would never see the gate open (a causal check of asynchrony, not a timing one).
RECORDER = """
import json, os, time
import boto3
def handler(event, context):
    gate = os.environ.get("GATE_BUCKET")
    if gate:
        s3 = boto3.client("s3")
        while context.get_remaining_time_in_millis() > 500:
            if s3.list_objects_v2(Bucket=gate, Prefix="open").get("KeyCount"):
                break
            time.sleep(0.1)
        else:
            raise TimeoutError("the trigger blocked the request that caused it")
    for record in event.get("Records", [event]):
        print("SEEN " + json.dumps(record, default=str))
    return {"ok": True}
"""


@pytest.fixture()
def gate(aws):
    """A bucket whose `open` object releases gated handlers; open it only after the trigger call returned."""
    bucket = f"gate-{uuid.uuid4().hex[:8]}"
    aws("s3").create_bucket(Bucket=bucket)
    return bucket


def open_gate(aws, bucket: str) -> None:
    aws("s3").put_object(Bucket=bucket, Key="open", Body=b"")
