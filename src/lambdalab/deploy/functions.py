"""Lambda functions: create-or-update code and configuration, and their resource policy.

Re-runs must be free and quiet: code is uploaded only when its CodeSha256 (zip) or image differs,
configuration only when a field differs, and every update waits for `LastUpdateStatus` to become
`Successful` (Lambda rejects a second change while one is in progress).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from lambdalab.deploy import tags as tagging
from lambdalab.deploy.changes import CREATED, UNCHANGED, UPDATED, Changes
from lambdalab.deploy.packaging import code_sha256
from lambdalab.deploy.pages import error_code
from lambdalab.deploy.retry import with_backoff
from lambdalab.deploy.target import ENDPOINT_ENV_PREFIX

PYTHON_RUNTIME = "python3.12"
HANDLER = "app.handler"
WAIT = {"Delay": 1, "MaxAttempts": 300}


@dataclass(frozen=True)
class ZipCode:
    """A deployment package built by `packaging.zip_folder`."""

    package: bytes

    @property
    def sha256(self) -> str:
        return code_sha256(self.package)


@dataclass(frozen=True)
class ImageCode:
    """A container image in ECR. `digest` (hex, no `sha256:`) detects a re-pushed mutable tag."""

    uri: str
    digest: str | None = None


@dataclass(frozen=True)
class FunctionSpec:
    name: str
    role_arn: str
    code: ZipCode | ImageCode
    environment: Mapping[str, str] = field(default_factory=dict)
    memory_mb: int = 128
    timeout_s: int = 30
    ephemeral_mb: int = 512
    description: str = ""
    architecture: str = "x86_64"
    handler: str = HANDLER
    runtime: str = PYTHON_RUNTIME
    tags: Mapping[str, str] = field(default_factory=dict)

    @property
    def package_type(self) -> str:
        return "Image" if isinstance(self.code, ImageCode) else "Zip"


def check_environment(variables: Mapping[str, str]) -> None:
    """Refuse endpoint overrides in a function's environment, on every target.

    On `aws` they would send the function's calls somewhere else; on `local` the Lambda runner
    injects the right endpoint itself, and a stale one baked into the configuration would win.
    """
    leaked = sorted(k for k in variables if k.startswith(ENDPOINT_ENV_PREFIX))
    if leaked:
        raise ValueError(f"function environment must not set {', '.join(leaked)}")


def _desired_configuration(spec: FunctionSpec) -> dict[str, Any]:
    config: dict[str, Any] = {
        "Role": spec.role_arn,
        "MemorySize": spec.memory_mb,
        "Timeout": spec.timeout_s,
        "Description": spec.description,
        "Environment": {"Variables": dict(spec.environment)},
        "EphemeralStorage": {"Size": spec.ephemeral_mb},
    }
    if spec.package_type == "Zip":
        config["Handler"] = spec.handler
        config["Runtime"] = spec.runtime
    return config


def _current_configuration(current: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of `current` that `desired` sets, with Lambda's omissions filled by its defaults."""
    view = {key: current.get(key) for key in desired}
    view["Environment"] = {"Variables": dict(current.get("Environment", {}).get("Variables", {}))}
    view["EphemeralStorage"] = {"Size": current.get("EphemeralStorage", {}).get("Size", 512)}
    view["Description"] = current.get("Description", "") or ""
    return view


def _code_argument(code: ZipCode | ImageCode) -> dict[str, Any]:
    return {"ZipFile": code.package} if isinstance(code, ZipCode) else {"ImageUri": code.uri}


def _code_differs(spec: FunctionSpec, current: Mapping[str, Any]) -> bool:
    config = current["Configuration"]
    if config.get("Architectures", ["x86_64"]) != [spec.architecture]:
        return True
    if isinstance(spec.code, ZipCode):
        return config.get("CodeSha256") != spec.code.sha256
    if current.get("Code", {}).get("ImageUri") != spec.code.uri:
        return True
    return spec.code.digest is not None and config.get("CodeSha256") != spec.code.digest


def get_function(lam: Any, name: str) -> dict[str, Any] | None:
    try:
        return lam.get_function(FunctionName=name)
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return None
        raise


def wait_until_updated(lam: Any, name: str) -> None:
    lam.get_waiter("function_updated_v2").wait(FunctionName=name, WaiterConfig=WAIT)


def ensure_function(lam: Any, spec: FunctionSpec, *, changes: Changes | None = None) -> str:
    """Converge function `spec.name` to `spec`; returns its ARN.

    A change of package type (zip <-> image) cannot be updated in place: the function is deleted
    and created again (its permissions and mappings are re-ensured by the deploy steps after it).
    """
    changes = changes if changes is not None else Changes()
    check_environment(spec.environment)
    current = get_function(lam, spec.name)
    if current is not None and current["Configuration"].get("PackageType", "Zip") != spec.package_type:
        lam.delete_function(FunctionName=spec.name)
        current = None
    if current is None:
        return _create(lam, spec, changes)

    done: list[str] = []
    wait_until_updated(lam, spec.name)
    if _code_differs(spec, current):
        with_backoff(
            lambda: lam.update_function_code(
                FunctionName=spec.name, Architectures=[spec.architecture], **_code_argument(spec.code)
            )
        )
        wait_until_updated(lam, spec.name)
        done.append("code")
    desired = _desired_configuration(spec)
    if _current_configuration(current["Configuration"], desired) != desired:
        with_backoff(lambda: lam.update_function_configuration(FunctionName=spec.name, **desired))
        wait_until_updated(lam, spec.name)
        done.append("configuration")
    arn = current["Configuration"]["FunctionArn"]
    wanted = tagging.missing(lam.list_tags(Resource=arn).get("Tags", {}), spec.tags)
    if wanted:
        lam.tag_resource(Resource=arn, Tags=wanted)
        done.append("tags")
    changes.add("function", spec.name, UPDATED if done else UNCHANGED, ", ".join(done))
    return arn


def _create(lam: Any, spec: FunctionSpec, changes: Changes) -> str:
    arguments: dict[str, Any] = {
        "FunctionName": spec.name,
        "PackageType": spec.package_type,
        "Code": _code_argument(spec.code),
        "Architectures": [spec.architecture],
        "Tags": dict(spec.tags),
        **_desired_configuration(spec),
    }
    # A role created seconds ago may not be assumable yet: retried (see retry.PROPAGATION_ERRORS).
    created = with_backoff(lambda: lam.create_function(**arguments))
    lam.get_waiter("function_active_v2").wait(FunctionName=spec.name, WaiterConfig=WAIT)
    changes.add("function", spec.name, CREATED, spec.package_type.lower())
    return str(created["FunctionArn"])


def ensure_environment(
    lam: Any, name: str, variables: Mapping[str, str], *, changes: Changes | None = None
) -> None:
    """Set a function's whole environment if it differs (used for STATE_MACHINE_ARN, see face_blur)."""
    changes = changes if changes is not None else Changes()
    check_environment(variables)
    wait_until_updated(lam, name)
    current = lam.get_function_configuration(FunctionName=name).get("Environment", {}).get("Variables", {})
    if dict(current) == dict(variables):
        changes.add("function environment", name, UNCHANGED)
        return
    with_backoff(lambda: lam.update_function_configuration(FunctionName=name, Environment={"Variables": dict(variables)}))
    wait_until_updated(lam, name)
    changes.add("function environment", name, UPDATED, ", ".join(sorted(set(variables) ^ set(current))))


def _statement_matches(statement: Mapping[str, Any], principal: str, action: str, source_arn: str, account: str) -> bool:
    got_principal = statement.get("Principal")
    if isinstance(got_principal, Mapping):
        got_principal = got_principal.get("Service")
    condition = statement.get("Condition", {})
    return (
        got_principal == principal
        and statement.get("Action") == action
        and condition.get("ArnLike", {}).get("AWS:SourceArn") == source_arn
        and condition.get("StringEquals", {}).get("AWS:SourceAccount") == account
    )


def ensure_permission(
    lam: Any,
    function_name: str,
    *,
    sid: str,
    principal: str,
    source_arn: str,
    source_account: str,
    action: str = "lambda:InvokeFunction",
    changes: Changes | None = None,
) -> None:
    """Allow `principal` to invoke the function, only for `source_arn` in `source_account`.

    SourceAccount matters for S3: bucket ARNs carry no account id, so without it a bucket of the
    same name in another account (after ours is deleted) could invoke our function.
    """
    changes = changes if changes is not None else Changes()
    try:
        policy = json.loads(lam.get_policy(FunctionName=function_name)["Policy"])
    except ClientError as error:
        if error_code(error) != "ResourceNotFoundException":
            raise
        policy = {"Statement": []}
    existing = next((s for s in policy.get("Statement", []) if s.get("Sid") == sid), None)
    if existing is not None and _statement_matches(existing, principal, action, source_arn, source_account):
        changes.add("permission", f"{function_name}:{sid}", UNCHANGED)
        return
    if existing is not None:
        lam.remove_permission(FunctionName=function_name, StatementId=sid)
    lam.add_permission(
        FunctionName=function_name,
        StatementId=sid,
        Action=action,
        Principal=principal,
        SourceArn=source_arn,
        SourceAccount=source_account,
    )
    changes.add("permission", f"{function_name}:{sid}", UPDATED if existing else CREATED)
