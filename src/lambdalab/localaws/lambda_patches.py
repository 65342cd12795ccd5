"""Make moto's Lambda execute code: the subprocess runner, AWS's error header, async `Event` invokes."""

from __future__ import annotations

import base64
import inspect
import json
from typing import Any

from moto.awslambda.models import LambdaFunction

from lambdalab.localaws import background, lambda_runner

# The exact signatures this patch replaces; tests compare them so a moto upgrade fails loudly.
EXPECTED_SIGNATURES = {
    "_invoke_lambda": "(self, event: 'str | None' = None) -> 'tuple[str, bool, str]'",
    "invoke": "(self, body: 'str', request_headers: 'Any', response_headers: 'Any') -> 'str | bytes'",
}
ORIGINALS = {name: getattr(LambdaFunction, name) for name in EXPECTED_SIGNATURES}


def original_signatures() -> dict[str, str]:
    return {name: str(inspect.signature(method)) for name, method in ORIGINALS.items()}


def _invoke_lambda(self: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
    return lambda_runner.invoke(self, event)


def _invoke(self: LambdaFunction, body: Any, request_headers: Any, response_headers: Any) -> bytes:
    event = json.loads(body) if body else {}
    invocation_type = (request_headers or {}).get("x-amz-invocation-type") or "RequestResponse"
    if invocation_type == "DryRun":
        return b""
    if invocation_type == "Event":  # AWS queues it and answers 202 at once
        background.submit(self._invoke_lambda, event)
        return b""
    payload, errored, logs = self._invoke_lambda(event)
    if errored:
        response_headers["x-amz-function-error"] = "Unhandled"
    response_headers["x-amz-executed-version"] = "$LATEST"
    tail = lambda_runner.log_tail(logs)
    response_headers["x-amz-log-result"] = base64.b64encode(tail.encode("utf-8")).decode("ascii")
    return payload.encode("utf-8")


def install() -> None:
    LambdaFunction._invoke_lambda = _invoke_lambda  # type: ignore[method-assign]
    LambdaFunction.invoke = _invoke  # type: ignore[method-assign]
