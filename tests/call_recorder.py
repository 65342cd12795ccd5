"""Record the botocore API calls a process sends, for tests/test_learner_policy.py.

Only calls that reach the wire count: `_make_api_call` notes the operation and its parameters,
`_make_request` (which botocore skips when a `before-call` handler answers, e.g. a `Stubber`) marks
it sent. A call that then fails still counts: an "already exists" is a request IAM must allow.

Two uses: `patches(on_call)` gives the replacement methods for monkeypatching in the test process;
`record_to_file()` installs them in a notebook's kernel (another process), called from an IPython
startup file, appending one JSON line per call to the file named by $LAMBDALAB_RECORD_CALLS. Only
the kernel runs IPython startup files: the Lambda handlers the notebook's calls trigger run in other
processes, with their own roles, and are not recorded.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from typing import Any

from botocore.client import BaseClient

ENV = "LAMBDALAB_RECORD_CALLS"
# A line: prefix (IAM service prefix: the signing name), operation, params (JSON; bytes and streams
# replaced by "<type name>"), region, mappings ({UUID: function ARN} that the response named).
OnCall = Callable[[dict[str, Any]], None]


def _mappings(response: Any) -> dict[str, str]:
    """Event source mappings are named by UUID only: which function each one belongs to."""
    if not isinstance(response, dict):
        return {}
    found = [response, *response.get("EventSourceMappings", [])]
    return {m["UUID"]: m["FunctionArn"] for m in found if "UUID" in m and "FunctionArn" in m}


def patches(on_call: OnCall) -> dict[str, Callable[..., Any]]:
    """Replacements for BaseClient's `_make_api_call` and `_make_request` that report each sent call."""
    make_api_call, make_request = BaseClient._make_api_call, BaseClient._make_request
    pending = threading.local()  # this thread's calls in progress (a call may make another: credentials)

    def recording_api_call(self: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
        model = self.meta.service_model
        call = {
            "prefix": model.signing_name or model.endpoint_prefix,
            "operation": operation_name,
            "params": json.loads(json.dumps(api_params, default=lambda o: f"<{type(o).__name__}>")),
            "region": self.meta.region_name,
            "mappings": {},
        }
        stack = pending.__dict__.setdefault("stack", [])
        stack.append(call)
        try:
            response = make_api_call(self, operation_name, api_params)
            call["mappings"] = _mappings(response)
            return response
        finally:
            stack.pop()
            if call.pop("sent", False):
                on_call(call)

    def noting_request(self: BaseClient, *args: Any, **kwargs: Any) -> Any:
        stack = pending.__dict__.get("stack")
        if stack:
            stack[-1]["sent"] = True
        return make_request(self, *args, **kwargs)

    return {"_make_api_call": recording_api_call, "_make_request": noting_request}


def record_to_file(path: str | None = None) -> None:
    """From now on, append each sent call of this process to `path` (default: $LAMBDALAB_RECORD_CALLS)."""
    target = path or os.environ[ENV]

    def append(call: dict[str, Any]) -> None:
        with open(target, "a", encoding="utf-8") as out:
            out.write(json.dumps(call) + "\n")

    for name, method in patches(append).items():
        setattr(BaseClient, name, method)


def read_file(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    try:
        with open(path, encoding="utf-8") as lines:
            return [json.loads(line) for line in lines if line.strip()]
    except FileNotFoundError:
        return []
