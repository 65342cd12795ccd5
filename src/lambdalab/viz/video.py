"""Before/after frames side by side, and the result playable inline."""

from __future__ import annotations

import filecmp
import shutil
from collections.abc import Sequence
from pathlib import Path

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


MEDIA_DIR = "media"  # beside the notebook: JupyterLab serves it (not hidden, under the server root)


def player(path: str | Path, width: int = 640):
    """An HTML5 player for an H.264 MP4, as JupyterLab can play it.

    JupyterLab serves a notebook's media through `/files/`, which refuses hidden paths (`.lab/`) and
    paths above its root (`../sample-video.mp4`). So the video is copied into `media/` beside the
    notebook (the kernel's working directory) and linked from there: the link works in the saved
    output as well as after a run, in `notebooks/` as in `notebooks/student/`. Linked, not embedded:
    a 1 MB video would be 1.3 MB of base64 in every saved notebook and in every commit of it.
    """
    from IPython.display import Video

    return Video(publish_media(path).as_posix(), embed=False, width=width, html_attributes="controls muted loop")


def publish_media(path: str | Path, folder: str | Path = MEDIA_DIR) -> Path:
    """Copy `path` into `folder` (relative to the working directory) unless an identical copy is there."""
    source, target = Path(path), Path(folder) / Path(path).name
    if source.resolve() != target.resolve():
        target.parent.mkdir(parents=True, exist_ok=True)
        if not (target.is_file() and filecmp.cmp(source, target, shallow=False)):
            shutil.copyfile(source, target)
    return target
