"""Faces in a video, sampled every N ms, in the shape Rekognition Video's GetFaceDetection returns.

This is the one place that turns detector output into Rekognition's vocabulary (ratios of the
frame, Confidence in percent, named landmarks), so the CLI `detect` command and the offline
Rekognition emulator produce byte-for-byte the same faces for the same video.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import numpy as np

from .attributes import estimate_pose, estimate_quality
from .detector import LANDMARK_TYPES, Detection, FaceDetector, get_detector
from .small_faces import detect_frame, first_pass_size
from .video_source import ProgressCallback, VideoInput, VideoMetadata, VideoReader, read_ahead

#: Rekognition Video samples faces several times a second; 200 ms is the lab's default (5/s).
DEFAULT_INTERVAL_MS = 200

_DIGITS = 6  # ratio precision: 1e-6 of a 4K frame is far below a pixel


@dataclass(frozen=True)
class FaceSample:
    """What the detector saw at one sampled frame (possibly nothing)."""

    timestamp_ms: int
    frame_index: int
    faces: tuple[dict, ...]  # Rekognition FaceDetail dicts


@dataclass
class VideoFaces:
    """All samples of one video. Empty samples are kept so accuracy can count misses."""

    metadata: VideoMetadata
    interval_ms: int
    samples: list[FaceSample] = field(default_factory=list)

    def rekognition_faces(self) -> list[dict]:
        """GetFaceDetection's `Faces`: one entry per face, ordered by Timestamp (AWS's only order)."""
        return [
            {"Timestamp": sample.timestamp_ms, "Face": face}
            for sample in sorted(self.samples, key=lambda s: s.timestamp_ms)
            for face in sample.faces
        ]

    def to_rekognition(self) -> dict:
        """The merged result of every GetFaceDetection page of a SUCCEEDED job."""
        return {
            "JobStatus": "SUCCEEDED",
            "VideoMetadata": self.metadata.to_rekognition(),
            "Faces": self.rekognition_faces(),
        }


def face_detail(detection: Detection, image_rgb: np.ndarray) -> dict:
    """Rekognition's DEFAULT FaceDetail for one detection in `image_rgb` (ratios of that image)."""
    h, w = image_rgb.shape[:2]
    return {
        "BoundingBox": {
            "Width": round(detection.width / w, _DIGITS),
            "Height": round(detection.height / h, _DIGITS),
            "Left": round(detection.x1 / w, _DIGITS),
            "Top": round(detection.y1 / h, _DIGITS),
        },
        "Landmarks": [
            {"Type": name, "X": round(x / w, _DIGITS), "Y": round(y / h, _DIGITS)}
            for name, (x, y) in zip(LANDMARK_TYPES, detection.landmarks)
        ],
        "Pose": estimate_pose(detection.landmarks),
        "Quality": estimate_quality(image_rgb, detection),
        "Confidence": round(min(100.0, max(0.0, detection.score * 100.0)), 4),
    }


def detect_video_faces(
    source: VideoInput,
    interval_ms: int = DEFAULT_INTERVAL_MS,
    detector: FaceDetector | None = None,
    progress: ProgressCallback | None = None,
) -> VideoFaces:
    """Decode `source`, run the detector on a frame every `interval_ms`, return every sample.

    Raises `VideoDecodeError` when the input is not a decodable video. Faces are found in two
    passes (`small_faces.detect_frame`: the frame at its own size, then the small candidates
    enlarged), on frames FFmpeg already scaled to the first pass's size while converting. A
    detector with a fixed `input_width` runs its own single pass instead (the original behaviour,
    for comparisons).
    """
    detector = detector or get_detector()
    with VideoReader(source) as reader:
        meta = reader.metadata
        result = VideoFaces(metadata=meta, interval_ms=interval_ms)
        frame_size = (meta.frame_width, meta.frame_height)
        single_pass = detector.input_width is not None
        width, _ = detector.input_size(*frame_size) if single_pass else first_pass_size(*frame_size)
        # closing(): the read-ahead thread stops before the video is closed, also on an error.
        with contextlib.closing(read_ahead(reader.sample(interval_ms, width=width, progress=progress))) as frames:
            for frame in frames:
                if single_pass:
                    detections = detector.detect(frame.rgb, source_size=frame_size)
                else:
                    detections = detect_frame(detector, frame.rgb)
                faces = sorted(
                    (face_detail(d, frame.rgb) for d in detections),
                    key=lambda f: (f["BoundingBox"]["Left"], f["BoundingBox"]["Top"]),
                )
                result.samples.append(FaceSample(frame.timestamp_ms, frame.index, tuple(faces)))
    return result
