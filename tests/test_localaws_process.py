"""The three ways to start the embedded AWS share one implementation and behave as promised."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import boto3
import pytest


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture()
def isolated_home(tmp_path, monkeypatch):
    """Own state folder and port; ensure_running() rewrites os.environ, so restore all of it."""
    saved = dict(os.environ)
    monkeypatch.setenv("LAMBDALAB_HOME", str(tmp_path))
    monkeypatch.setenv("LAMBDALAB_PORT", str(_free_port()))
    yield tmp_path
    from lambdalab.localaws import stop

    stop()
    os.environ.clear()
    os.environ.update(saved)
    boto3.DEFAULT_SESSION = None


def test_ensure_running_is_shared_across_processes_and_outlives_them(isolated_home):
    from lambdalab.localaws import ensure_running, status, stop

    endpoint = ensure_running()
    assert os.environ["AWS_ENDPOINT_URL"] == endpoint
    boto3.client("s3").create_bucket(Bucket="survives-the-kernel")
    # A second "kernel" (another process) reuses the same server and sees the same data.
    script = (
        "import boto3; from lambdalab.localaws import ensure_running, status; "
        "ensure_running(); print(status()['pid']); "
        "print([b['Name'] for b in boto3.client('s3').list_buckets()['Buckets']])"
    )
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split(
        "\n"
    )
    assert int(output[0]) == status()["pid"]
    assert "survives-the-kernel" in output[1]
    assert stop() is True
    assert status() is None and stop() is False


def test_serve_prints_exports_and_stops_cleanly_on_ctrl_c(tmp_path):
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "lambdalab", "serve", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines = []
    for line in process.stdout:
        lines.append(line.rstrip())
        if line.startswith("Ctrl-C"):
            break
    assert f"  export AWS_ENDPOINT_URL=http://127.0.0.1:{port}" in lines
    client = boto3.client(
        "sts",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    assert client.get_caller_identity()["Account"] == "123456789012"
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=15) == 0
    assert "stopped" in process.stdout.read()


def test_local_aws_context_restores_environment():
    from lambdalab.localaws import local_aws

    before = os.environ.get("AWS_ENDPOINT_URL")
    with local_aws() as endpoint:
        assert os.environ["AWS_ENDPOINT_URL"] == endpoint
        assert boto3.client("sts").get_caller_identity()["Account"] == "123456789012"
    assert os.environ.get("AWS_ENDPOINT_URL") == before


def test_all_services_answer_on_one_endpoint(aws):
    aws("s3").list_buckets()
    aws("iam").list_roles()
    aws("lambda").list_functions()
    aws("stepfunctions").list_state_machines()
    aws("dynamodb").list_tables()
    aws("dynamodbstreams").list_streams()
    aws("sns").list_topics()
    aws("sqs").list_queues()
    aws("logs").describe_log_groups()
    aws("ecr").describe_repositories()
    assert aws("sts").get_caller_identity()["Account"] == "123456789012"


def test_local_aws_runs_the_callers_work_while_starting_and_leaves_no_server_when_it_fails(monkeypatch):
    from lambdalab.localaws import local_aws, process

    spawned = []
    real_popen = subprocess.Popen
    monkeypatch.setattr(process.subprocess, "Popen", lambda *a, **k: spawned.append(real_popen(*a, **k)) or spawned[-1])

    def failing_import():
        assert spawned and spawned[0].poll() is None, "the server was started before the caller's work"
        raise ImportError("no module named papermill")

    with pytest.raises(ImportError, match="papermill"):
        with local_aws(warm_detector=True, while_starting=failing_import):
            pytest.fail("the block must not run when the start-up work fails")
    assert "--warm-detector" in spawned[0].args
    assert spawned[0].poll() is not None, "the half-started server was stopped"
