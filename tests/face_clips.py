"""Short generated clips shared by the face tests, rendered once per test process.

Why here and not in conftest: conftest belongs to the lead; a cached helper gives the same
sharing. Files go to one temporary directory removed at exit.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

from lambdalab.samplevideo import GroundTruth, build_scene, generate, ground_truth

REPO = Path(__file__).resolve().parents[1]
SAMPLE_VIDEO = REPO / "sample-video.mp4"
STREET_WALK = REPO.parent / "shared" / "data" / "street-walk.mp4"

_dir = Path(tempfile.mkdtemp(prefix="lambdalab-face-clips-"))
atexit.register(shutil.rmtree, _dir, True)


@functools.cache
def clip(
    kind: str, width: int = 640, height: int = 360, seconds: float | None = None, audio: bool = False, fps: float = 25.0
) -> tuple[Path, GroundTruth]:
    """(path, ground truth) of a generated clip; the same arguments reuse the same file."""
    path = _dir / f"{kind}-{width}x{height}-{seconds}-{fps}-{int(audio)}.mp4"
    truth = generate(path, kind, width, height, fps=fps, seconds=seconds, audio=audio)
    return path, truth


def sample_truth() -> GroundTruth:
    """Ground truth of the committed sample-video.mp4, from the default scene (no rendering)."""
    return ground_truth(build_scene("sample"))
