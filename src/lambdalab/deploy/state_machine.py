"""State machines as teardown meets them: running executions stopped first, then deleted."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from lambdalab.deploy.responses import error_code, paginate


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
