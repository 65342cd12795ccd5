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
}
TEMPLATES = sorted(LAMBDAS.glob("*/policy.json")) + [LAMBDAS / "state_machine_policy.json"]
# Actions without resource-level permissions: "*" is the only valid resource (parliament knows this too).
STAR_ONLY = {"rekognition:StartFaceDetection", "rekognition:GetFaceDetection", "dynamodb:ListStreams",
             "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
             "logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies",
             "logs:DescribeLogGroups"}


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


def test_the_important_grants():
    grants = {}
    for path in TEMPLATES:
        name = path.parent.name if path.name == "policy.json" else path.stem
        grants[name] = {(a, r) for _, actions, resources in statements(render(path)) for a in actions for r in resources}
    assert ("states:StartExecution", VALUES["StateMachineArn"]) in grants["face_detection"]
    assert ("s3:GetObject", f"arn:aws:s3:::{VALUES['InputBucket']}/*") in grants["face_detection"]
    assert ("s3:PutObject", f"arn:aws:s3:::{VALUES['DetectionsBucket']}/faces/*") in grants["get_rekognized_faces"]
    assert ("sns:Publish", VALUES["TopicArn"]) in grants["publish_new_song"]
    stream = f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/Music/stream/*"
    assert {(a, stream) for a in ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator")} <= grants["publish_new_song"]
    invoked = {r for a, r in grants["state_machine_policy"] if a == "lambda:InvokeFunction"}
    assert invoked == {VALUES["CheckJobStatusArn"], VALUES["GetRekognizedFacesArn"], VALUES["BlurFacesArn"]}
    own_logs = f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/aws/lambda/face-detection:log-stream:*"
    for name in ("face_detection", "check_rekognition_job_status", "get_rekognized_faces", "publish_new_song"):
        assert ("logs:PutLogEvents", own_logs) in grants[name]


def test_parliament_would_flag_the_original_full_access_role():
    original = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:*", "states:*"], "Resource": "*"},
        {"Effect": "Allow", "Action": "sns:Publish", "Resource": f"arn:aws:s3:::{VALUES['InputBucket']}/*"},
    ]}
    issues = {f.issue for f in parliament.analyze_policy_string(json.dumps(original)).findings}
    assert {"RESOURCE_STAR", "RESOURCE_MISMATCH"} <= issues
