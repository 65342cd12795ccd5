"""Recall and precision of detected face boxes against a clip's ground truth.

Why these rules: boxes are compared after clipping both to the frame (a detector cannot box what
is outside the picture); a truth face less than `min_visible` inside the frame is "don't care" —
missing it is not an error and finding it is not a false positive — as in WIDER FACE's ignore
regions. Matching is greedy by IoU, one detection per truth face.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .ground_truth import GroundTruth

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Score:
    true_positives: int
    false_negatives: int
    false_positives: int
    samples: int
    iou_sum: float = 0.0  # over the true positives, for the mean localisation quality

    @property
    def mean_iou(self) -> float:
        return self.iou_sum / self.true_positives if self.true_positives else 0.0

    @property
    def recall(self) -> float:
        n = self.true_positives + self.false_negatives
        return self.true_positives / n if n else 1.0

    @property
    def precision(self) -> float:
        n = self.true_positives + self.false_positives
        return self.true_positives / n if n else 1.0

    def __str__(self) -> str:
        return (
            f"recall {self.recall:.3f} precision {self.precision:.3f} mean IoU {self.mean_iou:.2f} "
            f"(tp {self.true_positives}, fn {self.false_negatives}, fp {self.false_positives}, "
            f"{self.samples} samples)"
        )


def clip_box(box: Box, width: float, height: float) -> Box:
    x1, y1, x2, y2 = box
    return (max(0.0, x1), max(0.0, y1), min(width, x2), min(height, y2))


def iou(a: Box, b: Box) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def ratio_box_to_pixels(bbox: Mapping[str, float], width: int, height: int) -> Box:
    """Rekognition BoundingBox (ratios) → (x1, y1, x2, y2) pixels."""
    x1 = bbox["Left"] * width
    y1 = bbox["Top"] * height
    return (x1, y1, x1 + bbox["Width"] * width, y1 + bbox["Height"] * height)


def score(
    truth: GroundTruth,
    samples: Mapping[int, Iterable[Mapping[str, float]]],
    iou_min: float = 0.4,
    min_visible: float = 0.5,
) -> Score:
    """Score detections given as {timestamp_ms: [Rekognition BoundingBox, ...]} for every sampled
    timestamp, including those where nothing was found (else misses there would not count)."""
    w, h = truth.width, truth.height
    tp = fn = fp = 0
    iou_sum = 0.0
    for timestamp, boxes in samples.items():
        frame = truth.at_timestamp(timestamp)
        dets = [clip_box(ratio_box_to_pixels(b, w, h), w, h) for b in boxes]
        gts = [(clip_box(f.box, w, h), f.visible >= min_visible) for f in frame.faces]
        pairs = sorted(
            ((iou(d, g[0]), di, gi) for di, d in enumerate(dets) for gi, g in enumerate(gts)),
            reverse=True,
        )
        used_d: set[int] = set()
        used_g: set[int] = set()
        for value, di, gi in pairs:
            if value < iou_min:
                break
            if di in used_d or gi in used_g:
                continue
            used_d.add(di)
            used_g.add(gi)
            if gts[gi][1]:
                tp += 1
                iou_sum += value
        fn += sum(1 for gi, (_, counted) in enumerate(gts) if counted and gi not in used_g)
        fp += len(dets) - len(used_d)
    return Score(tp, fn, fp, len(samples), iou_sum)
