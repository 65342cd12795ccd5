"""Run every benchmark in bench/ in turn (`make bench`); each prints its own figures and ratios."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# bench_threshold is a tuning sweep, not a speed figure: run it by hand when changing the detector.
BENCHMARKS = ("bench_localaws.py", "bench_detection.py", "bench_blur.py", "bench_pipeline.py", "bench_songs.py")


def main() -> int:
    failed = []
    for name in BENCHMARKS:
        path = HERE / name
        if not path.exists():
            continue
        print(f"\n=== {name}", flush=True)
        if subprocess.run([sys.executable, str(path)]).returncode != 0:
            failed.append(name)
    if failed:
        print("failed:", ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
