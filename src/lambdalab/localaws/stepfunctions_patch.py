"""Step Functions that really execute, and `start_execution` without a name that works twice.

moto's ASL interpreter runs only with `execute_state_machine`; its executions started without a
name all get the ARN `...:None`, so the second one collides with the first.
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from moto.core.config import default_user_config
from moto.stepfunctions.parser.asl.component.state.exec.state_map.max_concurrency import MaxConcurrencyDecl
from moto.stepfunctions.parser.models import StepFunctionsParserBackend

_original_start_execution = StepFunctionsParserBackend.start_execution


def _start_execution(self: Any, state_machine_arn: str, name: Any = None, *args: Any, **kwargs: Any) -> Any:
    return _original_start_execution(self, state_machine_arn, name or str(uuid.uuid4()), *args, **kwargs)


# --- Map state: concurrency bounded by the cores -------------------------------------------------
#
# moto runs inline Map iterations on threads, MaxConcurrency at a time (measured:
# tests/test_scale_out.py), and with MaxConcurrency 0 (AWS's "as many as possible") one thread per
# item. Here each iteration that invokes a Lambda is a subprocess competing for the same few cores,
# so the concurrency is capped at the machine's cores: AWS has no such cap (each iteration runs in
# its own sandbox), and notebook 05 says so where it measures the Map state.


def local_map_concurrency(declared: int, cores: int | None = None) -> int:
    """How many Map iterations run at once here: the declared MaxConcurrency (0 = no limit), at
    most one per core."""
    cores = max(1, cores or os.cpu_count() or 1)
    return min(declared, cores) if declared > 0 else cores


def _eval_max_concurrency_body(self: Any, env: Any) -> None:
    # moto's MaxConcurrencyDecl._eval_body pushes the evaluated value; the Map state pops it.
    env.stack.append(local_map_concurrency(self._eval_max_concurrency(env=env)))


def install_map() -> None:
    MaxConcurrencyDecl._eval_body = _eval_max_concurrency_body  # type: ignore[method-assign]


def install() -> None:
    default_user_config["stepfunctions"] = {"execute_state_machine": True}
    StepFunctionsParserBackend.start_execution = _start_execution  # type: ignore[method-assign]
    install_map()
