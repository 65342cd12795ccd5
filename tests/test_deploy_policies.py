"""Least privilege: every rendered policy passes parliament with no findings, and nothing is *FullAccess."""

from __future__ import annotations

import json

import nbformat
import parliament
import pytest
from deploy_support import PREFIX

from lambdalab.deploy import policies
from lambdalab.deploy.naming import FACE_BLUR_FUNCTIONS, SONGS_FUNCTION, Names
from lambdalab.deploy.paths import repo_root
from lambdalab.deploy.target import Target
from lambdalab.deploy.templates import render, slots

TARGET = Target(name="aws", region="eu-west-1", account="123456789012")
NAMES = Names(PREFIX, TARGET.account)
VALUES = {
    **policies.base_values(TARGET),
    "InputBucket": NAMES.input_bucket,
    "OutputBucket": NAMES.output_bucket,
    "DetectionsBucket": NAMES.output_bucket,
    "OutputPrefix": "blurred/",
    "StateMachineArn": policies.state_machine_arn(TARGET, NAMES.state_machine),
    "CheckJobStatusArn": policies.function_arn(TARGET, NAMES.function("check_rekognition_job_status")),
    "GetRekognizedFacesArn": policies.function_arn(TARGET, NAMES.function("get_rekognized_faces")),
    "BlurFacesArn": policies.function_arn(TARGET, NAMES.function("blur_faces")),
    "TableName": NAMES.table,
    "TopicArn": TARGET.arn("sns", NAMES.topic),
}


def findings(document: dict) -> list:
    return parliament.analyze_policy_string(json.dumps(document)).findings


@pytest.mark.parametrize("function", [*FACE_BLUR_FUNCTIONS, SONGS_FUNCTION])
def test_function_policy_has_no_findings(function):
    document = policies.render_function_policy(function, {**VALUES, "FunctionName": NAMES.function(function)})
    assert findings(document) == []
    text = json.dumps(document)
    assert "${" not in text and PREFIX in text


def test_state_machine_policy_has_no_findings():
    assert findings(policies.render_state_machine_policy(VALUES)) == []


def test_parliament_would_catch_a_broad_policy():
    """The check above is only worth something if the linter flags what we avoid."""
    broad = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    assert findings(broad) != []


def test_no_full_access_in_templates_or_deploying_code():
    """(The notebooks' text may quote the original tutorial's FullAccess policies for contrast; no code cell may.)"""
    root = repo_root()
    candidates = [
        *(root / "lambdas").rglob("*.json"),
        root / "state_machine.json",
        *(root / "src" / "lambdalab" / "deploy").rglob("*.py"),
    ]
    assert [str(p.relative_to(root)) for p in candidates if "FullAccess" in p.read_text()] == []
    for notebook in sorted((root / "notebooks").glob("[0-9]*.ipynb")):
        cells = nbformat.read(notebook, as_version=4).cells
        assert not [c for c in cells if c.cell_type == "code" and "FullAccess" in c.source], notebook.name


def test_trust_policies_admit_one_service_only():
    (lambda_statement,) = policies.lambda_trust_policy()["Statement"]
    assert lambda_statement["Principal"] == {"Service": "lambda.amazonaws.com"}
    assert lambda_statement["Action"] == "sts:AssumeRole"
    (states_statement,) = policies.states_trust_policy("123456789012")["Statement"]
    assert states_statement["Principal"] == {"Service": "states.amazonaws.com"}
    assert states_statement["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


def test_every_template_slot_has_a_value():
    templates = [
        (repo_root() / "lambdas" / f / "policy.json").read_text() for f in (*FACE_BLUR_FUNCTIONS, SONGS_FUNCTION)
    ]
    templates.append((repo_root() / "lambdas" / "state_machine_policy.json").read_text())
    templates.append((repo_root() / "state_machine.json").read_text())
    for text in templates:
        assert slots(text) <= {*VALUES, "FunctionName"}


def test_render_refuses_missing_values_and_keeps_iam_variables():
    with pytest.raises(KeyError, match="TopicArn"):
        render('{"Resource": "${TopicArn}"}', {})
    assert render('{"a": "${X}", "b": "${aws:username}"}', {"X": "1"}) == '{"a": "1", "b": "${aws:username}"}'
