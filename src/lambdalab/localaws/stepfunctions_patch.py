"""Step Functions that really execute, and `start_execution` without a name that works twice.

moto's ASL interpreter runs only with `execute_state_machine`; its executions started without a
name all get the ARN `...:None`, so the second one collides with the first. Task tokens of
`.waitForTaskToken` states answer as AWS does (the callbacks section below).
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable
from typing import Any

from moto.core.config import default_user_config
from moto.core.exceptions import AWSError
from moto.core.responses import EmptyResult
from moto.stepfunctions.parser.api import ExecutionStatus
from moto.stepfunctions.parser.asl.component.state.exec.state_map.max_concurrency import MaxConcurrencyDecl
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from moto.stepfunctions.responses import StepFunctionResponse

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
    install_callbacks()


# --- Callbacks (`.waitForTaskToken`): what moto's interpreter gets wrong about task tokens --------
#
# moto pauses a `.waitForTaskToken` Task and resumes it on SendTaskSuccess/SendTaskFailure, and
# TimeoutSeconds/HeartbeatSeconds fire (measured: tests/test_callback_stepfunctions.py). Two gaps:
# its SendTaskFailure response handler drops `cause` (the execution would fail without Rekognition's
# message), and a token whose task has closed (answered, or timed out) is accepted again, or called
# invalid once its execution ended. AWS answers TaskTimedOut for both ("the task associated with the
# token has already been closed"): what a resume function must recognise as a duplicate or late
# notice.

_callback_lock = threading.Lock()


class TaskTimedOut(AWSError):
    """As AWS answers it (moto's own TaskTimedOut is not serialisable: the client would get a 500)."""

    TYPE = "TaskTimedOut"
    STATUS = 400

    def __init__(self) -> None:
        super().__init__("Task Timed Out: 'Provided task does not exist anymore'")


def _send_task_failure_response(self: Any) -> Any:
    self.stepfunction_backend.send_task_failure(
        self._get_param("taskToken"), error=self._get_param("error"), cause=self._get_param("cause")
    )
    return EmptyResult()


def _task_closed(backend: Any, task_token: str) -> bool:
    """True when `task_token` belongs to a task of any execution that no longer waits for it."""
    for execution in backend._get_executions():
        worker = execution.exec_worker
        endpoint = worker.env.callback_pool_manager.get(task_token) if worker is not None else None
        if endpoint is not None:  # the event is set once the task is answered or gives up waiting
            return endpoint._notify_event.is_set() or execution.status != ExecutionStatus.RUNNING
    return False


def _closing_once(original: Callable[..., Any]) -> Callable[..., Any]:
    def send(self: Any, task_token: str, *args: Any, **kwargs: Any) -> Any:
        with _callback_lock:  # two concurrent answers: the second sees the task closed
            if _task_closed(self, task_token):
                raise TaskTimedOut()
            return original(self, task_token, *args, **kwargs)

    return send


def install_callbacks() -> None:
    StepFunctionResponse.send_task_failure = _send_task_failure_response  # type: ignore[method-assign]
    for name in ("send_task_success", "send_task_failure", "send_task_heartbeat"):
        setattr(StepFunctionsParserBackend, name, _closing_once(getattr(StepFunctionsParserBackend, name)))
