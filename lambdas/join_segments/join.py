"""Join blurred segments into one H.264 MP4, without re-encoding, with the original audio once.

Why this works without re-encoding: every segment starts on a keyframe and was encoded by the same
blur engine with the same settings, so its H.264 parameter sets (the `avcC` extradata) are
identical and its packets can follow the previous segment's as they are. The segments kept the
input's timestamps, so nothing is shifted: the joined video has the input's frame times exactly.
What cannot be joined this way (different parameter sets, overlapping timestamps) is refused,
never patched over: the execution fails and nothing is uploaded.
"""

from __future__ import annotations

import heapq
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import av


class JoinError(RuntimeError):
    """The segments cannot be joined into one stream, or the joined file failed its check."""


@dataclass(frozen=True)
class Joined:
    frames: int
    audio_packets: int
    span: Fraction  # seconds from the first frame to the last frame's end


def _mux_options(time_base: Fraction) -> dict[str, str]:
    options = {"movflags": "+faststart"}
    if time_base.numerator == 1:  # keep the input's timescale (the muxer may pick another)
        options["video_track_timescale"] = str(time_base.denominator)
    return options


def _video_packets(parts: list[str]) -> Iterator[av.Packet]:
    """Every video packet of every part, in order, checked to continue the previous part."""
    last_dts: int | None = None
    for number, part in enumerate(parts):
        with av.open(part) as inp:
            stream = inp.streams.video[0]
            for packet in inp.demux(stream):
                if not packet.size:
                    continue
                if last_dts is not None and packet.dts <= last_dts:
                    raise JoinError(f"segment {number} overlaps the previous one (dts {packet.dts} <= {last_dts})")
                last_dts = packet.dts
                yield packet


def _audio_packets(audio: str | None) -> Iterator[av.Packet]:
    if audio is None:
        return
    with av.open(audio) as inp:
        for packet in inp.demux(*inp.streams.audio):
            if packet.size:
                yield packet


def join(parts: list[str], audio: str | None, dst: str | os.PathLike) -> Joined:
    """Write `dst` from the blurred video `parts` (in order) and the `audio` file, both untouched."""
    if not parts:
        raise JoinError("no segment to join")
    dst = os.fspath(dst)
    with av.open(parts[0]) as first:
        template = first.streams.video[0]
        extradata = template.codec_context.extradata
        time_base = template.time_base
        for number, part in enumerate(parts[1:], start=1):
            with av.open(part) as other:
                ctx = other.streams.video[0].codec_context
                if ctx.extradata != extradata or (ctx.width, ctx.height) != (template.width, template.height):
                    raise JoinError(f"segment {number} was encoded with other H.264 parameters than segment 0")
        with av.open(dst, "w", format="mp4", options=_mux_options(time_base)) as out:
            ov = out.add_stream_from_template(template)
            ov.time_base = time_base
            audio_in = av.open(audio) if audio else None
            try:
                audio_out = {}
                if audio_in is not None:
                    for s in audio_in.streams.audio:
                        audio_out[s.index] = out.add_stream_from_template(s)
                        audio_out[s.index].time_base = s.time_base
                frames = audio_packets = 0
                first_pts: int | None = None
                end = 0
                # Interleave by time, as a player reads it; feeding all video first would make the
                # muxer buffer the whole video until the first audio packet.
                video = ((float(p.dts * p.time_base), 0, i, p) for i, p in enumerate(_video_packets(parts)))
                sound = ((float(p.dts * p.time_base), 1, i, p) for i, p in enumerate(_audio_packets(audio)))
                for _, kind, _, packet in heapq.merge(video, sound, key=lambda x: x[:3]):
                    if kind == 0:
                        first_pts = packet.pts if first_pts is None else min(first_pts, packet.pts)
                        end = max(end, packet.pts + (packet.duration or 0))
                        packet.stream = ov
                        frames += 1
                    else:
                        packet.stream = audio_out[packet.stream.index]
                        audio_packets += 1
                    out.mux(packet)
            finally:
                if audio_in is not None:
                    audio_in.close()
    joined = Joined(frames, audio_packets, (end - (first_pts or 0)) * time_base)
    check(dst, joined)
    return joined


def top_level_atoms(path: str) -> list[str]:
    names, pos, total = [], 0, os.path.getsize(path)
    with open(path, "rb") as f:
        while pos + 8 <= total:
            f.seek(pos)
            size, kind = struct.unpack(">I4s", f.read(8))
            size = struct.unpack(">Q", f.read(8))[0] if size == 1 else (total - pos if size == 0 else size)
            if size < 8:
                raise JoinError(f"corrupt MP4 box at byte {pos} of {path}")
            names.append(kind.decode("latin-1"))
            pos += size
    return names


def check(path: str, expected: Joined) -> None:
    """Reopen the joined file: faststart H.264 with every frame and audio packet that was written."""
    atoms = top_level_atoms(path)
    if "moov" not in atoms or "mdat" not in atoms or atoms.index("moov") > atoms.index("mdat"):
        raise JoinError(f"joined file is not a faststart MP4 (boxes: {atoms})")
    with av.open(path) as joined:
        if len(joined.streams.video) != 1 or joined.streams.video[0].codec_context.name != "h264":
            raise JoinError("joined file must hold exactly one H.264 video stream")
        counts = {"video": 0, "audio": 0}
        for packet in joined.demux():
            if packet.size:
                counts[packet.stream.type] = counts.get(packet.stream.type, 0) + 1
    if (counts["video"], counts["audio"]) != (expected.frames, expected.audio_packets):
        raise JoinError(
            f"joined file has {counts['video']} frames and {counts['audio']} audio packets, "
            f"{expected.frames} and {expected.audio_packets} were written"
        )
