"""`python -m lambdalab detect VIDEO`: faces in a local video, as GetFaceDetection would return them.

The same code path as the offline Rekognition Video (lambdalab.faces.video_faces), without a
server: handy to see what the pipeline will blur, or to compare with a real Rekognition result.
"""

from __future__ import annotations

import argparse
import json
import sys


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive number of milliseconds")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", help="a local video file (MP4/MOV, H.264 is what Rekognition accepts)")
    parser.add_argument("--out", help="write the JSON here instead of standard output")
    parser.add_argument(
        "--interval-ms", type=_positive_int, default=200, help="sample a frame every N ms (default 200)"
    )


def run(args: argparse.Namespace) -> int:
    from lambdalab.faces.video_faces import detect_video_faces
    from lambdalab.faces.video_source import VideoDecodeError

    bar = None
    progress = None
    if sys.stderr.isatty():  # a bar in a log file or a pipe is only noise
        from tqdm import tqdm

        bar = tqdm(
            total=0,
            desc="detecting faces",
            file=sys.stderr,
            leave=False,
            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} s of video [{elapsed}<{remaining}]",
        )

        def progress(done_ms: int, total_ms: int) -> None:
            bar.total = total_ms / 1000
            bar.update(done_ms / 1000 - bar.n)  # update() rate-limits the redraws

    try:
        result = detect_video_faces(args.video, interval_ms=args.interval_ms, progress=progress)
    except VideoDecodeError as exc:
        print(f"detect: {args.video}: {exc}", file=sys.stderr)
        return 1
    finally:
        if bar is not None:
            bar.close()
    text = json.dumps(result.to_rekognition(), indent=2) + "\n"
    if args.out:
        try:
            with open(args.out, "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            print(f"detect: cannot write {args.out}: {exc.strerror}", file=sys.stderr)
            return 1
        faces = len(result.rekognition_faces())
        print(f"{faces} faces in {len(result.samples)} samples -> {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
