"""Ground truth of a generated clip: every frame's face boxes, computed from the scene alone.

Why from the scene and not from rendering: the geometry is closed-form (see render.py), so the
truth of the committed 10 s sample is recomputed in milliseconds instead of being stored or
re-rendered; `to_json` writes it for people and tools that want the file.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from .render import TruthFace, truth_at
from .scenes import Scene
from .sources import SOURCES


@dataclass(frozen=True)
class FrameTruth:
    index: int
    timestamp_ms: int
    faces: tuple[TruthFace, ...]


@dataclass(frozen=True)
class GroundTruth:
    kind: str
    width: int
    height: int
    fps: float
    seconds: float
    frames: tuple[FrameTruth, ...]

    def at_timestamp(self, timestamp_ms: int) -> FrameTruth:
        """The frame shown at `timestamp_ms` (nearest frame start)."""
        i = int(round(timestamp_ms * self.fps / 1000.0))
        return self.frames[max(0, min(len(self.frames) - 1, i))]

    def to_json(self) -> dict:
        return {
            "kind": self.kind,
            "width": self.width,
            "height": self.height,
            "fps": self.fps,
            "seconds": self.seconds,
            "frame_count": len(self.frames),
            "box_format": "[x1, y1, x2, y2] in frame pixels, not clipped to the frame; "
            "visible = fraction of the box inside the frame; head = the whole head's box",
            "source_faces": {name: list(s.face) for name, s in SOURCES.items() if s.face},
            "frames": [
                {
                    "index": f.index,
                    "timestamp_ms": f.timestamp_ms,
                    "faces": [
                        {
                            "track": face.track,
                            "source": face.source,
                            "box": list(face.box),
                            "visible": face.visible,
                            "head": None if face.head is None else list(face.head),
                        }
                        for face in f.faces
                    ],
                }
                for f in self.frames
            ],
        }

    def write(self, path: str | os.PathLike) -> None:
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(self.to_json(), fh, separators=(",", ":"))
            fh.write("\n")


def ground_truth(scene: Scene) -> GroundTruth:
    frames = tuple(
        FrameTruth(i, int(round(i * 1000 / scene.fps)), tuple(truth_at(scene, i / scene.fps)))
        for i in range(scene.frame_count)
    )
    return GroundTruth(scene.kind, scene.width, scene.height, float(scene.fps), scene.seconds, frames)


def load(path: str | os.PathLike) -> GroundTruth:
    """Read a file written by `GroundTruth.write`."""
    with open(path, encoding="utf-8") as fh:
        d = json.load(fh)
    frames = tuple(
        FrameTruth(
            f["index"],
            f["timestamp_ms"],
            tuple(
                TruthFace(x["track"], x["source"], tuple(x["box"]), x["visible"], x["head"] and tuple(x["head"]))
                for x in f["faces"]
            ),
        )
        for f in d["frames"]
    )
    return GroundTruth(d["kind"], d["width"], d["height"], d["fps"], d["seconds"], frames)
