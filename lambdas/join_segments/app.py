"""join_segments: the step after the Map state. Joins the blurred segments into the output video.

Input: ``{"Video": {"Bucket", "Key"}, "Split": <split_video's output>, "Blurred": [<blur_segment's
output per segment>]}``. Output (ResultPath ``$.Output``): ``{"Bucket", "Key", "Frames",
"FacesBlurred", "Segments"}``, the single path's fields plus the segment count.
Environment: ``OUTPUT_BUCKET`` (required, not the input bucket), ``OUTPUT_PREFIX`` (default
``blurred/``); the output key is prefix + input key, as on the single path.

It reads only segments (never the input video), checks that every planned segment came back with
its frames, joins without re-encoding, checks the result, uploads it, then deletes the segments.
Any failure raises before the upload: nothing partial is ever written to the output.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import boto3
from join import JoinError, join


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    bucket = os.environ.get("OUTPUT_BUCKET", "")
    if not bucket or bucket == event["Video"]["Bucket"]:
        raise RuntimeError("OUTPUT_BUCKET must be set, and not to the input bucket (the trigger would loop)")
    key = os.environ.get("OUTPUT_PREFIX", "blurred/") + event["Video"]["Key"]
    return join_to_s3(event["Split"], event["Blurred"], bucket, key)


def join_to_s3(split: dict[str, Any], blurred: list[dict[str, Any]], bucket: str, key: str) -> dict[str, Any]:
    planned = {s["Index"]: s for s in split["Segments"]}
    done = sorted(blurred, key=lambda b: b["Index"])
    if [b["Index"] for b in done] != sorted(planned):
        raise JoinError(f"segments {sorted(planned)} were planned, {[b['Index'] for b in done]} came back")
    for b in done:
        if b["Frames"] != planned[b["Index"]]["Frames"]:
            raise JoinError(f"segment {b['Index']} has {b['Frames']} frames, {planned[b['Index']]['Frames']} were cut")
    s3 = boto3.client("s3")
    with tempfile.TemporaryDirectory(prefix="join_segments-") as tmp:
        parts = []
        for b in done:
            parts.append(str(Path(tmp, f"{b['Index']:03d}.mp4")))
            s3.download_file(b["Bucket"], b["Key"], parts[-1])
        audio = None
        if split.get("Audio"):
            audio = str(Path(tmp, "audio.mp4"))
            s3.download_file(split["Audio"]["Bucket"], split["Audio"]["Key"], audio)
        dst = Path(tmp, "joined.mp4")
        joined = join(parts, audio, dst)
        s3.upload_file(str(dst), bucket, key, ExtraArgs={"ContentType": "video/mp4"})
    print(
        f"joined {len(parts)} segments, {joined.frames} frames, {joined.audio_packets} audio packets -> s3://{bucket}/{key}"
    )
    _delete_segments(s3, split, done)
    return {
        "Bucket": bucket,
        "Key": key,
        "Frames": joined.frames,
        "FacesBlurred": sum(b["FacesBlurred"] for b in done),
        "Segments": len(parts),
    }


def _delete_segments(s3: Any, split: dict[str, Any], blurred: list[dict[str, Any]]) -> None:
    """The segments are intermediate: once the output is safe, they only cost storage."""
    objects = [(s["Bucket"], s["Key"]) for s in split["Segments"]] + [(b["Bucket"], b["Key"]) for b in blurred]
    if split.get("Audio"):
        objects.append((split["Audio"]["Bucket"], split["Audio"]["Key"]))
    for bucket in {b for b, _ in objects}:
        keys = [{"Key": k} for b, k in objects if b == bucket]
        for i in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys[i : i + 1000], "Quiet": True})
