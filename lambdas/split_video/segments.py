"""Cut a video into time segments on keyframe boundaries, without decoding or re-encoding.

Why keyframes: a segment must decode on its own, and only a keyframe (an IDR frame in H.264)
needs no earlier frame. Cutting the compressed packets there is a remux: fast (no pixel is
touched) and lossless. Each segment keeps the input's own timestamps and time base, so the frame
at 61.04 s is still at 61.04 s in its segment: the blur step looks detections up by that time, and
the join step puts the segments back without shifting anything.

The audio is not cut: it is copied once, whole, into its own file, and the join step muxes it back
untouched.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction

import av


@dataclass(frozen=True)
class Segment:
    index: int
    path: str
    start: float  # seconds, the first frame's presentation time
    end: float  # seconds, where the next segment starts (the video's end for the last)
    frames: int  # video packets = frames


@dataclass(frozen=True)
class Probe:
    """What the plan needs: every keyframe's time (decode order) and the video's end."""

    keyframes: list[int]  # pts in the video stream's time base
    end: int  # pts of the last frame's end
    time_base: Fraction

    @property
    def duration(self) -> float:
        return float((self.end - self.keyframes[0]) * self.time_base) if self.keyframes else 0.0


def probe(path: str | os.PathLike) -> Probe:
    """Read the packet headers of the video stream (no decoding): keyframe times and the end."""
    with av.open(os.fspath(path)) as src:
        if not src.streams.video:
            raise ValueError(f"{path} has no video stream")
        stream = src.streams.video[0]
        keyframes: list[int] = []
        end = 0
        for packet in src.demux(stream):
            if not packet.size or packet.pts is None:
                continue
            if packet.is_keyframe:
                keyframes.append(packet.pts)
            end = max(end, packet.pts + (packet.duration or 0))
        return Probe(keyframes, end, stream.time_base)


def plan(p: Probe, segment_seconds: float) -> list[int]:
    """The keyframe pts where segments start: the first keyframe at least `segment_seconds` after
    the previous cut, and none that would leave a last segment shorter than half a segment (a
    2-second tail is not worth a Lambda of its own). One start means: do not split."""
    if segment_seconds <= 0:
        raise ValueError("segment_seconds must be positive")
    if not p.keyframes:
        raise ValueError("the video has no keyframe")
    step = segment_seconds / p.time_base
    starts = [p.keyframes[0]]
    for pts in p.keyframes[1:]:
        if pts - starts[-1] >= step and p.end - pts >= step / 2:
            starts.append(pts)
    return starts


def split(
    src: str | os.PathLike, folder: str | os.PathLike, segment_seconds: float
) -> tuple[list[Segment], str | None]:
    """Write `folder`/000.mp4, 001.mp4, … (video only) and `folder`/audio.mp4 (every audio stream,
    or None when the video has none). A single segment means the video is short: nothing is written."""
    src, folder = os.fspath(src), os.fspath(folder)
    p = probe(src)
    starts = plan(p, segment_seconds)
    if len(starts) == 1:
        return [Segment(0, src, float(starts[0] * p.time_base), float(p.end * p.time_base), 0)], None
    ends = starts[1:] + [p.end]
    segments: list[Segment] = []
    with av.open(src) as inp:
        iv = inp.streams.video[0]
        out = None
        counts = [0] * len(starts)
        current = -1
        try:
            for packet in inp.demux(iv):
                if not packet.size:
                    continue  # the demuxer's end-of-stream marker
                if packet.is_keyframe and current + 1 < len(starts) and packet.pts == starts[current + 1]:
                    if out is not None:
                        out.close()
                    current += 1
                    out = av.open(os.path.join(folder, f"{current:03d}.mp4"), "w", format="mp4")
                    ov = out.add_stream_from_template(iv)
                    ov.time_base = iv.time_base
                if out is None:
                    raise ValueError(f"{src}: the first video packet is not a keyframe")
                packet.stream = ov
                out.mux(packet)
                counts[current] += 1
        finally:
            if out is not None:
                out.close()
        if current != len(starts) - 1:
            raise ValueError(f"{src}: found {current + 1} of the {len(starts)} planned keyframes")
        for i, (start, end) in enumerate(zip(starts, ends)):
            segments.append(
                Segment(
                    i,
                    os.path.join(folder, f"{i:03d}.mp4"),
                    float(start * iv.time_base),
                    float(end * iv.time_base),
                    counts[i],
                )
            )
    return segments, _copy_audio(src, os.path.join(folder, "audio.mp4"))


def _copy_audio(src: str, path: str) -> str | None:
    """Every audio stream of `src`, packets untouched, into `path` (None when there is no audio)."""
    with av.open(src) as inp:
        audio = list(inp.streams.audio)
        if not audio:
            return None
        with av.open(path, "w", format="mp4") as out:
            streams = {s.index: out.add_stream_from_template(s) for s in audio}
            for s in audio:
                streams[s.index].time_base = s.time_base
            for packet in inp.demux(*audio):
                if packet.size:
                    packet.stream = streams[packet.stream.index]
                    out.mux(packet)
    return path
