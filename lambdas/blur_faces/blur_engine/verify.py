"""Check a written output before it is uploaded.

Why: the original tutorial printed and swallowed every error, so a truncated or unblurred video
could be uploaded as a success. Here the file is reopened and checked against what the encoder
loop reports (frame count, duration, audio packets, codec, faststart layout); any mismatch raises,
and the handler uploads nothing.
"""

from __future__ import annotations

import os
import struct
from fractions import Fraction

import av

from .video import BlurResult, VideoError


def top_level_atoms(path: str | os.PathLike) -> list[str]:
    """The MP4 top-level box types in file order (e.g. ftyp, moov, mdat)."""
    names = []
    size_total = os.path.getsize(path)
    with open(path, "rb") as f:
        pos = 0
        while pos + 8 <= size_total:
            f.seek(pos)
            size, kind = struct.unpack(">I4s", f.read(8))
            if size == 1:
                size = struct.unpack(">Q", f.read(8))[0]
            elif size == 0:
                size = size_total - pos
            if size < 8:
                raise VideoError(f"corrupt MP4 box at byte {pos} of {path}")
            names.append(kind.decode("latin-1"))
            pos += size
    return names


def verify_output(path: str | os.PathLike, expected: BlurResult) -> None:
    """Raise VideoError unless `path` is the complete faststart H.264 MP4 that `expected` describes."""
    atoms = top_level_atoms(path)
    if "moov" not in atoms or "mdat" not in atoms or atoms.index("moov") > atoms.index("mdat"):
        raise VideoError(f"output is not a faststart MP4 (boxes: {atoms})")
    with av.open(os.fspath(path)) as out:
        if len(out.streams.video) != 1:
            raise VideoError("output must hold exactly one video stream")
        ov = out.streams.video[0]
        ctx = ov.codec_context
        if ctx.name != "h264" or ctx.format.name != "yuv420p":
            raise VideoError(f"output is {ctx.name}/{ctx.format.name}, expected h264/yuv420p")
        if (ctx.width, ctx.height) != (expected.width, expected.height):
            raise VideoError(f"output is {ctx.width}x{ctx.height}, expected {expected.width}x{expected.height}")
        if len(out.streams.audio) != expected.audio_streams:
            raise VideoError("output lost an audio stream")
        frames = audio_packets = 0
        first: int | None = None
        end = 0
        for packet in out.demux():
            if not packet.size:
                continue
            if packet.stream.type == "audio":
                audio_packets += 1
            elif packet.stream.index == ov.index:
                frames += 1
                first = packet.pts if first is None else min(first, packet.pts)
                end = max(end, packet.pts + (packet.duration or 0))
    if frames != expected.frames:
        raise VideoError(f"output has {frames} video frames, the input had {expected.frames}")
    if audio_packets != expected.audio_packets:
        raise VideoError(f"output has {audio_packets} audio packets, {expected.audio_packets} were copied")
    span = Fraction(end - (first or 0)) * ov.time_base
    one_frame = expected.span / expected.frames
    if abs(span - expected.span) > one_frame:
        raise VideoError(f"output lasts {float(span):.3f}s, the input {float(expected.span):.3f}s")
