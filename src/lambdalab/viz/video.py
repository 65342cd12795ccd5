"""Before/after frames side by side, and the result playable inline."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt

from lambdalab.viz.frames import frames_at


def before_after(original: str | Path, blurred: str | Path, timestamps_ms: Sequence[int]):
    """Rows of (original, blurred) frames at the same timestamps."""
    before, after = frames_at(original, timestamps_ms), frames_at(blurred, timestamps_ms)
    figure, axes = plt.subplots(len(timestamps_ms), 2, figsize=(10, 2.9 * len(timestamps_ms)), squeeze=False)
    for row, stamp in zip(axes, timestamps_ms):
        for axis, image, label in ((row[0], before[stamp], "before"), (row[1], after[stamp], "after")):
            axis.imshow(image)
            axis.set_title(f"{label} · t = {stamp / 1000:.1f} s", fontsize=9)
            axis.axis("off")
    figure.tight_layout()
    return figure


def player(path: str | Path, width: int = 640):
    """An HTML5 player for an H.264 MP4 next to the notebook (not embedded: the notebook stays small)."""
    from IPython.display import Video

    return Video(str(path), embed=False, width=width, html_attributes="controls muted loop")
