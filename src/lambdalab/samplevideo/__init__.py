"""Deterministic generator of test videos with real faces and exact ground truth.

`generate("sample-video.mp4")` makes the lab's 10 s 1280×720 25 fps sample; other kinds (fast,
tilt, small, border, mirrored) stress the detector. Same arguments → the same bytes.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from .audio import SAMPLE_RATE, melody
from .encode import DEFAULT_CRF, write_mp4
from .ground_truth import GroundTruth, ground_truth
from .render import frames
from .scenes import KINDS, Scene, build_scene

__all__ = ["KINDS", "GroundTruth", "Scene", "build_scene", "generate", "ground_truth"]


def generate(
    out_path: str | os.PathLike,
    kind: str = "sample",
    width: int = 1280,
    height: int = 720,
    fps: float = 25.0,
    seconds: float | None = None,
    crf: int = DEFAULT_CRF,
    audio: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> GroundTruth:
    """Render the `kind` clip to `out_path` (MP4) and return its ground truth.

    `progress(done_frames, total_frames)` is called after each frame, for a CLI progress bar.
    """
    scene = build_scene(kind, width, height, fps, seconds)
    total = scene.frame_count

    def rgb_frames():
        for i, _t, rgb in frames(scene):
            yield rgb
            if progress is not None:
                progress(i + 1, total)

    sound = melody(scene.frame_count / scene.fps) if audio else None
    write_mp4(out_path, rgb_frames(), width, height, fps, audio=sound, sample_rate=SAMPLE_RATE, crf=crf)
    return ground_truth(scene)
