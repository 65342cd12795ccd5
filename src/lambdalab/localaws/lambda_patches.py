"""Make moto's Lambda execute code: the runner's execution environments, AWS's error header, async
`Event` invokes, the checks AWS makes before it stores a function (deprecated runtimes, unzippable
packages), and an updated or deleted function's execution environments retired."""

from __future__ import annotations

import base64
import binascii
import inspect
import json
from typing import Any

from moto.awslambda.exceptions import InvalidParameterValueException
from moto.awslambda.models import LambdaBackend, LambdaFunction

from lambdalab.localaws import async_pool, lambda_runner

# The exact signatures this patch replaces; tests compare them so a moto upgrade fails loudly.
EXPECTED_SIGNATURES = {
    "_invoke_lambda": "(self, event: 'str | None' = None) -> 'tuple[str, bool, str]'",
    "invoke": "(self, body: 'str', request_headers: 'Any', response_headers: 'Any') -> 'str | bytes'",
    "LambdaBackend.create_function": "(self, spec: 'dict[str, Any]') -> 'LambdaFunction'",
    "LambdaBackend.update_function_code": (
        "(self, function_name: 'str', qualifier: 'str', body: 'dict[str, Any]') -> 'dict[str, Any] | None'"
    ),
    "LambdaBackend.update_function_configuration": (
        "(self, function_name: 'str', qualifier: 'str', body: 'dict[str, Any]') -> 'dict[str, Any] | None'"
    ),
    "LambdaBackend.delete_function": "(self, function_name: 'str', qualifier: 'str | None' = None) -> 'None'",
}
ORIGINALS = {
    name: getattr(LambdaBackend if name.startswith("LambdaBackend.") else LambdaFunction, name.rpartition(".")[2])
    for name in EXPECTED_SIGNATURES
}

# Runtimes on AWS's "deprecated runtimes" list (docs: Lambda runtimes > Deprecated runtimes). AWS
# stops creating and updating functions on them some weeks after deprecation, on dates it has moved
# before; the offline AWS refuses them from deprecation on, so what deploys here deploys there too.
DEPRECATED_RUNTIMES = frozenset(
    {
        "python2.7",
        "python3.6",
        "python3.7",
        "python3.8",
        "python3.9",
        "nodejs",
        "nodejs4.3",
        "nodejs4.3-edge",
        "nodejs6.10",
        "nodejs8.10",
        "nodejs10.x",
        "nodejs12.x",
        "nodejs14.x",
        "nodejs16.x",
        "nodejs18.x",
        "java8",
        "go1.x",
        "ruby2.5",
        "ruby2.7",
        "provided",
        "dotnetcore1.0",
        "dotnetcore2.0",
        "dotnetcore2.1",
        "dotnetcore3.1",
        "dotnet6",
    }
)


def original_signatures() -> dict[str, str]:
    return {name: str(inspect.signature(method)) for name, method in ORIGINALS.items()}


def check_runtime(runtime: Any) -> None:
    """AWS's answer to CreateFunction/UpdateFunctionConfiguration on a deprecated runtime."""
    if runtime in DEPRECATED_RUNTIMES:
        raise InvalidParameterValueException(
            f"The runtime parameter of {runtime} is no longer supported for creating or updating AWS "
            "Lambda functions. We recommend you use a supported runtime while creating or updating functions."
        )


def check_zip(code: Any) -> None:
    """A ZipFile Lambda cannot unpack is refused when it is uploaded, not when it is first run."""
    if not isinstance(code, dict) or not code.get("ZipFile"):
        return  # S3 or image code: checked by the runner when it extracts the package
    try:
        lambda_runner.check_package(base64.b64decode(code["ZipFile"]))
    except (lambda_runner.PackageError, binascii.Error, ValueError) as exc:
        raise InvalidParameterValueException(lambda_runner.UNZIP_ERROR) from exc


def _create_function(self: LambdaBackend, spec: dict[str, Any]) -> LambdaFunction:
    if spec.get("PackageType", "Zip") == "Zip":
        check_runtime(spec.get("Runtime"))
        check_zip(spec.get("Code"))
    return ORIGINALS["LambdaBackend.create_function"](self, spec)


def _function_arn(backend: LambdaBackend, function_name: str, qualifier: str | None) -> str | None:
    try:
        return backend.get_function(function_name, qualifier).function_arn
    except Exception:  # noqa: BLE001 - not found: the original raises AWS's error
        return None


def _update_function_code(self: LambdaBackend, function_name: str, qualifier: str, body: dict[str, Any]) -> Any:
    check_zip(body)
    result = ORIGINALS["LambdaBackend.update_function_code"](self, function_name, qualifier, body)
    if arn := _function_arn(self, function_name, qualifier):  # any update: new execution environments
        lambda_runner.discard_function(arn)
    return result


def _update_function_configuration(
    self: LambdaBackend, function_name: str, qualifier: str, body: dict[str, Any]
) -> Any:
    check_runtime(body.get("Runtime"))
    result = ORIGINALS["LambdaBackend.update_function_configuration"](self, function_name, qualifier, body)
    if arn := _function_arn(self, function_name, qualifier):
        lambda_runner.discard_function(arn)
    return result


def _delete_function(self: LambdaBackend, function_name: str, qualifier: str | None = None) -> None:
    arn = _function_arn(self, function_name, qualifier)
    ORIGINALS["LambdaBackend.delete_function"](self, function_name, qualifier)
    if arn is not None:
        lambda_runner.discard_function(arn)


def _invoke_lambda(self: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
    return lambda_runner.invoke(self, event)


def _invoke(self: LambdaFunction, body: Any, request_headers: Any, response_headers: Any) -> bytes:
    event = json.loads(body) if body else {}
    invocation_type = (request_headers or {}).get("x-amz-invocation-type") or "RequestResponse"
    if invocation_type == "DryRun":
        return b""
    if invocation_type == "Event":  # AWS queues it and answers 202 at once
        async_pool.submit(self._invoke_lambda, event)
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
    LambdaBackend.create_function = _create_function  # type: ignore[method-assign]
    LambdaBackend.update_function_code = _update_function_code  # type: ignore[method-assign]
    LambdaBackend.update_function_configuration = _update_function_configuration  # type: ignore[method-assign]
    LambdaBackend.delete_function = _delete_function  # type: ignore[method-assign]
