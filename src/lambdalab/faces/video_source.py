"""Decode a video with PyAV: its Rekognition-style metadata and RGB frames sampled every N ms.

Why PyAV rather than cv2.VideoCapture: its bundled FFmpeg gives exact per-frame timestamps
(`frame.time`), the container/codec names and the colour range Rekognition reports, and it can
read from an in-memory object (the emulator reads S3 bytes) as well as from a path.
"""

from __future__ import annotations

import io
import os
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import BinaryIO, TypeVar

import av
import numpy as np

#: Anything PyAV can open: a path or a seekable binary file object (e.g. io.BytesIO of S3 bytes).
VideoInput = str | os.PathLike | BinaryIO | bytes

#: Called as progress(done_ms, total_ms) while frames are decoded.
ProgressCallback = Callable[[int, int], None]

T = TypeVar("T")


class VideoDecodeError(ValueError):
    """The input is not a video FFmpeg can decode (missing, truncated, not a video, no video stream)."""


@dataclass(frozen=True)
class VideoMetadata:
    """The fields of Rekognition's VideoMetadata, with Rekognition's spelling in `to_rekognition`."""

    codec: str  # FFmpeg codec name, e.g. "h264" (what Rekognition reports)
    duration_ms: int
    format: str  # FFmpeg demuxer long name, e.g. "QuickTime / MOV" (what Rekognition reports)
    frame_rate: float
    frame_height: int
    frame_width: int
    color_range: str  # "FULL" or "LIMITED"

    def to_rekognition(self) -> dict:
        return {
            "Codec": self.codec,
            "DurationMillis": self.duration_ms,
            "Format": self.format,
            "FrameRate": self.frame_rate,
            "FrameHeight": self.frame_height,
            "FrameWidth": self.frame_width,
            "ColorRange": self.color_range,
        }


@dataclass(frozen=True)
class SampledFrame:
    """One decoded frame chosen by the sampler, already converted to RGB at the requested width."""

    index: int  # position of the frame in decode order, from 0
    timestamp_ms: int  # the frame's own presentation time, rounded to ms
    rgb: np.ndarray  # H×W×3 uint8


def _open(source: VideoInput) -> av.container.InputContainer:
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    if isinstance(source, (str, os.PathLike)) and not os.path.isfile(source):
        raise VideoDecodeError("no such file")
    try:
        container = av.open(source, mode="r")
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise VideoDecodeError(f"not a decodable video ({reason})") from exc
    if not container.streams.video:
        container.close()
        raise VideoDecodeError("the file has no video stream")
    return container


def _metadata(container: av.container.InputContainer) -> VideoMetadata:
    stream = container.streams.video[0]
    ctx = stream.codec_context
    rate = stream.average_rate or stream.guessed_rate or Fraction(0)
    if stream.duration is not None and stream.time_base is not None:
        duration_ms = int(round(float(stream.duration * stream.time_base) * 1000))
    elif container.duration is not None:
        duration_ms = int(round(container.duration / 1000))  # AV_TIME_BASE is microseconds
    else:
        duration_ms = 0
    # AVCOL_RANGE_JPEG (2) is full range; unspecified and MPEG (1) are the broadcast "limited" range.
    color_range = "FULL" if int(ctx.color_range or 0) == 2 else "LIMITED"
    return VideoMetadata(
        codec=ctx.name,
        duration_ms=max(0, duration_ms),
        format=container.format.long_name,
        frame_rate=round(float(rate), 3),
        frame_height=ctx.height,
        frame_width=ctx.width,
        color_range=color_range,
    )


def probe(source: VideoInput) -> VideoMetadata:
    """Read only the container header (cheap): what Rekognition reports as VideoMetadata."""
    container = _open(source)
    try:
        return _metadata(container)
    finally:
        container.close()


class VideoReader:
    """An open video: `metadata` at once, then `sample()` yields frames every `interval_ms`.

    Use as a context manager so the FFmpeg demuxer is closed even when detection fails midway.
    """

    def __init__(self, source: VideoInput) -> None:
        self._container = _open(source)
        try:
            self.metadata = _metadata(self._container)
        except Exception:
            self._container.close()
            raise

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._container.close()

    def sample(
        self,
        interval_ms: int,
        width: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> Iterator[SampledFrame]:
        """Yield the first frame at or after each multiple of `interval_ms`, as RGB `width` px wide.

        Every frame is decoded (H.264 frames depend on each other) but only sampled ones are
        converted; FFmpeg scales and converts to RGB in one pass, cheaper than converting at full
        size. A grid (0, interval, 2·interval, …) rather than "interval after the last sample" keeps
        samples from drifting on variable-frame-rate input.
        """
        if interval_ms <= 0:
            raise ValueError("interval_ms must be positive")
        meta = self.metadata
        out_w = width or meta.frame_width
        out_h = max(2, round(meta.frame_height * out_w / meta.frame_width))
        total = max(meta.duration_ms, 1)
        stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        next_due = 0
        index = -1
        try:
            for frame in self._container.decode(stream):
                index += 1
                t_ms = (
                    int(round(frame.time * 1000))
                    if frame.time is not None
                    else round(index * 1000 / max(meta.frame_rate, 1))
                )
                if progress is not None:
                    progress(min(t_ms, total), total)
                if t_ms < next_due:
                    continue
                next_due = (t_ms // interval_ms + 1) * interval_ms
                rgb = frame.reformat(width=out_w, height=out_h, format="rgb24", interpolation="AREA").to_ndarray()
                yield SampledFrame(index=index, timestamp_ms=t_ms, rgb=rgb)
        except av.FFmpegError as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise VideoDecodeError(f"decoding failed after frame {index} ({reason})") from exc
        if index < 0:
            raise VideoDecodeError("the video stream holds no decodable frame")
        if progress is not None:
            progress(total, total)


def read_ahead(items: Iterator[T], depth: int = 4) -> Iterator[T]:
    """`items`, produced by a thread up to `depth` ahead of the caller.

    Why: FFmpeg decodes and converts with the GIL released, so the next samples are decoded while
    the caller runs the network on this one (measured on the 30 s clips of bench_vs_deface.py:
    detection 5-15% faster). An exception in `items` is raised here, in the caller; when the
    caller stops early, the thread stops too and `items` is closed before this generator returns,
    so the video it reads can be closed safely afterwards.
    """
    buffer: queue.Queue[tuple[object, BaseException | None]] = queue.Queue(depth)
    stop = threading.Event()
    end = object()

    def put(entry: tuple[object, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                buffer.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((end, None))
        except BaseException as error:  # handed to the caller, who raises it
            put((end, error))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            item, error = buffer.get()
            if item is end:
                if error is not None:
                    raise error
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join()
