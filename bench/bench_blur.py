"""Blur-stage speed of the blur_faces engine, against a plain PyAV decode + encode of the same file.

The baseline uses the same encoder settings (libx264, yuv420p, same CRF and preset, faststart,
audio remuxed), so the ratio is the cost of blurring itself (frame copies, box lookup, the blur)
and stays meaningful on a shared, noisy machine. It also transcodes with the encoder settings the
lab used before (x264 "veryfast") and prints both settings' speed, file size and luma PSNR.

    python bench/bench_blur.py                       # sample-video.mp4 if present, else a 720p clip
    python bench/bench_blur.py --synthetic           # the generated 720p clip (3 textured faces)
    python bench/bench_blur.py my.mp4 --detections faces.json --rounds 3
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lambdas" / "blur_faces"))
sys.path.insert(0, str(ROOT / "tests"))

from blur_engine import EncodeSettings, blur_video, load_detections  # noqa: E402


def plain_transcode(src: Path, dst: Path, settings: EncodeSettings) -> int:
    """Decode and re-encode with nothing in between; returns the frame count."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", options={"movflags": "+faststart"}) as out:
        iv = inp.streams.video[0]
        iv.thread_type = "AUTO"
        ov = out.add_stream("libx264", rate=iv.average_rate or Fraction(30))
        ov.width, ov.height, ov.pix_fmt = iv.width + iv.width % 2, iv.height + iv.height % 2, "yuv420p"
        ov.time_base = ov.codec_context.time_base = iv.time_base
        ov.options = settings.options()
        audio = {s.index: out.add_stream_from_template(s) for s in inp.streams.audio}
        frames = 0
        for packet in inp.demux(iv, *inp.streams.audio):
            if packet.stream.type == "audio":
                if packet.size:
                    packet.stream = audio[packet.stream.index]
                    out.mux(packet)
                continue
            for frame in packet.decode():
                out.mux(ov.encode(frame))
                frames += 1
        out.mux(ov.encode(None))
    return frames


#: The encoder settings the lab used before (x264's own "veryfast"), measured beside the current ones.
PREVIOUS_SETTINGS = EncodeSettings(preset="veryfast", x264_params="")


def frame_psnr(reference: np.ndarray, encoded: np.ndarray) -> float:
    """PSNR (dB) of one gray frame against its reference; `encoded` may carry an even-size padding
    row or column, which is left out. 99 dB for identical frames."""
    mse = float(np.mean((reference.astype(np.float32) - encoded[: reference.shape[0], : reference.shape[1]]) ** 2))
    return 99.0 if mse == 0 else 10 * math.log10(255**2 / mse)


def luma_psnr(reference: Path, encoded: Path) -> float:
    """Mean PSNR (dB) of the luma planes of `encoded` against `reference`, frame by frame."""
    with av.open(str(reference)) as ref, av.open(str(encoded)) as enc:
        values = [
            frame_psnr(a.to_ndarray(format="gray"), b.to_ndarray(format="gray"))
            for a, b in zip(ref.decode(video=0), enc.decode(video=0))
        ]
    return sum(values) / len(values)


def fixed_faces(src: Path, faces: int = 3, interval_ms: int = 200) -> dict:
    """Detections for a video that has none at hand: `faces` still boxes sampled every 200 ms."""
    with av.open(str(src)) as c:
        v = c.streams.video[0]
        duration_ms = int(float(v.duration * v.time_base) * 1000) if v.duration else 10_000
    boxes = [{"Left": 0.1 + 0.3 * i, "Top": 0.25, "Width": 0.12, "Height": 0.22} for i in range(faces)]
    return {"Samples": [{"Timestamp": t, "Boxes": boxes} for t in range(0, duration_ms, interval_ms)]}


def generated_truth(src: Path, interval_ms: int = 200) -> dict | None:
    """If `src` is the lab's generated sample (same size and frame count as `lambdalab.samplevideo`
    would make), its ground truth sampled every 200 ms, as a perfect Rekognition would report it."""
    try:
        from lambdalab.samplevideo import build_scene, ground_truth
    except ImportError:
        return None
    with av.open(str(src)) as c:
        v = c.streams.video[0]
        w, h, fps, frames = v.width, v.height, float(v.average_rate or 0), v.frames
    try:
        truth = ground_truth(build_scene("sample", w, h, fps))
    except ValueError:
        return None
    if len(truth.frames) != frames:
        return None
    samples = []
    for t in range(0, int(truth.seconds * 1000), interval_ms):
        frame = truth.at_timestamp(t)
        boxes = [
            {"Left": b[0] / w, "Top": b[1] / h, "Width": (b[2] - b[0]) / w, "Height": (b[3] - b[1]) / h}
            for b in (f.box for f in frame.faces if f.visible > 0)
        ]
        if boxes:
            samples.append({"Timestamp": frame.timestamp_ms, "Boxes": boxes})
    return {"Samples": samples}


def synthetic_720p(tmp: Path) -> tuple[Path, dict]:
    from blur_video_synth import ClipSpec, FaceTrack, detections_doc, make_clip

    spec = ClipSpec(
        width=1280,
        height=720,
        rate=Fraction(30),
        frames=150,
        audio=True,
        faces=(
            FaceTrack((-160, 200), (1280, 260), (160, 200), seed=1),
            FaceTrack((300, 80), (420, 120), (140, 170), seed=2),
            FaceTrack((900, 400), (860, 380), (120, 150), seed=3),
        ),
    )
    return make_clip(tmp / "synthetic-720p.mp4", spec), detections_doc(spec)


def interleaved(actions: dict, rounds: int) -> dict[str, tuple[float, float]]:
    """Best (wall seconds, CPU seconds of all threads) per action, the actions taking turns each
    round so that a load change on the shared machine hits both alike."""
    best = {name: (float("inf"), float("inf")) for name in actions}
    for _ in range(rounds):
        for name, action in actions.items():
            wall, cpu = time.perf_counter(), time.process_time()
            action()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            best[name] = (min(best[name][0], wall), min(best[name][1], cpu))
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", type=Path)
    parser.add_argument("--detections", type=Path, help="detections object JSON (docs/CONTRACTS.md)")
    parser.add_argument(
        "--synthetic", action="store_true", help="use the generated 720p clip even if sample-video.mp4 exists"
    )
    parser.add_argument("--rounds", type=int, default=3, help="best of N runs of each stage")
    args = parser.parse_args(argv)
    settings = EncodeSettings()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        video = args.video or (ROOT / "sample-video.mp4")
        if args.video is None and (args.synthetic or not video.exists()):
            video, detections = synthetic_720p(tmp)
            source = "synthetic 720p clip, 3 moving textured faces"
        elif args.detections:
            detections, source = json.loads(args.detections.read_text()), f"{args.detections}"
        elif (truth := generated_truth(video)) is not None:
            detections, source = truth, "the generator's ground truth every 200 ms"
        else:
            detections, source = fixed_faces(video), "3 fixed boxes every 200 ms"
        timeline = load_detections(detections)
        with av.open(str(video)) as c:
            v = c.streams.video[0]
            shape = f"{v.width}x{v.height} @ {float(v.average_rate or 0):.3f} fps, {v.frames} frames"
        frames = plain_transcode(video, tmp / "plain.mp4", settings)  # warm-up, and the frame count
        result = blur_video(video, tmp / "blurred.mp4", timeline, settings=settings)
        best = interleaved(
            {
                "plain": lambda: plain_transcode(video, tmp / "plain.mp4", settings),
                "blur": lambda: blur_video(video, tmp / "blurred.mp4", timeline, settings=settings),
                "previous": lambda: plain_transcode(video, tmp / "previous.mp4", PREVIOUS_SETTINGS),
            },
            args.rounds,
        )
        sizes = {name: (tmp / f"{name}.mp4").stat().st_size for name in ("plain", "previous")}
        psnr = {name: luma_psnr(video, tmp / f"{name}.mp4") for name in ("plain", "previous")}
    (plain_wall, plain_cpu), (blur_wall, blur_cpu) = best["plain"], best["blur"]
    print(f"video: {video.name} ({shape}); boxes: {source}")
    print(f"encoder: libx264 {settings.options()}; best of {args.rounds}, interleaved")
    print(f"plain decode+encode : {frames / plain_wall:7.1f} frames/s  ({plain_cpu / frames * 1000:.1f} ms CPU/frame)")
    print(
        f"blur stage          : {result.frames / blur_wall:7.1f} frames/s  ({blur_cpu / result.frames * 1000:.1f} ms CPU/frame,"
        f" {result.regions_blurred / result.frames:.1f} regions/frame)"
    )
    print(f"ratio blur/plain    : {plain_wall / blur_wall:7.2f} by wall time, {plain_cpu / blur_cpu:.2f} by CPU time")
    print(f"encoder, plain decode+encode with the previous settings {PREVIOUS_SETTINGS.options()}:")
    for label, key in (("current", "plain"), ("previous", "previous")):
        wall, cpu = best[key]
        print(
            f"  {label:8s}: {frames / wall:7.1f} frames/s ({cpu / frames * 1000:.1f} ms CPU/frame),"
            f" {sizes[key] / 1e6:.2f} MB, luma PSNR against the input {psnr[key]:.2f} dB"
        )
    print(
        f"  current/previous: {best['previous'][0] / plain_wall:.2f}x the speed,"
        f" {sizes['plain'] / sizes['previous']:.2f}x the size, {psnr['plain'] - psnr['previous']:+.2f} dB"
    )


if __name__ == "__main__":
    main()
