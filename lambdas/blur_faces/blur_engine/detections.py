"""Which face boxes cover a frame at time t, given Rekognition's sparse samples.

Why carrying is needed: Rekognition Video reports faces only at sample times (about every 200 ms),
while the video has a frame every 33 ms. A frame between two samples must still be covered, or a
face flashes unblurred several times a second. The rule here, measured in the design notes to cover
99.5% of face area at 200 ms sampling (the original "hold 500 ms forward" covered 92%):

* between two samples close enough together (gap-limited), blur the **union** of both samples'
  boxes, plus for each face matched across the two samples an **interpolated** box grown by part of
  its motion, so a face that crosses the frame in ~2 s is covered in between too;
* across a longer gap (the face left, or detection lost it), carry each sample's boxes two
  sampling intervals forwards/backwards, plus a copy moved along the motion seen in the
  neighbouring sample, because the face was visible before it was first detected and after it was
  last: a detector misses a face entering at the border until about half of it is inside
  (measured on the lab's "fast" clip, one interval of hold left 2 frames of an entering face bare).

The hold is decided per face, not per sample: a face that first appears (or last appears) in a
sample whose neighbour is bridged because *another* face is on screen is held just the same. (On
the lab's sample video the second face enters at the right border while the first is in every
sample; a per-sample hold left it bare for 0.2 s at 11-19% inside the frame.) A held copy moved
along the motion never shrinks below the detected box, and a face that touches a frame border
stays anchored to that border: moving it "further out" (where an entering face came from) would
otherwise clamp it to nothing, and a detector's box of a face cut by the border grows as the face
enters, so extrapolating its size backwards shrinks it to nothing too.
"""

from __future__ import annotations

import bisect
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .boxes import Box, anchored, at_least, head_of, lerp, match

#: Rekognition Video's usual spacing, and the local emulator's default; used when the samples do
#: not reveal the interval (fewer than two of them).
DEFAULT_INTERVAL = 0.2
#: Timestamps are whole milliseconds; allow for rounding when comparing gaps.
_TIME_SLACK = 0.0015


@dataclass(frozen=True)
class CarryPolicy:
    """Tuning of the carry rule. Defaults suit Rekognition's 200 ms sampling.

    interval: sampling interval in seconds; None infers it (median spacing of the samples).
    max_gap_intervals / max_gap_seconds: two samples further apart than either limit are not
        bridged (a missing sample between two detections is bridged; a face gone for a second is not).
    hold_intervals: how many sampling intervals a box is carried past a sample that is not bridged
        to a neighbour (before a face's first detection, after its last).
    pad: how far (fraction of the box size) a face box may be from a frame border and still count
        as touching it, for anchoring held boxes to that border.
    head_side / head_top / head_bottom: the blurred box is the whole head around the face box
        (`boxes.head_of`): this fraction of the face width on either side, of its height above and below.
    hold_pad: extra padding of a held box per sampling interval it is carried (at least one's worth).
    motion_pad: fraction of a face's displacement between samples added around its interpolated
        box, for faces that accelerate or turn between samples.
    match_distance: how far (in box sizes) a face may move between samples and still be paired.
    """

    interval: float | None = None
    max_gap_intervals: float = 2.0
    max_gap_seconds: float = 1.0
    hold_intervals: float = 2.0
    pad: float = 0.15
    head_side: float = 0.6
    head_top: float = 0.75
    head_bottom: float = 0.2
    hold_pad: float = 0.1
    motion_pad: float = 0.5
    match_distance: float = 5.0


@dataclass(frozen=True)
class Sample:
    """The boxes Rekognition reported at one time (seconds from the start of the video)."""

    time: float
    boxes: tuple[Box, ...]


@dataclass(frozen=True)
class Cover:
    """What to blur in one frame: padded boxes, and which samples they came from (for counting)."""

    boxes: tuple[Box, ...]
    samples: tuple[int, ...]


def parse_samples(doc: Mapping[str, Any]) -> list[Sample]:
    """The detections object's Samples (see docs/CONTRACTS.md), sorted and merged by timestamp."""
    raw = doc.get("Samples") if isinstance(doc, Mapping) else None
    if not isinstance(raw, list):
        raise ValueError("the detections object has no 'Samples' list")
    by_time: dict[float, list[Box]] = {}
    for entry in raw:
        try:
            time = float(entry["Timestamp"]) / 1000.0
            boxes = [Box.from_rekognition(b) for b in entry["Boxes"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed detections sample {entry!r}: {exc}") from exc
        by_time.setdefault(time, []).extend(boxes)
    return [Sample(t, tuple(by_time[t])) for t in sorted(by_time) if by_time[t]]


def infer_interval(samples: list[Sample]) -> float:
    """The sampling interval: the median spacing, robust to gaps where no face was seen."""
    gaps = [b.time - a.time for a, b in zip(samples, samples[1:]) if b.time > a.time]
    return statistics.median(gaps) if gaps else DEFAULT_INTERVAL


class Timeline:
    """Answers "what must be blurred at time t" for a whole video's detections."""

    def __init__(self, samples: list[Sample], policy: CarryPolicy | None = None) -> None:
        self.policy = policy or CarryPolicy()
        self.samples = samples
        self._times = [s.time for s in samples]
        self.interval = self.policy.interval or infer_interval(samples)
        self.max_gap = min(self.policy.max_gap_intervals * self.interval, self.policy.max_gap_seconds)
        self.hold = min(self.policy.hold_intervals * self.interval, self.policy.max_gap_seconds)
        self._pairs: dict[tuple[int, int], list[tuple[int, int]]] = {}
        # Per sample: its box index -> the matched box index in the bridged previous / next sample.
        # A box with no match on one side is a face first / last seen there, held on that side.
        self._prev: list[dict[int, int]] = []
        self._next: list[dict[int, int]] = []
        for i in range(len(samples)):
            self._prev.append({ib: ia for ia, ib in self._matched(i - 1, i)})
            self._next.append(dict(self._matched(i, i + 1)))

    @property
    def face_count(self) -> int:
        return sum(len(s.boxes) for s in self.samples)

    def _bridged(self, i: int, j: int) -> bool:
        return 0 <= i < j < len(self.samples) and self._times[j] - self._times[i] <= self.max_gap + _TIME_SLACK

    def _matched(self, i: int, j: int) -> list[tuple[int, int]]:
        """(box in i, box in j) pairs of the same face, for bridged samples i < j; else none."""
        if not self._bridged(i, j):
            return []
        pairs = self._pairs.get((i, j))
        if pairs is None:
            pairs = self._pairs[(i, j)] = match(
                self.samples[i].boxes, self.samples[j].boxes, self.policy.match_distance
            )
        return pairs

    def _moved(self, i: int, ia: int, j: int, ib: int, t: float) -> Box:
        """Face ia of sample i / ib of sample j moved to time t, grown by part of its motion."""
        a, b = self.samples[i], self.samples[j]
        ba, bb = a.boxes[ia], b.boxes[ib]
        moved = lerp(ba, bb, (t - a.time) / (b.time - a.time))
        k = self.policy.motion_pad
        return moved.grown(k * abs(bb.cx - ba.cx), k * abs(bb.cy - ba.cy))

    def _tracked(self, i: int, j: int, t: float) -> list[Box]:
        """Boxes of faces matched between bridged samples i and j, interpolated to time t."""
        return [self._moved(i, ia, j, ib, t) for ia, ib in self._matched(i, j)]

    def _held(self, j: int, k: int, t: float, before: bool) -> list[Box]:
        """Face k of sample j held to time t (outside the samples it is bridged to): the box as
        detected, and a copy moved along the face's motion towards its bridged neighbour,
        extrapolated, no smaller than the detected box and anchored to any border it touches."""
        box = self.samples[j].boxes[k]
        if before:  # t is before the face's first sample: motion from the next one
            ib = self._next[j].get(k)
            moved = None if ib is None else self._moved(j, k, j + 1, ib, t)
        else:  # t is after its last sample: motion from the previous one
            ia = self._prev[j].get(k)
            moved = None if ia is None else self._moved(j - 1, ia, j, k, t)
        if moved is None:
            return [box]
        return [box, anchored(at_least(moved, box), box, self.policy.pad)]

    def cover(self, t: float) -> Cover:
        """Padded boxes to blur in the frame shown at time t (seconds)."""
        n = bisect.bisect_right(self._times, t + _TIME_SLACK / 2)  # first sample after t
        p = n - 1  # last sample at or before t
        boxes: list[Box] = []
        used: set[int] = set()
        if self._bridged(p, n):
            boxes += self.samples[p].boxes + self.samples[n].boxes
            boxes += self._tracked(p, n, t)
            used.update((p, n))
        # Faces last seen at most `hold` before t, and faces first seen at most `hold` after t
        # (every face of a sample not bridged to its neighbour is one of them).
        first = bisect.bisect_left(self._times, t - self.hold - _TIME_SLACK)
        last = bisect.bisect_right(self._times, t + self.hold + _TIME_SLACK)
        held: list[tuple[Box, float]] = []
        for j in range(first, last):
            links = self._next[j] if j <= p else self._prev[j]
            for k in range(len(self.samples[j].boxes)):
                if k not in links:
                    intervals_away = abs(t - self._times[j]) / self.interval
                    held += [(b, intervals_away) for b in self._held(j, k, t, before=j > p)]
                    used.add(j)
        # A held box is a guess (a face entering the frame is first seen half inside, and its box
        # then covers only that half): pad it more, and more again the further it is carried.
        heads = [self._head(b) for b in boxes]
        heads += [self._head(b, self.policy.hold_pad * max(1.0, away)) for b, away in held]
        return Cover(tuple(heads), tuple(sorted(used)))

    def _head(self, face: Box, extra: float = 0.0) -> Box:
        p = self.policy
        return head_of(face, p.head_side, p.head_top, p.head_bottom, extra)

    def boxes_at(self, t: float) -> tuple[Box, ...]:
        return self.cover(t).boxes


def load_detections(doc: Mapping[str, Any], policy: CarryPolicy | None = None) -> Timeline:
    """A Timeline from the detections object that `get_rekognized_faces` stored in S3."""
    return Timeline(parse_samples(doc), policy)
