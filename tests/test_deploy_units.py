"""The small pieces: packaging, naming, retries, target and session handling."""

from __future__ import annotations

import io
import json
import os
import zipfile

import pytest
from botocore.exceptions import ClientError
from deploy_support import PREFIX, REGION, aws, clean_env  # noqa: F401
from moto import mock_aws

from lambdalab.deploy import retry, session_state
from lambdalab.deploy import target as target_module
from lambdalab.deploy.naming import Names, owns_name
from lambdalab.deploy.packaging import code_sha256, zip_folder
from lambdalab.deploy.target import use_target


def make_folder(root, files):
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return root


def test_zip_is_deterministic_and_skips_caches(tmp_path):
    folder = make_folder(tmp_path / "fn", {"app.py": "def handler(e, c): return 1\n", "lib/util.py": "X = 1\n"})
    first = zip_folder(folder)
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "app.cpython-312.pyc").write_bytes(b"junk")
    (folder / ".DS_Store").write_bytes(b"junk")
    os.utime(folder / "app.py", (0, 0))  # a touched file must not change the package
    second = zip_folder(folder)
    assert first == second
    names = zipfile.ZipFile(io.BytesIO(first)).namelist()
    assert names == ["app.py", "lib/util.py"]
    (folder / "app.py").write_text("def handler(e, c): return 2\n")
    assert code_sha256(zip_folder(folder)) != code_sha256(first)


def test_names_are_prefixed_and_within_limits():
    names = Names("lab-abcdefghij-1a2b", "123456789012")
    for name in (names.input_bucket, names.output_bucket):
        assert len(name) <= 63 and name == name.lower() and owns_name(name, names.prefix)
    assert len(names.role("check_rekognition_job_status")) <= 64
    assert not owns_name("lab-abcdefghij-1a2b3-x", "lab-abcdefghij-1a2b")


def test_prefix_is_created_once_and_persisted(clean_env):
    first = session_state.session_prefix()
    assert session_state.PREFIX_PATTERN.match(first)
    assert session_state.session_prefix() == first
    assert json.loads(session_state.session_file().read_text())["prefix"] == first
    assert session_state.make_prefix("Dr. O'Neil_42").startswith("lab-droneil42-")


def propagation_error() -> ClientError:
    return ClientError(
        {
            "Error": {
                "Code": "InvalidParameterValueException",
                "Message": "The role defined for the function cannot be assumed by Lambda.",
            }
        },
        "CreateFunction",
    )


def test_retry_waits_with_backoff_then_succeeds():
    waits: list[float] = []
    outcomes = iter([propagation_error(), propagation_error(), "ok"])

    def call():
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert retry.with_backoff(call, sleep=waits.append) == "ok"
    assert waits == [1.0, 2.0]


def test_retry_is_bounded_and_selective():
    waits: list[float] = []

    def always():
        raise propagation_error()

    with pytest.raises(ClientError):
        retry.with_backoff(always, attempts=7, sleep=waits.append)
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0, 16.0]

    def wrong():
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "CreateFunction")

    waits.clear()
    with pytest.raises(ClientError):
        retry.with_backoff(wrong, sleep=waits.append)
    assert waits == []


def test_create_function_retries_until_the_role_is_assumable(aws, tmp_path, monkeypatch):
    """moto answers like Lambda while the role is unknown; the role 'propagates' during the first wait."""
    iam, lam = aws.client("iam"), aws.client("lambda")
    role_arn = f"arn:aws:iam::{aws.account}:role/{PREFIX}-late"
    waits: list[float] = []

    def propagate(delay: float) -> None:
        waits.append(delay)
        if len(waits) == 2:
            iam.create_role(RoleName=f"{PREFIX}-late", AssumeRolePolicyDocument="{}")

    monkeypatch.setattr(retry, "_sleep", propagate)
    folder = make_folder(tmp_path / "fn", {"app.py": "def handler(e, c): return 1\n"})
    # The call notebooks 02 and 04 make: create_function wrapped in with_backoff.
    arn = retry.with_backoff(
        lambda: lam.create_function(
            FunctionName=f"{PREFIX}-f",
            Role=role_arn,
            Runtime="python3.12",
            Handler="app.handler",
            Code={"ZipFile": zip_folder(folder)},
        )
    )["FunctionArn"]
    assert arn.endswith(f":function:{PREFIX}-f")
    assert waits == [1.0, 2.0]


def test_aws_target_refuses_without_region(clean_env):
    with mock_aws(), pytest.raises(RuntimeError, match="needs a region"):
        use_target("aws", verbose=False)


def test_aws_target_strips_endpoints_and_reports_account(clean_env, monkeypatch, capsys):
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://localhost:4599")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://localhost:4599")
    with mock_aws():
        target = use_target("aws", region=REGION)
    assert target.is_aws and target.region == REGION and target.account == "123456789012"
    assert [v for v in os.environ if v.startswith("AWS_ENDPOINT_URL")] == []
    assert os.environ[target_module.IGNORE_ENDPOINTS_ENV] == "true"
    out = capsys.readouterr().out
    assert "account 123456789012" in out and f"region {REGION}" in out and "AWS_ENDPOINT_URL_S3" in out
    saved = session_state.load_session()
    assert (saved["target"], saved["region"]) == ("aws", REGION)


def test_target_precedence(clean_env, monkeypatch):
    assert target_module.choose_target_name() == ("local", "default")
    session_state.save_session(target="aws")
    assert target_module.choose_target_name() == ("aws", "session file")
    monkeypatch.setenv("LAMBDALAB_TARGET", "local")
    assert target_module.choose_target_name() == ("local", "$LAMBDALAB_TARGET")
    assert target_module.choose_target_name("AWS") == ("aws", "argument")
    with pytest.raises(ValueError, match="unknown target"):
        use_target("azure", verbose=False)


def test_switching_from_local_to_aws_undoes_the_local_environment(clean_env, monkeypatch, tmp_path):
    """What the embedded AWS put into os.environ (endpoint, dummy keys, region) must not reach `aws`,
    and what it removed (the learner's AWS_PROFILE) must come back."""
    import lambdalab.localaws as localaws
    from lambdalab.localaws import configure_environment

    credentials = tmp_path / "credentials"
    credentials.write_text("[learner]\naws_access_key_id = learner-key\naws_secret_access_key = s\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(credentials))
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_PROFILE", "learner")

    def ensure_running(port=None):  # the real environment set-up, without starting a server
        configure_environment("http://localhost:4599")
        return "http://localhost:4599"

    monkeypatch.setattr(localaws, "ensure_running", ensure_running)
    target_module._prepare_local_environment()
    assert os.environ["AWS_ENDPOINT_URL"] == "http://localhost:4599"
    assert "AWS_PROFILE" not in os.environ
    with mock_aws():  # (mock_aws restores the variables it saw on entry when it exits: check inside)
        target = use_target("aws", region=REGION, verbose=False)
        assert [v for v in os.environ if v.startswith("AWS_ENDPOINT_URL")] == []
        assert "AWS_DEFAULT_REGION" not in os.environ and "AWS_REGION" not in os.environ
        assert os.environ["AWS_PROFILE"] == "learner"
        assert os.environ.get("AWS_ACCESS_KEY_ID") != "testing"
        assert target.session.get_credentials().access_key == "learner-key"
