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
    plt.close(figure)  # shown once, as the cell's result, not again by the inline backend
    return figure


def player(path: str | Path, width: int = 640):
    """An HTML5 player for an H.264 MP4 (linked, not embedded, so the notebook stays small).

    The browser resolves the link relative to the notebook, which is the kernel's working
    directory in Jupyter; so any path works, wherever the notebook (or its learner copy) sits.
    """
    import os

    from IPython.display import Video

    relative = os.path.relpath(Path(path).resolve(), Path.cwd())
    return Video(relative, embed=False, width=width, html_attributes="controls muted loop")
