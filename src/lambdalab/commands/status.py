"""`python -m lambdalab status`: is the shared background AWS running, and where."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=None, help="port (default: LAMBDALAB_PORT or 4599)")


def run(args: argparse.Namespace) -> int:
    from lambdalab.localaws import status

    info = status(args.port)
    if info is None:
        print("not running")
        return 1
    print(f"running on {info['endpoint']} (pid {info['pid']})")
    return 0
