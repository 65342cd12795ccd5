"""The Step Functions state machine: definition from `state_machine.json`, logging at level ALL.

Re-runs compare the parsed definition, role and logging configuration and call
`update_state_machine` only on a difference, so executions in flight are not disturbed needlessly.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from lambdalab.deploy import tags as tagging
from lambdalab.deploy.changes import CREATED, UNCHANGED, UPDATED, Changes
from lambdalab.deploy.pages import error_code, paginate
from lambdalab.deploy.paths import state_machine_file
from lambdalab.deploy.retry import with_backoff
from lambdalab.deploy.templates import render


def render_definition(function_arns: Mapping[str, str], template: str | None = None) -> str:
    """`state_machine.json` with `${CheckJobStatusArn}`, `${GetRekognizedFacesArn}`, `${BlurFacesArn}` filled."""
    text = template if template is not None else state_machine_file().read_text()
    return render(text, function_arns)


def logging_configuration(log_group_arn: str, *, include_execution_data: bool = True) -> dict[str, Any]:
    """Level ALL: every state transition with its input and output, what the lab wants to show."""
    if not log_group_arn.endswith(":*"):
        log_group_arn += ":*"  # Step Functions requires the log-group ARN with its `:*` suffix
    return {
        "level": "ALL",
        "includeExecutionData": include_execution_data,
        "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": log_group_arn}}],
    }


def find_state_machine(sfn: Any, name: str) -> str | None:
    for machine in paginate(sfn, "list_state_machines", "stateMachines"):
        if machine["name"] == name:
            return str(machine["stateMachineArn"])
    return None


def ensure_state_machine(
    sfn: Any,
    name: str,
    *,
    definition: str,
    role_arn: str,
    logging: Mapping[str, Any],
    tags: Mapping[str, str],
    changes: Changes | None = None,
) -> str:
    """Create-or-update the STANDARD state machine `name`; returns its ARN."""
    changes = changes if changes is not None else Changes()
    arn = find_state_machine(sfn, name)
    if arn is None:
        # The role is often seconds old: Step Functions refuses to assume it until IAM has propagated.
        created = with_backoff(
            lambda: sfn.create_state_machine(
                name=name,
                definition=definition,
                roleArn=role_arn,
                type="STANDARD",
                loggingConfiguration=dict(logging),
                tags=tagging.as_list(tags, key="key", value="value"),
            )
        )
        changes.add("state machine", name, CREATED)
        return str(created["stateMachineArn"])

    current = sfn.describe_state_machine(stateMachineArn=arn)
    done: list[str] = []
    if json.loads(current["definition"]) != json.loads(definition):
        done.append("definition")
    if current["roleArn"] != role_arn:
        done.append("role")
    if _logging_view(current.get("loggingConfiguration", {})) != _logging_view(logging):
        done.append("logging")
    if done:
        with_backoff(
            lambda: sfn.update_state_machine(
                stateMachineArn=arn, definition=definition, roleArn=role_arn, loggingConfiguration=dict(logging)
            )
        )
    current_tags = tagging.from_list(sfn.list_tags_for_resource(resourceArn=arn).get("tags"))
    wanted = tagging.missing(current_tags, tags)
    if wanted:
        sfn.tag_resource(resourceArn=arn, tags=tagging.as_list(wanted, key="key", value="value"))
        done.append("tags")
    changes.add("state machine", name, UPDATED if done else UNCHANGED, ", ".join(done))
    return arn


def _logging_view(config: Mapping[str, Any]) -> tuple[str, bool, tuple[str, ...]]:
    destinations = tuple(
        sorted(d.get("cloudWatchLogsLogGroup", {}).get("logGroupArn", "") for d in config.get("destinations", []))
    )
    return (str(config.get("level", "OFF")), bool(config.get("includeExecutionData", False)), destinations)


def delete_state_machine(sfn: Any, arn: str) -> int:
    """Stop running executions, then delete; returns how many executions were stopped.

    Deleting alone would leave running executions polling and invoking functions until they
    finish; stopping them first makes teardown immediate.
    """
    stopped = 0
    try:
        for execution in paginate(sfn, "list_executions", "executions", stateMachineArn=arn, statusFilter="RUNNING"):
            try:
                sfn.stop_execution(executionArn=execution["executionArn"], cause="lambdalab teardown")
                stopped += 1
            except ClientError as error:
                if error_code(error) not in ("ExecutionDoesNotExist", "ValidationException"):
                    raise
        sfn.delete_state_machine(stateMachineArn=arn)
    except ClientError as error:
        if error_code(error) not in ("StateMachineDoesNotExist", "ResourceNotFound"):
            raise
    return stopped
