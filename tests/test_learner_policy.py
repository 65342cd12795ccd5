"""docs/learner-policy.json: the IAM policy a learner's own user/role needs to run the lab on `aws`.

Three sources of AWS calls, each mapped to IAM actions (and, where the action has resource-level
permissions, to the ARN it is authorised against) and checked against the policy:

1. Dynamic: the notebooks that deploy run as the learner runs them, on the local target: 02 twice
   (the second run converges to a changed setting), 04 to its clean-up and then whole (updates in
   place, then deletes); every botocore call their kernels send is recorded (tests/call_recorder.py,
   loaded by an IPython startup file), then the library teardown in this process. The teardown
   command's `aws` path (`python -m lambdalab teardown --target aws --yes`) runs on in-process moto.
2. Static: every `<client>.<method>(` (and paginator, waiter, S3 transfer call) in the notebooks'
   code cells and in every lambdalab module they import (transitively), so code paths the runs do
   not take (the `aws`-only image cell, drift repair, notebook 03) are covered too.
3. Explicit: the `docker login`, `docker build` and `docker push` notebooks 02 and 05 run (read
   from their code), which reach ECR outside botocore, and Lambda pulling each image they push.

Calls also imply actions that are not their own name (tags on create, iam:PassRole, the image
pull Lambda makes with the caller's rights, Step Functions' log delivery, Rekognition reading the
video with the caller's rights): `needs_of_call()` lists them explicitly.

The matcher is deliberately simple: Allow statements only, glob on actions, ARN globs per segment,
and the four condition operators the policy uses. `test_the_check_fails_without_a_needed_grant`
proves that removing a grant (or narrowing a resource, or a condition) makes the checks fail.
"""

from __future__ import annotations

import ast
import io
import json
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path
from typing import Any

import boto3
import call_recorder
import nbformat
import parliament
import pytest
from botocore.client import BaseClient
from deploy_support import PREFIX, aws, clean_env, push_fake_image  # noqa: F401

from lambdalab import cli
from lambdalab.deploy import teardown
from lambdalab.deploy.naming import IMAGE_FUNCTIONS, Names
from lambdalab.deploy.tags import as_list, lab_tags
from lambdalab.deploy.target import Target, connect
from lambdalab.notebook_run import run_notebook

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
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
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
    if role and operation in (
        "CreateFunction",
        "UpdateFunctionConfiguration",
        "CreateStateMachine",
        "UpdateStateMachine",
    ):
        add(
            "iam:PassRole",
            [role],
            {"iam:PassedToService": f"{'lambda' if prefix == 'lambda' else 'states'}.amazonaws.com"},
        )
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
# 1. Dynamic: record every call the notebooks' kernels and the teardown send
# --------------------------------------------------------------------------------------------


@dataclass
class Call:
    prefix: str  # IAM service prefix (the service's signing name)
    operation: str
    params: dict[str, Any]
    region: str


class Recorder:
    """Calls recorded in this process (call_recorder.patches), or read back from a kernel's file."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.mapping_functions: dict[str, str] = {}
        self.paused = False  # the test's own calls (what a lab session leaves behind) are not the learner's

    def add(self, line: Mapping[str, Any]) -> None:
        self.mapping_functions.update(line["mappings"])
        if not self.paused:
            self.calls.append(Call(line["prefix"], line["operation"], line["params"], line["region"]))

    def operations(self) -> set[tuple[str, str]]:
        return {(c.prefix, c.operation) for c in self.calls}


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    """Every botocore API call this process sends, with its parameters, from now on."""
    found = Recorder()
    for name, method in call_recorder.patches(found.add).items():
        monkeypatch.setattr(BaseClient, name, method)
    return found


# An IPython startup file: each kernel started with this IPYTHONDIR records the calls it sends.
KERNEL_STARTUP = """\
def _record_calls():  # tests/test_learner_policy.py: every botocore call this kernel sends
    import importlib.util, sys
    spec = importlib.util.spec_from_file_location("lambdalab_call_recorder", {path!r})
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.record_to_file()
_record_calls()
del _record_calls
"""


@pytest.fixture
def kernel_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Kernels started from now on (papermill's, which inherit this environment) append their calls here."""
    startup = tmp_path / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-record-calls.py").write_text(KERNEL_STARTUP.format(path=call_recorder.__file__))
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv(call_recorder.ENV, str(tmp_path / "kernel-calls.jsonl"))
    return tmp_path / "kernel-calls.jsonl"


def recorded_needs(recorder: Recorder, account: str) -> list[Need]:
    needs = []
    for call in recorder.calls:
        where = Where(account, call.region, recorder.mapping_functions)
        why = f"{call.prefix} {call.operation} (recorded)"
        needs.extend(needs_of_call(call.prefix, call.operation, call.params, where, why))
    return needs


NOTEBOOK_PREFIX = "lab-policy-9a9a"
# What each notebook run must have sent (so a recorder that saw nothing, or a notebook that stopped
# creating something, cannot pass); 02's image path (ECR, docker) runs on `aws` only: see part 3.
NOTEBOOK_RUNS = (
    (
        "02_build_the_pipeline",
        {"POLL_INTERVAL_SECONDS": 3},
        None,
        {
            ("sts", "GetCallerIdentity"),
            ("s3", "CreateBucket"),
            ("s3", "PutBucketTagging"),
            ("iam", "CreateRole"),
            ("iam", "PutRolePolicy"),
            ("lambda", "CreateFunction"),
            ("logs", "CreateLogGroup"),
            ("logs", "PutRetentionPolicy"),
            ("states", "CreateStateMachine"),
            ("lambda", "UpdateFunctionConfiguration"),
            ("lambda", "AddPermission"),
            ("s3", "PutBucketNotificationConfiguration"),
        },
    ),
    # Converge to another poll interval: the re-run reads everything and updates the one function.
    (
        "02_build_the_pipeline",
        {"POLL_INTERVAL_SECONDS": 4},
        None,
        {
            ("iam", "GetRolePolicy"),
            ("lambda", "GetFunction"),
            ("lambda", "UpdateFunctionConfiguration"),
            ("states", "DescribeStateMachine"),
            ("lambda", "GetPolicy"),
            ("s3", "GetBucketNotificationConfiguration"),
        },
    ),
    (
        "04_dynamodb_streams_sns",
        {},
        "clean-up",
        {
            ("dynamodb", "CreateTable"),
            ("sns", "CreateTopic"),
            ("sqs", "CreateQueue"),
            ("sqs", "SetQueueAttributes"),
            ("sns", "Subscribe"),
            ("iam", "CreateRole"),
            ("iam", "PutRolePolicy"),
            ("lambda", "CreateFunction"),
            ("lambda", "CreateEventSourceMapping"),
            ("dynamodb", "PutItem"),
            ("sqs", "ReceiveMessage"),
            ("logs", "FilterLogEvents"),
        },
    ),
    # The whole notebook on what exists: updates in place, then its clean-up cell deletes the system.
    (
        "04_dynamodb_streams_sns",
        {},
        None,
        {
            ("iam", "UpdateAssumeRolePolicy"),
            ("lambda", "UpdateFunctionCode"),
            ("lambda", "UpdateEventSourceMapping"),
            ("lambda", "DeleteEventSourceMapping"),
            ("lambda", "DeleteFunction"),
            ("iam", "DeleteRolePolicy"),
            ("iam", "DeleteRole"),
            ("sns", "DeleteTopic"),
            ("sqs", "DeleteQueue"),
            ("dynamodb", "DeleteTable"),
            ("logs", "DeleteLogGroup"),
        },
    ),
)


def leave_what_a_session_leaves(target: Target) -> None:
    """A running execution, versioned objects and delete markers, an image in a repository of ours."""
    names, s3 = Names(NOTEBOOK_PREFIX, target.account), target.client("s3")
    s3.put_bucket_versioning(Bucket=names.output_bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=names.output_bucket, Key="blurred/video.mp4", Body=b"x")
    s3.delete_object(Bucket=names.output_bucket, Key="blurred/video.mp4")
    state_machine = target.arn("states", f"stateMachine:{names.state_machine}")
    target.client("stepfunctions").start_execution(stateMachineArn=state_machine, input='{"PollIntervalSeconds": 600}')
    ecr = target.client("ecr")  # on `aws` notebook 02 pushes blur_faces' image here
    ecr.create_repository(repositoryName=names.ecr_repository, tags=as_list(lab_tags(NOTEBOOK_PREFIX)))
    push_fake_image(ecr, names.ecr_repository)


def test_the_notebooks_and_teardown_need_only_what_the_policy_allows(
    local_endpoint, kernel_calls, recorder, tmp_path, monkeypatch
):
    """Notebooks 02 (twice) and 04 (to its clean-up, then whole) in recorded kernels, then the
    library teardown in this process, on the local target."""
    monkeypatch.setenv("LAMBDALAB_HOME", str(tmp_path / "lambdalab-home"))
    kernel = Recorder()
    for notebook, parameters, stop_before, expected in NOTEBOOK_RUNS:
        before = len(call_recorder.read_file(kernel_calls))
        run_notebook(
            notebook, {"TARGET": "local", "PREFIX": NOTEBOOK_PREFIX, **parameters}, stop_before_tag=stop_before
        )
        run = Recorder()
        for line in call_recorder.read_file(kernel_calls)[before:]:
            run.add(line)
        assert expected <= run.operations(), (notebook, parameters, sorted(expected - run.operations()))
    for line in call_recorder.read_file(kernel_calls):
        kernel.add(line)
    # Not the learner's calls: the Lambda's own publishes (its process, its role) and the exercise
    # check's (stubbed in the kernel, never sent).
    assert ("sns", "Publish") not in kernel.operations()

    target = connect("local")
    recorder.paused = True
    leave_what_a_session_leaves(target)
    recorder.paused = False
    report = teardown(NOTEBOOK_PREFIX, target, verbose=False)
    assert report.complete, report.table()
    for expected in [
        ("states", "StopExecution"),
        ("states", "DeleteStateMachine"),
        ("s3", "DeleteObjects"),
        ("s3", "DeleteBucket"),
        ("lambda", "DeleteFunction"),
        ("ecr", "DeleteRepository"),
        ("iam", "DeleteRolePolicy"),
        ("iam", "DeleteRole"),
        ("logs", "DeleteLogGroup"),
    ]:
        assert expected in recorder.operations(), expected

    # On local every client is in the target's region (us-east-1, also IAM's signing region, so
    # whether IAM reports "aws-global" cannot show here: the aws-path test below checks that).
    everything = [*kernel.calls, *recorder.calls]
    assert {c.region for c in everything if c.prefix != "iam"} == {target.region}
    assert {c.region for c in everything if c.prefix == "iam"} <= {target.region, "aws-global"}
    kernel.calls += recorder.calls
    kernel.mapping_functions.update(recorder.mapping_functions)
    needs = recorded_needs(kernel, target.account)
    assert {
        "iam:PassRole",
        "iam:TagRole",
        "lambda:TagResource",
        "logs:CreateLogDelivery",
        "states:TagResource",
        "dynamodb:TagResource",
        "ecr:BatchDeleteImage",
    } <= {n.action for n in needs}
    assert denied(load_policy(), needs) == []


def test_the_teardown_command_on_aws_needs_only_what_the_policy_allows(recorder, aws):
    """`python -m lambdalab teardown --target aws` (its own target selection and session) on an
    in-process moto account with one of everything the lab makes. `recorder` before `aws`: the
    fixture's own sts:GetCallerIdentity (use_target) is recorded too."""
    recorder.paused = True
    names, tags = Names(PREFIX, aws.account), lab_tags(PREFIX)
    iam, lam, s3, sfn = (aws.client(s) for s in ("iam", "lambda", "s3", "stepfunctions"))
    logs, ddb, sns, sqs, ecr = (aws.client(s) for s in ("logs", "dynamodb", "sns", "sqs", "ecr"))
    role = iam.create_role(RoleName=names.role("publish_new_song"), AssumeRolePolicyDocument="{}", Tags=as_list(tags))
    iam.put_role_policy(
        RoleName=names.role("publish_new_song"),
        PolicyName="least-privilege",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sns:Publish", "Resource": "*"}]}
        ),
    )
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return {}\n")
    function = names.function("publish_new_song")
    lam.create_function(
        FunctionName=function,
        Role=role["Role"]["Arn"],
        Runtime="python3.12",
        Handler="app.handler",
        Code={"ZipFile": package.getvalue()},
        Tags=tags,
    )
    stream = ddb.create_table(
        TableName=names.table,
        BillingMode="PAY_PER_REQUEST",
        Tags=as_list(tags),
        KeySchema=[{"AttributeName": "Artist", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "Artist", "AttributeType": "S"}],
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )["TableDescription"]["LatestStreamArn"]
    lam.create_event_source_mapping(EventSourceArn=stream, FunctionName=function, StartingPosition="LATEST")
    topic = sns.create_topic(Name=names.topic, Tags=as_list(tags))["TopicArn"]
    queue = sqs.create_queue(QueueName=names.queue, tags=tags)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    logs.create_log_group(logGroupName=f"/aws/lambda/{function}", tags=tags)
    s3.create_bucket(Bucket=names.output_bucket, CreateBucketConfiguration={"LocationConstraint": aws.region})
    s3.put_bucket_versioning(Bucket=names.output_bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=names.output_bucket, Key="blurred/video.mp4", Body=b"x")
    s3.delete_object(Bucket=names.output_bucket, Key="blurred/video.mp4")
    machine = sfn.create_state_machine(
        name=names.state_machine,
        roleArn=role["Role"]["Arn"],
        definition=json.dumps({"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 600, "End": True}}}),
    )["stateMachineArn"]
    sfn.start_execution(stateMachineArn=machine, input="{}")
    ecr.create_repository(repositoryName=names.ecr_repository, tags=as_list(tags))
    push_fake_image(ecr, names.ecr_repository)
    recorder.paused = False

    assert cli.main(["teardown", "--target", "aws", "--region", aws.region, "--prefix", PREFIX, "--yes"]) == 0
    for expected in [
        ("sts", "GetCallerIdentity"),
        ("states", "StopExecution"),
        ("s3", "DeleteObjects"),
        ("lambda", "DeleteEventSourceMapping"),
        ("lambda", "DeleteFunction"),
        ("sns", "Unsubscribe"),
        ("sns", "DeleteTopic"),
        ("sqs", "DeleteQueue"),
        ("dynamodb", "DeleteTable"),
        ("ecr", "DeleteRepository"),
        ("iam", "DeleteRole"),
        ("logs", "DeleteLogGroup"),
    ]:
        assert expected in recorder.operations(), expected
    assert {c.region for c in recorder.calls} == {aws.region, "aws-global"}  # IAM is global
    needs = recorded_needs(recorder, aws.account)
    assert {"lambda:DeleteEventSourceMapping", "ecr:BatchDeleteImage", "s3:DeleteObjectVersion"} <= {
        n.action for n in needs
    }
    assert denied(load_policy(), needs) == []


# --------------------------------------------------------------------------------------------
# 2. Static: every client call in the notebooks and the lambdalab modules they use
# --------------------------------------------------------------------------------------------

# The variable names this project gives its clients (confirmed or overridden by each file's own
# `x = ...client("svc")` assignments, see client_bindings).
CLIENT_NAMES = {
    "s3": "s3",
    "lam": "lambda",
    "iam": "iam",
    "logs": "logs",
    "sfn": "stepfunctions",
    "dynamodb": "dynamodb",
    "sns": "sns",
    "sqs": "sqs",
    "ecr": "ecr",
    "rekognition": "rekognition",
    "sts": "sts",
}
# S3 transfer-manager methods (not API operations) and the operations they may make.
TRANSFER_METHODS = {
    "upload_file": (
        "PutObject",
        "CreateMultipartUpload",
        "UploadPart",
        "CompleteMultipartUpload",
        "AbortMultipartUpload",
    ),
    "upload_fileobj": (
        "PutObject",
        "CreateMultipartUpload",
        "UploadPart",
        "CompleteMultipartUpload",
        "AbortMultipartUpload",
    ),
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
    r"^[ \t]*(?:from[ \t]+(lambdalab[\w.]*)[ \t]+import[ \t]+(?:\(([^)]*)\)|([^\n]*))|import[ \t]+(lambdalab[\w.]*))",
    re.M,
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
                yield StaticCall(
                    names[variable], botocore_client(names[variable]).meta.method_to_api_mapping[method], where
                )
            else:
                yield f"{where}: paginator on {variable}, which the scan does not know as a client"
    for variable, waiter in WAITER.findall(text):
        if variable in names:
            yield StaticCall(
                names[variable], botocore_client(names[variable]).get_waiter(waiter).config.operation, where
            )
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
        needs.extend(
            needs_of_call(prefix, call.operation, params, where, f"{call.service} {call.operation} in {call.where}")
        )
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
# the library (teardown, inventory, the CLI) does not: since the deployments live only in the
# notebooks, that is every creating call. The reviewed list, compared with what the scan extracts
# so that neither drifts silently; all of them must be allowed like the library's own calls.
NOTEBOOK_HELPERS = ("src/lambdalab/viz/", "src/lambdalab/messaging.py", "src/lambdalab/cleanup.py")
NOTEBOOK_ONLY_CALLS = {
    # 05 starts the scale-out state machine on its long clip itself (no S3 trigger for it)
    ("stepfunctions", "StartExecution"),
    # 06: the token table's TTL, and a duplicate completion notice published to its own topic
    ("dynamodb", "DescribeTimeToLive"),
    ("dynamodb", "UpdateTimeToLive"),
    ("sns", "Publish"),
    ("rekognition", "StartFaceDetection"),
    ("rekognition", "GetFaceDetection"),  # 01
    # s3.upload_file (01, 03: the transfer manager's single or multipart upload), head_object (01, 03),
    # put_object (03), download_file / get_object / list_objects_v2 (03)
    ("s3", "PutObject"),
    ("s3", "CreateMultipartUpload"),
    ("s3", "UploadPart"),
    ("s3", "CompleteMultipartUpload"),
    ("s3", "AbortMultipartUpload"),
    ("s3", "HeadObject"),
    ("s3", "GetObject"),
    ("s3", "ListObjectsV2"),
    # 01 and 02 create their buckets; 02 checks one exists (head_bucket: s3:ListBucket) and reads its trigger
    ("s3", "CreateBucket"),
    ("s3", "PutBucketTagging"),
    ("s3", "HeadBucket"),
    ("s3", "GetBucketNotificationConfiguration"),
    # 02 and 04: roles created, or their trust policy and inline policy compared and updated
    ("iam", "CreateRole"),
    ("iam", "GetRole"),
    ("iam", "UpdateAssumeRolePolicy"),
    ("iam", "GetRolePolicy"),
    ("iam", "PutRolePolicy"),
    # 02: the image cell on aws (repository, docker login's token, the pushed digest)
    ("ecr", "CreateRepository"),
    ("ecr", "GetAuthorizationToken"),
    ("ecr", "DescribeImages"),
    # 02 and 04: functions created or updated, with the waiters' GetFunction; 02's S3 permission
    ("lambda", "CreateFunction"),
    ("lambda", "GetFunction"),
    ("lambda", "GetFunctionConfiguration"),
    ("lambda", "UpdateFunctionCode"),
    ("lambda", "UpdateFunctionConfiguration"),
    ("lambda", "GetPolicy"),
    ("lambda", "AddPermission"),
    ("lambda", "RemovePermission"),
    ("logs", "CreateLogGroup"),
    ("logs", "PutRetentionPolicy"),  # 02
    ("stepfunctions", "CreateStateMachine"),
    ("stepfunctions", "UpdateStateMachine"),  # 02
    ("stepfunctions", "DescribeExecution"),  # 03 (its history through the get_execution_history paginator)
    ("logs", "FilterLogEvents"),  # 03's paginator, 04: viz.logs
    # 04: the songs system and its exercise
    ("dynamodb", "CreateTable"),
    ("dynamodb", "PutItem"),
    ("dynamodb", "UpdateItem"),
    ("dynamodb", "DeleteItem"),
    ("sns", "CreateTopic"),
    ("sns", "ListSubscriptionsByTopic"),
    ("sns", "Subscribe"),
    ("sqs", "CreateQueue"),
    ("sqs", "GetQueueAttributes"),
    ("sqs", "SetQueueAttributes"),
    ("sqs", "ReceiveMessage"),
    ("sqs", "DeleteMessage"),  # 04: messaging.drain_queue
    ("lambda", "CreateEventSourceMapping"),
    ("lambda", "GetEventSourceMapping"),
    ("lambda", "UpdateEventSourceMapping"),
}


def is_notebook_side(call: StaticCall) -> bool:
    return ".ipynb" in call.where or call.where.startswith(NOTEBOOK_HELPERS)


def test_notebook_only_calls_are_the_reviewed_list():
    calls, _ = scanned()
    notebook_side = {(c.service, c.operation) for c in calls if is_notebook_side(c)}
    library = {(c.service, c.operation) for c in calls if not is_notebook_side(c)}
    assert sorted(notebook_side - library) == sorted(NOTEBOOK_ONLY_CALLS)
    needs = static_needs(
        StaticCall(service, operation, "NOTEBOOK_ONLY_CALLS") for service, operation in NOTEBOOK_ONLY_CALLS
    )
    assert denied(load_policy(), needs) == []


def test_every_call_in_notebooks_and_library_is_allowed():
    calls, unresolved = scanned()
    assert unresolved == ()  # a call on something the scan cannot name would go unchecked
    needs = static_needs(calls)
    assert denied(load_policy(), needs) == []
    # The exceptions are real: still called somewhere, and really not allowed.
    for action in DELIBERATELY_NOT_GRANTED:
        exempt = [n for n in needs if n.action == action]
        assert exempt and not any(allows(load_policy(), n) for n in exempt), action


# --------------------------------------------------------------------------------------------
# 3. Explicit: the programs the notebooks run (docker reaches ECR outside botocore)
# --------------------------------------------------------------------------------------------

DOCKER_PUSH = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:InitiateLayerUpload",
    "ecr:UploadLayerPart",
    "ecr:CompleteLayerUpload",
    "ecr:PutImage",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
)
SUBPROCESS_FUNCTIONS = {"run", "call", "check_call", "check_output", "Popen", "system"}


def words(node: ast.expr) -> list[str]:
    """A command as the code spells it: literal strings as such, anything else as `<its source>`."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.split()  # a shell string
    if isinstance(node, (ast.List, ast.Tuple)):
        return [
            e.value if isinstance(e, ast.Constant) and isinstance(e.value, str) else f"<{ast.unparse(e)}>"
            for e in node.elts
        ]
    return [f"<{ast.unparse(node)}>"]


def commands_in(code: str) -> list[list[str]]:
    """The commands a cell hands to subprocess/os: a literal list, or a name bound to literal lists
    (assigned, or a `for` loop over them)."""
    tree = ast.parse(code)
    bound: dict[str, list[ast.expr]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            bound.setdefault(node.targets[0].id, []).append(node.value)
        if (
            isinstance(node, ast.For)
            and isinstance(node.target, ast.Name)
            and isinstance(node.iter, (ast.Tuple, ast.List))
        ):
            bound.setdefault(node.target.id, []).extend(node.iter.elts)
    found = []
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id in ("subprocess", "os")
            and node.func.attr in SUBPROCESS_FUNCTIONS
        ):
            continue
        first = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "args"), node)
        values = bound.get(first.id, [first]) if isinstance(first, ast.Name) else [first]
        found.extend(words(value) for value in values)
    return found


def notebook_commands() -> list[list[str]]:
    """Every program the notebooks' code cells start: `!` shell lines and subprocess/os calls."""
    found = []
    for path in NOTEBOOKS:
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code" or cell.source.lstrip().startswith("%%"):
                continue
            found += [line.strip()[1:].split() for line in cell.source.splitlines() if line.strip().startswith("!")]
            found += commands_in(
                "\n".join(line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!")))
            )
    return found


def test_the_programs_the_notebooks_run_are_covered():
    commands = notebook_commands()
    # If these change (another program, an aws CLI call, a pull from a private ECR...), review the policy.
    assert sorted({tuple(c[:2]) for c in commands}) == [("docker", "build"), ("docker", "login"), ("docker", "push")]
    logins = [c for c in commands if c[:2] == ["docker", "login"]]
    assert len(logins) == 2  # 02 (blur_faces) and 05 (split_video, join_segments)
    for login in logins:  # the token from ecr:GetAuthorizationToken ...
        assert login[2:5] == ["--username", "<user>", "--password-stdin"]
    calls, _ = scanned()  # ... a botocore call in the same cell, so the static scan checks it
    for notebook in ("02_build", "05_scale_out"):
        assert ("ecr", "GetAuthorizationToken") in {(c.service, c.operation) for c in calls if notebook in c.where}
    # docker build pulls the base image from ECR Public (anonymous), not from an account's registry.
    for function in IMAGE_FUNCTIONS:
        dockerfile = (ROOT / "lambdas" / function / "Dockerfile").read_text()
        bases = re.findall(r"^FROM\s+(\S+)", dockerfile, re.M)
        assert bases and all(b.startswith("public.ecr.aws/") for b in bases), (function, bases)
    # docker push writes to the repositories the cells create (lab-prefixed) as the learner: those only.
    where, names = Where(ACCOUNT, REGION, {}), Names(LAB, ACCOUNT)
    needs = [
        Need(action, where.repository_arn(names.ecr_repository_of(function)), why=f"docker push ({function})")
        for function in IMAGE_FUNCTIONS
        for action in DOCKER_PUSH
    ]
    assert denied(load_policy(), needs) == []
    for stranger in (f"{LAB}-another-image", "blur-faces", f"team-{LAB}-split-video-x"):
        assert not allows(load_policy(), Need("ecr:PutImage", where.repository_arn(stranger))), stranger


def test_the_image_functions_need_only_what_the_policy_allows():
    """05 on `aws`: three image functions, by digest, blur_segment on blur_faces' image with its own
    ImageConfig (no IAM action or condition key of its own: lambda:CreateFunction covers it); Lambda
    pulls each image with the learner's rights."""
    where, names = Where(ACCOUNT, REGION, {}), Names(LAB, ACCOUNT)

    def image(function: str) -> str:
        return f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/{names.ecr_repository_of(function)}@sha256:{'0' * 64}"

    code = {"split_video": "split_video", "blur_segment": "blur_faces", "join_segments": "join_segments"}
    needs = []
    for function, image_of in code.items():
        create = {
            "FunctionName": names.function(function),
            "PackageType": "Image",
            "Code": {"ImageUri": image(image_of)},
            "Role": f"arn:aws:iam::{ACCOUNT}:role/{names.role(function)}",
            "Tags": lab_tags(LAB),
        }
        if function == "blur_segment":
            create["ImageConfig"] = {"Command": ["app.segment_handler"]}
        needs += needs_of_call("lambda", "CreateFunction", create, where, f"05 creates {function}")
        update = {"FunctionName": names.function(function), "ImageUri": image(image_of)}
        needs += needs_of_call("lambda", "UpdateFunctionCode", update, where, f"05 updates {function}")
    pulled = {n.resource for n in needs if n.action == "ecr:BatchGetImage"}
    assert pulled == {where.repository_of_image(image(f)) for f in ("split_video", "blur_faces", "join_segments")}
    # Each repository's own calls: created (tagged) or found, its pushed digest, then teardown's.
    for function in IMAGE_FUNCTIONS:
        repository = names.ecr_repository_of(function)
        for operation, params in (
            ("CreateRepository", {"repositoryName": repository, "tags": [{"Key": "owner", "Value": LAB}]}),
            ("DescribeRepositories", {"repositoryNames": [repository]}),
            ("DescribeImages", {"repositoryName": repository}),
            ("ListTagsForResource", {"resourceArn": where.repository_arn(repository)}),
            ("DeleteRepository", {"repositoryName": repository, "force": True}),
        ):
            needs += needs_of_call("ecr", operation, params, where, f"{operation} {repository}")
    assert denied(load_policy(), needs) == []
    # Exactly these repositories: one per image function, by its name's suffix.
    (statement,) = [s for s in load_policy()["Statement"] if "ecr:PutImage" in listify(s["Action"])]
    assert listify(statement["Resource"]) == [
        where.arn("ecr", "repository/" + names.ecr_repository_of(f).replace(LAB, "lab-*"), region="*", account="*")
        for f in IMAGE_FUNCTIONS
    ]


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
            assert all(star_only(a) for a in actions), (
                f"{statement['Sid']}: '*' for actions with resource-level permissions"
            )
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
    mapping_writes = [
        s
        for s in policy["Statement"]
        if {"lambda:CreateEventSourceMapping", "lambda:UpdateEventSourceMapping", "lambda:DeleteEventSourceMapping"}
        & set(listify(s["Action"]))
    ]
    assert all(
        s["Condition"] == {"ArnLike": {"lambda:FunctionArn": "arn:aws:lambda:*:*:function:lab-*"}}
        for s in mapping_writes
    )


def test_policy_grants_nothing_the_lab_does_not_use():
    """Every granted action is needed by some call the scan found or by docker push."""
    calls, _ = scanned()
    needed = {n.action for n in static_needs(calls)} | set(DOCKER_PUSH)
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
    assert not allows(
        policy,
        Need(
            "iam:PassRole", "arn:aws:iam::123456789012:role/Admin", (("iam:PassedToService", "lambda.amazonaws.com"),)
        ),
    )
    foreign = (("lambda:FunctionArn", "arn:aws:lambda:eu-west-1:123456789012:function:payments"),)
    assert not allows(
        policy, Need("lambda:DeleteEventSourceMapping", "arn:aws:lambda:eu-west-1:1:event-source-mapping:u", foreign)
    )
