"""`python -m lambdalab serve [--port N]`: the embedded AWS in the foreground; Ctrl-C stops it."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from lambdalab.localaws.process import default_port

    parser.add_argument(
        "--port", type=int, default=None, help=f"port to listen on (default {default_port()}; 0 = any free port)"
    )
    parser.add_argument("--ready-file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--quiet", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--warm-detector",
        action="store_true",
        help="load the face detector at start, so the first face-detection job does not wait for it",
    )


def run(args: argparse.Namespace) -> int:
    from lambdalab.localaws.process import default_port
    from lambdalab.localaws.server import serve

    try:
        serve(
            default_port() if args.port is None else args.port,
            ready_file=args.ready_file,
            announce=not args.quiet,
            warm_detector=args.warm_detector,
        )
    except OSError as error:
        print(f"error: cannot listen: {error}")
        return 1
    return 0
