"""Recall/precision of the detector per heatmap threshold, on the generated clips (how 0.4 was chosen).

Renders each kind (3 s at 640×360; the 10 s sample at 1280×720) once into a temporary directory,
then scores detections at every threshold against the generator's ground truth (IoU ≥ 0.4,
200 ms sampling). With a real video, it also counts detections per threshold (no truth there:
inspect the low-scoring ones by eye, as was done with street-walk.mp4).

    python bench/bench_threshold.py
    python bench/bench_threshold.py --thresholds 0.2,0.3,0.4,0.5 --real ../shared/data/street-walk.mp4
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
    parser.add_argument("--thresholds", default="0.2,0.3,0.4,0.5,0.6")
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--real", help="a real video: count detections per threshold")
    args = parser.parse_args()
    thresholds = [float(t) for t in args.thresholds.split(",")]
    # The network output does not depend on the threshold: run once at the lowest, filter after.
    detector = FaceDetector(threshold=min(thresholds))
    with tempfile.TemporaryDirectory() as scratch:
        for kind in args.kinds.split(","):
            path = Path(scratch) / f"{kind}.mp4"
            size = (1280, 720) if kind == "sample" else (640, 360)
            truth = generate(path, kind, *size, audio=False)
            result = detect_video_faces(path, detector=detector)
            row = []
            for t in thresholds:
                samples = {
                    s.timestamp_ms: [f["BoundingBox"] for f in s.faces if f["Confidence"] >= t * 100]
                    for s in result.samples
                }
                m = score(truth, samples)
                row.append(f"{t:.2f}: R {m.recall:.2f} P {m.precision:.2f}")
            print(f"{kind:9s} " + " | ".join(row))
    if args.real:
        counts = {t: 0 for t in thresholds}
        with VideoReader(args.real) as reader:
            for frame in reader.sample(200, width=detector.input_width):
                for d in detector.detect(frame.rgb):
                    for t in thresholds:
                        counts[t] += d.score >= t
        print(f"{Path(args.real).name}: detections per threshold " + ", ".join(f"{t}: {n}" for t, n in counts.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
