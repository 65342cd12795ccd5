"""How much of every real face the blur covers, on the lab's generated clips with exact ground truth.

The clips come from `lambdalab.samplevideo` (real face images moving fast, tilting, small, cut by
the frame border) at 640×360. Detections are either the ground truth sampled every 200 ms (what a
perfect Rekognition would report: tests the carry rule alone) or the lab's real CenterFace detector
(`lambdalab.faces`, what the offline Rekognition reports: tests the pipeline). The measure is the
fraction of each ground-truth face box (clipped to the frame) inside the blurred rectangles, in
every frame; the target is at least 90% of every box.
"""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from blur_faces_loading import load_engine

from lambdalab import samplevideo  # the project's own package: a broken import must fail, not skip

engine = load_engine()
from blur_engine.boxes import to_rects  # noqa: E402

W, H, FPS = 640, 360, 25.0


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """kind -> (video path, ground truth), generated on first use."""
    folder = tmp_path_factory.mktemp("samplevideo")
    made: dict[str, tuple[Path, object]] = {}

    def get(kind: str):
        if kind not in made:
            path = folder / f"{kind}.mp4"
            made[kind] = (path, samplevideo.generate(path, kind, W, H, FPS, audio=False))
        return made[kind]

    return get


@pytest.fixture(scope="module")
def detected(clips):
    """kind -> detections object from the real detector, computed on first use."""
    from lambdalab.faces.video_faces import detect_video_faces

    cache: dict[str, dict] = {}

    def get(kind: str) -> dict:
        if kind not in cache:
            faces = detect_video_faces(str(clips(kind)[0]), interval_ms=200)
            cache[kind] = {
                "Samples": [
                    {"Timestamp": s.timestamp_ms, "Boxes": [f["BoundingBox"] for f in s.faces]}
                    for s in faces.samples
                    if s.faces
                ]
            }
        return cache[kind]

    return get


def truth_detections(truth, interval_ms: int = 200) -> dict:
    """The ground truth at every 200 ms, as Rekognition would report it (unclipped ratios)."""
    samples = []
    for t in range(0, int(truth.seconds * 1000), interval_ms):
        frame = truth.at_timestamp(t)
        boxes = [
            {"Left": x0 / W, "Top": y0 / H, "Width": (x1 - x0) / W, "Height": (y1 - y0) / H}
            for x0, y0, x1, y1 in (f.box for f in frame.faces if f.visible > 0)
        ]
        if boxes:
            samples.append({"Timestamp": frame.timestamp_ms, "Boxes": boxes})
    return {"Samples": samples}


def _clipped(box) -> tuple[int, int, int, int] | None:
    x0, y0, x1, y1 = (int(round(v)) for v in box)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(W, x1), min(H, y1)
    return (x0, y0, x1, y1) if x1 - x0 >= 2 and y1 - y0 >= 2 else None


def coverage(truth, timeline) -> list[tuple[int, float, float, int, int, int]]:
    """(frame, visible fraction, covered fraction, area, shorter side, track) for every face box
    (its part inside the frame) in every frame."""
    rows = []
    for frame in truth.frames:
        blurred = np.zeros((H, W), bool)
        for x0, y0, x1, y1 in to_rects(timeline.boxes_at(frame.index / FPS), W, H):
            blurred[y0:y1, x0:x1] = True
        for face in frame.faces:
            box = _clipped(face.box)
            if box is not None:
                x0, y0, x1, y1 = box
                covered = float(blurred[y0:y1, x0:x1].mean())
                rows.append(
                    (frame.index, face.visible, covered, (x1 - x0) * (y1 - y0), min(x1 - x0, y1 - y0), face.track)
                )
    return rows


def _summary(rows) -> str:
    covered = np.array([r[2] for r in rows])
    area = np.array([r[3] for r in rows])
    return (
        f"min {covered.min():.3f}, area-weighted {(covered * area).sum() / area.sum():.4f}, "
        f"boxes under 90%: {(covered < 0.9).sum()}/{len(rows)}"
    )


@pytest.mark.parametrize("kind", ["fast", "tilt", "small", "border"])
def test_sampled_ground_truth_covers_every_face_in_every_frame(kind, clips):
    truth = clips(kind)[1]
    rows = coverage(truth, engine.load_detections(truth_detections(truth)))
    print(kind, "ground truth every 200 ms:", _summary(rows))
    worst = min(rows, key=lambda r: r[2])
    assert worst[2] >= 0.9, f"frame {worst[0]}: only {worst[2]:.0%} of a face blurred"


@pytest.mark.parametrize("kind", ["fast", "tilt", "border"])
def test_real_detector_covers_every_mostly_visible_face(kind, clips, detected):
    """Faces less than half inside the frame are what the detector may miss (the same "don't care"
    rule as the detector's own scoring); every other face must be covered in every frame."""
    truth = clips(kind)[1]
    rows = coverage(truth, engine.load_detections(detected(kind)))
    print(kind, "real detector every 200 ms:", _summary(rows))
    visible = [r for r in rows if r[1] >= 0.5]
    worst = min(visible, key=lambda r: r[2])
    assert worst[2] >= 0.9, f"frame {worst[0]}: only {worst[2]:.0%} of a face blurred"
    covered, area = np.array([r[2] for r in rows]), np.array([r[3] for r in rows])
    assert (covered * area).sum() / area.sum() >= 0.97


def test_real_detector_covers_faces_entering_and_leaving_at_the_borders(clips, detected):
    """The sample scene: a face enters across the right border while another is on screen, one
    leaves through the top, one through the bottom, one enters on the left. The detector first sees
    an entering face when about half of it is inside; before that it is visible at the border and
    must be covered by the hold. Every face with at least 10% of its box (and 8 px) inside the
    frame must have at least 90% of that visible part blurred, in every frame (a per-sample hold
    left the entering face wholly sharp for 0.2 s at 11-19% inside)."""
    truth = clips("sample")[1]
    rows = [r for r in coverage(truth, engine.load_detections(detected("sample"))) if r[1] >= 0.10 and r[4] >= 8]
    measured = len(rows)
    bare = [
        f"frame {f} face {track}: {visible:.0%} inside, {covered:.0%} blurred"
        for f, visible, covered, _area, _side, track in rows
        if covered < 0.9
    ]
    border = [f for fr in truth.frames for f in fr.faces if 0.10 <= f.visible < 0.5]
    assert measured >= 200 and len(border) >= 20, "the scene has faces on screen and cut by the borders"
    assert not bare, "; ".join(bare)


def test_real_detector_on_small_faces(clips, detected):
    """~20 px faces at 640×360: the detector runs this frame size at 1.5× (960×540), where it finds
    0.97 of them (at its former fixed 640 px input, 0.49, and this test failed)."""
    truth = clips("small")[1]
    rows = coverage(truth, engine.load_detections(detected("small")))
    print("small real detector every 200 ms:", _summary(rows))
    assert min(r[2] for r in rows) >= 0.9


@pytest.mark.parametrize("kind", ["tilt", "border"])
def test_real_faces_lose_90_percent_of_their_detail(kind, clips, tmp_path):
    """Pixels, not geometry: blur the clip and compare high-frequency energy (Laplacian variance)
    inside each ground-truth box. Boxes whose input detail is near the codec's noise floor (a
    re-encoded smooth area keeps a variance of ~5) cannot show a 90% drop and are not measured."""
    src, truth = clips(kind)
    dst = tmp_path / "blurred.mp4"
    engine.blur_video(src, dst, engine.load_detections(truth_detections(truth)))
    with av.open(str(src)) as a, av.open(str(dst)) as b:
        pairs = list(zip(a.decode(video=0), b.decode(video=0)))
    assert len(pairs) == len(truth.frames)
    measured = []
    for frame, (fa, fb) in zip(truth.frames, pairs):
        la = cv2.Laplacian(fa.to_ndarray(format="gray").astype(np.float32), cv2.CV_32F)
        lb = cv2.Laplacian(fb.to_ndarray(format="gray").astype(np.float32), cv2.CV_32F)
        for face in frame.faces:
            box = _clipped(face.box)
            if box is None or face.visible < 0.5 or min(box[2] - box[0], box[3] - box[1]) < 16:
                continue
            x0, y0, x1, y1 = box
            before = la[y0 + 1 : y1 - 1, x0 + 1 : x1 - 1].var()
            if before >= 100:
                measured.append((frame.index, lb[y0 + 1 : y1 - 1, x0 + 1 : x1 - 1].var() / before))
    print(kind, f"{len(measured)} boxes measured, max detail kept {max(r for _, r in measured):.1%}")
    assert len(measured) >= len(truth.frames)
    worst = max(measured, key=lambda m: m[1])
    assert worst[1] <= 0.10, f"frame {worst[0]} keeps {worst[1]:.0%} of its detail"
