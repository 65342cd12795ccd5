"""Faces in a video frame in two passes: the whole frame at its own size, then a second look at the
small candidates only, enlarged.

Why: CenterFace finds faces from about 20 px *in its input*, so 17–25 px faces in a 720p frame are
missed at the frame's own size (recall 0.53 for 17–21 px), and enlarging the whole frame 1.5×
costs 2.2× the network time for every frame, faces or not. At the frame's own size those small
faces still light up the heatmap (0.11–0.6 where the threshold is 0.4; the background stays below
0.12 on the lab's clips), so peaks above `CANDIDATE_THRESHOLD` are cut out with their
surroundings, enlarged so the face is ~`VERIFY_FACE_PX` tall, laid side by side in one mosaic and
run through the network once more. A candidate becomes a face only if the network, seeing it
enlarged, scores it above the ordinary threshold; the box and landmarks then come from that
enlarged look, which places a small face better than the coarse one.

Because the second look recovers what the first pass only hints at, the first pass can run
smaller than the frame: at most `MAX_PIXELS` (960×540; a 720p frame is scaled down to it, a
960×540 frame is no longer enlarged to 1280×720), for 0.45 of the network time of a 720p pass.
The mosaic of a dozen candidates is a 656×208 image, about a sixth of that.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .detector import Detection, FaceDetector

#: Heatmap score from which a below-threshold peak is looked at again, enlarged. Measured: true
#: 17–23 px faces at 720p score 0.11–0.59 at the frame's size; on the "small" clip at 640×360
#: recall is 0.87 from 0.1, 0.99 from 0.05, for ~5 candidates a sample.
CANDIDATE_THRESHOLD = 0.05
#: Faces whose box is shorter than this (frame pixels, after the coarse pass's scale) get the
#: second look, even above the threshold: their coarse box is rough.
SMALL_FACE_PX = 32
#: Candidate face height in the mosaic (pixels): well inside what CenterFace finds reliably.
VERIFY_FACE_PX = 40
#: Side of one mosaic cell: a candidate with more than its own size of context on every side.
CELL = 96
#: Gap between cells (zeros), so a tile's face is not read as part of its neighbour's.
GAP = 16
#: At most this many candidates per frame get the second look (highest scores first).
MAX_CANDIDATES = 32
#: Pixel budget of the first pass: 960×540 runs at its own size, 720p and 1080p are scaled down to
#: it. Measured on the crowd clip at 720p (17–40 px faces): recall 0.989 at 1280×720 and at
#: 960×540 (the second look finds what the smaller first pass only hints at), 0.95 at 853×480;
#: the 960×540 pass costs 0.45 of the 720p one.
MAX_PIXELS = 960 * 540
#: Frames narrower than this are enlarged to it for the first pass (tiny images, thumbnails).
MIN_WIDTH = 640


def first_pass_size(width: int, height: int) -> tuple[int, int]:
    """Network input (width, height) of the whole-frame pass: the frame's own size within the
    pixel budget, never narrower than MIN_WIDTH."""
    scale = min(1.0, math.sqrt(MAX_PIXELS / (width * height)))
    scale = max(scale, MIN_WIDTH / width)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _iou(a: Detection, b: Detection) -> float:
    iw = max(0.0, min(a.x2, b.x2) - max(a.x1, b.x1))
    ih = max(0.0, min(a.y2, b.y2) - max(a.y1, b.y1))
    inter = iw * ih
    union = a.width * a.height + b.width * b.height - inter
    return inter / union if union > 0 else 0.0


def _mosaic(image: np.ndarray, candidates: list[Detection]) -> tuple[np.ndarray, list[tuple[float, float, float]]]:
    """The candidates' surroundings, each scaled to a CELL×CELL tile, in a grid with GAP between.

    Returns the mosaic and, per tile, (x0, y0, f): the crop's top-left in `image` and its scale,
    so a point (u, v) in the tile maps back to (x0 + u / f, y0 + v / f)."""
    h, w = image.shape[:2]
    cols = min(len(candidates), 6)
    rows = -(-len(candidates) // cols)
    step = CELL + GAP
    mosaic = np.zeros((rows * step - GAP, cols * step - GAP, 3), np.uint8)
    maps = []
    for k, c in enumerate(candidates):
        f = VERIFY_FACE_PX / max(c.height, c.width, 1.0)
        side = CELL / f  # crop side in image pixels
        cx, cy = (c.x1 + c.x2) / 2, (c.y1 + c.y2) / 2
        x0, y0 = cx - side / 2, cy - side / 2
        # The crop may leave the image: those pixels stay zero, as the whole-frame pass pads them.
        m = np.array([[f, 0.0, -x0 * f], [0.0, f, -y0 * f]], np.float32)
        tile = cv2.warpAffine(image, m, (CELL, CELL), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        r, q = divmod(k, cols)
        mosaic[r * step : r * step + CELL, q * step : q * step + CELL] = tile
        maps.append((x0, y0, f))
    return mosaic, maps


def _confirm(
    detector: FaceDetector, image: np.ndarray, candidates: list[Detection], threshold: float
) -> list[Detection]:
    """The candidates that the network, seeing them enlarged, finds as faces (with its enlarged
    look's box, landmarks and score); a candidate that already scored `threshold` in the first
    pass stays a face with its first box if the enlarged look does not find it."""
    mosaic, maps = _mosaic(image, candidates)
    found = detector.detect_scaled(mosaic, (mosaic.shape[1], mosaic.shape[0]), threshold)
    cols = min(len(candidates), 6)
    step = CELL + GAP
    confirmed: dict[int, Detection] = {}
    for d in found:
        cx, cy = (d.x1 + d.x2) / 2, (d.y1 + d.y2) / 2
        q, r = int(cx // step), int(cy // step)
        k = r * cols + q
        if k >= len(candidates) or cx - q * step >= CELL or cy - r * step >= CELL:
            continue  # centred in a gap
        x0, y0, f = maps[k]
        ox, oy = q * step, r * step

        def back(u: float, v: float) -> tuple[float, float]:
            return x0 + (u - ox) / f, y0 + (v - oy) / f

        (x1, y1), (x2, y2) = back(d.x1, d.y1), back(d.x2, d.y2)
        face = Detection(x1, y1, x2, y2, d.score, tuple(back(u, v) for u, v in d.landmarks))
        if _iou(face, candidates[k]) >= 0.3 and (k not in confirmed or face.score > confirmed[k].score):
            confirmed[k] = face  # the candidate itself, not a neighbour in its tile
    return [confirmed.get(k, c) for k, c in enumerate(candidates) if k in confirmed or c.score >= threshold]


def detect_frame(detector: FaceDetector, image_rgb: np.ndarray, threshold: float | None = None) -> list[Detection]:
    """Every face in one frame (boxes in `image_rgb`'s pixels), best score first."""
    threshold = detector.threshold if threshold is None else threshold
    h, w = image_rgb.shape[:2]
    size = first_pass_size(w, h)
    coarse = detector.detect_scaled(image_rgb, size, CANDIDATE_THRESHOLD)
    small = SMALL_FACE_PX * w / size[0]  # in image pixels
    sure = [d for d in coarse if d.score >= threshold and d.height >= small]
    unsure = sorted((d for d in coarse if d not in sure), key=lambda d: -d.score)[:MAX_CANDIDATES]
    # A candidate overlapping a sure face is that face's second peak, not another face.
    unsure = [d for d in unsure if all(_iou(d, s) < 0.3 for s in sure)]
    faces = sure + (_confirm(detector, image_rgb, unsure, threshold) if unsure else [])
    # Two candidates of one face confirmed twice: keep the better.
    faces.sort(key=lambda d: -d.score)
    kept: list[Detection] = []
    for d in faces:
        if all(_iou(d, k) < 0.3 for k in kept):
            kept.append(d)
    return kept
