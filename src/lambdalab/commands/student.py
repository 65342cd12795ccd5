"""`python -m lambdalab student`: regenerate notebooks/student/ (exercise cells blanked)."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    pass


def run(args: argparse.Namespace) -> int:
    from lambdalab.deploy.paths import repo_root
    from lambdalab.student_copies import write_all

    for path in write_all(repo_root() / "notebooks"):
        print(f"wrote {path.relative_to(repo_root())}")
    return 0
