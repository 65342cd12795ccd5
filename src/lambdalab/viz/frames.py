"""Decode the frames a picture needs: the frame shown at each requested timestamp."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import av
import numpy as np


def frames_at(video: str | Path, timestamps_ms: Iterable[int]) -> dict[int, np.ndarray]:
    """RGB frame shown at each timestamp (the first frame whose own time reaches it).

    Rekognition reports a timestamp per analysed frame, in milliseconds from the start; a frame
    index would depend on the frame rate, a timestamp does not.
    """
    wanted = sorted(set(int(t) for t in timestamps_ms))
    found: dict[int, np.ndarray] = {}
    if not wanted:
        return found
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        last = None
        for frame in container.decode(stream):
            time_ms = (frame.time or 0.0) * 1000
            while wanted and time_ms + 0.5 >= wanted[0]:
                found[wanted.pop(0)] = frame.to_ndarray(format="rgb24")
            last = frame
            if not wanted:
                break
        for timestamp in wanted:  # past the end: the last frame is what a player shows
            if last is not None:
                found[timestamp] = last.to_ndarray(format="rgb24")
    return found
