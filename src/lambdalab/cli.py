"""`python -m lambdalab COMMAND`: one sub-command per module in `lambdalab.commands`.

Each command module exposes `add_arguments(parser)` and `run(args) -> int`; they are imported only
when chosen, so `serve` does not pay for OpenCV and `detect` does not pay for moto.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "serve": "run the embedded offline AWS in the foreground (Ctrl-C stops it)",
    "start": "start the embedded offline AWS in the background, or reuse the running one",
    "stop": "stop the background embedded offline AWS",
    "status": "tell whether the embedded offline AWS is running, and where",
    "detect": "detect faces in a local video, Rekognition-shaped JSON out",
    "sample-video": "generate the sample video (and its ground truth) deterministically",
    "blur": "run the whole face-blurring pipeline on a video, locally",
    "teardown": "delete everything the lab created (by tag and name prefix)",
    "student": "generate the learner copies of the notebooks (exercise cells blanked)",
}


def _module_for(command: str):
    return importlib.import_module(f"lambdalab.commands.{command.replace('-', '_')}")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m lambdalab", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, help_text in COMMANDS.items():
        command_parser = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            _module_for(name).add_arguments(command_parser)
    args = parser.parse_args(argv)
    try:
        return int(_module_for(args.command).run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
