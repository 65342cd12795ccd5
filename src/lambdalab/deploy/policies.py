"""Least-privilege IAM documents: inline policies rendered from the templates, and trust policies.

Each function has `lambdas/<function>/policy.json`; the state machine has
`lambdas/state_machine_policy.json`. The templates name exact ARNs through placeholders, so the
values below decide the scope. `policy_values` gathers every value once, so a template can use any
of them and teardown/tests see the same names.
"""

from __future__ import annotations

import json
from typing import Any

from lambdalab.deploy.paths import lambda_dir, repo_root
from lambdalab.deploy.target import Target
from lambdalab.deploy.templates import render_json

INLINE_POLICY_NAME = "least-privilege"


def function_policy_template(function: str) -> str:
    return (lambda_dir(function) / "policy.json").read_text()


def state_machine_policy_template() -> str:
    return (repo_root() / "lambdas" / "state_machine_policy.json").read_text()


def function_arn(target: Target, function_name: str) -> str:
    return target.arn("lambda", f"function:{function_name}")


def state_machine_arn(target: Target, name: str) -> str:
    """Predictable before creation, so face_detection's policy can name it up front."""
    return target.arn("states", f"stateMachine:{name}")


def log_group_arn(target: Target, name: str) -> str:
    return target.arn("logs", f"log-group:{name}:*")


def base_values(target: Target) -> dict[str, str]:
    """Placeholders every template may use."""
    return {"Partition": target.partition, "Region": target.region, "AccountId": target.account}


def render_function_policy(function: str, values: dict[str, str]) -> dict[str, Any]:
    return render_json(function_policy_template(function), values)


def render_state_machine_policy(values: dict[str, str]) -> dict[str, Any]:
    return render_json(state_machine_policy_template(), values)


def lambda_trust_policy() -> dict[str, Any]:
    """Only the Lambda service may assume a function's execution role."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }


def states_trust_policy(account: str) -> dict[str, Any]:
    """Step Functions, and only on behalf of state machines in our own account (confused deputy)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "states.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": account}},
            }
        ],
    }


def policy_text(document: dict[str, Any]) -> str:
    """Canonical text (sorted keys) so that comparisons and linters see one spelling."""
    return json.dumps(document, indent=2, sort_keys=True)
