"""How long the embedded AWS takes to start, and what one Lambda invocation costs.

Each figure is paired with a baseline measured in the same script, so the ratio means something
on a shared, noisy machine: start-up vs a bare `python -c "import moto.server"`, and an invocation
vs a direct S3 call on the same endpoint: a cold start (the first invocation of a new function: a
new execution environment imports boto3) and a warm one (a later invocation, in the environment
the first one left).
"""

from __future__ import annotations

import io
import json
import statistics
import subprocess
import sys
import time
import zipfile

import boto3

ROUNDS = 5


def timed(action) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def measure_startup(rounds: int, server=None) -> list[tuple[float, str]]:
    """(spawn -> ready seconds, endpoint) per round. Each server is stopped outside the timing and
    before the next round starts, so no earlier server loads the machine while a later one (or the
    invocations) is timed. (Writing `local_aws().__enter__()` inside the timing stops the server
    there too, as CPython frees the context manager at once, and counts its shutdown as start-up.)"""
    from lambdalab.localaws import local_aws

    measured = []
    for _ in range(rounds):
        context = (server or local_aws)()
        started = time.perf_counter()
        endpoint = context.__enter__()
        measured.append((time.perf_counter() - started, endpoint))
        context.__exit__(None, None, None)
    return measured


def main() -> None:
    from lambdalab.localaws import local_aws

    import_times = [
        timed(lambda: subprocess.run([sys.executable, "-c", "import moto.server"], check=True)) for _ in range(ROUNDS)
    ]
    start_times = [seconds for seconds, _ in measure_startup(ROUNDS)]

    with local_aws() as endpoint:

        def client(service):
            return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1")

        role = client("iam").create_role(RoleName="bench", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        package = io.BytesIO()
        with zipfile.ZipFile(package, "w") as archive:
            archive.writestr("app.py", "import boto3\ndef handler(event, context):\n    return event\n")
        client("s3").create_bucket(Bucket="bench")
        cold_times, invoke_times, s3_times = [], [], []
        for i in range(ROUNDS):
            client("lambda").create_function(
                FunctionName=f"bench-{i}",
                Runtime="python3.12",
                Role=role,
                Handler="app.handler",
                Code={"ZipFile": package.getvalue()},
            )
            cold_times.append(
                timed(lambda: client("lambda").invoke(FunctionName=f"bench-{i}", Payload=json.dumps({"i": i})))
            )
            for _ in range(2):
                invoke_times.append(
                    timed(lambda: client("lambda").invoke(FunctionName=f"bench-{i}", Payload=json.dumps({"i": i})))
                )
                s3_times.append(timed(lambda: client("s3").put_object(Bucket="bench", Key="k", Body=b"x")))

    report = {
        "server_start_s": statistics.median(start_times),
        "baseline_import_moto_server_s": statistics.median(import_times),
        "start_ratio": statistics.median(start_times) / statistics.median(import_times),
        "lambda_cold_invoke_s": statistics.median(cold_times),
        "lambda_warm_invoke_s": statistics.median(invoke_times),
        "baseline_s3_put_s": statistics.median(s3_times),
        "cold_invoke_ratio": statistics.median(cold_times) / statistics.median(s3_times),
        "warm_invoke_ratio": statistics.median(invoke_times) / statistics.median(s3_times),
    }
    for name, value in report.items():
        print(f"{name:32s} {value:8.3f}")


if __name__ == "__main__":
    main()
