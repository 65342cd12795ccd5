"""What notebooks 02 and 04 deploy, read back with plain boto3; and 02's second run changes nothing.

The notebooks are the one implementation of both deployments: this module runs them (papermill,
with a parameters cell) on a private embedded AWS and checks the result independently of them.
"""

from __future__ import annotations

import json

import parliament
import pytest
from deploy_support import snapshot

from lambdalab.deploy import policies, teardown
from lambdalab.deploy.deployed import face_blur_from_notebook
from lambdalab.deploy.naming import Names
from lambdalab.deploy.target import connect
from lambdalab.notebook_run import NotebookFailed, run_notebook

PREFIX = "lab-nbdeploy-0c0c"
THREE = ("check_rekognition_job_status", "get_rekognized_faces", "blur_faces")


@pytest.fixture(scope="module")
def deployed(local_endpoint, tmp_path_factory):
    """(target, face-blur deployment) made by notebook 02, and the songs system by 04 up to its clean-up."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LAMBDALAB_HOME", str(tmp_path_factory.mktemp("lambdalab-home")))
        blur = face_blur_from_notebook(PREFIX, poll_interval_seconds=3)
        run_notebook("04_dynamodb_streams_sns", {"TARGET": "local", "PREFIX": PREFIX}, stop_before_tag="clean-up")
        target = connect("local")
        yield target, blur
        report = teardown(PREFIX, target, verbose=False)
    assert report.complete, report.table()


def test_face_blur_deployment_shape(deployed):
    target, deployment = deployed
    lam, s3, sfn, iam = (target.client(s) for s in ("lambda", "s3", "stepfunctions", "iam"))
    names = Names(PREFIX, target.account)
    assert deployment.input_bucket == names.input_bucket != deployment.output_bucket == names.output_bucket

    roles = set()
    for folder, arn in deployment.functions.items():
        config = lam.get_function_configuration(FunctionName=arn)
        env = config.get("Environment", {}).get("Variables", {})
        assert not [k for k in env if k.startswith("AWS_ENDPOINT_URL")], folder
        assert config["Role"].endswith(f":role/{names.role(folder)}"), "one role per function"
        roles.add(config["Role"])
        # On local, blur_faces is the same handler as a zip (the image path needs docker and ECR).
        assert (config["Runtime"], config["Handler"], config["PackageType"]) == ("python3.12", "app.handler", "Zip")
        assert lam.list_tags(Resource=arn)["Tags"] == {"lab": "lambda-lab", "owner": PREFIX}
    assert len(roles) == 4
    blur = lam.get_function_configuration(FunctionName=deployment.functions["blur_faces"])
    assert (blur["MemorySize"], blur["Timeout"], blur["EphemeralStorage"]["Size"]) == (2048, 900, 4096)

    detection_env = lam.get_function_configuration(FunctionName=deployment.functions["face_detection"])["Environment"]
    assert detection_env["Variables"] == {
        "STATE_MACHINE_ARN": deployment.state_machine_arn,
        "OUTPUT_BUCKET": deployment.output_bucket,
        "OUTPUT_PREFIX": "blurred/",
        "POLL_INTERVAL_SECONDS": "3",
    }

    machine = sfn.describe_state_machine(stateMachineArn=deployment.state_machine_arn)
    definition = json.loads(machine["definition"])
    invoked = {
        state["Parameters"]["FunctionName"] for state in definition["States"].values() if state["Type"] == "Task"
    }
    assert invoked == {deployment.functions[f] for f in THREE}
    assert "${" not in machine["definition"]
    assert (machine["loggingConfiguration"]["level"], machine["loggingConfiguration"]["includeExecutionData"]) == (
        "ALL",
        True,
    )
    destination = machine["loggingConfiguration"]["destinations"][0]["cloudWatchLogsLogGroup"]["logGroupArn"]
    assert names.state_machine_log_group in destination and destination.endswith(":*")

    role = machine["roleArn"].rsplit("/", 1)[1]
    document = iam.get_role_policy(RoleName=role, PolicyName="least-privilege")["PolicyDocument"]
    (invoke,) = [s for s in document["Statement"] if "lambda:InvokeFunction" in json.dumps(s["Action"])]
    assert sorted(invoke["Resource"]) == sorted(deployment.functions[f] for f in THREE)
    trust = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "states.amazonaws.com"}

    (statement,) = json.loads(lam.get_policy(FunctionName=deployment.functions["face_detection"])["Policy"])[
        "Statement"
    ]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == f"arn:aws:s3:::{deployment.input_bucket}"
    assert statement["Condition"]["StringEquals"]["AWS:SourceAccount"] == target.account

    triggers = s3.get_bucket_notification_configuration(Bucket=deployment.input_bucket)["LambdaFunctionConfigurations"]
    assert all(t["LambdaFunctionArn"] == deployment.functions["face_detection"] for t in triggers)
    assert all(t["Events"] == ["s3:ObjectCreated:*"] for t in triggers)
    suffixes = sorted(rule["Value"] for t in triggers for rule in t["Filter"]["Key"]["FilterRules"])
    assert suffixes == [".MOV", ".MP4", ".mov", ".mp4"] == sorted(deployment.video_suffixes)  # case-sensitive
    assert "LambdaFunctionConfigurations" not in s3.get_bucket_notification_configuration(
        Bucket=deployment.output_bucket
    )


def test_the_trigger_suffixes_are_the_extensions_face_detection_accepts(deployed):
    """The Lambda package is deployable alone, so it keeps its own list: the two must agree."""
    import importlib.util

    from lambdalab.deploy.paths import lambda_dir

    spec = importlib.util.spec_from_file_location("face_detection_app", lambda_dir("face_detection") / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    _, deployment = deployed
    assert sorted({s.lower() for s in deployment.video_suffixes}) == sorted(app.VIDEO_SUFFIXES)


def test_roles_carry_exactly_the_rendered_templates(deployed):
    """What IAM holds is what tests/test_iam_policies.py and parliament checked, byte for byte."""
    target, deployment = deployed
    iam = target.client("iam")
    ours = [r["RoleName"] for r in iam.list_roles()["Roles"] if r["RoleName"].startswith(PREFIX)]
    assert len(ours) == 6  # four face-blur functions, the state machine, publish_new_song
    for role in ours:
        (name,) = iam.list_role_policies(RoleName=role)["PolicyNames"]
        assert (
            parliament.analyze_policy_string(
                json.dumps(iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"])
            ).findings
            == []
        ), role
    names = Names(PREFIX, target.account)
    values = {
        **policies.base_values(target),
        "InputBucket": deployment.input_bucket,
        "OutputBucket": deployment.output_bucket,
        "DetectionsBucket": deployment.output_bucket,
        "OutputPrefix": deployment.output_prefix,
        "StateMachineArn": deployment.state_machine_arn,
        "CheckJobStatusArn": deployment.functions["check_rekognition_job_status"],
        "GetRekognizedFacesArn": deployment.functions["get_rekognized_faces"],
        "BlurFacesArn": deployment.functions["blur_faces"],
    }
    for folder in deployment.functions:
        deployed_policy = iam.get_role_policy(RoleName=names.role(folder), PolicyName="least-privilege")[
            "PolicyDocument"
        ]
        assert deployed_policy == policies.render_function_policy(
            folder, {**values, "FunctionName": names.function(folder)}
        )
        assert iam.list_role_policies(RoleName=names.role(folder))["PolicyNames"] == ["least-privilege"]
        assert iam.list_attached_role_policies(RoleName=names.role(folder))["AttachedPolicies"] == []
    state_machine = iam.get_role_policy(RoleName=names.state_machine_role, PolicyName="least-privilege")[
        "PolicyDocument"
    ]
    assert state_machine == policies.render_state_machine_policy(values)


def test_songs_deployment_shape(deployed):
    target, _ = deployed
    names = Names(PREFIX, target.account)
    ddb, lam, sqs, sns, iam = (target.client(s) for s in ("dynamodb", "lambda", "sqs", "sns", "iam"))
    table = ddb.describe_table(TableName=names.table)["Table"]
    assert {(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]} == {
        ("Artist", "HASH"),
        ("SongTitle", "RANGE"),
    }
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}

    function = names.function("publish_new_song")
    (mapping,) = lam.list_event_source_mappings(FunctionName=function)["EventSourceMappings"]
    assert mapping["EventSourceArn"] == table["LatestStreamArn"]
    assert mapping["StartingPosition"] == "LATEST"
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert (mapping["BatchSize"], mapping["MaximumRetryAttempts"]) == (10, 3)

    topic_arn = target.arn("sns", names.topic)
    assert lam.get_function_configuration(FunctionName=function)["Environment"]["Variables"] == {"TOPIC_ARN": topic_arn}
    queue_url = sqs.get_queue_url(QueueName=names.queue)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    (subscription,) = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    assert (subscription["Protocol"], subscription["Endpoint"]) == ("sqs", queue_arn)
    policy = json.loads(sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["Policy"])["Attributes"]["Policy"])
    (statement,) = policy["Statement"]
    assert statement["Principal"] == {"Service": "sns.amazonaws.com"} and statement["Action"] == "sqs:SendMessage"
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": topic_arn}}
    assert parliament.analyze_policy_string(json.dumps(policy)).findings == []
    role_policy = iam.get_role_policy(RoleName=names.role("publish_new_song"), PolicyName="least-privilege")[
        "PolicyDocument"
    ]
    assert role_policy == policies.render_function_policy(
        "publish_new_song",
        {**policies.base_values(target), "FunctionName": function, "TableName": names.table, "TopicArn": topic_arn},
    )


def test_second_run_of_notebook_02_changes_nothing(deployed):
    """Convergence, the lesson of 02's last section: every step reports `unchanged`, nothing differs."""
    target, first = deployed
    before = snapshot(target, f"{PREFIX}-")
    executed = run_notebook("02_build_the_pipeline", {"TARGET": "local", "PREFIX": PREFIX, "POLL_INTERVAL_SECONDS": 3})
    printed = "".join(o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.outputs)
    assert "changes needed: none" in printed
    steps = [
        line.split()[0]
        for line in printed.splitlines()
        if line.split()[:1] in (["created"], ["updated"], ["unchanged"])
    ]
    assert len(steps) >= 19 and set(steps) == {"unchanged"}, printed
    assert snapshot(target, f"{PREFIX}-") == before
    assert face_blur_from_notebook(PREFIX, poll_interval_seconds=3) == first


def test_a_changed_setting_is_updated_in_place(deployed):
    """Only what differs changes: a new poll interval is one configuration update, and 02 says so."""
    target, deployment = deployed
    lam = target.client("lambda")
    executed = run_notebook("02_build_the_pipeline", {"TARGET": "local", "PREFIX": PREFIX, "POLL_INTERVAL_SECONDS": 4})
    printed = "".join(o.get("text", "") for c in executed.cells if c.cell_type == "code" for o in c.outputs)
    assert f"updated (configuration) function {PREFIX}-face-detection" in " ".join(printed.split())
    variables = lam.get_function_configuration(FunctionName=deployment.functions["face_detection"])["Environment"][
        "Variables"
    ]
    assert variables["POLL_INTERVAL_SECONDS"] == "4" and variables["STATE_MACHINE_ARN"] == deployment.state_machine_arn
    run_notebook("02_build_the_pipeline", {"TARGET": "local", "PREFIX": PREFIX, "POLL_INTERVAL_SECONDS": 3})


def test_a_failing_cell_names_the_notebook_and_the_error(local_endpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("LAMBDALAB_HOME", str(tmp_path))
    with pytest.raises(NotebookFailed, match=r"03_run_the_pipeline.ipynb failed: RuntimeError: No face-blur pipeline"):
        run_notebook("03_run_the_pipeline", {"TARGET": "local", "PREFIX": "lab-nothing-0000"})
