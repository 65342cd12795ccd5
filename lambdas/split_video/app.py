"""split_video: the step before the Map state. Cuts a long video into segments on keyframes.

Input: ``{"Video": {"Bucket", "Key", "ETag"}, "Execution": <execution name>}``.
Output (ResultPath ``$.Split``): ``{"Count", "DurationSeconds", "SegmentSeconds", "Segments": [...],
"Audio": {"Bucket", "Key"} | null}``; each segment is ``{"Index", "Bucket", "Key", "BlurredKey",
"Start", "End", "Frames"}``. A video no longer than one segment is not split: ``Count`` is 1,
``Segments`` empty, nothing is written, and the state machine's Choice sends it down the single path.
Environment: ``SEGMENTS_BUCKET`` (required), ``SEGMENT_SECONDS`` (default 60).
Segments go to ``segments/<execution>/source/NNN.mp4``, the audio to ``segments/<execution>/audio.mp4``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import boto3
from segments import split


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    bucket = os.environ.get("SEGMENTS_BUCKET", "")
    if not bucket:
        raise RuntimeError("SEGMENTS_BUCKET is not set: the bucket where segments are written")
    seconds = float(os.environ.get("SEGMENT_SECONDS", "60"))
    return split_to_s3(event["Video"], bucket, f"segments/{event['Execution']}/", seconds)


def split_to_s3(video: dict[str, str], bucket: str, prefix: str, seconds: float) -> dict[str, Any]:
    s3 = boto3.client("s3")
    with tempfile.TemporaryDirectory(prefix="split_video-") as tmp:
        src = Path(tmp, "input")
        extra = {"IfMatch": video["ETag"]} if video.get("ETag") else {}  # the object Rekognition saw
        with open(src, "wb") as f:
            shutil.copyfileobj(s3.get_object(Bucket=video["Bucket"], Key=video["Key"], **extra)["Body"], f, 1 << 20)
        parts, audio = split(src, tmp, seconds)
        result: dict[str, Any] = {
            "Count": len(parts),
            "DurationSeconds": round(parts[-1].end - parts[0].start, 3),
            "SegmentSeconds": seconds,
            "Segments": [],
            "Audio": None,
        }
        if len(parts) == 1:
            print(f"{video['Key']}: {result['DurationSeconds']} s, one segment: not split")
            return result
        for part in parts:
            key = f"{prefix}source/{part.index:03d}.mp4"
            s3.upload_file(part.path, bucket, key, ExtraArgs={"ContentType": "video/mp4"})
            result["Segments"].append(
                {
                    "Index": part.index,
                    "Bucket": bucket,
                    "Key": key,
                    "BlurredKey": f"{prefix}blurred/{part.index:03d}.mp4",
                    "Start": round(part.start, 6),
                    "End": round(part.end, 6),
                    "Frames": part.frames,
                }
            )
            print(
                f"segment {part.index}: {part.start:.3f}-{part.end:.3f} s, {part.frames} frames -> s3://{bucket}/{key}"
            )
        if audio is not None:
            s3.upload_file(audio, bucket, f"{prefix}audio.mp4", ExtraArgs={"ContentType": "audio/mp4"})
            result["Audio"] = {"Bucket": bucket, "Key": f"{prefix}audio.mp4"}
    return result
