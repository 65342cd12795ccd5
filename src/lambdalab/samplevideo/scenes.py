"""What moves where: each video kind as tracks of keyframes, in seconds and fractions of the frame.

Why keyframes: the ground truth is exact only if the generator knows every sprite's placement at
every instant; interpolated keyframes give that in closed form, with no simulation state. Positions
are fractions of the frame so a kind renders at any size; `size` is the face height as a fraction
of the frame height (the crop height for distractors), except where a kind is about pixels (small).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Key:
    t: float  # seconds from the start
    x: float  # anchor (face centre) x, fraction of frame width; may lie outside 0..1
    y: float  # anchor y, fraction of frame height
    size: float  # face height / frame height
    angle: float = 0.0  # degrees, clockwise on screen (Rekognition's positive Roll)


@dataclass(frozen=True)
class Placement:
    x: float  # anchor in frame pixels
    y: float
    height: float  # face height in frame pixels
    angle: float
    mirror: bool


@dataclass(frozen=True)
class Track:
    """One sprite over time; present only between its first and last key."""

    source: str  # a name in sources.SOURCES
    keys: tuple[Key, ...]
    mirror: bool = False
    ease: bool = True  # smoothstep between keys (people slow down); False = constant speed

    def at(self, t: float, width: int, height: int) -> Placement | None:
        keys = self.keys
        if t < keys[0].t or t > keys[-1].t:
            return None
        i = 0
        while i < len(keys) - 2 and t > keys[i + 1].t:
            i += 1
        a, b = keys[i], keys[min(i + 1, len(keys) - 1)]
        u = 0.0 if b.t == a.t else (t - a.t) / (b.t - a.t)
        if self.ease:
            u = u * u * (3 - 2 * u)

        def lerp(p: float, q: float) -> float:
            return p + (q - p) * u

        return Placement(
            x=lerp(a.x, b.x) * width,
            y=lerp(a.y, b.y) * height,
            height=lerp(a.size, b.size) * height,
            angle=lerp(a.angle, b.angle),
            mirror=self.mirror,
        )


@dataclass(frozen=True)
class Scene:
    kind: str
    width: int
    height: int
    fps: float
    seconds: float
    tracks: tuple[Track, ...]  # drawn in this order: later tracks cover earlier ones
    motion_blur: int = 1  # sub-frame renders averaged per frame (1 = none)
    pan: float = 0.06  # background pan over the clip, fraction of the frame width
    seed: int = 7

    @property
    def frame_count(self) -> int:
        return max(1, int(round(self.seconds * self.fps)))


def _sampled(source: str, seconds: float, fn: Callable[[float], Key], step: float = 0.1, mirror: bool = False) -> Track:
    """A track whose keys sample a closed-form path every `step` s (linear in between)."""
    n = max(2, int(math.ceil(seconds / step)) + 1)
    keys = tuple(fn(min(seconds, i * step)) for i in range(n))
    return Track(source, keys, mirror=mirror, ease=False)


def sample_scene(seconds: float) -> tuple[tuple[Track, ...], dict]:
    """The default 10 s clip: one face, then two (one entering across the right border), one
    leaving through the top border, a face-free stretch with a cat and a coffee cup, then a mirrored
    face sliding in from the left border and shrinking."""
    s = seconds / 10.0  # keyframes are written for 10 s and stretched to the requested length
    tracks = (
        Track("coffee", (Key(5.6 * s, 0.86, 0.78, 0.30), Key(8.0 * s, 0.80, 0.74, 0.30))),
        Track(
            "astronaut",
            (
                Key(0.0, 0.22, 0.48, 0.26, -4),
                Key(1.8 * s, 0.34, 0.42, 0.30, 5),
                Key(3.6 * s, 0.40, 0.36, 0.34, 0),
                Key(4.6 * s, 0.44, -0.20, 0.34, 0),
            ),
        ),
        Track(
            "cameraman",
            (
                Key(1.6 * s, 1.04, 0.58, 0.24),
                Key(3.0 * s, 0.80, 0.60, 0.26),
                Key(5.2 * s, 0.62, 0.56, 0.30, 6),
                Key(6.0 * s, 0.60, 1.30, 0.30, 6),
            ),
        ),
        Track("cat", (Key(6.2 * s, 1.25, 0.40, 0.42), Key(7.8 * s, -0.25, 0.45, 0.42)), ease=False),
        Track(
            "astronaut",
            (
                Key(7.8 * s, -0.04, 0.52, 0.30, 3),
                Key(8.8 * s, 0.25, 0.55, 0.22, -3),
                Key(10.0 * s, 0.42, 0.50, 0.16, 0),
            ),
            mirror=True,
        ),
    )
    return tracks, {}


def fast_scene(seconds: float) -> tuple[tuple[Track, ...], dict]:
    """Faces crossing the whole frame in ~2 s (constant speed, motion blur from a 180° shutter)."""
    cross = min(2.0, seconds)
    t0 = max(0.0, (seconds - cross) / 2)
    tracks = (
        Track("astronaut", (Key(t0, -0.15, 0.40, 0.30), Key(t0 + cross, 1.15, 0.45, 0.30)), ease=False),
        Track("cameraman", (Key(0.0, 1.10, 0.72, 0.22), Key(cross, -0.10, 0.70, 0.22)), ease=False, mirror=True),
    )
    return tracks, {"motion_blur": 4}


def tilt_scene(seconds: float) -> tuple[tuple[Track, ...], dict]:
    """Heads rolling between -25° and +25° (about one swing a second) while drifting."""

    def astronaut(t: float) -> Key:
        return Key(t, 0.30 + 0.05 * t / seconds, 0.45, 0.34, 25 * math.sin(2 * math.pi * t / 2.0))

    def cameraman(t: float) -> Key:
        return Key(t, 0.72, 0.52 - 0.05 * t / seconds, 0.30, -25 * math.sin(2 * math.pi * t / 2.0 + 1.0))

    return (_sampled("astronaut", seconds, astronaut), _sampled("cameraman", seconds, cameraman)), {}


def small_scene(seconds: float, height: int) -> tuple[tuple[Track, ...], dict]:
    """Several ~20 px faces (a crowd seen from afar), slowly drifting."""
    size = 22.0 / height
    spots = [
        ("astronaut", 0.15, 0.30, False),
        ("cameraman", 0.38, 0.62, False),
        ("astronaut", 0.60, 0.35, True),
        ("cameraman", 0.82, 0.55, True),
        ("astronaut", 0.50, 0.80, False),
    ]
    tracks = tuple(
        Track(name, (Key(0.0, x, y, size), Key(seconds, x + 0.04, y - 0.03, size * 1.1)), mirror=m, ease=False)
        for name, x, y, m in spots
    )
    return tracks, {}


def border_scene(seconds: float) -> tuple[tuple[Track, ...], dict]:
    """Faces cut by the frame edges: sliding in and out at the left, top and bottom-right."""

    def left(t: float) -> Key:  # face centre oscillates around the left edge
        return Key(t, 0.02 + 0.06 * math.sin(2 * math.pi * t / 3.0), 0.40, 0.36)

    def corner(t: float) -> Key:  # bottom-right corner, half the face outside
        return Key(t, 0.97 - 0.04 * t / seconds, 0.95 - 0.05 * math.sin(2 * math.pi * t / 2.5), 0.30)

    def top(t: float) -> Key:
        return Key(t, 0.55, 0.03 + 0.05 * math.sin(2 * math.pi * t / 2.0 + 1.0), 0.28)

    return (
        _sampled("astronaut", seconds, left),
        _sampled("cameraman", seconds, corner),
        _sampled("astronaut", seconds, top, mirror=True),
    ), {}


def mirrored_scene(seconds: float) -> tuple[tuple[Track, ...], dict]:
    """The two faces mirrored left-right, moving in opposite directions."""
    tracks = (
        Track("astronaut", (Key(0.0, 0.70, 0.45, 0.32), Key(seconds, 0.58, 0.50, 0.26)), mirror=True),
        Track("cameraman", (Key(0.0, 0.22, 0.55, 0.26), Key(seconds, 0.34, 0.50, 0.30)), mirror=True),
    )
    return tracks, {}


def heads_scene(seconds: float) -> tuple[tuple[Track, ...], dict]:
    """Heads held still at a tilt for a second and more, then turned to the next tilt (-30° to
    +30°), mirrored and not: a blurred face box must also cover the hair and the back of the head,
    which a tilt carries sideways."""
    angles = (-30.0, 0.0, 30.0, 15.0, -15.0)

    def tilted(x: float, y: float, size: float, phase: int) -> Callable[[float], Key]:
        def at(t: float) -> Key:
            step, into = divmod(t / 1.5, 1.0)
            a = angles[(int(step) + phase) % len(angles)]
            b = angles[(int(step) + phase + 1) % len(angles)]
            turn = max(0.0, (into - 0.8) / 0.2)  # still for 1.2 s, then 0.3 s to the next tilt
            return Key(t, x, y, size, a + (b - a) * turn)

        return at

    return (
        _sampled("astronaut", seconds, tilted(0.24, 0.50, 0.34, 0)),
        _sampled("cameraman", seconds, tilted(0.74, 0.52, 0.30, 2), mirror=True),
    ), {}


def exits_scene(seconds: float) -> tuple[tuple[Track, ...], dict]:
    """Faces that stand, then leave the frame fast (0.9 frame widths a second, ~580 px/s at 640 px)
    by the left, right and top edges in turn, every 3 s; each comes back in no faster."""
    period, speed = 3.0, 0.9
    exits = ((-0.35, 0.50), (1.35, 0.45), (0.50, -0.45))  # where each dash ends (off the frame)

    def runner(phase: int, home: tuple[float, float], mirror: bool) -> Track:
        keys: list[Key] = []
        for k in range(max(1, int(math.ceil(seconds / period)))):
            t0 = k * period
            ex, ey = exits[(k + phase) % len(exits)]
            dash = math.hypot(ex - home[0], (ey - home[1]) * 9 / 16) / speed  # seconds, at 16:9
            keys += [
                Key(t0, *home, 0.28),
                Key(t0 + 0.7, *home, 0.28),
                Key(t0 + 0.7 + dash, ex, ey, 0.28),
                Key(t0 + 1.9, ex, ey, 0.28),
                Key(t0 + period - 0.01, *home, 0.28),
            ]
        return Track(
            "astronaut" if phase == 0 else "cameraman",
            tuple(k for k in keys if k.t <= seconds),
            mirror=mirror,
            ease=False,
        )

    return (runner(0, (0.35, 0.50), False), runner(1, (0.66, 0.52), True)), {"motion_blur": 3}


#: Face heights in the crowd, in pixels at any frame size: 17-40 px, the range a street scene at
#: 720p holds and where a detector at the frame's own size starts to miss.
CROWD_PIXELS = (17, 19, 21, 23, 25, 27, 29, 31, 33, 35, 37, 40)


def crowd_scene(seconds: float, height: int) -> tuple[tuple[Track, ...], dict]:
    """Twelve faces 17-40 px tall on a 4×3 grid, each drifting slowly, and one large face walking in
    from the right every 10 s, crossing in front of them and out on the left."""

    def small(i: int, px: int) -> Track:
        x0, y0 = 0.14 + 0.24 * (i % 4), 0.22 + 0.26 * (i // 4)
        name = "astronaut" if i % 2 == 0 else "cameraman"

        def at(t: float) -> Key:
            return Key(
                t,
                x0 + 0.03 * math.sin(2 * math.pi * t / 9.0 + i),
                y0 + 0.02 * math.sin(2 * math.pi * t / 7.0 + 2 * i),
                px / height,
            )

        return _sampled(name, seconds, at, step=0.5, mirror=i % 3 == 0)

    # The walker is drawn first, behind the crowd: a face it hid could be neither seen nor scored.
    tracks = [
        Track("astronaut", (Key(start + 1.0, 1.25, 0.55, 0.30), Key(start + 7.0, -0.25, 0.52, 0.34)), ease=False)
        for start in range(0, max(1, int(math.ceil(seconds))), 10)
        if start + 1.0 < seconds
    ]
    tracks += [small(i, px) for i, px in enumerate(CROWD_PIXELS)]
    return tuple(tracks), {}


def mixed_scene(seconds: float) -> tuple[tuple[Track, ...], dict]:
    """A bit of everything in one clip, with a fast camera pan: tilted and mirrored heads holding
    still above, faces dashing out across the borders and coming back below."""
    heads, _ = heads_scene(seconds)
    exits, _ = exits_scene(seconds)

    def lane(track: Track, dy: float, scale: float) -> Track:
        keys = tuple(Key(k.t, k.x, k.y + dy, k.size * scale, k.angle) for k in track.keys)
        return Track(track.source, keys, track.mirror, track.ease)

    return (
        lane(heads[0], -0.22, 0.7),
        lane(heads[1], -0.24, 0.7),
        lane(exits[0], 0.20, 0.8),
        lane(exits[1], 0.22, 0.8),
    ), {"motion_blur": 2, "pan": 1.5}


#: kind -> (builder, default seconds). Builders take (seconds, height).
KINDS: dict[str, tuple[Callable[[float, int], tuple[tuple[Track, ...], dict]], float]] = {
    "sample": (lambda s, h: sample_scene(s), 10.0),
    "fast": (lambda s, h: fast_scene(s), 3.0),
    "tilt": (lambda s, h: tilt_scene(s), 3.0),
    "small": (small_scene, 3.0),
    "border": (lambda s, h: border_scene(s), 3.0),
    "mirrored": (lambda s, h: mirrored_scene(s), 3.0),
}
#: Clips with head ground truth for the blur's coverage tests and the comparison with deface
#: (bench/bench_vs_deface.py); built by `build_scene` like the kinds above.
COVERAGE_KINDS: dict[str, tuple[Callable[[float, int], tuple[tuple[Track, ...], dict]], float]] = {
    "heads": (lambda s, h: heads_scene(s), 7.5),
    "exits": (lambda s, h: exits_scene(s), 9.0),
    "crowd": (crowd_scene, 10.0),
    "mixed": (lambda s, h: mixed_scene(s), 10.0),
}


def build_scene(
    kind: str = "sample",
    width: int = 1280,
    height: int = 720,
    fps: float = 25.0,
    seconds: float | None = None,
) -> Scene:
    """The scene for `kind` at the given size, rate and length (the kind's default length if None)."""
    builders = {**KINDS, **COVERAGE_KINDS}
    if kind not in builders:
        raise ValueError(f"unknown kind {kind!r}; choose from {', '.join(builders)}")
    if width < 64 or height < 64 or width % 2 or height % 2:
        raise ValueError("width and height must be even and at least 64 (H.264 yuv420p)")
    if fps <= 0:
        raise ValueError("fps must be positive")
    builder, default_seconds = builders[kind]
    seconds = default_seconds if seconds is None else float(seconds)
    if seconds <= 0:
        raise ValueError("seconds must be positive")
    tracks, extra = builder(seconds, height)
    return Scene(kind=kind, width=width, height=height, fps=fps, seconds=seconds, tracks=tracks, **extra)
