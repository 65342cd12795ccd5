"""A generated, slowly panning backdrop: soft gradient, blurred blobs and a horizon.

Why generated: no bundled photo is face-free and wide enough, and a smooth synthetic scene keeps
the H.264 file small while still giving the detector texture to reject. Seeded, so deterministic.
"""

from __future__ import annotations

import cv2
import numpy as np


def make_canvas(width: int, height: int, pan: float, seed: int) -> np.ndarray:
    """A float32 RGB canvas (0..1) wider than the frame by `pan` so frames can slide across it."""
    rng = np.random.default_rng(seed)
    cw = int(np.ceil(width * (1 + pan))) + 2
    ys = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    sky = np.array([0.55, 0.68, 0.82], np.float32)
    ground = np.array([0.36, 0.42, 0.30], np.float32)
    horizon = 0.62
    t = np.clip((ys - horizon + 0.04) / 0.08, 0, 1)
    canvas = np.broadcast_to(sky * (1 - t) + ground * t, (height, cw, 3)).copy()
    canvas *= 0.85 + 0.25 * (1 - ys)  # light from above
    # Low-frequency noise: a coarse random grid upsampled smoothly (clouds / grass texture).
    # Mostly brightness, a little colour, like real haze and grass rather than confetti.
    grid = (9, max(2, int(9 * cw / height)))
    luma = rng.normal(0.0, 0.05, size=(*grid, 1)).astype(np.float32)
    tint = rng.normal(0.0, 0.015, size=(*grid, 3)).astype(np.float32)
    canvas += cv2.resize(luma + tint, (cw, height), interpolation=cv2.INTER_CUBIC)
    # Blurred blocks on the horizon (distant buildings / trees), nothing face-like.
    for _ in range(14):
        bw = int(rng.uniform(0.04, 0.14) * width)
        bh = int(rng.uniform(0.05, 0.22) * height)
        x = int(rng.uniform(0, cw - bw))
        y = int(horizon * height) - bh
        color = rng.uniform(0.25, 0.6, size=3).astype(np.float32)
        cv2.rectangle(canvas, (x, y), (x + bw, int(horizon * height) + 2), color.tolist(), -1)
    k = max(3, int(height * 0.01) | 1)
    canvas = cv2.GaussianBlur(canvas, (k, k), 0)
    return np.clip(canvas, 0, 1)


def frame_background(canvas: np.ndarray, width: int, t_fraction: float) -> np.ndarray:
    """The frame-sized window of the canvas at time `t_fraction` (0..1), with sub-pixel panning."""
    span = canvas.shape[1] - width - 2
    offset = span * min(1.0, max(0.0, t_fraction))
    x0 = int(offset)
    frac = np.float32(offset - x0)
    a = canvas[:, x0 : x0 + width]
    b = canvas[:, x0 + 1 : x0 + 1 + width]
    return a * (1 - frac) + b * frac
