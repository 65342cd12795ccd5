"""The callback variant's IAM documents: parliament finds nothing, and each grants exactly its work.

Exact-resource style of tests/test_iam_policies.py: a wider resource (every table, every role, any
topic) or an extra action fails, even where parliament is silent.
"""

from __future__ import annotations

import json
from pathlib import Path

import parliament
import pytest

from lambdalab.deploy.templates import render

ROOT = Path(__file__).resolve().parents[1]
ACCOUNT = "123456789012"
TABLE = f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/lab-a-1a2b-face-blur-tokens"
TOPIC = f"arn:aws:sns:eu-west-1:{ACCOUNT}:lab-a-1a2b-face-detection-done"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/lab-a-1a2b-rekognition-notifies"
FUNCTION = f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:lab-a-1a2b-"
VALUES = {
    "Partition": "aws",
    "Region": "eu-west-1",
    "AccountId": ACCOUNT,
    "InputBucket": f"lab-a-1a2b-input-{ACCOUNT}",
    "TokenTableArn": TABLE,
    "NotificationTopicArn": TOPIC,
    "RekognitionRoleArn": ROLE,
    "StartFaceDetectionJobArn": FUNCTION + "start-face-detection-job",
    "GetRekognizedFacesArn": FUNCTION + "get-rekognized-faces",
    "BlurFacesArn": FUNCTION + "blur-faces",
}


def own_logs(function: str) -> set[tuple[str, str]]:
    group = f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/aws/lambda/{function}"
    return {
        ("logs:CreateLogGroup", f"{group}:*"),
        ("logs:CreateLogStream", f"{group}:log-stream:*"),
        ("logs:PutLogEvents", f"{group}:log-stream:*"),
    }


LOG_DELIVERY = {
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
}
EXPECTED = {
    "start_face_detection_job/policy.json": {
        ("rekognition:StartFaceDetection", "*"),
        ("s3:GetObject", f"arn:aws:s3:::{VALUES['InputBucket']}/*"),
        ("iam:PassRole", ROLE),
        ("dynamodb:PutItem", TABLE),
    }
    | own_logs("start-face-detection-job"),
    "resume_face_blur_execution/policy.json": {
        ("dynamodb:UpdateItem", TABLE),
        ("states:SendTaskSuccess", "*"),
        ("states:SendTaskFailure", "*"),  # no resource-level permissions
        ("rekognition:GetFaceDetection", "*"),  # the notice has no StatusMessage
    }
    | own_logs("resume-face-blur-execution"),
    "rekognition_notification_policy.json": {("sns:Publish", TOPIC)},
    "state_machine_callback_policy.json": {
        ("lambda:InvokeFunction", VALUES[k])
        for k in ("StartFaceDetectionJobArn", "GetRekognizedFacesArn", "BlurFacesArn")
    }
    | LOG_DELIVERY,
}


def rendered(template: str) -> dict:
    function = template.split("/")[0].replace("_", "-") if "/" in template else "unused"
    return json.loads(render((ROOT / "lambdas" / template).read_text(), {**VALUES, "FunctionName": f"{function}"}))


def grants(policy: dict) -> set[tuple[str, str]]:
    listify = lambda v: v if isinstance(v, list) else [v]  # noqa: E731
    return {
        (a, r)
        for s in policy["Statement"]
        if s["Effect"] == "Allow"
        for a in listify(s["Action"])
        for r in listify(s["Resource"])
    }


@pytest.mark.parametrize("template", sorted(EXPECTED))
def test_parliament_finds_nothing(template):
    findings = parliament.analyze_policy_string(json.dumps(rendered(template))).findings
    assert findings == [], [(f.issue, f.detail) for f in findings]


@pytest.mark.parametrize("template", sorted(EXPECTED))
def test_each_grants_exactly_its_work(template):
    assert grants(rendered(template)) == EXPECTED[template]


def test_the_role_is_passed_to_rekognition_only():
    statement = next(
        s for s in rendered("start_face_detection_job/policy.json")["Statement"] if s["Action"] == "iam:PassRole"
    )
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "rekognition.amazonaws.com"}}


def test_parliament_flags_a_publish_grant_on_every_topic():
    """The check can fail: Rekognition's role widened to any topic is reported."""
    widened = rendered("rekognition_notification_policy.json")
    widened["Statement"][0]["Resource"] = "*"
    assert grants(widened) != EXPECTED["rekognition_notification_policy.json"]
    assert {f.issue for f in parliament.analyze_policy_string(json.dumps(widened)).findings} & {
        "RESOURCE_STAR",
        "RESOURCE_MISMATCH",
    }
