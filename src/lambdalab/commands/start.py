"""`python -m lambdalab start`: start the shared background AWS (or reuse it) and say where it is."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=None, help="port (default: LAMBDALAB_PORT or 4599)")


def run(args: argparse.Namespace) -> int:
    from lambdalab.localaws import ensure_running

    try:
        endpoint = ensure_running(args.port)
    except (RuntimeError, TimeoutError) as error:
        print(f"error: {error}")
        return 1
    print(f"Lambda Lab offline AWS running on {endpoint} (stop it with: python -m lambdalab stop)")
    return 0
