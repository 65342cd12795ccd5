"""The one place that decides where AWS calls go: the embedded offline AWS (`local`) or real AWS (`aws`).

Choice, first match wins: the explicit `use_target(...)` argument, `$LAMBDALAB_TARGET`, the target
saved in the session file by an earlier notebook, `local`.

Endpoint hygiene is the point of this module. boto3 routes every client to `$AWS_ENDPOINT_URL*`
when set, so a variable left over from the local target would silently send "real AWS" calls to
the embedded server (or worse, the reverse inside a deployed Lambda). On `aws` we therefore remove
every endpoint variable from `os.environ`, undo the dummy credentials the local server installed,
and tell botocore to ignore endpoints configured in `~/.aws/config` too.

On `aws` the region must have Amazon Rekognition Video, or the face-blur pipeline fails at its first
call. botocore's bundled endpoint data says which regions have a Rekognition endpoint, offline. It
does not tell Rekognition Video from Rekognition Image (one service, one endpoint per region); AWS
lists the non-streaming operations, StartFaceDetection among them, as available at every endpoint.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3

from lambdalab.deploy import session_state

TARGETS = ("local", "aws")
ENV_TARGET = "LAMBDALAB_TARGET"
ENDPOINT_ENV_PREFIX = "AWS_ENDPOINT_URL"
IGNORE_ENDPOINTS_ENV = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"
# Where a learner's account can be; botocore also knows the isolated (aws-iso*) partitions.
PUBLIC_PARTITIONS = ("aws", "aws-cn", "aws-us-gov")

_current: Target | None = None
# Variables the local server put into os.environ (name -> value before, None if unset), so that a
# switch to `aws` in the same kernel can undo exactly those and nothing else.
_local_env_changes: dict[str, str | None] = {}


@dataclass
class Target:
    """An account and region to deploy into, with the boto3 session that reaches it."""

    name: str
    region: str
    account: str
    partition: str = "aws"
    profile: str | None = None
    endpoint_url: str | None = None
    session: boto3.Session = field(default_factory=boto3.Session, repr=False, compare=False)

    @property
    def is_aws(self) -> bool:
        return self.name == "aws"

    def client(self, service: str, region: str | None = None) -> Any:
        """A boto3 client for `service`, in this target's region unless `region` is given."""
        return self.session.client(service, region_name=region or self.region)

    def arn(self, service: str, resource: str, *, region: str | None = None, account: str | None = None) -> str:
        """`arn:<partition>:<service>:<region>:<account>:<resource>`; pass "" to omit region/account."""
        reg = self.region if region is None else region
        acct = self.account if account is None else account
        return f"arn:{self.partition}:{service}:{reg}:{acct}:{resource}"

    def describe(self) -> str:
        where = f"embedded AWS at {self.endpoint_url}" if self.endpoint_url else "real AWS"
        profile = f", profile {self.profile}" if self.profile else ""
        return f"target {self.name}: {where}, account {self.account}, region {self.region}{profile}"


def endpoint_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """Names of the `AWS_ENDPOINT_URL*` variables present (they redirect boto3 clients)."""
    env = os.environ if environ is None else environ
    return sorted(name for name in env if name.startswith(ENDPOINT_ENV_PREFIX))


def strip_endpoint_variables() -> list[str]:
    """Remove every `AWS_ENDPOINT_URL*` from `os.environ`; returns the names removed."""
    removed = endpoint_variables()
    for name in removed:
        os.environ.pop(name, None)
    return removed


def rekognition_regions() -> list[str]:
    """Every region with an Amazon Rekognition endpoint in botocore's bundled data (no network)."""
    session = boto3.session.Session()
    regions = {r for p in PUBLIC_PARTITIONS for r in session.get_available_regions("rekognition", p)}
    return sorted(regions)


def require_rekognition_video(region: str) -> None:
    """Refuse a region without Rekognition Video, naming those that have it."""
    regions = rekognition_regions()
    if region not in regions:
        raise RuntimeError(
            f"region {region} has no Amazon Rekognition Video, which the face-blur pipeline needs; "
            f"choose one of: {', '.join(regions)}"
        )


def connect(
    name: str, *, profile: str | None = None, region: str | None = None, rekognition_video: bool = True
) -> Target:
    """Build a Target for `name` from the current environment, without changing it.

    Asks STS who we are: that both proves the credentials work and gives the account id every ARN
    needs. Refuses `aws` without a region rather than letting boto3 guess one per client, and (unless
    `rekognition_video` is False, e.g. to tear down) a region without Rekognition Video.
    """
    if name not in TARGETS:
        raise ValueError(f"unknown target {name!r}; choose one of {', '.join(TARGETS)}")
    if name == "aws" and endpoint_variables():
        raise RuntimeError(
            f"{', '.join(endpoint_variables())} is set: it would redirect 'aws' calls; use use_target('aws') "
            "which removes it"
        )
    session = boto3.Session(profile_name=profile, region_name=region)
    resolved = region or session.region_name
    if not resolved:
        if name == "aws":
            raise RuntimeError(
                "target aws needs a region: pass use_target('aws', region='eu-west-1'), set AWS_DEFAULT_REGION, "
                "or set region in your AWS profile"
            )
        resolved = "us-east-1"
        session = boto3.Session(profile_name=profile, region_name=resolved)
    if name == "aws" and rekognition_video:
        require_rekognition_video(resolved)
    identity = session.client("sts", region_name=resolved).get_caller_identity()
    partition = identity["Arn"].split(":")[1]
    endpoint = os.environ.get(ENDPOINT_ENV_PREFIX) if name == "local" else None
    return Target(
        name=name,
        region=resolved,
        account=identity["Account"],
        partition=partition,
        profile=profile,
        endpoint_url=endpoint,
        session=session,
    )


def use_target(
    name: str | None = None,
    *,
    profile: str | None = None,
    region: str | None = None,
    verbose: bool = True,
    rekognition_video: bool = True,
) -> Target:
    """Choose the target for this kernel, prepare the environment for it, and remember the choice.

    `local`: start (or reuse) the embedded AWS, which sets `AWS_ENDPOINT_URL` and dummy credentials.
    `aws`: drop every endpoint variable and the local dummy credentials, ignore configured endpoints.
    Either way boto3's default session is reset to the target, so plain `boto3.client("s3")` in a
    notebook cell reaches the same place as this library. On `aws`, a region without Rekognition
    Video is refused before anything is saved (`rekognition_video=False` skips that, e.g. to tear down).
    """
    global _current
    saved = session_state.load_session()
    name, source = choose_target_name(name)
    if name == "aws" and saved.get("target") == "aws":
        # Notebook 00 saved the learner's profile and region: later notebooks, the teardown CLI and
        # $LAMBDALAB_TARGET=aws must reach the same account, not whatever the default chain finds.
        profile = profile or saved.get("profile")
        region = region or saved.get("region")
    if name not in TARGETS:
        raise ValueError(f"unknown target {name!r} (from {source}); choose one of {', '.join(TARGETS)}")

    removed: list[str] = []
    if name == "aws":
        removed = _prepare_aws_environment()
    else:
        _prepare_local_environment()
        region = region or os.environ.get("AWS_DEFAULT_REGION")

    target = connect(name, profile=profile, region=region, rekognition_video=rekognition_video)
    boto3.setup_default_session(profile_name=profile, region_name=target.region)
    _current = target
    session_state.save_session(target=name, profile=profile, region=target.region)
    if verbose:
        print(f"{target.describe()} (chosen by {source})")
        if removed:
            print(f"removed {', '.join(removed)} from the environment so nothing is redirected")
    return target


def current_target() -> Target:
    """The target chosen earlier in this kernel, or the default one (see module docstring)."""
    return _current if _current is not None else use_target()


def choose_target_name(name: str | None = None) -> tuple[str, str]:
    """(target name, where the choice came from), by the precedence in the module docstring."""
    if name is not None:
        return name.strip().lower(), "argument"
    saved = session_state.load_session()
    from_env = os.environ.get(ENV_TARGET)
    if from_env:
        return from_env.strip().lower(), f"${ENV_TARGET}"
    if saved.get("target") in TARGETS:
        return str(saved["target"]), "session file"
    return "local", "default"


def _prepare_aws_environment() -> list[str]:
    for var, before in _local_env_changes.items():
        if before is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = before
    _local_env_changes.clear()
    removed = strip_endpoint_variables()
    os.environ[IGNORE_ENDPOINTS_ENV] = "true"
    return removed


def _prepare_local_environment() -> None:
    from lambdalab.localaws import ensure_running  # lazy: moto is heavy and unused on `aws`

    os.environ.pop(IGNORE_ENDPOINTS_ENV, None)
    before = dict(os.environ)
    endpoint = os.environ.get(ENDPOINT_ENV_PREFIX)
    if endpoint:
        # Chosen by whoever started this process (the blur CLI, a test running a notebook): use it.
        from lambdalab.localaws.process import configure_environment

        configure_environment(endpoint)
    else:
        ensure_running()
    # Set, changed, or removed (it drops AWS_PROFILE): remember each variable's earlier value once.
    for var in set(before) | set(os.environ):
        if before.get(var) != os.environ.get(var) and var not in _local_env_changes:
            _local_env_changes[var] = before.get(var)
