"""Draw Rekognition Video's face detections: boxes per frame, a timeline, one face's landmarks."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from matplotlib import patches, patheffects

from lambdalab.viz.frames import frames_at

BOX_COLOUR = "#00e5ff"


def faces_by_timestamp(faces: Sequence[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """GetFaceDetection's flat `Faces` list grouped by `Timestamp` (ms)."""
    grouped: dict[int, list[dict[str, Any]]] = {}
    for record in faces:
        grouped.setdefault(int(record["Timestamp"]), []).append(record["Face"])
    return dict(sorted(grouped.items()))


def pick_timestamps(faces: Sequence[dict[str, Any]], count: int) -> list[int]:
    """`count` timestamps spread over the video, favouring frames with the most faces."""
    grouped = faces_by_timestamp(faces)
    if not grouped:
        return []
    stamps = list(grouped)
    if len(stamps) <= count:
        return stamps
    step = len(stamps) / count
    chosen = []
    for i in range(count):
        window = stamps[int(i * step) : int((i + 1) * step)] or [stamps[-1]]
        chosen.append(max(window, key=lambda t: (len(grouped[t]), -t)))
    return chosen


def _draw_boxes(axis: Any, image_width: int, image_height: int, detections: list[dict[str, Any]]) -> None:
    for face in detections:
        box = face["BoundingBox"]
        left, top = box["Left"] * image_width, box["Top"] * image_height
        width, height = box["Width"] * image_width, box["Height"] * image_height
        axis.add_patch(patches.Rectangle((left, top), width, height, fill=False, linewidth=2, edgecolor=BOX_COLOUR))
        axis.text(
            left,
            max(0, top - 6),
            f"{face['Confidence']:.1f}%",
            color="black",
            fontsize=8,
            bbox={"facecolor": BOX_COLOUR, "edgecolor": "none", "pad": 1},
        )


def face_grid(
    video: str | Path,
    faces: Sequence[dict[str, Any]],
    *,
    count: int = 6,
    columns: int = 3,
    timestamps: Sequence[int] | None = None,
):
    """A grid of frames with Rekognition's boxes and confidences drawn on them."""
    grouped = faces_by_timestamp(faces)
    stamps = list(timestamps) if timestamps is not None else pick_timestamps(faces, count)
    images = frames_at(video, stamps)
    rows = max(1, -(-len(stamps) // columns))
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 2.6 * rows), squeeze=False)
    for axis in axes.flat:
        axis.axis("off")
    for axis, stamp in zip(axes.flat, stamps):
        image = images[stamp]
        axis.imshow(image)
        detections = grouped.get(stamp, [])
        _draw_boxes(axis, image.shape[1], image.shape[0], detections)
        axis.set_title(f"t = {stamp / 1000:.1f} s · {len(detections)} face(s)", fontsize=9)
    figure.tight_layout()
    plt.close(figure)  # shown once, as the cell's result, not again by the inline backend
    return figure


def faces_timeline(faces: Sequence[dict[str, Any]], duration_ms: int, interval_ms: int | None = None):
    """Faces per analysed timestamp across the video: where the faces are, and where none are."""
    counts = Counter(int(record["Timestamp"]) for record in faces)
    figure, axis = plt.subplots(figsize=(10, 2.4))
    if counts:
        stamps = sorted(counts)
        width = (interval_ms or 200) / 1000 * 0.8
        axis.bar(
            [t / 1000 for t in stamps], [counts[t] for t in stamps], width=width, color=BOX_COLOUR, edgecolor="#0097a7"
        )
    axis.set_xlim(0, duration_ms / 1000)
    axis.set_ylim(0, max(counts.values(), default=1) + 1)
    axis.set_xlabel("video time (s)")
    axis.set_ylabel("faces")
    axis.set_title("Faces reported per analysed timestamp (gaps = no face found)")
    axis.yaxis.get_major_locator().set_params(integer=True)
    figure.tight_layout()
    plt.close(figure)  # shown once, as the cell's result, not again by the inline backend
    return figure


def landmarks_view(video: str | Path, record: dict[str, Any]):
    """One detected face up close: its box, the five landmarks, and its pose and quality."""
    stamp = int(record["Timestamp"])
    face = record["Face"]
    image = frames_at(video, [stamp])[stamp]
    height, width = image.shape[:2]
    box = face["BoundingBox"]
    margin = 0.6
    left = max(0, int((box["Left"] - box["Width"] * margin) * width))
    right = min(width, int((box["Left"] + box["Width"] * (1 + margin)) * width))
    top = max(0, int((box["Top"] - box["Height"] * margin) * height))
    bottom = min(height, int((box["Top"] + box["Height"] * (1 + margin)) * height))
    figure, axis = plt.subplots(figsize=(5, 5))
    axis.imshow(image[top:bottom, left:right], extent=(left, right, bottom, top))
    _draw_boxes(axis, width, height, [face])
    for landmark in face.get("Landmarks", []):
        x, y = landmark["X"] * width, landmark["Y"] * height
        axis.plot(x, y, "o", color="#ff4081", markersize=6)
        axis.annotate(
            landmark["Type"],
            (x, y),
            xytext=(5, -5),
            textcoords="offset points",
            color="white",
            fontsize=8,
            path_effects=[patheffects.withStroke(linewidth=2, foreground="black")],
        )
    pose = face.get("Pose", {})
    axis.set_title(
        f"t = {stamp / 1000:.1f} s · roll {pose.get('Roll', 0):.0f}°, yaw {pose.get('Yaw', 0):.0f}°, "
        f"pitch {pose.get('Pitch', 0):.0f}°",
        fontsize=9,
    )
    axis.axis("off")
    figure.tight_layout()
    plt.close(figure)  # shown once, as the cell's result, not again by the inline backend
    return figure
