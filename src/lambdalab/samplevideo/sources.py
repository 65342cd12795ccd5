"""The real images the sample video is built from, and where the face is in each.

Why these: scikit-image's wheel ships them (no download at run time) and they are public domain
(NASA's astronaut portrait of Eileen Collins; the MIT "cameraman"; Stéfan van der Walt's cat
Chelsea; a cup of coffee by Rachel Michetti, CC0). `skimage.data.lfw_subset` is only 25 px crops
and the rest of the bundled images hold no face.

The face rectangles are constants, found once with `lambdalab.faces.detector` (CenterFace) at dev
time: the mean box over the image, its mirror image, at 512 and 640 px input, rounded to the pixel.
The head rectangles were drawn by eye on a 10-px grid over each crop: hair top to chin, back of the
head to the hair in front. A face box leaves much of the head outside it (the astronaut's hair
adds 40% of the face height above it, the cameraman's head in profile half a face width behind).
The ground truth of every generated clip is these rectangles carried through the generator's own
motion, so a generated clip needs no detector to know where its faces are.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from skimage import data as skdata

Rect = tuple[float, float, float, float]  # x1, y1, x2, y2 in source-image pixels


@dataclass(frozen=True)
class SpriteSource:
    """A region cut out of a bundled image with a soft elliptical edge, pasted into frames."""

    name: str
    load: Callable[[], np.ndarray]  # the whole source image, RGB uint8
    crop: tuple[int, int, int, int]  # x1, y1, x2, y2: the part pasted into the video
    face: Rect | None  # the face inside the source image; None for a face-free distractor
    head: Rect | None = None  # the whole head (hair, forehead, back of the head), same pixels

    @property
    def anchor(self) -> tuple[float, float]:
        """The point (in crop pixels) that scenes position: the face centre, else the crop centre."""
        x1, y1, x2, y2 = self.face if self.face else self.crop
        return (x1 + x2) / 2 - self.crop[0], (y1 + y2) / 2 - self.crop[1]

    @property
    def reference_height(self) -> float:
        """Height that a scene's `size` refers to: the face's height, else the crop's."""
        x1, y1, x2, y2 = self.face if self.face else self.crop
        return y2 - y1

    def premultiplied_rgba(self) -> np.ndarray:
        """The crop as float32 RGBA with premultiplied colour (clean edges when warped)."""
        return _premultiplied_rgba(self.name)


def _rgb(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.stack([image] * 3, axis=-1) if image.ndim == 2 else image[..., :3])


ASTRONAUT = SpriteSource(
    name="astronaut",
    load=lambda: _rgb(skdata.astronaut()),
    crop=(140, 5, 320, 235),
    face=(181.0, 61.0, 270.0, 177.0),
    head=(153.0, 15.0, 302.0, 187.0),
)
CAMERAMAN = SpriteSource(
    name="cameraman",
    load=lambda: _rgb(skdata.camera()),
    crop=(150, 50, 310, 250),
    face=(198.0, 116.0, 260.0, 198.0),
    head=(165.0, 63.0, 268.0, 198.0),
)
CAT = SpriteSource(name="cat", load=lambda: _rgb(skdata.chelsea()), crop=(40, 0, 420, 300), face=None)
COFFEE = SpriteSource(name="coffee", load=lambda: _rgb(skdata.coffee()), crop=(110, 30, 570, 400), face=None)

SOURCES: dict[str, SpriteSource] = {s.name: s for s in (ASTRONAUT, CAMERAMAN, CAT, COFFEE)}


@functools.cache
def _premultiplied_rgba(name: str) -> np.ndarray:
    source = SOURCES[name]
    x1, y1, x2, y2 = source.crop
    rgb = source.load()[y1:y2, x1:x2].astype(np.float32) / 255.0
    h, w = rgb.shape[:2]
    # An ellipse touching the crop's sides, feathered over ~8% of its size so no hard edge remains.
    mask = np.zeros((h, w), np.float32)
    cv2.ellipse(mask, (w // 2, h // 2), (int(w * 0.46), int(h * 0.46)), 0, 0, 360, 1.0, -1)
    k = max(3, int(min(w, h) * 0.08) | 1)
    alpha = cv2.GaussianBlur(mask, (k, k), 0)
    rgba = np.dstack([rgb * alpha[..., None], alpha])
    rgba.setflags(write=False)
    return rgba
