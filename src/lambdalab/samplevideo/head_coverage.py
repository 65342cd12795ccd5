"""How much of every head a blurred video destroyed, against a generated clip's head ground truth.

Coverage is the share of face-frames (one face in one frame) in which at least `DESTROYED` of the
detail inside the head's box is gone. Detail is the Laplacian of the luma; what survives of it is
the output's Laplacian projected on the input's, sum(Lin·Lout) / sum(Lin²), so re-encoding an
untouched head keeps ~0.9–1 of its detail and any real blur keeps almost none, whatever shape
the blurred region has (a box, deface's ellipse, a mosaic). A hard edge that a blurred region
draws inside the box is new detail, not the input's, and does not count as kept.

Why the head and not the face box: a blurred face box leaves the hair, the forehead above it and
the back of a head in profile sharp, and a person is recognised by those too.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import av
import cv2
import numpy as np

from .ground_truth import GroundTruth

#: A face-frame counts as covered when at least this share of its head's detail is destroyed.
DESTROYED = 0.9
#: Head boxes whose part inside the frame is narrower than this (px) are not scored: a sliver at the
#: border has too few pixels to measure detail on.
MIN_SIDE = 6
#: A head region whose input detail is below this mean squared Laplacian is flat (a face far out
#: of focus or nearly out of the frame): nothing to destroy, not scored.
MIN_DETAIL = 4.0


@dataclass(frozen=True)
class HeadRow:
    frame: int
    track: int
    destroyed: float  # share of the head's detail destroyed, 0..1
    visible: float  # share of the face box inside the frame
    height: float  # face box height in pixels
    speed: float  # face centre speed in px/s (from the neighbouring frames' truth)


@dataclass(frozen=True)
class HeadCoverage:
    rows: tuple[HeadRow, ...]

    def share(self, threshold: float = DESTROYED) -> float:
        """Share of scored face-frames whose head lost at least `threshold` of its detail."""
        return sum(r.destroyed >= threshold for r in self.rows) / len(self.rows) if self.rows else 1.0

    def worst(self) -> HeadRow:
        return min(self.rows, key=lambda r: r.destroyed)

    def __str__(self) -> str:
        d = np.array([r.destroyed for r in self.rows]) if self.rows else np.zeros(1)
        return (
            f"coverage {self.share():.3f} of {len(self.rows)} face-frames "
            f"(detail destroyed: min {d.min():.2f}, median {np.median(d):.2f})"
        )


def laplacian(gray: np.ndarray) -> np.ndarray:
    return cv2.Laplacian(gray.astype(np.float32), cv2.CV_32F, ksize=3)


def detail_destroyed(lap_in: np.ndarray, lap_out: np.ndarray) -> float | None:
    """Share of the input's detail (Laplacian) not found in the output, over one region; None if
    the region has no detail to destroy."""
    energy = float((lap_in * lap_in).sum())
    if energy < MIN_DETAIL * lap_in.size:
        return None
    kept = float((lap_in * lap_out).sum()) / energy
    return 1.0 - min(1.0, max(0.0, kept))


def _clip(box, width: int, height: int) -> tuple[int, int, int, int] | None:
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
    return (x0, y0, x1, y1) if min(x1 - x0, y1 - y0) >= MIN_SIDE else None


def gray_frames(path: str | os.PathLike) -> Iterator[np.ndarray]:
    with av.open(os.fspath(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            yield frame.to_ndarray(format="gray")


def _speeds(truth: GroundTruth) -> dict[tuple[int, int], float]:
    """(frame, track) -> face centre speed in px/s, from the frames before and after."""
    centres = {
        (f.index, face.track): ((face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2)
        for f in truth.frames
        for face in f.faces
    }
    speeds = {}
    for (i, track), (x, y) in centres.items():
        near = [centres[k] for k in ((i - 1, track), (i + 1, track)) if k in centres]
        speeds[(i, track)] = max((np.hypot(x - a, y - b) * truth.fps for a, b in near), default=0.0)
    return speeds


def head_coverage(
    original: str | os.PathLike, blurred: str | os.PathLike, truth: GroundTruth, box: str = "head"
) -> HeadCoverage:
    """Score `blurred` (the output of a blur of `original`) against `truth`, frame by frame.

    `box` "head" scores the head's box; "face" the face box (to tell a head left sharp around a
    blurred face from a face left sharp altogether).
    """
    speeds = _speeds(truth)
    rows = []
    for frame, before, after in zip(truth.frames, gray_frames(original), gray_frames(blurred)):
        h, w = before.shape
        lap_in = lap_out = None
        for face in frame.faces:
            rect = _clip(face.head if box == "head" else face.box, w, h)
            if rect is None:
                continue
            if lap_in is None:
                lap_in, lap_out = laplacian(before), laplacian(after[:h, :w])
            x0, y0, x1, y1 = rect
            destroyed = detail_destroyed(lap_in[y0:y1, x0:x1], lap_out[y0:y1, x0:x1])
            if destroyed is not None:
                rows.append(
                    HeadRow(
                        frame.index,
                        face.track,
                        destroyed,
                        face.visible,
                        face.box[3] - face.box[1],
                        speeds[(frame.index, face.track)],
                    )
                )
    return HeadCoverage(tuple(rows))
