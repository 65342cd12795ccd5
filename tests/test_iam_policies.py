"""IAM policy templates: render with real-looking ARNs, lint with parliament, check least privilege."""

from __future__ import annotations

import json
import re
from pathlib import Path
from string import Template

import parliament
import pytest

ROOT = Path(__file__).resolve().parents[1]
LAMBDAS = ROOT / "lambdas"
ACCOUNT = "123456789012"
VALUES = {
    "Partition": "aws",
    "Region": "eu-west-1",
    "AccountId": ACCOUNT,
    "FunctionName": "face-detection",
    "InputBucket": f"lambda-lab-input-{ACCOUNT}",
    "OutputBucket": f"lambda-lab-output-{ACCOUNT}",
    "OutputPrefix": "blurred/",
    "DetectionsBucket": f"lambda-lab-detections-{ACCOUNT}",
    "StateMachineArn": f"arn:aws:states:eu-west-1:{ACCOUNT}:stateMachine:lambda-lab-face-blur",
    "TableName": "Music",
    "TopicArn": f"arn:aws:sns:eu-west-1:{ACCOUNT}:new-songs",
    "CheckJobStatusArn": f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:check-rekognition-job-status",
    "GetRekognizedFacesArn": f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:get-rekognized-faces",
    "BlurFacesArn": f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:blur-faces",
    "TokenTableArn": f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/Tokens",
    "RekognitionRoleArn": f"arn:aws:iam::{ACCOUNT}:role/rekognition-notifies",
}
TEMPLATES = sorted(LAMBDAS.glob("*/policy.json")) + [LAMBDAS / "state_machine_policy.json"]
# Actions without resource-level permissions: "*" is the only valid resource (parliament knows this too).
STAR_ONLY = {
    "states:SendTaskSuccess",
    "states:SendTaskFailure",
    "rekognition:StartFaceDetection",
    "rekognition:GetFaceDetection",
    "dynamodb:ListStreams",
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}


def render(path: Path) -> dict:
    return json.loads(Template(path.read_text()).substitute(VALUES))  # KeyError on an unknown placeholder


def statements(policy: dict) -> list[tuple[str, list[str], list[str]]]:
    listify = lambda v: v if isinstance(v, list) else [v]  # noqa: E731
    return [(s["Effect"], listify(s["Action"]), listify(s["Resource"])) for s in policy["Statement"]]


def test_every_pipeline_function_has_a_policy():
    names = {p.parent.name for p in LAMBDAS.glob("*/policy.json")}
    assert {"face_detection", "check_rekognition_job_status", "get_rekognized_faces", "publish_new_song"} <= names


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.parent.name if p.name == "policy.json" else p.stem)
def test_rendered_policy_has_no_parliament_findings(path):
    text = Template(path.read_text()).substitute(VALUES)
    findings = parliament.analyze_policy_string(text).findings
    assert findings == [], [(f.issue, f.detail) for f in findings]


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.parent.name if p.name == "policy.json" else p.stem)
def test_least_privilege_shape(path):
    for effect, actions, resources in statements(render(path)):
        assert effect == "Allow"
        for action in actions:
            assert "*" not in action, f"wildcard action {action}"
        if "*" in resources:
            assert resources == ["*"] and set(actions) <= STAR_ONLY, (actions, resources)
        for resource in resources:
            assert resource == "*" or re.fullmatch(r"arn:aws:[a-z0-9-]+:[a-z0-9-]*:(\d{12})?:.+", resource)
            assert not re.fullmatch(r"arn:aws:s3:::\*(/.*)?", resource), f"every bucket: {resource}"


def grants(path: Path) -> set[tuple[str, str]]:
    """Every (action, resource) pair the template allows, rendered for its own function."""
    values = {**VALUES, "FunctionName": FUNCTION_NAMES.get(path.parent.name, "face-detection")}
    policy = json.loads(Template(path.read_text()).substitute(values))
    return {(a, r) for _, actions, resources in statements(policy) for a in actions for r in resources}


FUNCTION_NAMES = {
    name: name.replace("_", "-")
    for name in (
        "face_detection",
        "check_rekognition_job_status",
        "get_rekognized_faces",
        "blur_faces",
        "publish_new_song",
        "split_video",
        "blur_segment",
        "join_segments",
        "start_face_detection_job",
        "resume_face_blur_execution",
    )
}
S3 = "arn:aws:s3:::"
INPUT_OBJECTS = f"{S3}{VALUES['InputBucket']}/*"
FACES_OBJECTS = f"{S3}{VALUES['DetectionsBucket']}/faces/*"
BLURRED_OBJECTS = f"{S3}{VALUES['OutputBucket']}/blurred/*"
SEGMENTS = f"{S3}{VALUES['OutputBucket']}/segments/"


def own_logs(function: str) -> set[tuple[str, str]]:
    group = f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/aws/lambda/{function}"
    return {
        ("logs:CreateLogGroup", f"{group}:*"),
        ("logs:CreateLogStream", f"{group}:log-stream:*"),
        ("logs:PutLogEvents", f"{group}:log-stream:*"),
    }


# Exactly what each role may do, on exactly which resources: a wider resource (another bucket,
# `arn:aws:s3:::*`, another function's logs) or an extra action fails, even where parliament is silent.
EXPECTED_GRANTS = {
    "face_detection": {
        ("rekognition:StartFaceDetection", "*"),
        ("s3:GetObject", INPUT_OBJECTS),  # Rekognition reads the video with the caller's rights
        ("states:StartExecution", VALUES["StateMachineArn"]),
    }
    | own_logs("face-detection"),
    "check_rekognition_job_status": {("rekognition:GetFaceDetection", "*")} | own_logs("check-rekognition-job-status"),
    "get_rekognized_faces": {
        ("rekognition:GetFaceDetection", "*"),
        ("s3:PutObject", FACES_OBJECTS),
    }
    | own_logs("get-rekognized-faces"),
    "blur_faces": {
        ("s3:GetObject", INPUT_OBJECTS),
        ("s3:GetObject", FACES_OBJECTS),
        ("s3:PutObject", BLURRED_OBJECTS),
        ("s3:AbortMultipartUpload", BLURRED_OBJECTS),
    }
    | own_logs("blur-faces"),
    "publish_new_song": {
        *{
            (a, f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/Music/stream/*")
            for a in ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator")
        },
        ("dynamodb:ListStreams", "*"),
        ("sns:Publish", VALUES["TopicArn"]),
    }
    | own_logs("publish-new-song"),
    "split_video": {
        ("s3:GetObject", INPUT_OBJECTS),
        *{
            (a, r)
            for a in ("s3:PutObject", "s3:AbortMultipartUpload")
            for r in (f"{SEGMENTS}*/source/*", f"{SEGMENTS}*/audio.mp4")
        },
    }
    | own_logs("split-video"),
    "blur_segment": {
        ("s3:GetObject", f"{SEGMENTS}*/source/*"),
        ("s3:GetObject", FACES_OBJECTS),
        ("s3:PutObject", f"{SEGMENTS}*/blurred/*"),
        ("s3:AbortMultipartUpload", f"{SEGMENTS}*/blurred/*"),
    }
    | own_logs("blur-segment"),
    "join_segments": {  # reads only the segments
        ("s3:GetObject", f"{SEGMENTS}*/blurred/*"),
        ("s3:GetObject", f"{SEGMENTS}*/audio.mp4"),
        ("s3:PutObject", BLURRED_OBJECTS),
        ("s3:AbortMultipartUpload", BLURRED_OBJECTS),
        ("s3:DeleteObject", f"{SEGMENTS}*"),
    }
    | own_logs("join-segments"),
    "start_face_detection_job": {
        ("rekognition:StartFaceDetection", "*"),
        ("s3:GetObject", INPUT_OBJECTS),
        ("iam:PassRole", VALUES["RekognitionRoleArn"]),  # only to rekognition.amazonaws.com (condition)
        ("dynamodb:PutItem", VALUES["TokenTableArn"]),
    }
    | own_logs("start-face-detection-job"),
    "resume_face_blur_execution": {
        ("dynamodb:UpdateItem", VALUES["TokenTableArn"]),
        ("states:SendTaskSuccess", "*"),
        ("states:SendTaskFailure", "*"),
        ("rekognition:GetFaceDetection", "*"),  # the notice has no status message: read it
    }
    | own_logs("resume-face-blur-execution"),
    "state_machine_policy": {
        *{("lambda:InvokeFunction", VALUES[k]) for k in ("CheckJobStatusArn", "GetRekognizedFacesArn", "BlurFacesArn")},
        *{
            (f"logs:{a}", "*")
            for a in (
                "CreateLogDelivery",
                "GetLogDelivery",
                "UpdateLogDelivery",
                "DeleteLogDelivery",
                "ListLogDeliveries",
                "PutResourcePolicy",
                "DescribeResourcePolicies",
                "DescribeLogGroups",
            )
        },
    },
}


def test_every_template_is_expected():
    assert {p.parent.name if p.name == "policy.json" else p.stem for p in TEMPLATES} == set(EXPECTED_GRANTS)


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.parent.name if p.name == "policy.json" else p.stem)
def test_each_role_grants_exactly_its_resources(path):
    name = path.parent.name if path.name == "policy.json" else path.stem
    allowed = grants(path)
    assert allowed - EXPECTED_GRANTS[name] == set(), "more than the function needs"
    assert EXPECTED_GRANTS[name] - allowed == set(), "less than the function needs"


def test_a_template_widened_to_every_bucket_is_caught(tmp_path):
    """What the old regex and parliament both let through: s3:GetObject on arn:aws:s3:::*."""
    widened = tmp_path / "face_detection" / "policy.json"
    widened.parent.mkdir()
    widened.write_text((LAMBDAS / "face_detection" / "policy.json").read_text().replace("${InputBucket}/*", "*"))
    assert ("s3:GetObject", "arn:aws:s3:::*") in grants(widened)
    assert grants(widened) != EXPECTED_GRANTS["face_detection"]


def test_parliament_would_flag_the_original_full_access_role():
    original = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:*", "states:*"], "Resource": "*"},
            {"Effect": "Allow", "Action": "sns:Publish", "Resource": f"arn:aws:s3:::{VALUES['InputBucket']}/*"},
        ],
    }
    issues = {f.issue for f in parliament.analyze_policy_string(json.dumps(original)).findings}
    assert {"RESOURCE_STAR", "RESOURCE_MISMATCH"} <= issues
