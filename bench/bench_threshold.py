"""Detector recall/precision on the generated clips with ground truth, per heatmap threshold.

Renders each kind (3 s clips; the 10 s sample) at each size once into a temporary directory, runs
the detector every 200 ms, and scores against the generator's ground truth (IoU >= 0.4). The
network output does not depend on the threshold, so it runs once at the lowest and filters after.
The README's detection-quality figures are this script's rows at the default threshold (0.4);
`--input-width 640` gives the former fixed 640-px network input for comparison. With a real
video, it counts detections per threshold (no truth there: inspect the low-scoring ones by eye).

    python bench/bench_threshold.py                             # frame-sized input, 640x360 and 1280x720
    python bench/bench_threshold.py --kinds small --input-width 640
    python bench/bench_threshold.py --thresholds 0.3,0.4,0.5 --real ../shared/data/street-walk.mp4
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from lambdalab.faces.detector import FaceDetector  # noqa: E402
from lambdalab.faces.video_faces import detect_video_faces  # noqa: E402
from lambdalab.faces.video_source import VideoReader  # noqa: E402
from lambdalab.samplevideo import KINDS, generate  # noqa: E402
from lambdalab.samplevideo.scoring import score  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--thresholds", default="0.3,0.4,0.5")
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--sizes", default="640x360,1280x720", help="frame sizes of the hard clips")
    parser.add_argument("--input-width", type=int, help="fixed network input width (default: from the frame size)")
    parser.add_argument("--real", help="a real video: count detections per threshold")
    args = parser.parse_args()
    thresholds = [float(t) for t in args.thresholds.split(",")]
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    detector = FaceDetector(threshold=min(thresholds), input_width=args.input_width)
    print(
        f"network input: {'fixed ' + str(args.input_width) + ' px' if args.input_width else 'from the frame size'}; "
        "recall R / precision P per threshold"
    )
    with tempfile.TemporaryDirectory() as scratch:
        for kind in args.kinds.split(","):
            for width, height in [(1280, 720)] if kind == "sample" else sizes:
                path = Path(scratch) / f"{kind}-{width}x{height}.mp4"
                truth = generate(path, kind, width, height, audio=False)
                result = detect_video_faces(path, detector=detector)
                row = []
                for t in thresholds:
                    samples = {
                        s.timestamp_ms: [f["BoundingBox"] for f in s.faces if f["Confidence"] >= t * 100]
                        for s in result.samples
                    }
                    m = score(truth, samples)
                    row.append(f"{t:.2f}: R {m.recall:.2f} P {m.precision:.2f}")
                print(f"{kind:9s} {width}x{height:<4d} " + " | ".join(row), flush=True)
    if args.real:
        counts = {t: 0 for t in thresholds}
        with VideoReader(args.real) as reader:
            size = (reader.metadata.frame_width, reader.metadata.frame_height)
            for frame in reader.sample(200, width=detector.input_size(*size)[0]):
                for d in detector.detect(frame.rgb, source_size=size):
                    for t in thresholds:
                        counts[t] += d.score >= t
        print(f"{Path(args.real).name}: detections per threshold " + ", ".join(f"{t}: {n}" for t, n in counts.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
