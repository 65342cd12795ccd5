"""Map path against the single path: split on keyframes, blur segments in parallel, join.

Side by side in one run, on one generated clip with audio (the machine is shared and loaded, so
only ratios mean anything): the single path (blur_video on the whole clip, the baseline) and the
Map path for several segment counts and concurrencies (split_video's cut, blur_video on each
segment in a pool of `concurrency` processes, as the Map's iterations are processes on the
offline AWS, then join_segments' join). Prints wall times, the ratio to the single path, and the
split + join overhead as a share of the single path. Also checks that every joined output has the
single path's frames (timestamps) and audio packets.

    python bench/bench_scale_out.py                    # 60 s at 1280x720
    python bench/bench_scale_out.py --seconds 180      # the issue's 3-minute clip (slow to generate)
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import av

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "lambdas" / "blur_faces"))

from blur_engine import blur_video, load_detections  # noqa: E402


def _load(folder: str, module: str):
    spec = importlib.util.spec_from_file_location(f"bench_{module}", ROOT / "lambdas" / folder / f"{module}.py")
    loaded = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = loaded  # dataclasses look their module up
    spec.loader.exec_module(loaded)
    return loaded


segments = _load("split_video", "segments")
joining = _load("join_segments", "join")
_timeline = None


def _init(detections: dict) -> None:
    global _timeline
    _timeline = load_detections(detections)


def _blur(paths: tuple[str, str]) -> float:
    start = time.perf_counter()
    blur_video(paths[0], paths[1], _timeline)
    return time.perf_counter() - start


def facts(path: Path) -> tuple[list, list]:
    with av.open(str(path)) as c:
        video = [(p.pts, p.duration) for p in c.demux(video=0) if p.size]
    with av.open(str(path)) as c:
        audio = [(p.pts, bytes(p)) for p in c.demux(audio=0) if p.size]
    return sorted(video), audio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--runs", default="2x1,2x2,3x2,6x2", help="segments x concurrency, comma-separated")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    from lambdalab import samplevideo

    with tempfile.TemporaryDirectory(prefix="bench_scale_out-") as tmp:
        folder = Path(tmp)
        clip = folder / "clip.mp4"
        t = time.perf_counter()
        truth = samplevideo.generate(clip, "sample", width, height, 25, seconds=args.seconds)
        print(
            f"clip: {args.seconds:.0f} s {width}x{height} 25 fps with audio, generated in {time.perf_counter() - t:.0f} s"
        )
        detections = {
            "Samples": [
                {
                    "Timestamp": f.timestamp_ms,
                    "Boxes": [
                        {
                            "Left": x0 / width,
                            "Top": y0 / height,
                            "Width": (x1 - x0) / width,
                            "Height": (y1 - y0) / height,
                        }
                        for x0, y0, x1, y1 in (face.box for face in f.faces if face.visible > 0)
                    ],
                }
                for f in (truth.at_timestamp(ms) for ms in range(0, int(args.seconds * 1000), 200))
            ]
        }
        _init(detections)
        single = folder / "single.mp4"
        t = time.perf_counter()
        blur_video(clip, single, _timeline)
        single_s = time.perf_counter() - t
        expected = facts(single)
        print(
            f"single path (baseline): {single_s:.1f} s, {len(expected[0])} frames, {len(expected[0]) / single_s:.0f} frames/s"
        )
        print(
            f"{'segments':>8} {'conc.':>5} {'split s':>8} {'blur s':>7} {'join s':>7} {'total s':>8} "
            f"{'vs single':>9} {'split+join share':>16}  per segment (s)"
        )
        for run in args.runs.split(","):
            count, concurrency = (int(v) for v in run.split("x"))
            work = folder / run
            work.mkdir()
            t0 = time.perf_counter()
            parts, audio = segments.split(clip, work, args.seconds / count)
            t1 = time.perf_counter()
            jobs = [(p.path, str(work / f"b{p.index:03d}.mp4")) for p in parts]
            with ProcessPoolExecutor(max_workers=concurrency, initializer=_init, initargs=(detections,)) as pool:
                per_segment = list(pool.map(_blur, jobs))
            t2 = time.perf_counter()
            joined = work / "joined.mp4"
            joining.join([b for _, b in jobs], audio, joined)
            t3 = time.perf_counter()
            assert facts(joined) == expected, f"{run}: the joined output differs from the single path"
            total = t3 - t0
            print(
                f"{len(parts):>8} {concurrency:>5} {t1 - t0:>8.2f} {t2 - t1:>7.1f} {t3 - t2:>7.2f} {total:>8.1f} "
                f"{total / single_s:>8.2f}x {100 * (t1 - t0 + t3 - t2) / single_s:>15.1f}%  "
                + " ".join(f"{s:.1f}" for s in per_segment)
            )
        print("every joined output has the single path's frames, timestamps and audio packets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
