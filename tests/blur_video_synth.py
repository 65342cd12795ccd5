"""Tiny synthetic videos with known face boxes, for the blur engine's tests and benchmark.

Why synthetic: every "face" is a high-contrast textured rectangle moving on a straight line over a
smooth background, so its true box is known in every frame and blur is measurable (texture energy
gone inside the box, background untouched outside). Nothing here is imported by the Lambda.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


@dataclass(frozen=True)
class FaceTrack:
    """A textured rectangle moving linearly from `start` to `end` (top-left, pixels) over [t0, t1]."""

    start: tuple[float, float]
    end: tuple[float, float]
    size: tuple[int, int]  # (width, height) in pixels
    t0: float = 0.0
    t1: float = math.inf
    seed: int = 0

    def box_at(self, t: float, duration: float) -> tuple[float, float, float, float] | None:
        """True box (x0, y0, x1, y1) in pixels at time t, or None when the face is absent."""
        t1 = min(self.t1, duration)
        if t < self.t0 or t > t1:
            return None
        f = 0.0 if t1 <= self.t0 else (t - self.t0) / (t1 - self.t0)
        x = self.start[0] + f * (self.end[0] - self.start[0])
        y = self.start[1] + f * (self.end[1] - self.start[1])
        return (x, y, x + self.size[0], y + self.size[1])


@dataclass(frozen=True)
class ClipSpec:
    """Everything that determines a synthetic clip, so tests can recompute the ground truth."""

    width: int = 320
    height: int = 240
    rate: Fraction = Fraction(25)
    frames: int = 50
    faces: tuple[FaceTrack, ...] = field(default_factory=tuple)
    audio: bool = False
    pix_fmt: str = "yuv420p"

    @property
    def duration(self) -> float:
        return float(self.frames / self.rate)

    def frame_time(self, index: int) -> float:
        return float(index / self.rate)


def _texture(face: FaceTrack) -> np.ndarray:
    """Blocky black/white noise: lots of high-frequency energy that H.264 at low CRF keeps."""
    rng = np.random.default_rng(face.seed)
    w, h = face.size
    cells = rng.integers(0, 2, size=((h + 1) // 2, (w + 1) // 2), dtype=np.uint8) * 200 + 28
    tex = np.kron(cells, np.ones((2, 2), dtype=np.uint8))[:h, :w]
    return np.repeat(tex[:, :, None], 3, axis=2) * np.array([1.0, 0.85, 0.7])


def background(width: int, height: int) -> np.ndarray:
    """Smooth colour field (gradients plus a slow wave): little high-frequency energy of its own."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    r = 60 + 120 * x / max(width - 1, 1)
    g = 60 + 120 * y / max(height - 1, 1)
    b = 120 + 50 * np.sin(x / 37.0) * np.cos(y / 29.0)
    return np.clip(np.stack([r, g, b], axis=2), 0, 255).astype(np.uint8)


def render_frame(spec: ClipSpec, index: int, bg: np.ndarray, textures: list[np.ndarray]) -> np.ndarray:
    """RGB frame `index`: background plus every visible face, clipped at the frame border."""
    img = bg.copy()
    t = spec.frame_time(index)
    for face, tex in zip(spec.faces, textures):
        box = face.box_at(t, spec.duration)
        if box is None:
            continue
        x0, y0 = round(box[0]), round(box[1])
        h, w = tex.shape[:2]
        fx0, fy0 = max(0, x0), max(0, y0)
        fx1, fy1 = min(spec.width, x0 + w), min(spec.height, y0 + h)
        if fx1 <= fx0 or fy1 <= fy0:
            continue
        img[fy0:fy1, fx0:fx1] = tex[fy0 - y0 : fy1 - y0, fx0 - x0 : fx1 - x0]
    return img


def make_clip(path: Path, spec: ClipSpec) -> Path:
    """Encode `spec` as an H.264 MP4 (optionally with an AAC tone) at near-lossless quality."""
    bg = background(spec.width, spec.height)
    textures = [_texture(f) for f in spec.faces]
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=spec.rate)
        v.width, v.height, v.pix_fmt = spec.width, spec.height, spec.pix_fmt
        v.options = {"crf": "8", "preset": "ultrafast"}
        a = None
        if spec.audio:
            a = out.add_stream("aac", rate=48000)
            a.layout = "mono"
        samples_done = 0
        for i in range(spec.frames):
            frame = av.VideoFrame.from_ndarray(render_frame(spec, i, bg, textures), format="rgb24")
            frame.pts = i
            frame.time_base = 1 / spec.rate
            out.mux(v.encode(frame))
            if a is not None:
                until = round(spec.frame_time(i + 1) * 48000)
                while samples_done + 1024 <= until:
                    n = np.arange(samples_done, samples_done + 1024)
                    tone = (0.3 * np.sin(2 * np.pi * 440 * n / 48000)).astype(np.float32)
                    af = av.AudioFrame.from_ndarray(tone[None, :], format="fltp", layout="mono")
                    af.sample_rate, af.pts = 48000, samples_done
                    out.mux(a.encode(af))
                    samples_done += 1024
        out.mux(v.encode(None))
        if a is not None:
            out.mux(a.encode(None))
    return path


def truth_boxes(spec: ClipSpec, index: int) -> list[tuple[int, int, int, int]]:
    """Rendered face boxes in frame `index`, clipped to the frame, as integer pixels."""
    boxes = []
    for face in spec.faces:
        box = face.box_at(spec.frame_time(index), spec.duration)
        if box is None:
            continue
        x0, y0 = round(box[0]), round(box[1])
        bx0, by0 = max(0, x0), max(0, y0)
        bx1, by1 = min(spec.width, x0 + face.size[0]), min(spec.height, y0 + face.size[1])
        if bx1 > bx0 and by1 > by0:
            boxes.append((bx0, by0, bx1, by1))
    return boxes


def detections_doc(spec: ClipSpec, interval: float = 0.2, key: str = "clip.mp4") -> dict:
    """The detections object `get_rekognized_faces` would write, sampled from the ground truth.

    Boxes are unclipped ratios, as Rekognition reports them (Left/Top may be < 0 or > 1), and only
    sample times with at least one face appear.
    """
    samples = []
    k = 0
    while k * interval < spec.duration:
        t = k * interval
        boxes = []
        for face in spec.faces:
            box = face.box_at(t, spec.duration)
            if box is None:
                continue
            boxes.append(
                {
                    "Left": box[0] / spec.width,
                    "Top": box[1] / spec.height,
                    "Width": (box[2] - box[0]) / spec.width,
                    "Height": (box[3] - box[1]) / spec.height,
                    "Confidence": 99.0,
                }
            )
        if boxes:
            samples.append({"Timestamp": round(t * 1000), "Boxes": boxes})
        k += 1
    return {
        "JobId": "synthetic",
        "Video": {"Bucket": "in", "Key": key},
        "VideoMetadata": {
            "Codec": "h264",
            "DurationMillis": round(spec.duration * 1000),
            "Format": "QuickTime / MOV",
            "FrameRate": float(spec.rate),
            "FrameHeight": spec.height,
            "FrameWidth": spec.width,
        },
        "Samples": samples,
    }
