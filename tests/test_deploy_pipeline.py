"""Both systems deployed through the `aws` code paths on moto: shape, least privilege, and re-runs."""

from __future__ import annotations

import json

import pytest
from deploy_support import PREFIX, REGION, aws, clean_env, mutating, push_fake_image, record_calls, snapshot  # noqa: F401
from moto import mock_aws

from lambdalab.deploy import deploy_face_blur, deploy_songs, load_deployment
from lambdalab.deploy.naming import Names
from lambdalab.deploy.target import connect


def deploy_all(target):
    blur = deploy_face_blur(target, prefix=PREFIX, verbose=False)
    songs = deploy_songs(target, prefix=PREFIX, verbose=False)
    return blur, songs


@pytest.fixture
def pushed(aws):
    """The image a learner would have pushed after `blur_faces_image()` printed the commands."""
    ecr = aws.client("ecr")
    repository = Names(PREFIX, aws.account).ecr_repository
    ecr.create_repository(repositoryName=repository)
    return push_fake_image(ecr, repository)


def test_blur_faces_on_aws_refuses_until_the_image_is_pushed(aws):
    with pytest.raises(RuntimeError, match="docker build --platform linux/amd64 --provenance=false"):
        deploy_face_blur(aws, prefix=PREFIX, verbose=False)


def test_second_run_changes_nothing(aws, pushed):
    first_blur, first_songs = deploy_all(aws)
    assert first_blur.changes.changed and first_songs.changes.changed
    before = snapshot(aws, PREFIX)

    calls = record_calls(aws)
    second_blur, second_songs = deploy_all(aws)

    assert second_blur.changes.changed == [] and second_songs.changes.changed == []
    assert mutating(calls) == [], "a converged re-run must only read"
    assert calls, "the recorder saw the second run's reads"
    assert snapshot(aws, PREFIX) == before
    assert second_blur == first_blur and second_songs == first_songs


def test_face_blur_deployment_shape(aws, pushed):
    deployment = deploy_face_blur(aws, prefix=PREFIX, verbose=False)
    lam, s3, sfn = aws.client("lambda"), aws.client("s3"), aws.client("stepfunctions")

    assert s3.get_bucket_location(Bucket=deployment.input_bucket)["LocationConstraint"] == REGION
    assert deployment.input_bucket != deployment.output_bucket
    assert deployment.input_bucket.startswith(PREFIX) and aws.account in deployment.input_bucket

    blur = lam.get_function(FunctionName=deployment.function_name("blur_faces"))
    config = blur["Configuration"]
    assert config["PackageType"] == "Image"
    assert blur["Code"]["ImageUri"] == deployment.image_uri
    assert deployment.image_uri.startswith(f"{aws.account}.dkr.ecr.{REGION}.amazonaws.com/{PREFIX}-blur-faces:")
    assert config["CodeSha256"] == pushed
    assert (config["MemorySize"], config["Timeout"], config["EphemeralStorage"]["Size"]) == (2048, 900, 4096)

    for folder, arn in deployment.functions.items():
        config = lam.get_function_configuration(FunctionName=arn)
        env = config.get("Environment", {}).get("Variables", {})
        assert not [k for k in env if k.startswith("AWS_ENDPOINT_URL")], folder
        assert config["Role"] == deployment.roles[folder], "one role per function"
        if folder != "blur_faces":
            assert (config["Runtime"], config["Handler"], config["PackageType"]) == ("python3.12", "app.handler", "Zip")
        assert lam.list_tags(Resource=arn)["Tags"] == {"lab": "lambda-lab", "owner": PREFIX}
    assert len(set(deployment.roles.values())) == 5

    detection_env = lam.get_function_configuration(FunctionName=deployment.functions["face_detection"])["Environment"]
    assert detection_env["Variables"] == {
        "STATE_MACHINE_ARN": deployment.state_machine_arn,
        "OUTPUT_BUCKET": deployment.output_bucket,
        "OUTPUT_PREFIX": "blurred/",
        "POLL_INTERVAL_SECONDS": "5",
    }
    assert lam.get_function_configuration(FunctionName=deployment.functions["get_rekognized_faces"])[
        "Environment"
    ]["Variables"] == {"DETECTIONS_BUCKET": deployment.output_bucket}

    machine = sfn.describe_state_machine(stateMachineArn=deployment.state_machine_arn)
    definition = json.loads(machine["definition"])
    invoked = {state["Parameters"]["FunctionName"] for state in definition["States"].values() if state["Type"] == "Task"}
    assert invoked == {deployment.functions[f] for f in ("check_rekognition_job_status", "get_rekognized_faces", "blur_faces")}
    assert "${" not in machine["definition"]
    assert machine["loggingConfiguration"]["level"] == "ALL"
    destination = machine["loggingConfiguration"]["destinations"][0]["cloudWatchLogsLogGroup"]["logGroupArn"]
    assert deployment.state_machine_log_group in destination and destination.endswith(":*")

    policy = json.loads(lam.get_policy(FunctionName=deployment.functions["face_detection"])["Policy"])
    (statement,) = policy["Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == f"arn:aws:s3:::{deployment.input_bucket}"
    assert statement["Condition"]["StringEquals"]["AWS:SourceAccount"] == aws.account

    triggers = s3.get_bucket_notification_configuration(Bucket=deployment.input_bucket)["LambdaFunctionConfigurations"]
    assert all(t["LambdaFunctionArn"] == deployment.functions["face_detection"] for t in triggers)
    assert all(t["Events"] == ["s3:ObjectCreated:*"] for t in triggers)
    suffixes = sorted(rule["Value"] for t in triggers for rule in t["Filter"]["Key"]["FilterRules"])
    assert suffixes == [".MOV", ".MP4", ".mov", ".mp4"]  # S3 suffix filters are case-sensitive
    assert "LambdaFunctionConfigurations" not in s3.get_bucket_notification_configuration(Bucket=deployment.output_bucket)

    saved = load_deployment("face_blur", "aws")
    assert saved is not None and saved["state_machine_arn"] == deployment.state_machine_arn


def test_state_machine_role_invokes_only_the_three_functions(aws, pushed):
    deployment = deploy_face_blur(aws, prefix=PREFIX, verbose=False)
    iam = aws.client("iam")
    role = deployment.roles["state_machine"].rsplit("/", 1)[1]
    (name,) = iam.list_role_policies(RoleName=role)["PolicyNames"]
    document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
    invoke = [s for s in document["Statement"] if "lambda:InvokeFunction" in json.dumps(s["Action"])]
    assert len(invoke) == 1
    assert sorted(invoke[0]["Resource"]) == sorted(
        deployment.functions[f] for f in ("check_rekognition_job_status", "get_rekognized_faces", "blur_faces")
    )
    trust = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"] == {"Service": "states.amazonaws.com"}
    assert iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"] == []


def test_songs_deployment_shape(aws):
    songs = deploy_songs(aws, prefix=PREFIX, verbose=False)
    ddb, lam, sqs, sns = (aws.client(s) for s in ("dynamodb", "lambda", "sqs", "sns"))
    table = ddb.describe_table(TableName=songs.table_name)["Table"]
    assert songs.table_name == f"{PREFIX}-Songs"
    assert {(k["AttributeName"], k["KeyType"]) for k in table["KeySchema"]} == {("Artist", "HASH"), ("SongTitle", "RANGE")}
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}

    mapping = lam.get_event_source_mapping(UUID=songs.mapping_uuid)
    assert mapping["EventSourceArn"] == songs.stream_arn
    assert mapping["StartingPosition"] == "LATEST"
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BatchSize"] == 10

    env = lam.get_function_configuration(FunctionName=songs.function_arn)["Environment"]["Variables"]
    assert env == {"TOPIC_ARN": songs.topic_arn}
    (subscription,) = sns.list_subscriptions_by_topic(TopicArn=songs.topic_arn)["Subscriptions"]
    assert (subscription["Protocol"], subscription["Endpoint"]) == ("sqs", songs.queue_arn)
    policy = json.loads(sqs.get_queue_attributes(QueueUrl=songs.queue_url, AttributeNames=["Policy"])["Attributes"]["Policy"])
    assert policy["Statement"][0]["Condition"] == {"ArnEquals": {"aws:SourceArn": songs.topic_arn}}


def test_changed_settings_converge_in_place(aws):
    first = deploy_songs(aws, prefix=PREFIX, verbose=False)
    second = deploy_songs(aws, prefix=PREFIX, batch_size=25, verbose=False)
    assert second.mapping_uuid == first.mapping_uuid, "updated, not duplicated"
    assert aws.client("lambda").get_event_source_mapping(UUID=first.mapping_uuid)["BatchSize"] == 25
    third = deploy_songs(aws, prefix=PREFIX, batch_size=25, starting_position="TRIM_HORIZON", verbose=False)
    mappings = aws.client("lambda").list_event_source_mappings(EventSourceArn=first.stream_arn)["EventSourceMappings"]
    assert [m["UUID"] for m in mappings] == [third.mapping_uuid]
    assert mappings[0]["StartingPosition"] == "TRIM_HORIZON"


def test_output_bucket_equal_to_input_is_refused_before_anything_exists(aws):
    same = f"{PREFIX}-videos-{aws.account}"
    with pytest.raises(ValueError, match="endless"):
        deploy_face_blur(aws, prefix=PREFIX, input_bucket=same, output_bucket=same, verbose=False)
    assert aws.client("s3").list_buckets()["Buckets"] == []


def test_local_target_deploys_blur_faces_as_a_zip_without_endpoint_variables(clean_env, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        local = connect("local")  # the target object without starting the embedded server
        deployment = deploy_face_blur(local, prefix=PREFIX, verbose=False)
        lam, s3 = local.client("lambda"), local.client("s3")
        blur = lam.get_function_configuration(FunctionName=deployment.functions["blur_faces"])
        assert (blur["PackageType"], blur["Runtime"], blur["Handler"]) == ("Zip", "python3.12", "app.handler")
        assert deployment.image_uri is None
        assert local.client("ecr").describe_repositories()["repositories"] == []
        for arn in deployment.functions.values():
            env = lam.get_function_configuration(FunctionName=arn).get("Environment", {}).get("Variables", {})
            assert not [k for k in env if k.startswith("AWS_ENDPOINT_URL")]
        assert s3.get_bucket_location(Bucket=deployment.input_bucket)["LocationConstraint"] is None
