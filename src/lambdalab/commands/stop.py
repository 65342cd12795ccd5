"""`python -m lambdalab stop`: stop the shared background AWS (its data goes with it)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=None, help="port (default: LAMBDALAB_PORT or 4599)")


def run(args: argparse.Namespace) -> int:
    from lambdalab.localaws import stop

    print("stopped" if stop(args.port) else "not running")
    return 0
