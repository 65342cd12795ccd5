"""A small recursive validator of JSON values against botocore's own service model shapes.

Why not botocore's ParamValidator: it checks requests only, skips enums, max lengths and
patterns, and accepts unknown members — the mistakes an emulator is most likely to make.
Why validate the raw body: botocore's parser silently drops members the model does not know.
"""

from __future__ import annotations

import json
import re
from typing import Any

import botocore.session

_session = botocore.session.get_session()


def service_model(name: str):
    return _session.get_service_model(name)


def validate(shape: Any, value: Any, path: str = "$") -> list[str]:
    """Every way `value` breaks `shape` (empty list = valid)."""
    errors: list[str] = []
    kind = shape.type_name
    meta = shape.metadata
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{path}: expected object, got {type(value).__name__}"]
        for name in shape.required_members:
            if name not in value:
                errors.append(f"{path}: missing required member {name}")
        for name, member_value in value.items():
            if name not in shape.members:
                errors.append(f"{path}: unknown member {name}")
                continue
            errors += validate(shape.members[name], member_value, f"{path}.{name}")
    elif kind == "list":
        if not isinstance(value, list):
            return [f"{path}: expected array, got {type(value).__name__}"]
        if "min" in meta and len(value) < meta["min"]:
            errors.append(f"{path}: fewer than {meta['min']} items")
        if "max" in meta and len(value) > meta["max"]:
            errors.append(f"{path}: more than {meta['max']} items")
        for i, item in enumerate(value):
            errors += validate(shape.member, item, f"{path}[{i}]")
    elif kind == "map":
        if not isinstance(value, dict):
            return [f"{path}: expected object, got {type(value).__name__}"]
        for k, v in value.items():
            errors += validate(shape.key, k, f"{path}<key>")
            errors += validate(shape.value, v, f"{path}.{k}")
    elif kind == "string":
        if not isinstance(value, str):
            return [f"{path}: expected string, got {type(value).__name__}"]
        if shape.enum and value not in shape.enum:
            errors.append(f"{path}: {value!r} not in enum {shape.enum}")
        if "min" in meta and len(value) < meta["min"]:
            errors.append(f"{path}: shorter than {meta['min']}")
        if "max" in meta and len(value) > meta["max"]:
            errors.append(f"{path}: longer than {meta['max']}")
        if "pattern" in meta and not re.fullmatch(meta["pattern"], value):
            errors.append(f"{path}: {value!r} does not match {meta['pattern']}")
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            return [f"{path}: expected integer, got {type(value).__name__} {value!r}"]
        errors += _range(meta, value, path)
    elif kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return [f"{path}: expected number, got {type(value).__name__}"]
        errors += _range(meta, value, path)
    elif kind == "boolean":
        if not isinstance(value, bool):
            errors.append(f"{path}: expected boolean, got {type(value).__name__}")
    elif kind == "timestamp":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            errors.append(f"{path}: expected timestamp, got {type(value).__name__}")
    elif kind == "blob":
        if not isinstance(value, (str, bytes)):
            errors.append(f"{path}: expected blob, got {type(value).__name__}")
    else:  # pragma: no cover - a shape type this helper does not know yet
        errors.append(f"{path}: unsupported shape type {kind}")
    return errors


def _range(meta: dict, value: float, path: str) -> list[str]:
    errors = []
    if "min" in meta and value < meta["min"]:
        errors.append(f"{path}: {value} < min {meta['min']}")
    if "max" in meta and value > meta["max"]:
        errors.append(f"{path}: {value} > max {meta['max']}")
    return errors


def validate_output(service: str, operation: str, body: bytes | str) -> list[str]:
    """Validate a raw successful JSON response body against the operation's output shape."""
    model = service_model(service).operation_model(operation)
    return validate(model.output_shape, json.loads(body or b"{}"))


def validate_error(service: str, operation: str, status: int, body: bytes | str) -> list[str]:
    """A JSON-protocol error: HTTP 4xx/5xx, a `__type` the operation declares (or the generic
    ValidationException every AWS JSON service returns), and a message."""
    model = service_model(service).operation_model(operation)
    errors = []
    if status < 400:
        errors.append(f"status {status} is not an error status")
    data = json.loads(body)
    code = str(data.get("__type", "")).split("#")[-1]
    declared = {shape.name for shape in model.error_shapes} | {"ValidationException"}
    if code not in declared:
        errors.append(f"__type {code!r} not declared by {operation}: {sorted(declared)}")
    if not (data.get("Message") or data.get("message")):
        errors.append("error without a message")
    return errors
