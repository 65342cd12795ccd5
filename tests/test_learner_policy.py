"""docs/learner-policy.json: the IAM policy a learner's own user/role needs to run the lab on `aws`.

Three sources of AWS calls, each mapped to IAM actions (and, where the action has resource-level
permissions, to the ARN it is authorised against) and checked against the policy:

1. Dynamic: both systems deployed, re-deployed with changed settings, and torn down (library and
   `python -m lambdalab teardown --target aws --yes`) through the `aws` code paths on in-process
   moto, recording every botocore API call with its parameters.
2. Static: every `<client>.<method>(` (and paginator, waiter, S3 transfer call) in the notebooks'
   code cells and in every lambdalab module they import (transitively), so code paths the moto run
   does not take (update-in-place, drift repair, notebook-only calls) are covered too.
3. Explicit: the `aws ecr get-login-password | docker login` and `docker push` the notebook runs,
   which reach ECR outside botocore.

Calls also imply actions that are not their own name (tags on create, iam:PassRole, the image
pull Lambda makes with the caller's rights, Step Functions' log delivery, Rekognition reading the
video with the caller's rights): `implied()` lists them explicitly.

The matcher is deliberately simple: Allow statements only, glob on actions, ARN globs per segment,
and the four condition operators the policy uses. `test_the_check_fails_without_a_needed_grant`
proves that removing a grant (or narrowing a resource, or a condition) makes the checks fail.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import nbformat
import parliament
import pytest
from botocore.client import BaseClient
from deploy_support import PREFIX, aws, clean_env, push_fake_image  # noqa: F401

from lambdalab import cli
from lambdalab.deploy import deploy_face_blur, deploy_songs, teardown
from lambdalab.deploy.face_blur import blur_faces_image
from lambdalab.deploy.images import push_commands

ROOT = Path(__file__).resolve().parents[1]
POLICY_FILE = ROOT / "docs" / "learner-policy.json"
SOURCE = ROOT / "src"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
# Only reached on the `local` target (it *is* the offline AWS): not the learner's calls on `aws`.
LOCAL_ONLY_MODULES = ("lambdalab.localaws",)

IAM_DEFINITION = json.loads((Path(parliament.__file__).parent / "iam_definition.json").read_text())
# prefix -> lower-case privilege -> resource types ("" = the action works on "*" only)
PRIVILEGES: dict[str, dict[str, list[str]]] = {
    service["prefix"]: {
        p["privilege"].lower(): [r["resource_type"].rstrip("*") for r in p["resource_types"]]
        for p in service["privileges"]
    }
    for service in IAM_DEFINITION
}


def load_policy(path: Path = POLICY_FILE) -> dict[str, Any]:
    return json.loads(path.read_text())


def listify(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --------------------------------------------------------------------------------------------
# What a call needs, and whether the policy allows it
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Need:
    action: str  # "s3:PutObject"
    resource: str  # the ARN IAM authorises against, or "*" for actions without resource-level permissions
    context: tuple[tuple[str, str], ...] = ()  # condition keys the request carries
    why: str = ""  # which call needs it, for the failure message

    def __str__(self) -> str:
        extra = f" with {dict(self.context)}" if self.context else ""
        return f"{self.action} on {self.resource}{extra}  <- {self.why}"


def resource_types(action: str) -> list[str]:
    prefix, name = action.split(":", 1)
    try:
        return PRIVILEGES[prefix][name.lower()]
    except KeyError:
        raise AssertionError(f"{action} is not an IAM action (per parliament's IAM definition)") from None


def star_only(action: str) -> bool:
    return all(t == "" for t in resource_types(action))


def arn_matches(pattern: str, arn: str) -> bool:
    """IAM resource matching: `*` matches everything; otherwise glob per ARN segment (the 6th is the rest)."""
    if pattern == "*":
        return True
    if arn == "*":
        return False
    want, got = pattern.split(":", 5), arn.split(":", 5)
    return len(want) == len(got) == 6 and all(fnmatchcase(g, w) for w, g in zip(want, got))


def condition_holds(condition: Mapping[str, Mapping[str, Any]], context: Mapping[str, str]) -> bool:
    for operator, pairs in condition.items():
        for key, expected in pairs.items():
            got = context.get(key)
            if got is None:
                return False  # no ...IfExists operators here: a missing key fails the condition
            values = listify(expected)
            if operator in ("StringEquals", "ArnEquals"):
                ok = got in values
            elif operator == "StringLike":
                ok = any(fnmatchcase(got, v) for v in values)
            elif operator == "ArnLike":
                ok = any(arn_matches(v, got) for v in values)
            else:
                raise AssertionError(f"the test's matcher does not know condition operator {operator}")
            if not ok:
                return False
    return True


def allows(policy: Mapping[str, Any], need: Need) -> bool:
    context = dict(need.context)
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow" and "NotAction" not in statement and "NotResource" not in statement
        if not any(fnmatchcase(need.action.lower(), a.lower()) for a in listify(statement["Action"])):
            continue
        if not any(arn_matches(r, need.resource) for r in listify(statement["Resource"])):
            continue
        if condition_holds(statement.get("Condition", {}), context):
            return True
    return False


# Calls the code can make that the policy deliberately does not allow, with the reason.
DELIBERATELY_NOT_GRANTED = {
    "iam:RemoveRoleFromInstanceProfile": (
        "deploy.iam.delete_role detaches a lab role from instance profiles before deleting it, but the lab "
        "never creates one: only an instance profile someone else made could hold a lab role, and the "
        "learner should not edit those. Teardown then reports that role as FAILED with AccessDenied."
    ),
}


def denied(policy: Mapping[str, Any], needs: Iterable[Need]) -> list[str]:
    """Each distinct (action, resource, context) the policy does not allow, once, with one reason
    (except the DELIBERATELY_NOT_GRANTED actions)."""
    out: dict[tuple[str, str, tuple[tuple[str, str], ...]], str] = {}
    for need in needs:
        key = (need.action, need.resource, need.context)
        if key not in out and need.action not in DELIBERATELY_NOT_GRANTED and not allows(policy, need):
            out[key] = str(need)
    return sorted(out.values())


# --------------------------------------------------------------------------------------------
# (service, operation, parameters) -> IAM actions and resources
# --------------------------------------------------------------------------------------------

# Operation names that are not their IAM action's name (same service prefix).
RENAMED = {
    ("s3", "PutBucketNotificationConfiguration"): "PutBucketNotification",
    ("s3", "GetBucketNotificationConfiguration"): "GetBucketNotification",
    ("s3", "ListObjectsV2"): "ListBucket",
    ("s3", "ListObjects"): "ListBucket",
    ("s3", "HeadBucket"): "ListBucket",
    ("s3", "ListObjectVersions"): "ListBucketVersions",
    ("s3", "ListBuckets"): "ListAllMyBuckets",
    ("s3", "HeadObject"): "GetObject",
    ("s3", "CreateMultipartUpload"): "PutObject",
    ("s3", "UploadPart"): "PutObject",
    ("s3", "CompleteMultipartUpload"): "PutObject",
}
# Creating with tags is authorised as the create *and* the service's tagging action.
TAG_ON_CREATE = {
    ("iam", "CreateRole"): ("Tags", ("iam:TagRole",)),
    ("lambda", "CreateFunction"): ("Tags", ("lambda:TagResource",)),
    ("lambda", "CreateEventSourceMapping"): ("Tags", ("lambda:TagResource",)),
    ("logs", "CreateLogGroup"): ("tags", ("logs:TagResource", "logs:TagLogGroup")),
    ("states", "CreateStateMachine"): ("tags", ("states:TagResource",)),
    ("dynamodb", "CreateTable"): ("Tags", ("dynamodb:TagResource",)),
    ("sns", "CreateTopic"): ("Tags", ("sns:TagResource",)),
    ("sqs", "CreateQueue"): ("tags", ("sqs:TagQueue",)),
    ("ecr", "CreateRepository"): ("tags", ("ecr:TagResource",)),
}
# What Step Functions needs from the caller to set up vended log delivery (loggingConfiguration).
LOG_DELIVERY = (
    "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
)
# Lambda pulls the image with the caller's rights and, the first time, adds a repository policy.
IMAGE_PULL = ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:SetRepositoryPolicy", "ecr:GetRepositoryPolicy")
UNKNOWN_UUID = "00000000-0000-0000-0000-000000000000"  # an event source mapping not yet created


@dataclass
class Where:
    """Account and region of the calls, and what earlier responses taught us (mapping -> function)."""

    account: str
    region: str
    mapping_functions: dict[str, str]

    def arn(self, service: str, resource: str, *, region: str | None = None, account: str | None = None) -> str:
        reg = self.region if region is None else region
        acct = self.account if account is None else account
        return f"arn:aws:{service}:{reg}:{acct}:{resource}"

    def function_arn(self, name_or_arn: str) -> str:
        return name_or_arn if name_or_arn.startswith("arn:") else self.arn("lambda", f"function:{name_or_arn}")

    def mapping_arn(self, uuid: str) -> str:
        return self.arn("lambda", f"event-source-mapping:{uuid}")

    def repository_arn(self, name: str) -> str:
        return self.arn("ecr", f"repository/{name}")

    def repository_of_image(self, uri: str) -> str:
        """`<account>.dkr.ecr.<region>.amazonaws.com/<name>[:tag|@sha256:...]` -> the repository ARN."""
        host, path = uri.split("/", 1)
        account, _, _, region = host.split(".")[:4]
        name = re.split(r"[:@]", path, maxsplit=1)[0]
        return self.arn("ecr", f"repository/{name}", region=region, account=account)


def resources_of(prefix: str, action: str, params: Mapping[str, Any], where: Where) -> list[str]:
    """The ARN(s) IAM authorises `action` against for a call with `params`."""
    if star_only(action):
        return ["*"]
    object_level = "object" in resource_types(action)
    if prefix == "s3":
        bucket = params["Bucket"]
        if not object_level:
            return [f"arn:aws:s3:::{bucket}"]
        keys = [o["Key"] for o in params.get("Delete", {}).get("Objects", [])] or [params.get("Key", "any-key")]
        return [f"arn:aws:s3:::{bucket}/{key}" for key in keys]
    if prefix == "lambda":
        if "UUID" in params:
            return [where.mapping_arn(params["UUID"])]
        if "Resource" in params:
            return [params["Resource"]]
        if "FunctionName" in params:
            return [where.function_arn(params["FunctionName"])]
    if prefix == "iam":
        if "instance-profile" in resource_types(action):
            return [f"arn:aws:iam::{where.account}:instance-profile/{params.get('InstanceProfileName', 'any')}"]
        if "RoleName" in params:
            return [f"arn:aws:iam::{where.account}:role/{params['RoleName']}"]
    if prefix == "logs":
        if "logGroupName" in params:
            return [where.arn("logs", f"log-group:{params['logGroupName']}")]
        if "resourceArn" in params:
            return [params["resourceArn"]]
    if prefix == "states":
        for key in ("executionArn", "stateMachineArn", "resourceArn"):
            if key in params:
                return [params[key]]
        if "name" in params:
            return [where.arn("states", f"stateMachine:{params['name']}")]
    if prefix == "dynamodb":
        if "TableName" in params:
            return [where.arn("dynamodb", f"table/{params['TableName']}")]
        if "ResourceArn" in params:
            return [params["ResourceArn"]]
    if prefix == "sns":
        for key in ("TopicArn", "ResourceArn"):
            if key in params:
                return [params[key]]
        if "Name" in params:
            return [where.arn("sns", params["Name"])]
    if prefix == "sqs":
        if "QueueUrl" in params:
            return [where.arn("sqs", params["QueueUrl"].rstrip("/").rsplit("/", 1)[1])]
        if "QueueName" in params:
            return [where.arn("sqs", params["QueueName"])]
    if prefix == "ecr":
        if "repositoryName" in params:
            return [where.repository_arn(params["repositoryName"])]
        if "resourceArn" in params:
            return [params["resourceArn"]]
        if action == "ecr:DescribeRepositories":
            names = params.get("repositoryNames")
            return [where.repository_arn(n) for n in names] if names else [where.repository_arn("*")]
    raise AssertionError(f"the test does not know which resource {action} is authorised on (params {sorted(params)})")


def primary_actions(prefix: str, operation: str, params: Mapping[str, Any]) -> list[str]:
    if prefix == "s3" and operation == "DeleteObjects":
        objects = params.get("Delete", {}).get("Objects", [])
        versioned = {"VersionId" in o for o in objects} or {True, False}
        return sorted(f"s3:{'DeleteObjectVersion' if v else 'DeleteObject'}" for v in versioned)
    if prefix == "s3" and operation in ("DeleteObject", "GetObject") and "VersionId" in params:
        return [f"s3:{operation}Version"]
    return [f"{prefix}:{RENAMED.get((prefix, operation), operation)}"]


def needs_of_call(prefix: str, operation: str, params: Mapping[str, Any], where: Where, why: str) -> list[Need]:
    """Every (action, resource, context) one API call is authorised as."""
    found: list[Need] = []

    def add(action: str, resources: list[str], context: Mapping[str, str] | None = None) -> None:
        frozen = tuple(sorted((context or {}).items()))
        found.extend(Need(action, r, frozen, why) for r in resources)

    mapping_context: dict[str, str] = {}
    if prefix == "lambda" and operation.endswith("EventSourceMapping"):
        function = params.get("FunctionName") or where.mapping_functions.get(params.get("UUID", ""))
        assert function, f"{why}: cannot tell which function mapping {params.get('UUID')} belongs to"
        mapping_context = {"lambda:FunctionArn": where.function_arn(function)}

    for action in primary_actions(prefix, operation, params):
        add(action, resources_of(prefix, action, params, where), mapping_context)

    if (prefix, operation) in TAG_ON_CREATE:
        key, tag_actions = TAG_ON_CREATE[(prefix, operation)]
        if params.get(key):
            for action in tag_actions:
                if operation == "CreateEventSourceMapping":
                    add(action, [where.mapping_arn(UNKNOWN_UUID)])
                else:
                    add(action, resources_of(prefix, action, params, where))
    role = params.get("Role") if prefix == "lambda" else params.get("roleArn") if prefix == "states" else None
    if role and operation in ("CreateFunction", "UpdateFunctionConfiguration", "CreateStateMachine", "UpdateStateMachine"):
        add("iam:PassRole", [role], {"iam:PassedToService": f"{'lambda' if prefix == 'lambda' else 'states'}.amazonaws.com"})
    image = params.get("Code", {}).get("ImageUri") if operation == "CreateFunction" else params.get("ImageUri")
    if prefix == "lambda" and image:
        for action in IMAGE_PULL:
            add(action, [where.repository_of_image(image)])
    if prefix == "states" and params.get("loggingConfiguration", {}).get("level", "OFF") != "OFF":
        for action in LOG_DELIVERY:
            add(action, ["*"])
    if prefix == "rekognition" and "S3Object" in params.get("Video", {}):
        video = params["Video"]["S3Object"]  # Rekognition reads the video with the caller's rights
        add("s3:GetObject", [f"arn:aws:s3:::{video['Bucket']}/{video['Name']}"])
    if prefix == "ecr" and operation == "DeleteRepository" and params.get("force"):
        add("ecr:BatchDeleteImage", resources_of(prefix, "ecr:BatchDeleteImage", params, where))
    return found


# --------------------------------------------------------------------------------------------
# 1. Dynamic: record every call of deploy + converge + teardown on the aws code paths
# --------------------------------------------------------------------------------------------


@dataclass
class Call:
    prefix: str  # IAM service prefix (the service's signing name)
    operation: str
    params: dict[str, Any]
    region: str


class Recorder:
    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.mapping_functions: dict[str, str] = {}
        self.paused = False

    def note_response(self, response: Mapping[str, Any]) -> None:
        """Event source mappings are named by UUID only: remember which function each belongs to."""
        for mapping in [response, *response.get("EventSourceMappings", [])]:
            if "UUID" in mapping and "FunctionArn" in mapping:
                self.mapping_functions[mapping["UUID"]] = mapping["FunctionArn"]


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    """Every botocore API call from any client of any session, with its parameters, from now on."""
    found = Recorder()
    original = BaseClient._make_api_call

    def recording(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        model = self.meta.service_model
        if not found.paused:
            found.calls.append(
                Call(model.signing_name or model.endpoint_prefix, operation_name, dict(api_params), self.meta.region_name)
            )
        response = original(self, operation_name, api_params)
        found.note_response(response)
        return response

    monkeypatch.setattr(BaseClient, "_make_api_call", recording)
    return found


def recorded_needs(recorder: Recorder, account: str) -> list[Need]:
    needs = []
    for call in recorder.calls:
        where = Where(account, call.region, recorder.mapping_functions)
        why = f"{call.prefix} {call.operation} (recorded)"
        needs.extend(needs_of_call(call.prefix, call.operation, call.params, where, why))
    return needs


def test_deploy_converge_and_teardown_on_aws_need_only_what_the_policy_allows(recorder, aws):
    """`recorder` before `aws`: the fixture's own sts:GetCallerIdentity (use_target) is recorded too."""
    # What notebook 02 does on aws: create the repository, print the push commands ...
    image_uri, _commands = blur_faces_image(aws, prefix=PREFIX, verbose=False)
    # ... which docker runs (its ECR calls are checked in test_the_image_push_commands_are_covered).
    recorder.paused = True
    push_fake_image(aws.client("ecr"), image_uri.split("/", 1)[1].rsplit(":", 1)[0])
    recorder.paused = False

    blur = deploy_face_blur(aws, prefix=PREFIX, verbose=False)
    songs = deploy_songs(aws, prefix=PREFIX, verbose=False)
    # Converge: re-runs that change settings take the update paths (function configuration and
    # environment, mapping updated in place, then recreated for another starting position, email).
    deploy_face_blur(aws, prefix=PREFIX, poll_interval_seconds=7, verbose=False)
    deploy_songs(aws, prefix=PREFIX, batch_size=25, verbose=False)
    deploy_songs(aws, prefix=PREFIX, batch_size=25, starting_position="TRIM_HORIZON",
                 email="learner@example.com", verbose=False)
    # What a lab session leaves behind for teardown: a running execution, versioned objects (the
    # test's own calls, not recorded).
    recorder.paused = True
    aws.client("stepfunctions").start_execution(stateMachineArn=blur.state_machine_arn, input="{}")
    s3 = aws.client("s3")
    s3.put_bucket_versioning(Bucket=blur.output_bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=blur.output_bucket, Key="blurred/video.mp4", Body=b"x")
    s3.delete_object(Bucket=blur.output_bucket, Key="blurred/video.mp4")
    recorder.paused = False

    report = teardown(PREFIX, aws, verbose=False)
    assert report.complete, report.table()
    # The CLI's own path (its own target and session), on what is left: a table to delete again.
    recorder.paused = True
    aws.client("dynamodb").create_table(
        TableName=songs.table_name, BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "Artist", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "Artist", "AttributeType": "S"}],
    )
    recorder.paused = False
    before_cli = len(recorder.calls)
    assert cli.main(["teardown", "--target", "aws", "--region", aws.region, "--prefix", PREFIX, "--yes"]) == 0
    assert ("dynamodb", "DeleteTable") in {(c.prefix, c.operation) for c in recorder.calls[before_cli:]}

    operations = {(c.prefix, c.operation) for c in recorder.calls}
    # The run really went through the paths that matter (so a recorder that saw nothing cannot pass).
    for expected in [("sts", "GetCallerIdentity"), ("lambda", "CreateFunction"), ("lambda", "UpdateFunctionConfiguration"),
                     ("states", "CreateStateMachine"), ("s3", "PutBucketNotificationConfiguration"),
                     ("lambda", "CreateEventSourceMapping"), ("lambda", "UpdateEventSourceMapping"),
                     ("lambda", "DeleteEventSourceMapping"),
                     ("states", "StopExecution"), ("s3", "DeleteObjects"), ("ecr", "DeleteRepository"),
                     ("iam", "DeleteRole"), ("logs", "DeleteLogGroup"), ("dynamodb", "DeleteTable")]:
        assert expected in operations, expected
    assert {c.region for c in recorder.calls} == {aws.region, "aws-global"}  # IAM is global

    needs = recorded_needs(recorder, aws.account)
    assert {"iam:PassRole", "lambda:TagResource", "ecr:BatchGetImage", "logs:CreateLogDelivery"} <= {n.action for n in needs}
    assert denied(load_policy(), needs) == []


# --------------------------------------------------------------------------------------------
# 2. Static: every client call in the notebooks and the lambdalab modules they use
# --------------------------------------------------------------------------------------------

# The variable names this project gives its clients (confirmed or overridden by each file's own
# `x = ...client("svc")` assignments, see client_bindings).
CLIENT_NAMES = {
    "s3": "s3", "lam": "lambda", "iam": "iam", "logs": "logs", "sfn": "stepfunctions", "dynamodb": "dynamodb",
    "sns": "sns", "sqs": "sqs", "ecr": "ecr", "rekognition": "rekognition", "sts": "sts",
}
# S3 transfer-manager methods (not API operations) and the operations they may make.
TRANSFER_METHODS = {
    "upload_file": ("PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "AbortMultipartUpload"),
    "upload_fileobj": ("PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "AbortMultipartUpload"),
    "download_file": ("HeadObject", "GetObject"),
    "download_fileobj": ("HeadObject", "GetObject"),
}
NOT_CALLS = {"get_paginator", "get_waiter", "can_paginate", "close"}  # handled separately, or no API call

CLIENT_ASSIGNMENT = re.compile(r"^[ \t]*([A-Za-z_][\w \t,]*?)[ \t]*=[ \t]*(.+?)[ \t]*(?:#.*)?$", re.M)
CLIENT_CONSTRUCTIONS = re.compile(r"""\(?\s*(?:[\w.]*\bclient\(\s*["'][\w-]+["'][^()]*\)\s*,?\s*)+\)?""")
CLIENT_GENERATOR = re.compile(r"""\(\s*[\w.]*\bclient\((\w+)\)\s+for\s+\1\s+in\s+\(([^)]*)\)\s*\)""")
SERVICE_LITERAL = re.compile(r"""["']([\w-]+)["']""")
METHOD_CALL = re.compile(r"\b([A-Za-z_]\w*)\.([a-z_]\w*)\(")
CHAINED_CALL = re.compile(r"""\bclient\(\s*["']([\w-]+)["'][^()]*\)\.([a-z_]\w*)\(""")
PAGINATE_HELPER = re.compile(r"""\bpaginate\(\s*(\w+)\s*,\s*["'](\w+)["']""")
PAGINATOR = re.compile(r"""\b(\w+)\.get_paginator\(\s*["'](\w+)["']""")
WAITER = re.compile(r"""\b(\w+)\.get_waiter\(\s*["'](\w+)["']""")
LAMBDALAB_IMPORT = re.compile(
    r"^[ \t]*(?:from[ \t]+(lambdalab[\w.]*)[ \t]+import[ \t]+(?:\(([^)]*)\)|([^\n]*))|import[ \t]+(lambdalab[\w.]*))", re.M
)


def client_bindings(text: str) -> dict[str, str]:
    """`s3 = boto3.client("s3")`, `sfn, logs = boto3.client(...), boto3.client(...)`, `(ctx.client(s) for s in (...))`."""
    bound: dict[str, str] = {}
    for lhs, rhs in CLIENT_ASSIGNMENT.findall(text):
        names = [n.strip() for n in lhs.split(",") if n.strip()]
        generator = CLIENT_GENERATOR.fullmatch(rhs)
        if generator:
            services = SERVICE_LITERAL.findall(generator.group(2))
        elif CLIENT_CONSTRUCTIONS.fullmatch(rhs):
            services = re.findall(r"""\bclient\(\s*["']([\w-]+)["']""", rhs)
        else:
            continue
        if len(services) == len(names):
            bound.update(zip(names, services))
    return bound


@cache
def botocore_client(service: str) -> BaseClient:
    session = boto3.session.Session(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return session.client(service)


def api_operations(service: str, method: str) -> tuple[str, ...] | None:
    """The API operation(s) behind `client.method(`; None when it is not a client method at all."""
    if service == "s3" and method in TRANSFER_METHODS:
        return TRANSFER_METHODS[method]
    mapping = botocore_client(service).meta.method_to_api_mapping
    return (mapping[method],) if method in mapping else None


@dataclass(frozen=True)
class StaticCall:
    service: str  # boto3 service name
    operation: str
    where: str  # file (and notebook cell)


def calls_in(text: str, where: str) -> Iterator[StaticCall | str]:
    """Client calls in `text`; a str for something on a client variable the scan cannot resolve."""
    names = {**CLIENT_NAMES, **client_bindings(text)}
    for variable, method in METHOD_CALL.findall(text):
        if variable not in names or method in NOT_CALLS:
            continue
        operations = api_operations(names[variable], method)
        if operations is None:
            yield f"{where}: {variable}.{method}( is not a {names[variable]} client method"
            continue
        yield from (StaticCall(names[variable], op, where) for op in operations)
    for service, method in CHAINED_CALL.findall(text):
        operations = api_operations(service, method)
        if operations is None:
            yield f"{where}: client({service!r}).{method}( is not a client method"
            continue
        yield from (StaticCall(service, op, where) for op in operations)
    for pattern in (PAGINATE_HELPER, PAGINATOR):
        for variable, method in pattern.findall(text):
            if variable in names:
                yield StaticCall(names[variable], botocore_client(names[variable]).meta.method_to_api_mapping[method], where)
            else:
                yield f"{where}: paginator on {variable}, which the scan does not know as a client"
    for variable, waiter in WAITER.findall(text):
        if variable in names:
            yield StaticCall(names[variable], botocore_client(names[variable]).get_waiter(waiter).config.operation, where)
        else:
            yield f"{where}: waiter on {variable}, which the scan does not know as a client"


def notebook_code(path: Path) -> Iterator[tuple[str, str]]:
    """(label, code) per code cell the learner's kernel runs (cell magics such as %%writefile write files)."""
    notebook = nbformat.read(path, as_version=4)
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or cell.source.lstrip().startswith("%%"):
            continue
        code = "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
        yield f"{path.name} cell {index}", code


def module_file(module: str) -> Path | None:
    base = SOURCE.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_modules(text: str) -> set[str]:
    found: set[str] = set()
    for module, parenthesised, names, plain in LAMBDALAB_IMPORT.findall(text):
        module = module or plain
        found.add(module)
        for part in (parenthesised or names).split("#")[0].split(","):
            name = part.strip().split(" as ")[0].strip()
            if name and module_file(f"{module}.{name}") is not None:
                found.add(f"{module}.{name}")
    return {m for m in found if not m.startswith(LOCAL_ONLY_MODULES)}


def code_the_learner_runs() -> list[tuple[str, str]]:
    """Notebook cells, then every lambdalab module they import (transitively), the deploy package and
    the teardown command."""
    sources = [(label, code) for path in NOTEBOOKS for label, code in notebook_code(path)]
    pending = set().union(*(imported_modules(code) for _, code in sources))
    pending |= {f"lambdalab.deploy.{p.stem}" for p in (SOURCE / "lambdalab" / "deploy").glob("*.py")}
    pending |= {"lambdalab.commands.teardown", "lambdalab.cli"}
    seen: set[Path] = set()
    while pending:
        path = module_file(pending.pop())
        if path is None or path in seen:
            continue
        seen.add(path)
        text = path.read_text()
        sources.append((str(path.relative_to(ROOT)), text))
        pending |= imported_modules(text)
    return sources


# Member values a lab call would carry, so static calls get the same resources as real ones.
ACCOUNT, REGION = "123456789012", "eu-west-1"
LAB = "lab-learner-1a2b"
FAKE_MEMBERS: dict[str, Any] = {
    "Bucket": f"{LAB}-input-{ACCOUNT}",
    "Key": "sample-video.mp4",
    "FunctionName": f"{LAB}-face-detection",
    "RoleName": f"{LAB}-face-detection",
    "Role": f"arn:aws:iam::{ACCOUNT}:role/{LAB}-face-detection",
    "roleArn": f"arn:aws:iam::{ACCOUNT}:role/{LAB}-face-blur-states",
    "logGroupName": f"/aws/lambda/{LAB}-face-detection",
    "name": f"{LAB}-face-blur",
    "stateMachineArn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{LAB}-face-blur",
    "executionArn": f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{LAB}-face-blur:run-1",
    "TableName": f"{LAB}-Songs",
    "TopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:{LAB}-new-songs",
    "Name": f"{LAB}-new-songs",
    "QueueUrl": f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{LAB}-new-songs-inbox",
    "QueueName": f"{LAB}-new-songs-inbox",
    "repositoryName": f"{LAB}-blur-faces",
    "UUID": "11111111-2222-3333-4444-555555555555",
    "Video": {"S3Object": {"Bucket": f"{LAB}-faces-{ACCOUNT}", "Name": "sample-video.mp4"}},
    "Delete": {"Objects": [{"Key": "a", "VersionId": "v1"}, {"Key": "b"}]},
    "Code": {"ImageUri": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{LAB}-blur-faces:latest"},
    "ImageUri": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{LAB}-blur-faces:latest",
    "loggingConfiguration": {"level": "ALL"},
    "force": True,
    "InstanceProfileName": "an-instance-profile-someone-else-made",
    # Static calls cannot show whether tags are passed: assume they are (the lab tags everything).
    "Tags": [{"Key": "owner", "Value": LAB}],
    "tags": {"owner": LAB},
}
FAKE_RESOURCE_ARNS = {  # `Resource`/`ResourceArn`/`resourceArn` mean a different resource per service
    "lambda": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{LAB}-face-detection",
    "logs": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/lambda/{LAB}-face-detection",
    "states": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{LAB}-face-blur",
    "dynamodb": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{LAB}-Songs",
    "sns": f"arn:aws:sns:{REGION}:{ACCOUNT}:{LAB}-new-songs",
    "ecr": f"arn:aws:ecr:{REGION}:{ACCOUNT}:repository/{LAB}-blur-faces",
}


def fake_params(service: str, operation: str) -> dict[str, Any]:
    members = botocore_client(service).meta.service_model.operation_model(operation).input_shape
    names = set(members.members) if members is not None else set()
    params = {k: v for k, v in FAKE_MEMBERS.items() if k in names}
    prefix = botocore_client(service).meta.service_model.signing_name
    for key in ("Resource", "ResourceArn", "resourceArn"):
        if key in names and prefix in FAKE_RESOURCE_ARNS:
            params[key] = FAKE_RESOURCE_ARNS[prefix]
    return params


def static_needs(calls: Iterable[StaticCall]) -> list[Need]:
    where = Where(ACCOUNT, REGION, {FAKE_MEMBERS["UUID"]: FAKE_MEMBERS["FunctionName"]})
    needs = []
    for call in calls:
        prefix = botocore_client(call.service).meta.service_model.signing_name
        params = fake_params(call.service, call.operation)
        needs.extend(needs_of_call(prefix, call.operation, params, where, f"{call.service} {call.operation} in {call.where}"))
    return needs


@cache
def scanned() -> tuple[tuple[StaticCall, ...], tuple[str, ...]]:
    calls: list[StaticCall] = []
    unresolved: list[str] = []
    for label, code in code_the_learner_runs():
        for found in calls_in(code, label):
            (unresolved if isinstance(found, str) else calls).append(found)
    return tuple(calls), tuple(unresolved)


# The boto3 calls the notebooks (and the helpers they hand clients to: viz, messaging) make that
# the deploy/teardown library does not: the reviewed list, compared with what the scan extracts so
# that neither drifts silently. All of them must be allowed like the library's own calls.
NOTEBOOK_HELPERS = ("src/lambdalab/viz/", "src/lambdalab/messaging.py", "src/lambdalab/cleanup.py")
NOTEBOOK_ONLY_CALLS = {
    ("rekognition", "StartFaceDetection"), ("rekognition", "GetFaceDetection"),  # 01
    # s3.upload_file (01, 03: the transfer manager's single or multipart upload), head_object,
    # put_object (03), download_file / get_object / list_objects_v2 (03)
    ("s3", "PutObject"), ("s3", "CreateMultipartUpload"), ("s3", "UploadPart"), ("s3", "CompleteMultipartUpload"),
    ("s3", "AbortMultipartUpload"), ("s3", "HeadObject"), ("s3", "GetObject"), ("s3", "ListObjectsV2"),
    ("stepfunctions", "DescribeExecution"),  # 03 (its history is read through lambdalab.execution_history)
    ("logs", "FilterLogEvents"),  # 03, 04: viz.logs
    ("dynamodb", "PutItem"), ("dynamodb", "UpdateItem"), ("dynamodb", "DeleteItem"),  # 04
    ("sqs", "ReceiveMessage"), ("sqs", "DeleteMessage"),  # 04: messaging.drain_queue
}


def is_notebook_side(call: StaticCall) -> bool:
    return ".ipynb" in call.where or call.where.startswith(NOTEBOOK_HELPERS)


def test_notebook_only_calls_are_the_reviewed_list():
    calls, _ = scanned()
    notebook_side = {(c.service, c.operation) for c in calls if is_notebook_side(c)}
    library = {(c.service, c.operation) for c in calls if not is_notebook_side(c)}
    assert sorted(notebook_side - library) == sorted(NOTEBOOK_ONLY_CALLS)
    needs = static_needs(StaticCall(service, operation, "NOTEBOOK_ONLY_CALLS") for service, operation in NOTEBOOK_ONLY_CALLS)
    assert denied(load_policy(), needs) == []


def test_every_call_in_notebooks_and_library_is_allowed():
    calls, _ = scanned()
    needs = static_needs(calls)
    assert denied(load_policy(), needs) == []
    # The exceptions are real: still called somewhere, and really not allowed.
    for action in DELIBERATELY_NOT_GRANTED:
        exempt = [n for n in needs if n.action == action]
        assert exempt and not any(allows(load_policy(), n) for n in exempt), action


# --------------------------------------------------------------------------------------------
# 3. Explicit: the image push the notebook runs through the aws CLI and docker
# --------------------------------------------------------------------------------------------

DOCKER_PUSH = ("ecr:BatchCheckLayerAvailability", "ecr:InitiateLayerUpload", "ecr:UploadLayerPart",
               "ecr:CompleteLayerUpload", "ecr:PutImage", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")


def test_the_image_push_commands_are_covered():
    uri = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{LAB}-blur-faces"
    commands = push_commands(uri, region=REGION, profile="sandbox")
    # If these commands change (another aws CLI call, a docker pull from ECR...), review the policy.
    aws_cli = sorted(set(re.findall(r"\baws (\w[\w-]*) ([\w-]+)", " ".join(commands))))
    docker = sorted(set(re.findall(r"\bdocker (\w+)", " ".join(commands))))
    assert (aws_cli, docker) == ([("ecr", "get-login-password")], ["build", "login", "push"])
    repository = Where(ACCOUNT, REGION, {}).repository_arn(f"{LAB}-blur-faces")
    needs = [Need("ecr:GetAuthorizationToken", "*", why="aws ecr get-login-password")]
    needs += [Need(action, repository, why="docker push") for action in DOCKER_PUSH]
    assert denied(load_policy(), needs) == []


# --------------------------------------------------------------------------------------------
# The policy itself
# --------------------------------------------------------------------------------------------


def test_policy_has_no_parliament_findings():
    findings = parliament.analyze_policy_string(POLICY_FILE.read_text()).findings
    assert findings == [], [(f.issue, f.detail) for f in findings]


def test_policy_shape_is_least_privilege():
    policy = load_policy()
    assert policy["Version"] == "2012-10-17"
    sids = [s["Sid"] for s in policy["Statement"]]
    assert len(sids) == len(set(sids))
    for statement in policy["Statement"]:
        actions, resources = listify(statement["Action"]), listify(statement["Resource"])
        assert statement["Effect"] == "Allow"
        assert all("*" not in a and "?" not in a for a in actions), f"wildcard action in {statement['Sid']}"
        for action in actions:
            resource_types(action)  # raises for an action IAM does not have
        if resources == ["*"]:
            assert all(star_only(a) for a in actions), f"{statement['Sid']}: '*' for actions with resource-level permissions"
        else:
            assert "*" not in resources
            for resource in resources:
                scoped = "lab-" in resource or resource in (
                    "arn:aws:lambda:*:*:event-source-mapping:*",  # named by UUID only; writes need lambda:FunctionArn
                    "arn:aws:ecr:*:*:repository/*",  # ecr:DescribeRepositories lists all of them
                )
                assert scoped, f"{statement['Sid']}: {resource} is not limited to the lab's names"
    (pass_role,) = [s for s in policy["Statement"] if "iam:PassRole" in listify(s["Action"])]
    assert listify(pass_role["Action"]) == ["iam:PassRole"]
    assert pass_role["Resource"] == "arn:aws:iam::*:role/lab-*"
    assert pass_role["Condition"] == {
        "StringEquals": {"iam:PassedToService": ["lambda.amazonaws.com", "states.amazonaws.com"]}
    }
    mapping_writes = [s for s in policy["Statement"]
                      if {"lambda:CreateEventSourceMapping", "lambda:UpdateEventSourceMapping",
                          "lambda:DeleteEventSourceMapping"} & set(listify(s["Action"]))]
    assert all(s["Condition"] == {"ArnLike": {"lambda:FunctionArn": "arn:aws:lambda:*:*:function:lab-*"}}
               for s in mapping_writes)


def test_policy_grants_nothing_the_lab_does_not_use():
    """Every granted action is needed by some call the scan found or the image push."""
    calls, _ = scanned()
    needed = {n.action for n in static_needs(calls)} | set(DOCKER_PUSH) | {"ecr:GetAuthorizationToken"}
    granted = {a for s in load_policy()["Statement"] for a in listify(s["Action"])}
    assert sorted(granted - needed) == []


def test_the_operation_mapping_names_real_iam_actions():
    for (prefix, _operation), action in RENAMED.items():
        resource_types(f"{prefix}:{action}")
    for _key, actions in TAG_ON_CREATE.values():
        for action in actions:
            resource_types(action)
    for action in (*LOG_DELIVERY, *IMAGE_PULL, *DOCKER_PUSH):
        resource_types(action)
    calls, _ = scanned()
    for need in static_needs(calls):
        resource_types(need.action)


def test_the_check_fails_without_a_needed_grant():
    """The checks above can fail: drop a grant, narrow a resource, or break a condition, and they do."""
    calls, _ = scanned()
    needs = static_needs(calls)
    policy = load_policy()
    assert denied(policy, needs) == []

    def without(action: str) -> dict[str, Any]:
        copy = json.loads(json.dumps(policy))
        for statement in copy["Statement"]:
            statement["Action"] = [a for a in listify(statement["Action"]) if a != action]
        copy["Statement"] = [s for s in copy["Statement"] if s["Action"]]
        return copy

    missing = denied(without("s3:PutBucketNotification"), needs)
    assert missing and all(line.startswith("s3:PutBucketNotification on arn:aws:s3:::lab-") for line in missing)
    assert any("logs:CreateLogDelivery on *" in line for line in denied(without("logs:CreateLogDelivery"), needs))
    assert any("iam:TagRole" in line for line in denied(without("iam:TagRole"), needs))

    bucket = Need("s3:CreateBucket", "arn:aws:s3:::someone-elses-bucket")
    assert not allows(policy, bucket) and allows(policy, Need("s3:CreateBucket", "arn:aws:s3:::lab-a-1a2b-input-1"))
    role = "arn:aws:iam::123456789012:role/lab-a-1a2b-face-detection"
    assert allows(policy, Need("iam:PassRole", role, (("iam:PassedToService", "lambda.amazonaws.com"),)))
    assert not allows(policy, Need("iam:PassRole", role, (("iam:PassedToService", "ec2.amazonaws.com"),)))
    assert not allows(policy, Need("iam:PassRole", role))
    assert not allows(policy, Need("iam:PassRole", "arn:aws:iam::123456789012:role/Admin",
                                   (("iam:PassedToService", "lambda.amazonaws.com"),)))
    foreign = (("lambda:FunctionArn", "arn:aws:lambda:eu-west-1:123456789012:function:payments"),)
    assert not allows(policy, Need("lambda:DeleteEventSourceMapping", "arn:aws:lambda:eu-west-1:1:event-source-mapping:u", foreign))
