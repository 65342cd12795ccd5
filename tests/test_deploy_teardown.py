"""Teardown: after deploying both systems, nothing with the prefix remains; re-runs and strangers are safe.

The full check deploys both systems the only way the lab deploys them, by running notebooks 02 and
04, on a private embedded AWS. The others only need something of ours next to something of someone
else's, on the `aws` code paths (in-process moto): a few tagged resources made here.
"""

from __future__ import annotations

import io
import zipfile

from deploy_support import PREFIX, aws, clean_env, record_calls, snapshot  # noqa: F401

from lambdalab import cli
from lambdalab.deploy import find_resources, load_deployment, teardown
from lambdalab.deploy.deployed import face_blur_from_notebook
from lambdalab.deploy.naming import IMAGE_FUNCTIONS, Names
from lambdalab.deploy.tags import as_list, lab_tags
from lambdalab.deploy.target import connect
from lambdalab.notebook_run import run_notebook

OTHER = "lab-other-9f9f"


def everything_named(target, prefix):
    """Independent of the library: every listable resource whose name or ARN mentions `prefix`."""
    lam, iam, s3, sfn = (target.client(s) for s in ("lambda", "iam", "s3", "stepfunctions"))
    logs, ddb, sns, sqs, ecr = (target.client(s) for s in ("logs", "dynamodb", "sns", "sqs", "ecr"))
    names = [
        *(f["FunctionName"] for f in lam.list_functions()["Functions"]),
        *(m["FunctionArn"] for m in lam.list_event_source_mappings()["EventSourceMappings"]),
        *(r["RoleName"] for r in iam.list_roles()["Roles"]),
        *(b["Name"] for b in s3.list_buckets()["Buckets"]),
        *(m["name"] for m in sfn.list_state_machines()["stateMachines"]),
        *(g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]),
        *ddb.list_tables()["TableNames"],
        *(t["TopicArn"] for t in sns.list_topics()["Topics"]),
        *(s["SubscriptionArn"] + " " + s["TopicArn"] for s in sns.list_subscriptions()["Subscriptions"]),
        *sqs.list_queues().get("QueueUrls", []),
        *(r["repositoryName"] for r in ecr.describe_repositories()["repositories"]),
    ]
    return [n for n in names if prefix in n]


def deploy_everything_by_notebooks(prefix):
    """Both systems as notebooks 02 and 04 make them (04 up to its clean-up), on the local target."""
    blur = face_blur_from_notebook(prefix)
    run_notebook("04_dynamodb_streams_sns", {"TARGET": "local", "PREFIX": prefix}, stop_before_tag="clean-up")
    target = connect("local")
    # On `aws` notebooks 02 and 05 also push images (blur_faces, split_video, join_segments), one
    # ECR repository of ours each.
    for function in IMAGE_FUNCTIONS:
        target.client("ecr").create_repository(
            repositoryName=Names(prefix, target.account).ecr_repository_of(function), tags=as_list(lab_tags(prefix))
        )
    return target, blur


def make_ours(target):
    """A few tagged resources of ours (function with its role, bucket, table), as a lab run leaves them."""
    names, tags = Names(PREFIX, target.account), lab_tags(PREFIX)
    iam, lam, s3, ddb = (target.client(s) for s in ("iam", "lambda", "s3", "dynamodb"))
    role = iam.create_role(RoleName=names.role("face_detection"), AssumeRolePolicyDocument="{}", Tags=as_list(tags))
    iam.put_role_policy(
        RoleName=names.role("face_detection"),
        PolicyName="least-privilege",
        PolicyDocument='{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "*"}]}',
    )
    package = io.BytesIO()
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr("app.py", "def handler(event, context):\n    return {}\n")
    lam.create_function(
        FunctionName=names.function("face_detection"),
        Role=role["Role"]["Arn"],
        Runtime="python3.12",
        Handler="app.handler",
        Code={"ZipFile": package.getvalue()},
        Tags=tags,
    )
    s3.create_bucket(Bucket=names.input_bucket, CreateBucketConfiguration={"LocationConstraint": target.region})
    s3.put_bucket_tagging(Bucket=names.input_bucket, Tagging={"TagSet": as_list(tags)})
    ddb.create_table(
        TableName=names.table,
        BillingMode="PAY_PER_REQUEST",
        Tags=as_list(tags),
        KeySchema=[{"AttributeName": "Artist", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "Artist", "AttributeType": "S"}],
    )
    return names


def add_data(target, blur, names):
    """What a lab session leaves behind: versioned objects, delete markers, a running execution, items."""
    s3 = target.client("s3")
    s3.put_bucket_versioning(Bucket=blur.output_bucket, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"one", b"two"):
        s3.put_object(Bucket=blur.output_bucket, Key="blurred/video.mp4", Body=body)
    s3.delete_object(Bucket=blur.output_bucket, Key="blurred/video.mp4")  # leaves a delete marker
    s3.put_object(Bucket=blur.output_bucket, Key="faces/video.mp4.json", Body=b"{}")
    s3.put_object(Bucket=blur.input_bucket, Key="notes.txt", Body=b"not a video")
    target.client("stepfunctions").start_execution(
        stateMachineArn=blur.state_machine_arn, name="running", input='{"PollIntervalSeconds": 600}'
    )  # waits
    target.client("dynamodb").put_item(TableName=names.table, Item={"Artist": {"S": "A"}, "SongTitle": {"S": "B"}})


def test_teardown_leaves_nothing_with_the_prefix(local_endpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("LAMBDALAB_HOME", str(tmp_path))
    prefix = "lab-teardown-7d7d"
    target, blur = deploy_everything_by_notebooks(prefix)
    add_data(target, blur, Names(prefix, target.account))
    assert len(everything_named(target, prefix)) >= 25

    calls = record_calls(target)
    report = teardown(prefix, target, verbose=False)

    assert everything_named(target, prefix) == []
    assert report.complete and report.remaining == [] and report.failed == []
    kinds = {r.kind for r in report.deleted}
    assert kinds == {
        "state machine",
        "bucket",
        "event source mapping",
        "function",
        "subscription",
        "topic",
        "queue",
        "table",
        "ecr repository",
        "role",
        "log group",
    }
    names = Names(prefix, target.account)
    assert sorted(r.name for r in report.deleted if r.kind == "ecr repository") == sorted(
        names.ecr_repository_of(f) for f in IMAGE_FUNCTIONS
    )
    assert "StopExecution" in calls, "running executions are stopped before the machine is deleted"
    assert calls.index("DeleteEventSourceMapping") < calls.index("DeleteFunction")
    assert calls.index("DeleteRolePolicy") < calls.index("DeleteRole")
    assert load_deployment("face_blur", "local") is None


def test_teardown_twice_and_after_partial_manual_cleanup(aws):
    names = make_ours(aws)
    aws.client("lambda").delete_function(FunctionName=names.function("face_detection"))
    aws.client("s3").delete_bucket(Bucket=names.input_bucket)
    first = teardown(PREFIX, aws, verbose=False)
    assert first.complete and everything_named(aws, PREFIX) == []
    second = teardown(PREFIX, aws, verbose=False)
    assert second.complete and second.deleted == [] and second.remaining == []


def test_teardown_leaves_other_learners_alone(aws):
    make_ours(aws)
    s3 = aws.client("s3")
    other_bucket = f"{OTHER}-input-{aws.account}"
    s3.create_bucket(Bucket=other_bucket, CreateBucketConfiguration={"LocationConstraint": aws.region})
    # Same prefix in the name, but tagged by someone else: the tag wins, it is reported and kept.
    impostor = f"{PREFIX}-shared-{aws.account}"
    s3.create_bucket(Bucket=impostor, CreateBucketConfiguration={"LocationConstraint": aws.region})
    s3.put_bucket_tagging(Bucket=impostor, Tagging={"TagSet": [{"Key": "owner", "Value": OTHER}]})
    other_before = snapshot(aws, OTHER)

    report = teardown(PREFIX, aws, verbose=False)

    assert [r.name for r in report.skipped] == [impostor]
    assert {b["Name"] for b in s3.list_buckets()["Buckets"]} == {other_bucket, impostor}
    assert snapshot(aws, OTHER) == other_before


def test_untagged_leftover_of_an_interrupted_run_is_found(aws):
    s3 = aws.client("s3")
    leftover = f"{PREFIX}-input-{aws.account}"
    s3.create_bucket(Bucket=leftover, CreateBucketConfiguration={"LocationConstraint": aws.region})
    (found,) = find_resources(PREFIX, aws)
    assert (found.kind, found.name, found.ownership) == ("bucket", leftover, "untagged")
    assert teardown(PREFIX, aws, verbose=False).complete
    assert s3.list_buckets()["Buckets"] == []


def test_cli_teardown_asks_on_aws_and_prints_a_table(aws, capsys, monkeypatch):
    make_ours(aws)
    region = ["--target", "aws", "--region", aws.region, "--prefix", PREFIX]

    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda question: "n")
    assert cli.main(["teardown", *region]) == 1
    assert "nothing deleted" in capsys.readouterr().out
    assert everything_named(aws, PREFIX) != []

    assert cli.main(["teardown", *region, "--yes"]) == 0
    out = capsys.readouterr().out
    assert "kind" in out and "deleted" in out and f"nothing with prefix {PREFIX} remains" in out
    assert everything_named(aws, PREFIX) == []
    assert cli.main(["teardown", *region, "--yes"]) == 0


def test_cli_refuses_a_malformed_prefix(clean_env, capsys):
    assert cli.main(["teardown", "--target", "aws", "--prefix", "lab", "--yes"]) == 2
    assert "does not look like" in capsys.readouterr().err


def test_cli_without_terminal_needs_yes(aws, monkeypatch):
    make_ours(aws)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert cli.main(["teardown", "--target", "aws", "--region", aws.region, "--prefix", PREFIX]) == 1
    assert everything_named(aws, PREFIX) != []


def test_cli_on_local_without_a_running_server_has_nothing_to_do(clean_env, monkeypatch, capsys):
    """The embedded AWS keeps state in memory: no server, no resources, and no server started for it."""
    import socket

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        monkeypatch.setenv("LAMBDALAB_PORT", str(probe.getsockname()[1]))
    assert cli.main(["teardown", "--target", "local", "--prefix", PREFIX]) == 0
    assert "not running" in capsys.readouterr().out
