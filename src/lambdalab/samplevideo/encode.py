"""Write frames + audio as a browser-playable MP4: H.264 (libx264, yuv420p), AAC, +faststart.

Why these settings: yuv420p and the moov atom up front (+faststart) are what browsers and the
notebook's <video> tag need; CRF keeps the committed clip small. Macroblock-tree rate control is
off because, measured here, it made x264's output depend on the process's earlier heap/FPU
history (same frames, different bytes after unrelated OpenCV calls); without it, and with a fixed
thread count, the same frames always give the same bytes.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from fractions import Fraction

import av
import numpy as np

#: x264 constant-rate factor (its own default): the 10 s 720p sample comes out at ~0.9 MB.
DEFAULT_CRF = 23
_AAC_FRAME = 1024  # samples per AAC frame


def as_fraction(fps: float | Fraction | str) -> Fraction:
    """25 → 25/1, 29.97 → 2997/100, "30000/1001" → 30000/1001 (PyAV needs an exact rate)."""
    return Fraction(str(fps)).limit_denominator(100000) if not isinstance(fps, Fraction) else fps


def write_mp4(
    path: str | os.PathLike,
    frames: Iterable[np.ndarray],
    width: int,
    height: int,
    fps: float | Fraction | str,
    audio: np.ndarray | None = None,
    sample_rate: int = 44100,
    crf: int = DEFAULT_CRF,
) -> int:
    """Encode RGB uint8 frames (and optional mono float32 audio) to `path`; returns frames written."""
    rate = as_fraction(fps)
    with av.open(os.fspath(path), mode="w", format="mp4", container_options={"movflags": "+faststart"}) as out:
        video = out.add_stream("libx264", rate=rate)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.time_base = 1 / rate
        video.options = {"crf": str(crf), "preset": "medium", "threads": "2", "x264-params": "mbtree=0"}
        video.codec_context.color_range = 1  # limited (MPEG) range, what players assume for yuv420p
        sound = None
        if audio is not None:
            sound = out.add_stream("aac", rate=sample_rate, layout="mono")
            sound.bit_rate = 64000
        audio_pos = 0
        count = 0
        for count, rgb in enumerate(frames, start=1):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame.pts = count - 1
            out.mux(video.encode(frame))
            if sound is not None:
                # Keep audio muxed just ahead of video so the file interleaves well for streaming.
                until = min(len(audio), int(round(count / rate * sample_rate)))
                audio_pos = _mux_audio(out, sound, audio, audio_pos, until, sample_rate)
        out.mux(video.encode(None))
        if sound is not None:
            _mux_audio(out, sound, audio, audio_pos, len(audio), sample_rate, flush=True)
    return count


def _mux_audio(out, stream, audio: np.ndarray, pos: int, until: int, sample_rate: int, flush: bool = False) -> int:
    while pos + _AAC_FRAME <= until or (flush and pos < until):
        chunk = audio[pos : pos + _AAC_FRAME]
        if len(chunk) < _AAC_FRAME:
            chunk = np.pad(chunk, (0, _AAC_FRAME - len(chunk)))
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1).astype(np.float32), format="fltp", layout="mono")
        frame.sample_rate = sample_rate
        frame.pts = pos
        out.mux(stream.encode(frame))
        pos += _AAC_FRAME
    if flush:
        out.mux(stream.encode(None))
    return pos
