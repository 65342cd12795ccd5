"""Long videos in parallel segments: split on keyframes, blur each, join without re-encoding.

The engine-level tests run split_video's and join_segments' modules and the blur engine on
generated clips with audio, and compare the result with the single path (blur_video on the whole
clip): same frames at the same timestamps, the same audio packets. The state machine tests run
state_machine_scale_out.json in moto's interpreter with the real handlers in-process (S3 by moto),
so the Map state, its concurrency, its item results and its failure path are the real ones.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
import traceback
from pathlib import Path

import av
import boto3
import numpy as np
import parliament
import pytest
from blur_faces_loading import load_app, load_engine
from moto import mock_aws

from lambdalab import samplevideo
from lambdalab.localaws import stepfunctions_patch

ROOT = Path(__file__).resolve().parents[1]
LAMBDAS = ROOT / "lambdas"
DEFINITION = ROOT / "state_machine_scale_out.json"
engine = load_engine()


def _load(folder: str, module: str):
    """lambdas/<folder>/<module>.py under a unique name, its folder importable (as when deployed)."""
    name = f"scale_out_{folder}_{module}"
    if name in sys.modules:
        return sys.modules[name]
    sys.path.insert(0, str(LAMBDAS / folder))
    try:
        spec = importlib.util.spec_from_file_location(name, LAMBDAS / folder / f"{module}.py")
        loaded = importlib.util.module_from_spec(spec)
        sys.modules[name] = loaded
        spec.loader.exec_module(loaded)
    finally:
        sys.path.remove(str(LAMBDAS / folder))
    return loaded


segments = _load("split_video", "segments")
joining = _load("join_segments", "join")
W, H, FPS = 320, 180, 25.0


def truth_detections(truth, width: int, height: int, key: str | None = None) -> dict:
    """The ground truth every 200 ms, as Rekognition reports it (a perfect detector)."""
    samples = []
    for t in range(0, int(truth.seconds * 1000), 200):
        frame = truth.at_timestamp(t)
        boxes = [
            {"Left": x0 / width, "Top": y0 / height, "Width": (x1 - x0) / width, "Height": (y1 - y0) / height}
            for x0, y0, x1, y1 in (f.box for f in frame.faces if f.visible > 0)
        ]
        if boxes:
            samples.append({"Timestamp": frame.timestamp_ms, "Boxes": boxes})
    doc = {"Samples": samples}
    if key is not None:
        doc["Video"] = {"Key": key}
    return doc


def stream_facts(path: Path) -> tuple[list, list, tuple]:
    """(video frames as (pts, duration), audio packets as (pts, dts, duration, bytes), stream facts)."""
    with av.open(str(path)) as c:
        video = [(f.pts, f.duration) for f in c.decode(video=0)]
    with av.open(str(path)) as c:
        audio = [(p.pts, p.dts, p.duration, bytes(p)) for p in c.demux(audio=0) if p.size]
    with av.open(str(path)) as c:
        v = c.streams.video[0]
        facts = (
            v.time_base,
            v.start_time,
            v.codec_context.name,
            v.width,
            v.height,
            c.duration,
            [a.codec_context.name for a in c.streams.audio],
        )
    return video, audio, facts


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 40 s clip with audio and ground truth (x264's keyframe interval: 10 s at 25 fps)."""
    folder = tmp_path_factory.mktemp("scale_out")
    path = folder / "clip.mp4"
    truth = samplevideo.generate(path, "sample", W, H, FPS, seconds=40)
    return path, truth


def blur_in_segments(src: Path, folder: Path, timeline, seconds: float) -> tuple[Path, list]:
    """What the Map path does, without AWS: split, blur each segment, join."""
    folder.mkdir()
    parts, audio = segments.split(src, folder, seconds)
    blurred = []
    for part in parts:
        out = folder / f"blurred-{part.index:03d}.mp4"
        result = engine.blur_video(part.path, out, timeline)
        engine.verify_output(out, result)
        assert result.frames == part.frames
        blurred.append(str(out))
    joined = folder / "joined.mp4"
    joining.join(blurred, audio, joined)
    return joined, parts


# --- plan ------------------------------------------------------------------------------------------


def test_plan_cuts_on_keyframes_and_leaves_no_tiny_tail():
    from fractions import Fraction

    p = segments.Probe(keyframes=[0, 10, 20, 30, 40, 50], end=53, time_base=Fraction(1))
    assert segments.plan(p, 20) == [0, 20, 40]  # the first keyframe at least 20 s after the last cut
    assert segments.plan(p, 15) == [0, 20, 40]  # no keyframe at 15: the next one
    assert segments.plan(p, 25) == [0, 30]  # a cut at 50 would leave 3 s alone
    assert segments.plan(p, 60) == [0]  # short: one segment, not split


def test_a_short_video_is_not_split(clip, tmp_path):
    parts, audio = segments.split(clip[0], tmp_path, 60)
    assert len(parts) == 1 and audio is None and list(tmp_path.iterdir()) == []


# --- the output matches the single path --------------------------------------------------------------


def test_segments_start_on_keyframes_and_keep_the_input_timestamps(clip, tmp_path):
    parts, audio = segments.split(clip[0], tmp_path, 15)
    assert [(p.start, p.end) for p in parts] == [(0.0, 20.0), (20.0, 40.0)]  # keyframes every 10 s
    assert sum(p.frames for p in parts) == 1000 and audio is not None
    for part in parts:
        with av.open(part.path) as c:
            first = next(pk for pk in c.demux(video=0) if pk.size)
            assert first.is_keyframe and float(first.pts * first.time_base) == part.start
            assert not c.streams.audio


def test_map_path_output_matches_the_single_path(clip, tmp_path):
    src, truth = clip
    timeline = engine.load_detections(truth_detections(truth, W, H))
    single = tmp_path / "single.mp4"
    engine.blur_video(src, single, timeline)
    joined, parts = blur_in_segments(src, tmp_path / "map", timeline, 10)
    assert len(parts) == 4
    video_a, audio_a, facts_a = stream_facts(single)
    video_b, audio_b, facts_b = stream_facts(joined)
    assert len(video_b) == len(video_a) == 1000  # same frame count
    assert video_b == video_a  # same timestamps and durations, frame for frame
    assert audio_b == audio_a and len(audio_a) > 1500  # the same audio packets, byte for byte
    assert facts_b == facts_a


def test_faces_at_the_cuts_are_blurred_as_on_the_single_path(clip, tmp_path):
    """Pixels around each cut (±1 s): every clearly visible ground-truth face loses at least 90% of
    its detail in the joined video, and the joined frames differ from the single path's only by
    encoder noise (the same boxes were blurred: each segment looked its frames up in the whole
    video's detections, so a frame just after a cut is covered by the sample just before it)."""
    src, truth = clip
    timeline = engine.load_detections(truth_detections(truth, W, H))
    single = tmp_path / "single.mp4"
    engine.blur_video(src, single, timeline)
    joined, parts = blur_in_segments(src, tmp_path / "map", timeline, 10)
    cuts = [p.start for p in parts[1:]]
    near = {f.index for f in truth.frames if any(abs(f.index / FPS - c) <= 1.0 for c in cuts)}
    assert len(near) >= 150
    with av.open(str(src)) as a, av.open(str(joined)) as b, av.open(str(single)) as s:
        triples = list(zip(a.decode(video=0), b.decode(video=0), s.decode(video=0)))
    measured, noise = [], []
    import cv2

    for frame in truth.frames:
        if frame.index not in near:
            continue
        fa, fb, fs = (x.to_ndarray(format="gray").astype(np.float32) for x in triples[frame.index])
        noise.append(float(np.abs(fb - fs).mean()))
        la, lb = cv2.Laplacian(fa, cv2.CV_32F), cv2.Laplacian(fb, cv2.CV_32F)
        for face in frame.faces:
            x0, y0, x1, y1 = (int(round(v)) for v in face.box)
            x0, y0, x1, y1 = max(0, x0), max(0, y0), min(W, x1), min(H, y1)
            if face.visible < 0.5 or min(x1 - x0, y1 - y0) < 16:
                continue
            before = la[y0 + 1 : y1 - 1, x0 + 1 : x1 - 1].var()
            if before >= 100:
                measured.append((frame.index, lb[y0 + 1 : y1 - 1, x0 + 1 : x1 - 1].var() / before))
    assert len(measured) >= 100, "faces on screen around the cuts"
    worst = max(measured, key=lambda m: m[1])
    assert worst[1] <= 0.10, f"frame {worst[0]} keeps {worst[1]:.0%} of a face's detail"
    assert max(noise) < 3.0, f"joined frames differ from the single path's by {max(noise):.1f} grey levels"


def test_join_refuses_overlapping_segments(clip, tmp_path):
    parts, audio = segments.split(clip[0], tmp_path, 10)
    with pytest.raises(joining.JoinError, match="segment 1 overlaps the previous one"):
        joining.join([parts[0].path, parts[0].path], audio, tmp_path / "joined.mp4")


# --- the definition and the policies --------------------------------------------------------------

ACCOUNT = "123456789012"
ARNS = {
    name: f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:lab-{name.lower()}"
    for name in (
        "CheckJobStatusArn",
        "GetRekognizedFacesArn",
        "BlurFacesArn",
        "SplitVideoArn",
        "BlurSegmentArn",
        "JoinSegmentsArn",
    )
}


def rendered() -> str:
    text = DEFINITION.read_text()
    for name, arn in ARNS.items():
        text = text.replace(f"${{{name}}}", arn)
    assert "${" not in text
    return text


def test_asl_validator_accepts_the_scale_out_definition(tmp_path):
    from test_state_machine import run_validator

    done = run_validator(tmp_path, rendered())
    assert done.returncode == 0, done.stdout + done.stderr
    broken = json.loads(rendered())
    broken["States"]["BlurSegments"]["ItemProcessor"]["States"]["BlurSegment"]["Next"] = "Nowhere"
    del broken["States"]["BlurSegments"]["ItemProcessor"]["States"]["BlurSegment"]["End"]
    assert run_validator(tmp_path, json.dumps(broken)).returncode != 0


def test_short_videos_take_the_single_path_and_long_ones_the_map():
    states = json.loads(rendered())["States"]
    choice = states[states["SplitVideo"]["Next"]]
    assert choice["Type"] == "Choice" and choice["Default"] == "BlurFaces"
    [route] = choice["Choices"]
    assert route == {"Variable": "$.Split.Count", "NumericGreaterThan": 1, "Next": "BlurSegments"}
    single = json.loads((ROOT / "state_machine.json").read_text())["States"]
    assert {k: v for k, v in states["BlurFaces"].items() if k != "Parameters"} == {
        k: v for k, v in single["BlurFaces"].items() if k != "Parameters"
    }
    assert states["BlurSegments"]["Type"] == "Map" and states["BlurSegments"]["Next"] == "JoinSegments"
    assert states["BlurSegments"]["MaxConcurrency"] >= 1


VALUES = {
    "Partition": "aws",
    "Region": "eu-west-1",
    "AccountId": ACCOUNT,
    "InputBucket": f"lab-input-{ACCOUNT}",
    "OutputBucket": f"lab-output-{ACCOUNT}",
    "DetectionsBucket": f"lab-output-{ACCOUNT}",
    "OutputPrefix": "blurred/",
    **ARNS,
}
SEGMENTS = f"arn:aws:s3:::lab-output-{ACCOUNT}/segments/"


def _grants(path: Path, function: str) -> set[tuple[str, str]]:
    from string import Template

    text = Template(path.read_text()).substitute({**VALUES, "FunctionName": function})
    assert parliament.analyze_policy_string(text).findings == [], parliament.analyze_policy_string(text).findings
    policy = json.loads(text)
    as_list = lambda v: v if isinstance(v, list) else [v]  # noqa: E731
    return {(a, r) for s in policy["Statement"] for a in as_list(s["Action"]) for r in as_list(s["Resource"])}


def _logs(function: str) -> set[tuple[str, str]]:
    group = f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/aws/lambda/{function}"
    return {
        ("logs:CreateLogGroup", f"{group}:*"),
        ("logs:CreateLogStream", f"{group}:log-stream:*"),
        ("logs:PutLogEvents", f"{group}:log-stream:*"),
    }


def test_each_new_role_grants_exactly_its_resources_and_passes_parliament():
    put = lambda r: {("s3:PutObject", r), ("s3:AbortMultipartUpload", r)}  # noqa: E731
    assert _grants(LAMBDAS / "split_video" / "policy.json", "f") == {
        ("s3:GetObject", f"arn:aws:s3:::lab-input-{ACCOUNT}/*"),
        *put(SEGMENTS + "*/source/*"),
        *put(SEGMENTS + "*/audio.mp4"),
    } | _logs("f")
    assert _grants(LAMBDAS / "blur_segment" / "policy.json", "f") == {
        ("s3:GetObject", SEGMENTS + "*/source/*"),
        ("s3:GetObject", f"arn:aws:s3:::lab-output-{ACCOUNT}/faces/*"),
        *put(SEGMENTS + "*/blurred/*"),
    } | _logs("f")
    join = _grants(LAMBDAS / "join_segments" / "policy.json", "f")
    assert join == {
        ("s3:GetObject", SEGMENTS + "*/blurred/*"),
        ("s3:GetObject", SEGMENTS + "*/audio.mp4"),
        *put(f"arn:aws:s3:::lab-output-{ACCOUNT}/blurred/*"),
        ("s3:DeleteObject", SEGMENTS + "*"),
    } | _logs("f")
    # The join step reads only segments: never the input video, the detections, or another prefix.
    assert {r for a, r in join if a == "s3:GetObject"} <= {SEGMENTS + "*/blurred/*", SEGMENTS + "*/audio.mp4"}
    machine = _grants(LAMBDAS / "state_machine_scale_out_policy.json", "f")
    assert {r for a, r in machine if a == "lambda:InvokeFunction"} == set(ARNS.values())


# --- runs in moto's interpreter ------------------------------------------------------------------

INPUT, OUTPUT = "lab-input-123456789012", "lab-output-123456789012"


def test_local_map_concurrency_is_bounded_by_the_cores():
    assert stepfunctions_patch.local_map_concurrency(0, cores=2) == 2  # "no limit": one per core
    assert stepfunctions_patch.local_map_concurrency(8, cores=2) == 2
    assert stepfunctions_patch.local_map_concurrency(1, cores=8) == 1
    assert stepfunctions_patch.local_map_concurrency(3, cores=8) == 3


@pytest.fixture
def moto_scale_out(monkeypatch, offline_credentials, clip, tmp_path):
    """state_machine_scale_out.json in moto's interpreter, the real split/blur/join handlers in-process."""
    from moto.awslambda.models import LambdaFunction
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.max_concurrency import MaxConcurrencyDecl

    monkeypatch.setattr(MaxConcurrencyDecl, "_eval_body", stepfunctions_patch._eval_max_concurrency_body)
    monkeypatch.setenv("OUTPUT_BUCKET", OUTPUT)
    monkeypatch.setenv("SEGMENTS_BUCKET", OUTPUT)
    monkeypatch.setenv("SEGMENT_SECONDS", "10")
    blur_app = load_app()
    split_app, join_app = _load("split_video", "app"), _load("join_segments", "app")
    src, truth = clip
    calls: list[tuple[str, int, float, float]] = []
    before_segment: dict[int, object] = {}

    def get_faces(event, context):
        key = f"faces/{event['Video']['Key']}.json"
        boto3.client("s3").put_object(
            Bucket=OUTPUT,
            Key=key,
            ContentType="application/json",
            Body=json.dumps(truth_detections(truth, W, H, event["Video"]["Key"])),
        )
        return {"Bucket": OUTPUT, "Key": key, "FaceCount": 1, "SampleCount": 1}

    def blur_segment(event, context):
        index = event["Segment"]["Index"]
        if index in before_segment:
            before_segment[index](event)
        start = time.monotonic()
        try:
            return blur_app.segment_handler(event, context)
        finally:
            calls.append(("segment", index, start, time.monotonic()))

    handlers = {
        "lab-check": lambda e, c: {"JobStatus": "SUCCEEDED", "StatusMessage": ""},
        "lab-faces": get_faces,
        "lab-blur": blur_app.handler,
        "lab-split": split_app.handler,
        "lab-segment": blur_segment,
        "lab-join": join_app.handler,
    }

    def invoke_in_process(self, event=None):
        event = json.loads(event) if isinstance(event, (str, bytes)) else event
        try:
            return json.dumps(handlers[self.function_name](event, None)), False, ""
        except Exception as exc:  # the payload AWS returns for an unhandled exception
            error = {
                "errorMessage": str(exc),
                "errorType": type(exc).__name__,
                "stackTrace": traceback.format_tb(exc.__traceback__),
            }
            return json.dumps(error), True, ""

    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        monkeypatch.setattr(LambdaFunction, "_invoke_lambda", invoke_in_process)
        s3 = boto3.client("s3", region_name="us-east-1")
        for bucket in (INPUT, OUTPUT):
            s3.create_bucket(Bucket=bucket)
        iam = boto3.client("iam", region_name="us-east-1")
        role = iam.create_role(RoleName="lab-test", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        lam = boto3.client("lambda", region_name="us-east-1")
        arns = {}
        for placeholder, name in (
            ("CheckJobStatusArn", "lab-check"),
            ("GetRekognizedFacesArn", "lab-faces"),
            ("BlurFacesArn", "lab-blur"),
            ("SplitVideoArn", "lab-split"),
            ("BlurSegmentArn", "lab-segment"),
            ("JoinSegmentsArn", "lab-join"),
        ):
            arns[placeholder] = lam.create_function(
                FunctionName=name,
                Runtime="python3.12",
                Role=role,
                Handler="app.handler",
                Code={"ZipFile": b"PK\x05\x06" + b"\x00" * 18},
            )["FunctionArn"]
        definition = json.loads(_render(DEFINITION.read_text(), arns))
        sfn = boto3.client("stepfunctions", region_name="us-east-1")

        def start(max_concurrency: int = 4, key: str = "clips/long video.mp4") -> dict:
            definition["States"]["BlurSegments"]["MaxConcurrency"] = max_concurrency
            arn = sfn.create_state_machine(
                name=f"lab-scale-out-{max_concurrency}-{len(calls)}", definition=json.dumps(definition), roleArn=role
            )["stateMachineArn"]
            s3.upload_file(str(src), INPUT, key)
            etag = s3.head_object(Bucket=INPUT, Key=key)["ETag"].strip('"')
            started = sfn.start_execution(
                stateMachineArn=arn,
                name=f"run-{len(calls)}-{time.monotonic_ns()}",
                input=json.dumps(
                    {"JobId": "a" * 64, "Video": {"Bucket": INPUT, "Key": key, "ETag": etag}, "PollIntervalSeconds": 0}
                ),
            )
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                described = sfn.describe_execution(executionArn=started["executionArn"])
                if described["status"] != "RUNNING":
                    return described
                time.sleep(0.2)
            raise AssertionError("execution still RUNNING")

        yield start, sfn, s3, calls, before_segment, tmp_path


def _render(text: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        text = text.replace(f"${{{name}}}", value)
    return text


def _max_overlap(intervals: list[tuple[float, float]]) -> int:
    edges = sorted([(a, 1) for a, _ in intervals] + [(b, -1) for _, b in intervals])
    running = best = 0
    for _, step in edges:
        running += step
        best = max(best, running)
    return best


def test_map_run_blurs_segments_concurrently_and_matches_the_single_path(moto_scale_out, clip, monkeypatch):
    start, sfn, s3, calls, _, tmp_path = moto_scale_out
    described = start(max_concurrency=4)
    assert described["status"] == "SUCCEEDED", described.get("cause")
    output = json.loads(described["output"])
    assert output["Split"]["Count"] == 4 and output["Output"]["Segments"] == 4
    assert [b["Index"] for b in output["Blurred"]] == [0, 1, 2, 3]  # the Map's item results, in order
    # Concurrency: the Map ran min(MaxConcurrency, cores) iterations at once.
    expected = stepfunctions_patch.local_map_concurrency(4)
    assert _max_overlap([(a, b) for _, _, a, b in calls]) == expected
    # The history has every iteration and the Map's item results.
    events = sfn.get_execution_history(executionArn=described["executionArn"], maxResults=1000)["events"]
    kinds = [e["type"] for e in events]
    assert kinds.count("MapIterationStarted") == 4 and kinds.count("MapIterationSucceeded") == 4
    exited = next(e for e in events if e["type"] == "MapStateExited")
    assert [r["Index"] for r in json.loads(exited["stateExitedEventDetails"]["output"])["Blurred"]] == [0, 1, 2, 3]
    # The output equals the single path's, and the segments are gone.
    joined, single = tmp_path / "joined.mp4", tmp_path / "single.mp4"
    s3.download_file(OUTPUT, "blurred/clips/long video.mp4", str(joined))
    assert s3.head_object(Bucket=OUTPUT, Key="blurred/clips/long video.mp4")["ContentType"] == "video/mp4"
    engine.blur_video(clip[0], single, engine.load_detections(truth_detections(clip[1], W, H)))
    a, b = stream_facts(single), stream_facts(joined)
    assert b[0] == a[0] and b[1] == a[1] and b[2] == a[2]
    assert "Contents" not in s3.list_objects_v2(Bucket=OUTPUT, Prefix="segments/")


def test_a_short_video_takes_the_single_path(moto_scale_out, monkeypatch):
    start, sfn, s3, calls, _, _ = moto_scale_out
    monkeypatch.setenv("SEGMENT_SECONDS", "60")
    described = start()
    assert described["status"] == "SUCCEEDED", described.get("cause")
    output = json.loads(described["output"])
    assert output["Split"]["Count"] == 1 and "Blurred" not in output and output["Output"]["Frames"] == 1000
    events = sfn.get_execution_history(executionArn=described["executionArn"], maxResults=1000)["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in events if e["type"].endswith("StateEntered")]
    assert "BlurFaces" in entered and "BlurSegments" not in entered and calls == []


def test_a_failing_segment_fails_the_execution_with_its_cause_and_uploads_nothing(moto_scale_out):
    start, sfn, s3, calls, before_segment, _ = moto_scale_out

    def truncate(event):  # a segment cut short in S3: what an interrupted upload leaves
        segment = event["Segment"]
        body = s3.get_object(Bucket=segment["Bucket"], Key=segment["Key"])["Body"].read()
        s3.put_object(Bucket=segment["Bucket"], Key=segment["Key"], Body=body[: len(body) // 2])

    before_segment[2] = truncate
    described = start()
    assert described["status"] == "FAILED"
    assert described["error"] in {"VideoError", "InvalidDataError"}, described
    assert "truncated" in described["cause"] or "Invalid data" in described["cause"], described["cause"]
    assert "Contents" not in s3.list_objects_v2(Bucket=OUTPUT, Prefix="blurred/")
    events = sfn.get_execution_history(executionArn=described["executionArn"], maxResults=1000)["events"]
    assert "MapIterationFailed" in [e["type"] for e in events]
    assert not any(
        e["type"] == "TaskStateEntered" and e["stateEnteredEventDetails"]["name"] == "JoinSegments" for e in events
    )


def test_the_map_internal_is_guarded():
    from lambdalab.localaws import moto_compat

    paths = dict(moto_compat.INTERNALS)
    base = "moto.stepfunctions.parser.asl.component.state.exec.state_map.max_concurrency.MaxConcurrencyDecl"
    assert paths[f"{base}._eval_body"] == "(self, env)"
    assert paths[f"{base}._eval_max_concurrency"] == "(self, env)"
    assert not [p for p in moto_compat.problems() if "max_concurrency" in p]
