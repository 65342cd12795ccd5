"""Face-detection jobs of the offline Rekognition Video: their state, a bounded worker pool, and
the work itself (decode the S3 bytes, detect faces, notify SNS).

Why a separate small pool: detection is CPU-bound (the lab machines have two cores), so at most
`WORKERS` jobs run at once and the rest wait IN_PROGRESS, as queued jobs do on AWS; the lead's
general async pool must stay free for quick deliveries. Daemon threads so a server shutting down
is never held by a half-finished video.

Jobs live on moto's Rekognition backend object, so `mock_aws` / moto's reset forgets them with
everything else.
"""

from __future__ import annotations

import io
import json
import logging
import os
import queue
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("lambdalab.localaws.rekognition")

#: Jobs processed at once. Each uses all cores through onnxruntime; more would only interleave them.
WORKERS = 1
#: Sampling interval of the emulated service; LAMBDALAB_REKOGNITION_INTERVAL_MS overrides it.
INTERVAL_ENV = "LAMBDALAB_REKOGNITION_INTERVAL_MS"
#: What Rekognition Video accepts: H.264 in an MPEG-4 / QuickTime container.
SUPPORTED_CODECS = {"h264"}
SUPPORTED_FORMAT = "QuickTime / MOV"
UNSUPPORTED = "Unsupported codec/format."

_store_lock = threading.Lock()
_queue: queue.Queue[FaceDetectionJob] = queue.Queue()
_workers: list[threading.Thread] = []


@dataclass
class FaceDetectionJob:
    job_id: str
    account: str
    region: str
    video: dict  # the request's Video member, echoed by GetFaceDetection
    face_attributes: str
    job_tag: str | None
    notification: dict | None
    fingerprint: str  # canonical request, for ClientRequestToken idempotency
    data: bytes | None = None  # the S3 object's bytes, dropped once processed
    status: str = "IN_PROGRESS"
    status_message: str | None = None
    video_metadata: dict | None = None
    faces: list[dict] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    done: threading.Event = field(default_factory=threading.Event)


def new_job_id() -> str:
    """64 hex characters, the form Rekognition's JobIds take."""
    return secrets.token_hex(32)


def _store(backend: Any) -> dict:
    # An attribute of moto's backend instance: moto's reset replaces the instance's __dict__.
    store = backend.__dict__.get("_lambdalab_face_jobs")
    if store is None:
        store = {"jobs": {}, "tokens": {}}
        backend.__dict__["_lambdalab_face_jobs"] = store
    return store


def find(backend: Any, job_id: str) -> FaceDetectionJob | None:
    with _store_lock:
        return _store(backend)["jobs"].get(job_id)


def find_by_token(backend: Any, client_token: str) -> FaceDetectionJob | None:
    with _store_lock:
        store = _store(backend)
        job_id = store["tokens"].get(client_token)
        return store["jobs"].get(job_id) if job_id else None


def start(backend: Any, job: FaceDetectionJob, client_token: str | None) -> tuple[FaceDetectionJob, bool]:
    """Register and queue `job`, or return the job an earlier request with the same token made.

    Returns (job, created). The caller checks the fingerprint of a returned earlier job.
    """
    with _store_lock:
        store = _store(backend)
        if client_token is not None:
            earlier_id = store["tokens"].get(client_token)
            if earlier_id is not None:
                return store["jobs"][earlier_id], False
            store["tokens"][client_token] = job.job_id
        store["jobs"][job.job_id] = job
    _ensure_workers()
    _queue.put(job)
    return job, True


def _ensure_workers() -> None:
    with _store_lock:
        while len(_workers) < WORKERS:
            worker = threading.Thread(target=_work_loop, name=f"rekognition-video-{len(_workers)}", daemon=True)
            _workers.append(worker)
            worker.start()


def _work_loop() -> None:
    while True:
        job = _queue.get()
        try:
            run(job)
        except Exception:  # pragma: no cover - run() already records failures; never kill the worker
            log.exception("face detection job %s crashed", job.job_id)
        finally:
            _queue.task_done()


def interval_ms() -> int:
    value = os.environ.get(INTERVAL_ENV, "")
    return int(value) if value.strip().isdigit() and int(value) > 0 else 200


def run(job: FaceDetectionJob) -> None:
    """Detect faces in the job's video and record SUCCEEDED or FAILED, then notify."""
    # Imported here: the server must start without paying for OpenCV, and the detector is loaded
    # once per process on the first job (lambdalab.faces.detector.get_detector).
    from lambdalab.faces.video_faces import detect_video_faces
    from lambdalab.faces.video_source import VideoDecodeError, probe

    data, job.data = job.data, None
    try:
        meta = probe(io.BytesIO(data))
        job.video_metadata = meta.to_rekognition()
        if meta.codec not in SUPPORTED_CODECS or meta.format != SUPPORTED_FORMAT:
            _finish(
                job,
                "FAILED",
                f"{UNSUPPORTED} Rekognition Video needs H.264 in MP4/MOV; got {meta.codec} in {meta.format}.",
            )
        else:
            result = detect_video_faces(io.BytesIO(data), interval_ms=interval_ms())
            job.video_metadata = result.metadata.to_rekognition()
            job.faces = result.rekognition_faces()
            _finish(job, "SUCCEEDED", None)
    except VideoDecodeError as exc:
        _finish(job, "FAILED", f"{UNSUPPORTED} {exc}")
    except Exception as exc:  # a bug or an FFmpeg crash must still end the job, as AWS would
        log.exception("face detection job %s failed", job.job_id)
        _finish(job, "FAILED", f"Internal error while processing the video: {exc}")
    _notify(job)


def _finish(job: FaceDetectionJob, status: str, message: str | None) -> None:
    job.status_message = message
    job.finished = time.monotonic()
    job.status = status
    job.done.set()


def completion_message(job: FaceDetectionJob) -> dict:
    """The SNS message Rekognition Video publishes when a job ends."""
    s3 = job.video.get("S3Object", {})
    return {
        "JobId": job.job_id,
        "Status": job.status,
        "API": "StartFaceDetection",
        **({"JobTag": job.job_tag} if job.job_tag else {}),
        "Timestamp": int(time.time() * 1000),
        "Video": {"S3ObjectName": s3.get("Name"), "S3Bucket": s3.get("Bucket")},
    }


def _notify(job: FaceDetectionJob) -> None:
    if not job.notification:
        return
    topic_arn = job.notification["SNSTopicArn"]
    try:
        from moto.sns.models import sns_backends

        parts = topic_arn.split(":")
        sns = sns_backends[parts[4]][parts[3]]
        sns.publish(message=json.dumps(completion_message(job)), arn=topic_arn)
    except Exception:
        # AWS drops a notification it cannot deliver; the job result stays readable.
        log.warning("could not publish the completion of job %s to %s", job.job_id, topic_arn, exc_info=True)
