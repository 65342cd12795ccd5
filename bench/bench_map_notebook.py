"""Notebook 05, run unattended on a long 720p clip on the local target: the Map path against the
single path, as the learner's notebook computes it (the notebook is the one implementation).

    python bench/bench_map_notebook.py                          # 3 minutes at 1280x720 (issue #14)
    python bench/bench_map_notebook.py --seconds 60 --size 640x360 --segment-seconds 20

Starts a private embedded AWS, runs notebooks/05_scale_out_with_map.ipynb with papermill (which
runs 02 first), and prints what its cells printed: the single path, the segments and the Map's
item results, the frame / timestamp / audio comparison (the notebook's own `assert` fails the run
when the Map path's output differs), the measured throughput and the wall time per segment and
in total. The notebook's clean-up cell removes everything it deployed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from lambdalab.localaws import local_aws  # noqa: E402
from lambdalab.notebook_run import run_notebook  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=180, help="clip length (default 180)")
    parser.add_argument("--size", default="1280x720", help="clip size WxH (default 1280x720)")
    parser.add_argument("--segment-seconds", type=int, default=30)
    parser.add_argument("--max-concurrency", type=int, default=4)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    with tempfile.TemporaryDirectory(prefix="lambdalab-map-bench-") as home:
        os.environ["LAMBDALAB_HOME"] = home  # its own session file: the learner's is left alone
        with local_aws(warm_detector=True):
            started = time.perf_counter()
            executed = run_notebook(
                "05_scale_out_with_map",
                {
                    "TARGET": "local",
                    "PREFIX": "lab-mapbench-0001",
                    "SEGMENT_SECONDS": args.segment_seconds,
                    "MAX_CONCURRENCY": args.max_concurrency,
                    "CLIP_SECONDS": args.seconds,
                    "CLIP_WIDTH": width,
                    "CLIP_HEIGHT": height,
                },
            )
            wall = time.perf_counter() - started
    for cell in executed.cells:
        if cell.cell_type != "code":
            continue
        for output in cell.get("outputs", []):
            text = output.get("text", "")
            if text.strip():
                print(text.rstrip())
    print(f"notebook 05 on {args.seconds} s at {width}x{height}: {wall:.1f} s in all (02 and the clean-up included)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
