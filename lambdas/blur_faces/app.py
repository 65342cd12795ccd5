"""blur_faces: the last Task of the state machine. Blurs every detected face and stores the video.

Input: the execution state (docs/CONTRACTS.md), of which this reads
``{"Video": {"Bucket", "Key", "ETag"}, "Faces": {"Bucket", "Key"}}``.
Output (ResultPath ``$.Output``): ``{"Bucket", "Key", "Frames", "FacesBlurred"}`` where
FacesBlurred counts the detection boxes that were applied to at least one frame.
Environment: ``OUTPUT_BUCKET`` (required, must differ from the input bucket), ``OUTPUT_PREFIX``
(default ``blurred/``); the output key is prefix + input key.

Every failure raises, so the execution fails with the cause; the video is written to a temporary
directory and verified before anything is uploaded, so an unblurred or partial video never is.

``segment_handler`` is the same work on one segment of a long video (a Map iteration of
state_machine_scale_out.json, deployed as the function ``blur_segment``; see lambdas/blur_segment).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import boto3
from blur_engine import blur_video, load_detections, verify_output


def handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    bucket, prefix = output_location(event["Video"]["Bucket"])
    key = prefix + event["Video"]["Key"]
    result = blur_to_s3(event["Video"], event["Faces"], bucket, key)
    return {"Bucket": bucket, "Key": key, "Frames": result.frames, "FacesBlurred": result.faces_blurred}


def segment_handler(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Blur one segment ``{"Segment": {"Index", "Bucket", "Key", "BlurredKey", "Start", "End"},
    "Faces": {"Bucket", "Key"}, "Video": {"Key"}}`` into ``Segment.BlurredKey`` (same bucket).

    The segment keeps the video's own timestamps, and the whole video's detections are loaded, so a
    frame next to a cut is covered from the samples on both sides of it, exactly as on the single
    path. FacesBlurred counts the boxes sampled within this segment's time range, so the segments'
    counts add up to the video's.
    """
    segment, s3 = event["Segment"], boto3.client("s3")
    with tempfile.TemporaryDirectory(prefix="blur_segment-") as tmp:
        src, dst = Path(tmp, "segment.mp4"), Path(tmp, "blurred.mp4")
        s3.download_file(segment["Bucket"], segment["Key"], str(src))
        timeline = _timeline(s3, event["Faces"], event["Video"]["Key"])
        result = blur_video(src, dst, timeline, progress=_progress_printer())
        verify_output(dst, result)
        s3.upload_file(str(dst), segment["Bucket"], segment["BlurredKey"], ExtraArgs={"ContentType": "video/mp4"})
    faces = sum(len(s.boxes) for s in timeline.samples if segment["Start"] <= s.time < segment["End"])
    print(f"segment {segment['Index']}: {result.frames} frames -> s3://{segment['Bucket']}/{segment['BlurredKey']}")
    return {
        "Index": segment["Index"],
        "Bucket": segment["Bucket"],
        "Key": segment["BlurredKey"],
        "Frames": result.frames,
        "FacesBlurred": faces,
    }


def _timeline(s3: Any, faces: dict[str, Any], video_key: str):
    """The detections of `video_key` (refusing another video's) as the engine's Timeline."""
    detections = json.loads(s3.get_object(Bucket=faces["Bucket"], Key=faces["Key"])["Body"].read())
    stored_for = detections.get("Video", {}).get("Key")
    if stored_for is not None and stored_for != video_key:
        raise RuntimeError(f"detections {faces['Key']!r} describe {stored_for!r}, not {video_key!r}")
    return load_detections(detections)


def output_location(input_bucket: str) -> tuple[str, str]:
    """(bucket, prefix) from the environment, refusing the settings that cannot work."""
    bucket = os.environ.get("OUTPUT_BUCKET", "")
    if not bucket:
        raise RuntimeError("OUTPUT_BUCKET is not set: the bucket where blurred videos are written")
    if bucket == input_bucket:
        # face_detection fires on every .mp4 created in the input bucket: writing there loops forever.
        raise RuntimeError(f"OUTPUT_BUCKET must not be the input bucket {input_bucket!r}")
    return bucket, os.environ.get("OUTPUT_PREFIX", "blurred/")


def blur_to_s3(video: dict[str, str], faces: dict[str, Any], bucket: str, key: str):
    """Download, blur, verify, upload. Returns the engine's BlurResult."""
    s3 = boto3.client("s3")
    with tempfile.TemporaryDirectory(prefix="blur_faces-") as tmp:
        src, dst = Path(tmp, "input"), Path(tmp, "blurred.mp4")
        # IfMatch: blur exactly the object Rekognition analysed, not a later overwrite.
        extra = {"IfMatch": video["ETag"]} if video.get("ETag") else {}
        with open(src, "wb") as f:
            shutil.copyfileobj(s3.get_object(Bucket=video["Bucket"], Key=video["Key"], **extra)["Body"], f, 1 << 20)
        timeline = _timeline(s3, faces, video["Key"])
        result = blur_video(src, dst, timeline, progress=_progress_printer())
        verify_output(dst, result)
        s3.upload_file(str(dst), bucket, key, ExtraArgs={"ContentType": "video/mp4"})
    print(f"blurred {result.faces_blurred} face boxes over {result.frames} frames -> s3://{bucket}/{key}")
    return result


def _progress_printer():
    """Log every 10% (to CloudWatch via stdout), so a slow job shows it is alive."""
    shown = [-1]

    def progress(done: int, total: int) -> None:
        tenth = done * 10 // max(total, 1)
        if tenth > shown[0]:
            shown[0] = tenth
            print(f"blurring: {done}/{total} frames", flush=True)

    return progress
