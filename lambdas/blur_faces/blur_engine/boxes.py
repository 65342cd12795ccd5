"""Face boxes in frame ratios (Rekognition's convention) and their conversion to pixel rectangles.

Why ratios until the last moment: Rekognition reports Left/Top/Width/Height as fractions of the
frame, and they routinely leave it (Left < 0 for a face entering on the left, Left + Width > 1 on the
right). Keeping the raw, unclamped box until conversion means padding and motion are computed on
the real face, and only the final rectangle is clamped, so a face half outside the frame still gets
its visible half blurred (the original tutorial skipped such faces through a negative slice).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

#: A pixel rectangle (x0, y0, x1, y1), half-open, inside the frame.
Rect = tuple[int, int, int, int]
#: Pixel tolerance when rounding ratios to pixels.
_EPS = 1e-6


@dataclass(frozen=True)
class Box:
    """A face box as fractions of the frame width/height; may extend past the frame."""

    left: float
    top: float
    width: float
    height: float

    @classmethod
    def from_rekognition(cls, raw: Mapping[str, float]) -> Box:
        """Parse a Rekognition BoundingBox, refusing values that would silently blur nothing."""
        try:
            values = [float(raw[k]) for k in ("Left", "Top", "Width", "Height")]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a bounding box: {raw!r}") from exc
        if not all(math.isfinite(v) for v in values) or values[2] <= 0 or values[3] <= 0:
            raise ValueError(f"bounding box with non-finite or empty size: {raw!r}")
        return cls(*values)

    @property
    def cx(self) -> float:
        return self.left + self.width / 2

    @property
    def cy(self) -> float:
        return self.top + self.height / 2

    def grown(self, dx: float, dy: float) -> Box:
        """The box enlarged by dx (ratio of frame width) and dy on every side."""
        return Box(self.left - dx, self.top - dy, self.width + 2 * dx, self.height + 2 * dy)

    def padded(self, fraction: float) -> Box:
        """Enlarged by `fraction` of its own size on each side: Rekognition's box is tight around
        the face (brow to chin), so hair, ears and the jaw line would otherwise stay sharp."""
        return self.grown(fraction * self.width, fraction * self.height)


def head_of(face: Box, side: float, top: float, bottom: float, extra: float = 0.0) -> Box:
    """The box of the whole head around a detected face box: `side` of the face width added left
    and right, `top` of its height above (hair, forehead), `bottom` below (chin, jaw), and `extra`
    of its size on every side on top of that.

    Why so much more than a face box: Rekognition's box runs from the brows to the chin. The hair
    of the lab's astronaut adds 40% of that height above it, a head seen in profile extends half a
    face width behind the face, and a head tilted by 30° carries its hair a third of a face width
    sideways (measured on tests/test_head_coverage.py's clips). Without the landmarks (the blur step
    receives boxes only) the direction of a profile or a tilt is unknown, so both sides grow.
    """
    dx, dy = (side + extra) * face.width, extra * face.height
    return Box(
        face.left - dx,
        face.top - (top * face.height + dy),
        face.width + 2 * dx,
        face.height * (1 + top + bottom) + 2 * dy,
    )


def lerp(a: Box, b: Box, f: float) -> Box:
    """The box a fraction f of the way from a to b (f outside [0, 1] extrapolates)."""
    return Box(
        a.left + f * (b.left - a.left),
        a.top + f * (b.top - a.top),
        a.width + f * (b.width - a.width),
        a.height + f * (b.height - a.height),
    )


def at_least(box: Box, size: Box) -> Box:
    """`box` grown about its centre to at least `size`'s width and height. An extrapolated box
    can shrink to nothing: a detector's box of a face cut by the frame border grows as the face
    comes in, so running that growth backwards gives a negative width within two samples."""
    w, h = max(box.width, size.width), max(box.height, size.height)
    return Box(box.cx - w / 2, box.cy - h / 2, w, h)


def _anchored_span(lo: float, size: float, o_lo: float, o_size: float, reach: float) -> float:
    """The start of a span [lo, lo + size] (frame units 0..1) kept on the border that the
    original span [o_lo, o_lo + o_size] touches (within `reach`), so that its in-frame part is at
    least as long as the original's; unchanged if the original touches no border or if it is
    already."""
    inside = min(o_lo + o_size, 1.0) - max(o_lo, 0.0)
    if inside <= 0:
        return lo
    if o_lo - reach <= 0 and lo + size < inside:  # touches the low border (left/top), moved out
        return inside - size
    if o_lo + o_size + reach >= 1 and lo > 1 - inside:  # touches the high border, moved out
        return 1 - inside
    return lo


def anchored(moved: Box, original: Box, pad: float) -> Box:
    """`moved` (a copy of `original` shifted along its motion) kept on any frame border that the
    original, padded by `pad` of its size, touches: shifted back just enough that its in-frame
    part is at least as wide (tall) as the original's.

    Why: a face entering at a border was further out before it was first detected, so its
    backward-moved copy leaves the frame and clamps to nothing, while part of the face is still
    visible at that border; the same holds after a face's last sample as it leaves. The copy keeps
    its motion along the border (a face entering on the right while walking downwards)."""
    left = _anchored_span(moved.left, moved.width, original.left, original.width, pad * original.width)
    top = _anchored_span(moved.top, moved.height, original.top, original.height, pad * original.height)
    return Box(left, top, moved.width, moved.height)


def match(first: Sequence[Box], second: Sequence[Box], max_distance: float) -> list[tuple[int, int]]:
    """Pair boxes of two samples that are probably the same face (greedy, nearest centres first).

    Distance is measured in box sizes per axis, so it works for any frame aspect ratio and face
    size. A wrong pairing only adds an extra blurred region between two faces, which is the safe
    failure; a missed pairing loses interpolation, so the threshold is generous.
    """
    candidates = []
    for i, a in enumerate(first):
        for j, b in enumerate(second):
            dx = (b.cx - a.cx) / ((a.width + b.width) / 2)
            dy = (b.cy - a.cy) / ((a.height + b.height) / 2)
            distance = math.hypot(dx, dy)
            if distance <= max_distance:
                candidates.append((distance, i, j))
    pairs, used_a, used_b = [], set(), set()
    for _, i, j in sorted(candidates):
        if i not in used_a and j not in used_b:
            pairs.append((i, j))
            used_a.add(i)
            used_b.add(j)
    return pairs


def to_rect(box: Box, width: int, height: int) -> Rect | None:
    """The pixel rectangle covering `box` in a width×height frame, clamped; None if off-frame.

    Rounded outwards (floor/ceil) so a partly covered pixel is blurred rather than left sharp;
    the tolerance keeps float noise (0.1 + 0.2 > 0.3) from adding a pixel.
    """
    x0 = max(0, math.floor(box.left * width + _EPS))
    y0 = max(0, math.floor(box.top * height + _EPS))
    x1 = min(width, math.ceil((box.left + box.width) * width - _EPS))
    y1 = min(height, math.ceil((box.top + box.height) * height - _EPS))
    if x1 <= x0 or y1 <= y0:
        return None
    return (x0, y0, x1, y1)


def to_rects(boxes: Iterable[Box], width: int, height: int) -> list[Rect]:
    """Every on-frame rectangle of `boxes`, duplicates dropped (carried boxes often coincide)."""
    rects = {r for r in (to_rect(b, width, height) for b in boxes) if r is not None}
    return sorted(rects)
