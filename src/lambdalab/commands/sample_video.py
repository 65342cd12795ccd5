"""`python -m lambdalab sample-video OUT.mp4`: make the sample video (or a harder clip) and its truth.

Deterministic: the same arguments give the same bytes, so the committed sample-video.mp4 can be
regenerated and checked, and the ground truth never needs a detector.
"""

from __future__ import annotations

import argparse
import re
import sys

# Kept in step with lambdalab.samplevideo.scenes.KINDS (a test checks), so --help stays cheap.
KIND_NAMES = ("sample", "fast", "tilt", "small", "border", "mirrored")


def _size(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)[xX×](\d+)", text.strip())
    if not match:
        raise argparse.ArgumentTypeError("expected WIDTHxHEIGHT, e.g. 1280x720")
    width, height = int(match.group(1)), int(match.group(2))
    if width < 64 or height < 64 or width % 2 or height % 2:
        raise argparse.ArgumentTypeError("width and height must be even and at least 64")
    return width, height


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out", metavar="OUT.mp4", help="where to write the video")
    parser.add_argument("--ground-truth", metavar="GT.json", help="also write the per-frame face boxes here")
    parser.add_argument("--size", type=_size, default=(1280, 720), help="WIDTHxHEIGHT (default 1280x720)")
    parser.add_argument("--fps", type=_positive_float, default=25.0, help="frames per second (default 25)")
    parser.add_argument("--kind", choices=KIND_NAMES, default="sample", help="which clip (default sample)")
    parser.add_argument(
        "--seconds", type=_positive_float, default=None, help="length (default: 10 for sample, 3 for the others)"
    )
    parser.add_argument("--crf", type=int, default=None, help="x264 quality, lower is better (default 23)")
    parser.add_argument("--no-audio", action="store_true", help="leave out the AAC melody track")


def run(args: argparse.Namespace) -> int:
    from lambdalab.samplevideo import generate
    from lambdalab.samplevideo.encode import DEFAULT_CRF

    width, height = args.size
    bar = None
    progress = None
    if sys.stderr.isatty():
        from tqdm import tqdm

        bar = tqdm(total=0, unit="frame", desc=f"rendering {args.kind}", file=sys.stderr, leave=False)

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)  # update() rate-limits the redraws

    try:
        truth = generate(
            args.out,
            kind=args.kind,
            width=width,
            height=height,
            fps=args.fps,
            seconds=args.seconds,
            crf=DEFAULT_CRF if args.crf is None else args.crf,
            audio=not args.no_audio,
            progress=progress,
        )
        if args.ground_truth:
            truth.write(args.ground_truth)
    except (OSError, ValueError) as exc:
        print(f"sample-video: {exc}", file=sys.stderr)
        return 1
    finally:
        if bar is not None:
            bar.close()
    faces = sum(len(f.faces) for f in truth.frames)
    print(f"{args.out}: {len(truth.frames)} frames, {width}x{height}, {faces} face boxes", file=sys.stderr)
    return 0
