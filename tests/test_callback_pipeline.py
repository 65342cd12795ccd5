"""The callback variant of the face-blur pipeline, end to end on the offline AWS, both variants.

Deployed the way a learner deploys it: notebook 06 up to its comparison (which itself runs
notebook 02 for the polling pipeline). Each execution carries its own NotificationTimeoutSeconds
(TimeoutSecondsPath): a hang guard for the sample, a few seconds for the lost notice. Then: the sample through both variants (same blurred output;
the callback with its fixed four transitions), a FAILED job (Rekognition's message as the cause), a
lost notice (the subscription removed: NoCompletionNotice), a duplicate notice (ignored, the
execution untouched). Checks also that the ASL passes asl-validator and the new policies parliament.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest
from test_state_machine import asl_validator

from lambdalab.deploy.naming import Names
from lambdalab.notebook_run import run_notebook

ROOT = Path(__file__).resolve().parents[1]
PREFIX = f"lab-cb-{uuid.uuid4().hex[:4]}"
TIMEOUT = 180  # seconds a callback execution waits for its notice: a hang guard for the sample's job
LOST_TIMEOUT = 8  # the lost-notice run: short, to see the timeout fire
JOB_TAG = "lambda-lab-face-blur-callback"


@pytest.fixture(scope="module")
def deployed(local_endpoint):
    run_notebook("06_callback_instead_of_polling", {"TARGET": "local", "PREFIX": PREFIX}, stop_before_tag="comparison")
    yield Names(PREFIX, "123456789012")
    from lambdalab.deploy.target import use_target
    from lambdalab.deploy.teardown import teardown

    teardown(PREFIX, use_target("local"))


@pytest.fixture()
def clients(aws):
    return {s: aws(s) for s in ("s3", "stepfunctions", "sns", "logs", "lambda")}


def machine_arn(name: str) -> str:
    return f"arn:aws:states:us-east-1:123456789012:stateMachine:{name}"


def finished(sfn, execution: str, within: float = 240) -> dict:
    deadline = time.monotonic() + within
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "hang guard: the execution never ended"
        time.sleep(0.5)
    return described


def start_callback(clients, names: Names, key: str, timeout: int = TIMEOUT) -> str:
    return clients["stepfunctions"].start_execution(
        stateMachineArn=machine_arn(f"{PREFIX}-face-blur-callback"),
        name=f"t-{uuid.uuid4()}",
        input=json.dumps({"Video": {"Bucket": names.input_bucket, "Key": key}, "NotificationTimeoutSeconds": timeout}),
    )["executionArn"]


def resume_lines(clients, names: Names) -> list[dict]:
    group = names.function_log_group("resume_face_blur_execution")
    events = clients["logs"].filter_log_events(logGroupName=group)["events"]
    return [
        json.loads(e["message"])
        for e in sorted(events, key=lambda e: e["timestamp"])
        if e["message"].startswith('{"resumed"')
    ]


def test_both_variants_blur_the_sample_the_callback_in_four_transitions(deployed, clients):
    s3, sfn = clients["s3"], clients["stepfunctions"]
    s3.upload_file(str(ROOT / "sample-video.mp4"), deployed.input_bucket, "sample-video.mp4")
    deadline = time.monotonic() + 60
    while not (runs := sfn.list_executions(stateMachineArn=machine_arn(deployed.state_machine))["executions"]):
        assert time.monotonic() < deadline, "the upload started no polling execution"
        time.sleep(0.5)
    polling = finished(sfn, runs[0]["executionArn"])
    callback = finished(sfn, start_callback(clients, deployed, "sample-video.mp4"))
    assert (polling["status"], callback["status"]) == ("SUCCEEDED", "SUCCEEDED")
    outputs = [json.loads(run["output"])["Output"] for run in (polling, callback)]
    assert outputs[0] == outputs[1] and outputs[1]["Frames"] == 250 and outputs[1]["FacesBlurred"] > 0
    events = sfn.get_execution_history(executionArn=callback["executionArn"])["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("StateEntered")]
    assert entered == ["StartFaceDetection", "GetFaces", "BlurFaces", "Done"]
    polls = [
        e
        for e in sfn.get_execution_history(executionArn=polling["executionArn"])["events"]
        if e["type"] == "TaskStateEntered" and e["stateEnteredEventDetails"]["name"] == "CheckJobStatus"
    ]
    assert len(polls) >= 2, "the sample's job should outlast one poll: else nothing is compared"


def test_a_failed_job_fails_the_execution_with_rekognitions_message(deployed, clients):
    clients["s3"].put_object(Bucket=deployed.input_bucket, Key="broken.bin", Body=b"not a video")
    failed = finished(clients["stepfunctions"], start_callback(clients, deployed, "broken.bin"))
    assert (failed["status"], failed["error"]) == ("FAILED", "RekognitionJobFailed")
    assert "FAILED: Unsupported codec/format." in failed["cause"]


def test_a_duplicate_notice_is_ignored_and_leaves_the_execution_alone(deployed, clients):
    sfn, sns = clients["stepfunctions"], clients["sns"]
    clients["s3"].upload_file(str(ROOT / "sample-video.mp4"), deployed.input_bucket, "dup/sample.mov")
    done = finished(sfn, start_callback(clients, deployed, "dup/sample.mov"))
    assert done["status"] == "SUCCEEDED", (done.get("error"), done.get("cause"))
    history = sfn.get_execution_history(executionArn=done["executionArn"])["events"]
    job = json.loads(next(e for e in history if e["type"] == "TaskSucceeded")["taskSucceededEventDetails"]["output"])[
        "JobId"
    ]
    seen = len(resume_lines(clients, deployed))
    notice = {
        "JobId": job,
        "Status": "SUCCEEDED",
        "API": "StartFaceDetection",
        "JobTag": JOB_TAG,
        "Timestamp": int(time.time() * 1000),
        "Video": {"S3ObjectName": "dup/sample.mov", "S3Bucket": deployed.input_bucket},
    }
    sns.publish(TopicArn=f"arn:aws:sns:us-east-1:123456789012:{PREFIX}-face-detection-done", Message=json.dumps(notice))
    deadline = time.monotonic() + 60
    while len(lines := resume_lines(clients, deployed)) <= seen:
        assert time.monotonic() < deadline, "the duplicate never reached the resume function"
        time.sleep(0.5)
    assert lines[seen] == {
        "resumed": [],
        "ignored": [{"JobId": job, "reason": "duplicate notice: the execution was already resumed"}],
    }
    assert sfn.describe_execution(executionArn=done["executionArn"])["status"] == "SUCCEEDED"


def test_a_lost_notice_times_out_with_a_clear_cause(deployed, clients):
    """Last of the pipeline runs: it removes the subscription, so no notice reaches anyone after it."""
    sns = clients["sns"]
    topic = f"arn:aws:sns:us-east-1:123456789012:{PREFIX}-face-detection-done"
    for subscription in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]:
        sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])  # Rekognition's notice now reaches nobody
    clients["s3"].put_object(Bucket=deployed.input_bucket, Key="also-broken.bin", Body=b"not a video")
    started = time.monotonic()
    lost = finished(clients["stepfunctions"], start_callback(clients, deployed, "also-broken.bin", LOST_TIMEOUT))
    assert (lost["status"], lost["error"]) == ("FAILED", "NoCompletionNotice")
    assert f"within {LOST_TIMEOUT} s" in lost["cause"] and "also-broken.bin" in lost["cause"]
    assert time.monotonic() - started >= LOST_TIMEOUT - 1  # it waited for the notice, then gave up


def test_the_callback_asl_passes_asl_validator(tmp_path):
    import subprocess

    path = tmp_path / "state_machine_callback.json"
    path.write_text((ROOT / "state_machine_callback.json").read_text())
    done = subprocess.run([str(asl_validator()), "--json-path", str(path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
