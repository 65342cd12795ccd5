"""Composite a scene into frames, and the matching ground-truth face boxes, from the same geometry.

Each sprite's placement is one affine map (crop pixels → frame pixels); the pixels are warped with
it and the face rectangle is carried through it, so the ground truth is exact by construction.
For a rotated face the truth is the axis-aligned box of the rotated face *ellipse* (the rectangle's
inscribed ellipse) — a detector boxes the head it sees, not the rotated rectangle's corners.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from .background import frame_background, make_canvas
from .scenes import Placement, Scene
from .sources import SOURCES, SpriteSource


@dataclass(frozen=True)
class TruthFace:
    """A face in one frame: its box in frame pixels (unclipped) and how much of it is in frame."""

    track: int  # index of the track in the scene
    source: str
    box: tuple[float, float, float, float]
    visible: float  # fraction of the box area inside the frame, 0..1
    head: tuple[float, float, float, float] | None = None  # the whole head's box, frame pixels, unclipped


def placement_matrix(source: SpriteSource, p: Placement, prescale: float = 1.0) -> np.ndarray:
    """2×3 affine map from (pre-scaled) crop pixels to frame pixels: anchor → origin, mirror about
    the anchor, scale to the wanted face height, rotate clockwise by `angle`, move to (x, y)."""
    ax, ay = source.anchor
    ax, ay = ax * prescale, ay * prescale
    s = p.height / (source.reference_height * prescale)
    a = math.radians(p.angle)
    c, si = math.cos(a) * s, math.sin(a) * s
    f = -1.0 if p.mirror else 1.0
    # [x', y'] = R·S·F·([x, y] - anchor) + (px, py)
    m = np.array([[c * f, -si, 0.0], [si * f, c, 0.0]], np.float64)
    m[:, 2] = np.array([p.x, p.y]) - m[:, :2] @ np.array([ax, ay])
    return m


def face_box(source: SpriteSource, p: Placement) -> tuple[float, float, float, float] | None:
    """Ground-truth box of the source's face at placement `p` (None for distractors)."""
    if source.face is None:
        return None
    x1, y1, x2, y2 = source.face
    s = p.height / source.reference_height
    half_w, half_h = (x2 - x1) / 2 * s, (y2 - y1) / 2 * s
    a = math.radians(p.angle)
    ex = math.hypot(half_w * math.cos(a), half_h * math.sin(a))
    ey = math.hypot(half_w * math.sin(a), half_h * math.cos(a))
    # The face centre is the anchor, so it lands exactly on (p.x, p.y).
    return (p.x - ex, p.y - ey, p.x + ex, p.y + ey)


def head_box(source: SpriteSource, p: Placement) -> tuple[float, float, float, float] | None:
    """Ground-truth box of the source's whole head at placement `p`: the axis-aligned box of the
    head rectangle's inscribed ellipse, carried through the placement (so a tilted or mirrored head
    moves its hair where the pixels go)."""
    if source.head is None:
        return None
    x1, y1, x2, y2 = source.head
    m = placement_matrix(source, p)
    cx, cy = m @ np.array([(x1 + x2) / 2 - source.crop[0], (y1 + y2) / 2 - source.crop[1], 1.0])
    s = p.height / source.reference_height
    half_w, half_h = (x2 - x1) / 2 * s, (y2 - y1) / 2 * s
    a = math.radians(p.angle)
    ex = math.hypot(half_w * math.cos(a), half_h * math.sin(a))
    ey = math.hypot(half_w * math.sin(a), half_h * math.cos(a))
    return (float(cx - ex), float(cy - ey), float(cx + ex), float(cy + ey))


def visible_fraction(box: tuple[float, float, float, float], width: int, height: int) -> float:
    x1, y1, x2, y2 = box
    area = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    if area <= 0:
        return 0.0
    iw = max(0.0, min(x2, width) - max(x1, 0.0))
    ih = max(0.0, min(y2, height) - max(y1, 0.0))
    return iw * ih / area


def truth_at(scene: Scene, t: float) -> list[TruthFace]:
    """Every face at time `t` (seconds) whose box overlaps the frame, in drawing order."""
    faces = []
    for i, track in enumerate(scene.tracks):
        p = track.at(t, scene.width, scene.height)
        if p is None:
            continue
        source = SOURCES[track.source]
        box = face_box(source, p)
        if box is None:
            continue
        vis = visible_fraction(box, scene.width, scene.height)
        if vis > 0:
            head = head_box(source, p)
            head = None if head is None else tuple(round(v, 2) for v in head)
            faces.append(TruthFace(i, source.name, tuple(round(v, 2) for v in box), round(vis, 4), head))
    return faces


def _paste(frame: np.ndarray, source: SpriteSource, p: Placement) -> None:
    """Warp the sprite into `frame` (float32 RGB, modified in place) over its bounding region only."""
    rgba = source.premultiplied_rgba()
    prescale = 1.0
    scale = p.height / source.reference_height
    if scale < 0.9:  # shrink with area averaging first: warpAffine alone would alias small faces
        prescale = scale
        h, w = rgba.shape[:2]
        rgba = cv2.resize(rgba, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    m = placement_matrix(source, p, prescale)
    h, w = rgba.shape[:2]
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], np.float64) @ m.T
    fh, fw = frame.shape[:2]
    x0 = max(0, int(math.floor(corners[:, 0].min())))
    y0 = max(0, int(math.floor(corners[:, 1].min())))
    x1 = min(fw, int(math.ceil(corners[:, 0].max())))
    y1 = min(fh, int(math.ceil(corners[:, 1].max())))
    if x1 <= x0 or y1 <= y0:
        return
    m_roi = m.copy()
    m_roi[:, 2] -= (x0, y0)
    warped = cv2.warpAffine(
        rgba, m_roi, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    roi = frame[y0:y1, x0:x1]
    roi *= 1.0 - warped[..., 3:4]
    roi += warped[..., :3]


def render_frame(scene: Scene, canvas: np.ndarray, t: float) -> np.ndarray:
    """One RGB uint8 frame at time `t`; with motion blur, the average over a 180° shutter."""
    subs = max(1, scene.motion_blur)
    shutter = 0.5 / scene.fps
    acc = None
    for j in range(subs):
        tj = t if subs == 1 else t + (j / (subs - 1) - 0.5) * shutter
        frame = frame_background(canvas, scene.width, tj / scene.seconds).copy()
        for track in scene.tracks:
            p = track.at(tj, scene.width, scene.height)
            if p is not None:
                _paste(frame, SOURCES[track.source], p)
        acc = frame if acc is None else acc + frame
    return np.clip(acc / subs * 255.0 + 0.5, 0, 255).astype(np.uint8)


def frames(scene: Scene) -> Iterator[tuple[int, float, np.ndarray]]:
    """(index, time in seconds, RGB frame) for every frame of the scene."""
    canvas = make_canvas(scene.width, scene.height, scene.pan, scene.seed)
    for i in range(scene.frame_count):
        t = i / scene.fps
        yield i, t, render_frame(scene, canvas, t)
