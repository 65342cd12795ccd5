"""Orchestration overhead of the local pipeline: upload→output seconds vs the compute inside it.

One run, side by side, on the same video (default: sample-video.mp4) and a private embedded AWS:

- end to end: from the start of the upload to the blurred video saved locally;
- compute: the Rekognition job (its start, the execution's start, to the moment GetFaceDetection
  first says it ended, polled every 100 ms here) + get_rekognized_faces + blur_faces, the last two
  as the Lambda REPORT lines' Duration (which locally includes the handler process's start and
  imports, like a cold start);
- overhead = end to end − compute, and the ratio end to end / compute: what the S3 trigger, the
  Wait/poll loop (1 s) and the state transitions add. Ratios, not seconds, are what to compare
  across machines.

Then, unless --pipeline-only, the same video's stage speeds in this process, by the functions of
bench_detection.py and bench_blur.py: detection on every frame and the blur stage, in frames/s,
each against a plain decode (or decode+encode) of the same file.

    python bench/bench_pipeline.py
    python bench/bench_pipeline.py my.mp4 --rounds 3 --pipeline-only
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from lambdalab.blur_command.throwaway import private_session_state  # noqa: E402
from lambdalab.deploy import teardown  # noqa: E402
from lambdalab.deploy.deployed import face_blur_from_notebook  # noqa: E402
from lambdalab.deploy.session_state import make_prefix  # noqa: E402
from lambdalab.deploy.target import connect  # noqa: E402
from lambdalab.execution_history import iter_history, stage_seconds  # noqa: E402
from lambdalab.localaws import local_aws  # noqa: E402

POLL = 0.1
REPORT_DURATION = re.compile(r"^REPORT RequestId: \S+\tDuration: ([0-9.]+) ms")


def lambda_durations(logs: Any, function_name: str) -> list[float]:
    """Seconds of every invocation of `function_name`, from its REPORT lines, oldest first."""
    events = logs.filter_log_events(logGroupName=f"/aws/lambda/{function_name}")["events"]
    found = [(e["timestamp"], REPORT_DURATION.match(e["message"])) for e in events]
    return [float(m.group(1)) / 1000 for _, m in sorted(found, key=lambda x: x[0]) if m]


def one_round(target: Any, blur: Any, video: Path, key: str, out: Path) -> dict[str, float]:
    """Upload `video` as `key`, follow it to the downloaded output; every figure of one run."""
    s3, sfn, rekognition, logs = (target.client(s) for s in ("s3", "stepfunctions", "rekognition", "logs"))
    before = {f: len(lambda_durations(logs, blur.function_name(f))) for f in ("get_rekognized_faces", "blur_faces")}
    start = time.perf_counter()
    s3.upload_file(str(video), blur.input_bucket, key)
    execution = None
    while execution is None:
        for item in sfn.list_executions(stateMachineArn=blur.state_machine_arn)["executions"]:
            described = sfn.describe_execution(executionArn=item["executionArn"])
            if json.loads(described["input"])["Video"]["Key"] == key:
                execution = described
        time.sleep(POLL)
    job_id = json.loads(execution["input"])["JobId"]
    while rekognition.get_face_detection(JobId=job_id, MaxResults=1)["JobStatus"] == "IN_PROGRESS":
        time.sleep(POLL)
    job_seconds = (dt.datetime.now(dt.UTC) - execution["startDate"]).total_seconds()
    while (described := sfn.describe_execution(executionArn=execution["executionArn"]))["status"] == "RUNNING":
        time.sleep(POLL)
    if described["status"] != "SUCCEEDED":
        raise SystemExit(f"execution {described['status']}: {described.get('error')}: {described.get('cause')}")
    output = json.loads(described["output"])["Output"]
    s3.download_file(output["Bucket"], output["Key"], str(out))
    end_to_end = time.perf_counter() - start
    durations = {}
    for folder, seen in before.items():
        new = lambda_durations(logs, blur.function_name(folder))[seen:]
        durations[folder] = sum(new)
    stages = stage_seconds(list(iter_history(sfn, execution["executionArn"])))
    return {
        "end_to_end": end_to_end,
        "job": job_seconds,
        "get_faces": durations["get_rekognized_faces"],
        "blur": durations["blur_faces"],
        "frames": float(output["Frames"]),
        **{f"history {k}": v for k, v in stages.items()},
    }


def pipeline_rounds(video: Path, rounds: int) -> list[dict[str, float]]:
    results = []
    with private_session_state(), local_aws(), tempfile.TemporaryDirectory() as tmp:
        target = connect("local")
        prefix = make_prefix("bench")
        blur = face_blur_from_notebook(prefix, poll_interval_seconds=1)  # notebook 02 deploys it
        try:
            for i in range(rounds):
                results.append(one_round(target, blur, video, f"round-{i}-{video.stem}.mp4", Path(tmp, f"{i}.mp4")))
        finally:
            teardown(prefix, target, verbose=False)
    return results


def stage_speeds(video: Path) -> list[tuple[str, float, float]]:
    """(name, frames/s, baseline frames/s) of detection and blur, by the neighbouring benchmarks."""
    import bench_blur
    import bench_detection

    from lambdalab.faces.detector import get_detector

    detector = get_detector()  # load the network outside the timing
    rows = []
    start = time.perf_counter()
    decoded = bench_detection.plain_decode(video)
    decode_fps = decoded / (time.perf_counter() - start)
    start = time.perf_counter()
    detected, _faces = bench_detection.detect_every_frame(video, detector)
    rows.append(("detection, every frame", detected / (time.perf_counter() - start), decode_fps))

    detections = bench_blur.generated_truth(video) or bench_blur.fixed_faces(video)
    timeline = bench_blur.load_detections(detections)
    settings = bench_blur.EncodeSettings()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        plain = bench_blur.plain_transcode(video, Path(tmp, "plain.mp4"), settings)
        plain_fps = plain / (time.perf_counter() - start)
        start = time.perf_counter()
        result = bench_blur.blur_video(video, Path(tmp, "blurred.mp4"), timeline, settings=settings)
        rows.append(("blur stage", result.frames / (time.perf_counter() - start), plain_fps))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", type=Path, default=ROOT / "sample-video.mp4")
    parser.add_argument(
        "--rounds", type=int, default=2, help="pipeline runs (the first is cold: code unpacked, detector loaded)"
    )
    parser.add_argument("--pipeline-only", action="store_true", help="skip the in-process stage speeds")
    args = parser.parse_args(argv)

    results = pipeline_rounds(args.video, args.rounds)
    print(f"video: {args.video.name}, {int(results[0]['frames'])} frames; local pipeline, poll interval 1 s")
    print(
        f"{'round':<6}{'end to end':>11}{'rekognition':>12}{'get faces':>10}{'blur':>8}{'compute':>9}"
        f"{'overhead':>9}{'ratio':>7}"
    )
    for i, r in enumerate(results):
        compute = r["job"] + r["get_faces"] + r["blur"]
        print(
            f"{i + 1:<6}{r['end_to_end']:>10.2f}s{r['job']:>11.2f}s{r['get_faces']:>9.2f}s{r['blur']:>7.2f}s"
            f"{compute:>8.2f}s{r['end_to_end'] - compute:>8.2f}s{r['end_to_end'] / compute:>7.2f}"
        )
    last = results[-1]
    print(
        "execution history of the last round: "
        + ", ".join(f"{k.removeprefix('history ')} {v:.2f} s" for k, v in last.items() if k.startswith("history "))
    )
    if not args.pipeline_only:
        print()
        print(f"{'stage (in process)':<24}{'frames/s':>9}{'baseline':>10}{'ratio':>7}")
        for name, fps, base in stage_speeds(args.video):
            print(
                f"{name:<24}{fps:>9.1f}{base:>10.1f}{fps / base:>7.2f}   (baseline: plain decode"
                f"{'' if name.startswith('detection') else ' + encode'})"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
