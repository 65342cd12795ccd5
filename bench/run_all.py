"""Run every benchmark in bench/ in turn (`make bench`); each prints its own figures and ratios."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Each entry: a script and its arguments. bench_threshold gives the README's detection-quality
# figures (frame-sized network input, then the former fixed 640-px input on the small faces).
BENCHMARKS = (
    ("bench_localaws.py",),
    ("bench_detection.py",),
    ("bench_blur.py",),
    ("bench_threshold.py",),
    ("bench_threshold.py", "--kinds", "small", "--thresholds", "0.4", "--input-width", "640"),
    ("bench_pipeline.py",),
    ("bench_songs.py",),
)


def main() -> int:
    failed = []
    for name, *args in BENCHMARKS:
        path = HERE / name
        if not path.exists():
            continue
        label = " ".join([name, *args])
        print(f"\n=== {label}", flush=True)
        if subprocess.run([sys.executable, str(path), *args]).returncode != 0:
            failed.append(label)
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
