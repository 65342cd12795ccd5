"""Step Functions that really execute, and `start_execution` without a name that works twice.

moto's ASL interpreter runs only with `execute_state_machine`; its executions started without a
name all get the ARN `...:None`, so the second one collides with the first.
"""

from __future__ import annotations

import uuid
from typing import Any

from moto.core.config import default_user_config
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

_original_start_execution = StepFunctionsParserBackend.start_execution


def _start_execution(self: Any, state_machine_arn: str, name: Any = None, *args: Any, **kwargs: Any) -> Any:
    return _original_start_execution(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)


def install() -> None:
    default_user_config["stepfunctions"] = {"execute_state_machine": True}
    StepFunctionsParserBackend.start_execution = _start_execution  # type: ignore[method-assign]
