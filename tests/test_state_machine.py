"""state_machine.json: asl-validator, moto's ASL parser, the contract's structure, and real runs in moto.

The runs execute the definition with moto's ASL interpreter in-process. moto can only run Lambda code
in Docker, so for these runs LambdaFunction._invoke_lambda is replaced (for the test only) by an
in-process call of the real handlers: check_rekognition_job_status and get_rekognized_faces from
lambdas/ (Rekognition answered by a botocore Stubber, S3 by moto), and a stand-in for blur_faces
that checks what it was given. The lead's end-to-end test runs the deployed zips on the embedded AWS.
"""

from __future__ import annotations

import importlib.util
import io
import json
import shutil
import subprocess
import tempfile
import time
import traceback
import zipfile
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

ROOT = Path(__file__).resolve().parents[1]
DEFINITION = ROOT / "state_machine.json"
ASL_VALIDATOR_VERSION = "4.0.0"
ACCOUNT = "123456789012"
PLACEHOLDERS = {
    "CheckJobStatusArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:check-rekognition-job-status",
    "GetRekognizedFacesArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:get-rekognized-faces",
    "BlurFacesArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:blur-faces",
}
LAMBDA_ERRORS = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}


def rendered(text: str | None = None) -> str:
    """The definition as the notebooks deploy it: placeholders replaced by function ARNs."""
    text = DEFINITION.read_text() if text is None else text
    for name, arn in PLACEHOLDERS.items():
        text = text.replace("${%s}" % name, arn)
    assert "${" not in text, "unknown placeholder left in state_machine.json"
    return text


# --- asl-validator -----------------------------------------------------------------------------


def asl_validator() -> Path:
    """asl-validator from npm, installed once into .lambdalab/ (git-ignored); fails if it cannot be."""
    home = ROOT / ".lambdalab" / "node" / f"asl-validator-{ASL_VALIDATOR_VERSION}"
    binary = home / "node_modules" / ".bin" / "asl-validator"
    if binary.exists():
        return binary
    npm = shutil.which("npm")
    assert npm, "npm is needed to install asl-validator (node 20 + npm)"
    home.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="asl-validator-", dir=home.parent))
    staging.chmod(0o755)
    done = subprocess.run(
        [npm, "install", "--prefix", str(staging), "--no-audit", "--no-fund", f"asl-validator@{ASL_VALIDATOR_VERSION}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"npm install asl-validator failed:\n{done.stdout}\n{done.stderr}"
    try:
        staging.rename(home)  # atomic: a concurrent run either wins or finds it installed
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
    assert binary.exists(), f"{binary} missing after npm install"
    return binary


def run_validator(tmp_path: Path, text: str) -> subprocess.CompletedProcess:
    path = tmp_path / "state_machine.json"
    path.write_text(text)
    return subprocess.run([str(asl_validator()), "--json-path", str(path)], capture_output=True, text=True, timeout=120)


def test_asl_validator_accepts_the_definition(tmp_path):
    done = run_validator(tmp_path, rendered())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "is valid" in done.stdout


def test_asl_validator_would_catch_a_broken_definition(tmp_path):
    broken = json.loads(rendered())
    broken["States"]["GetFaces"]["Next"] = "NoSuchState"
    done = run_validator(tmp_path, json.dumps(broken))
    assert done.returncode != 0


def test_moto_parser_accepts_the_definition():
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    program, _ = AmazonStateLanguageParser.parse(rendered())
    assert type(program).__name__ == "Program"


# --- structure ---------------------------------------------------------------------------------


def test_structure_follows_the_contract():
    sm = json.loads(rendered())
    states = sm["States"]
    wait = states[sm["StartAt"]]
    assert wait == {**wait, "Type": "Wait", "SecondsPath": "$.PollIntervalSeconds", "Next": "CheckJobStatus"}

    expected_tasks = {
        "CheckJobStatus": ("CheckJobStatusArn", "$.Job", {"JobStatus", "StatusMessage"}),
        "GetFaces": ("GetRekognizedFacesArn", "$.Faces", {"Bucket", "Key", "FaceCount", "SampleCount"}),
        "BlurFaces": ("BlurFacesArn", "$.Output", {"Bucket", "Key", "Frames", "FacesBlurred"}),
    }
    for name, (placeholder, result_path, fields) in expected_tasks.items():
        task = states[name]
        assert task["Type"] == "Task" and task["Resource"] == "arn:aws:states:::lambda:invoke"
        assert task["Parameters"] == {"FunctionName": PLACEHOLDERS[placeholder], "Payload.$": "$"}
        assert task["ResultSelector"] == {f"{f}.$": f"$.Payload.{f}" for f in fields}
        assert task["ResultPath"] == result_path
        [retry] = task["Retry"]
        assert set(retry["ErrorEquals"]) == LAMBDA_ERRORS
        assert retry["BackoffRate"] > 1 and retry["MaxAttempts"] >= 2 and retry["IntervalSeconds"] >= 1
        [catch] = task["Catch"]
        assert catch["ErrorEquals"] == ["States.ALL"] and states[catch["Next"]]["Type"] == "Fail"
        assert catch["ResultPath"] == "$.Error"
    pipeline_failed = states[states["GetFaces"]["Catch"][0]["Next"]]
    assert pipeline_failed == {
        **pipeline_failed,
        "Type": "Fail",
        "ErrorPath": "$.Error.Error",
        "CausePath": "$.Error.Cause",
    }

    choice = states[states["CheckJobStatus"]["Next"]]
    assert choice["Type"] == "Choice" and choice["Default"] == sm["StartAt"]
    routes = {c["StringEquals"]: c["Next"] for c in choice["Choices"] if c["Variable"] == "$.Job.JobStatus"}
    assert routes["SUCCEEDED"] == "GetFaces"
    failed = states[routes["FAILED"]]
    assert failed["Type"] == "Fail" and "$.Job.StatusMessage" in failed["CausePath"]
    assert states["GetFaces"]["Next"] == "BlurFaces"
    assert states[states["BlurFaces"]["Next"]]["Type"] == "Succeed"

    # Every state reachable from StartAt (asl-validator checks this too; this keeps the reason visible).
    seen, todo = set(), [sm["StartAt"]]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        state = states[name]
        todo += [state[k] for k in ("Next", "Default") if k in state]
        todo += [c["Next"] for c in state.get("Choices", []) + state.get("Catch", [])]
    assert seen == set(states)


# --- real runs in moto ---------------------------------------------------------------------------

JOB_ID = "a" * 64
VIDEO = {
    "Bucket": "lambda-lab-input-123456789012",
    "Key": "clips/my video été.mp4",
    "ETag": "d41d8cd98f00b204e9800998ecf8427e",
}
DETECTIONS = "lambda-lab-detections-123456789012"


def load(folder: str):
    spec = importlib.util.spec_from_file_location(f"sm_test_{folder}_app", ROOT / "lambdas" / folder / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def folder_zip(folder: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in (ROOT / "lambdas" / folder).rglob("*.py"):
            archive.write(path, path.relative_to(ROOT / "lambdas" / folder))
    return buffer.getvalue()


@pytest.fixture
def moto_pipeline(monkeypatch, offline_credentials):
    monkeypatch.setenv("DETECTIONS_BUCKET", DETECTIONS)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        from moto.awslambda.models import LambdaFunction

        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=DETECTIONS)
        rekognition = boto3.client("rekognition", region_name="us-east-1")
        status, faces = load("check_rekognition_job_status"), load("get_rekognized_faces")
        monkeypatch.setattr(status, "_rekognition", lambda: rekognition)
        monkeypatch.setattr(faces, "_clients", lambda: (rekognition, s3))
        blur_inputs: list[dict] = []

        def blur_stand_in(event, context):
            blur_inputs.append(event)
            return {
                "Bucket": "lambda-lab-output-123456789012",
                "Key": "blurred/" + event["Video"]["Key"],
                "Frames": 100,
                "FacesBlurred": event["Faces"]["FaceCount"],
                "Extra": "dropped by ResultSelector",
            }

        handlers = {
            "check-rekognition-job-status": status.handler,
            "get-rekognized-faces": faces.handler,
            "blur-faces": blur_stand_in,
        }

        def invoke_in_process(self, event=None):
            event = json.loads(event) if isinstance(event, (str, bytes)) else event
            try:
                return json.dumps(handlers[self.function_name](event, None)), False, ""
            except Exception as exc:  # the payload AWS returns for an unhandled exception
                error = {
                    "errorMessage": str(exc),
                    "errorType": type(exc).__name__,
                    "stackTrace": traceback.format_tb(exc.__traceback__),
                }
                return json.dumps(error), True, ""

        monkeypatch.setattr(LambdaFunction, "_invoke_lambda", invoke_in_process)
        iam = boto3.client("iam", region_name="us-east-1")
        role = iam.create_role(RoleName="lambda-lab-test", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        awslambda = boto3.client("lambda", region_name="us-east-1")
        for name, folder in (
            ("check-rekognition-job-status", "check_rekognition_job_status"),
            ("get-rekognized-faces", "get_rekognized_faces"),
            ("blur-faces", "face_detection"),
        ):  # blur_faces' code is not under test here
            awslambda.create_function(
                FunctionName=name,
                Runtime="python3.12",
                Role=role,
                Handler="app.handler",
                Code={"ZipFile": folder_zip(folder)},
            )
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        arn = sfn.create_state_machine(name="lambda-lab-face-blur", definition=rendered(), roleArn=role)[
            "stateMachineArn"
        ]
        with Stubber(rekognition) as stubber:
            yield sfn, arn, stubber, s3, blur_inputs


def run(sfn, arn: str, timeout: float = 60) -> dict:
    execution_input = {"JobId": JOB_ID, "Video": VIDEO, "PollIntervalSeconds": 0}
    execution = sfn.start_execution(stateMachineArn=arn, name="run-1", input=json.dumps(execution_input))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        if described["status"] != "RUNNING":
            return described
        time.sleep(0.1)
    raise AssertionError("execution still RUNNING")


def poll(stubber, status: str, message: str | None = None) -> None:
    response = {"JobStatus": status, "Faces": []}
    if message:
        response["StatusMessage"] = message
    stubber.add_response("get_face_detection", response, {"JobId": JOB_ID, "MaxResults": 1})


def test_run_polls_until_done_then_passes_references(moto_pipeline):
    sfn, arn, stubber, s3, blur_inputs = moto_pipeline
    poll(stubber, "IN_PROGRESS")
    poll(stubber, "IN_PROGRESS")
    poll(stubber, "SUCCEEDED")
    box = {"BoundingBox": {"Left": 0.1, "Top": 0.2, "Width": 0.1, "Height": 0.2}, "Confidence": 99.0}
    stubber.add_response(
        "get_face_detection",
        {"JobStatus": "SUCCEEDED", "Faces": [{"Timestamp": 0, "Face": box}, {"Timestamp": 200, "Face": box}]},
        {"JobId": JOB_ID, "MaxResults": 1000},
    )

    described = run(sfn, arn)

    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    faces_ref = {"Bucket": DETECTIONS, "Key": f"faces/{VIDEO['Key']}.json", "FaceCount": 2, "SampleCount": 2}
    assert output == {
        "JobId": JOB_ID,
        "Video": VIDEO,
        "PollIntervalSeconds": 0,
        "Job": {"JobStatus": "SUCCEEDED", "StatusMessage": ""},
        "Faces": faces_ref,
        "Output": {
            "Bucket": "lambda-lab-output-123456789012",
            "Key": f"blurred/{VIDEO['Key']}",
            "Frames": 100,
            "FacesBlurred": 2,
        },
    }
    [blur_input] = blur_inputs
    assert blur_input["Faces"] == faces_ref and blur_input["Video"] == VIDEO
    assert s3.head_object(Bucket=DETECTIONS, Key=faces_ref["Key"])["ContentType"] == "application/json"
    stubber.assert_no_pending_responses()


def test_failed_rekognition_job_fails_the_execution_with_its_message(moto_pipeline):
    sfn, arn, stubber, _, blur_inputs = moto_pipeline
    poll(stubber, "IN_PROGRESS")
    poll(stubber, "FAILED", "Unsupported codec/format.")

    described = run(sfn, arn)

    assert described["status"] == "FAILED"
    assert described["error"] == "RekognitionJobFailed"
    assert described["cause"] == f"Rekognition job {JOB_ID} failed: Unsupported codec/format."
    assert blur_inputs == []


def test_a_task_error_fails_the_execution_instead_of_uploading_anything(moto_pipeline, monkeypatch):
    sfn, arn, stubber, _, blur_inputs = moto_pipeline
    monkeypatch.delenv("DETECTIONS_BUCKET")
    poll(stubber, "SUCCEEDED")

    described = run(sfn, arn)

    assert described["status"] == "FAILED"
    assert described["error"] == "RuntimeError"
    assert "DETECTIONS_BUCKET is not set" in described["cause"]
    assert blur_inputs == []
