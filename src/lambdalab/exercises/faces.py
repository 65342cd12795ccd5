"""Notebook 01's exercise: `largest_face(faces)` picks the face record with the largest box AREA.

The cases are built so that every tempting shortcut gives a different answer from the right one:
the most confident face, the widest box, the tallest box and the first record each lose to a
bigger-area face. The real `faces` of the notebook is checked too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lambdalab.exercises.report import Case, Mismatch, conclude

FIX = 'the cell under "7. Exercise: the biggest face" (def largest_face)'


def record(timestamp: int, width: float, height: float, confidence: float, left: float = 0.1, top: float = 0.1) -> dict:
    """A face record shaped like one of `get_face_detection`'s `Faces` items."""
    box = {"Width": width, "Height": height, "Left": left, "Top": top}
    return {"Timestamp": timestamp, "Face": {"BoundingBox": box, "Confidence": confidence}}


def area(face: dict) -> float:
    box = face["Face"]["BoundingBox"]
    return box["Width"] * box["Height"]


def describe(face: Any) -> str:
    try:
        box = face["Face"]["BoundingBox"]
        return (
            f"the face at t = {face['Timestamp']} ms: box {box['Width']:.2f} × {box['Height']:.2f} = "
            f"{area(face):.1%} of the frame, confidence {face['Face']['Confidence']:.1f}%"
        )
    except (TypeError, KeyError, IndexError):
        return f"{face!r:.120}"


# Shortcuts a learner may take, and what to say when their answer matches one (first match wins).
SHORTCUTS: list[tuple[str, Callable[[list[dict]], dict]]] = [
    (
        "you picked the highest Confidence. Confidence says how sure Rekognition is that this is a face, "
        "not how big it is: compare BoundingBox Width × Height",
        lambda fs: max(fs, key=lambda f: f["Face"]["Confidence"]),
    ),
    (
        "you compared Width only: a wide, short box can be smaller than a narrower, taller one; use Width × Height",
        lambda fs: max(fs, key=lambda f: f["Face"]["BoundingBox"]["Width"]),
    ),
    (
        "you compared Height only: use Width × Height",
        lambda fs: max(fs, key=lambda f: f["Face"]["BoundingBox"]["Height"]),
    ),
    ("that is the smallest face: max, not min", lambda fs: min(fs, key=area)),
    ("that is the first record of the list: look at every face", lambda fs: fs[0]),
    ("that is the last record of the list: look at every face", lambda fs: fs[-1]),
]


def cases(real_faces: list[dict] | None) -> list[tuple[str, list[dict]]]:
    confident_small = record(400, 0.10, 0.12, 99.9)
    unsure_big = record(1200, 0.30, 0.40, 91.0, left=-0.04)  # cut by the left border: Left < 0
    wide_short = record(2000, 0.34, 0.10, 98.0)
    tall_narrow = record(2600, 0.06, 0.45, 97.0)
    square = record(3000, 0.22, 0.25, 92.5)
    found = [
        ("a big face seen with 91% confidence against a small one seen with 99.9%", [confident_small, unsure_big]),
        (
            "a wide short box, a tall narrow box and a square one",
            [wide_short, tall_narrow, square, record(3200, 0.05, 0.05, 99.5)],
        ),
        ("a single face", [record(800, 0.12, 0.2, 95.0)]),
    ]
    if real_faces:
        found.append((f"the {len(real_faces)} faces Rekognition found in sample-video.mp4", real_faces))
    return found


def check_largest_face(largest_face: Callable[[list[dict]], Any], real_faces: list[dict] | None = None) -> None:
    """Run `largest_face` on each case; print the passes or raise `ExerciseFailed` naming the mistake."""
    results = []
    for name, faces in cases(real_faces):
        expected = max(faces, key=area)
        case = Case(name, f"{describe(expected)}")
        try:
            got = largest_face([dict(f) for f in faces])
        except Exception as error:  # the learner's bug, reported in their terms
            case.mismatches.append(
                Mismatch("largest_face(faces) raised an error", describe(expected), f"{type(error).__name__}: {error}")
            )
            results.append(case)
            continue
        if got != expected:
            case.mismatches.append(
                Mismatch("largest_face(faces) returned", describe(expected), describe(got), hint_for(got, faces))
            )
        results.append(case)
    conclude(
        results,
        exercise="Exercise 7, the biggest face",
        fix=FIX,
        next_step="The next cell draws the biggest face of the video.",
    )


def hint_for(got: Any, faces: list[dict]) -> str:
    if not isinstance(got, dict) or "Face" not in got or "Timestamp" not in got:
        return (
            "return the whole face record (one item of `faces`, with its Timestamp), "
            "not its box, its area or its index: the next cell needs the record"
        )
    for hint, shortcut in SHORTCUTS:
        if got == shortcut(faces):
            return hint
    return "compare the area of each BoundingBox, Width × Height, and return the record with the largest"
