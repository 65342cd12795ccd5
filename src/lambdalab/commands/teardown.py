"""`python -m lambdalab teardown`: delete everything the lab created for one prefix, on one target.

Lists what it found first; on `aws` it asks before deleting unless `--yes` (real money, real data).
Exit status 0 when nothing of the prefix remains, 1 otherwise (so CI and scripts can check).
"""

from __future__ import annotations

import argparse
import sys

from lambdalab.deploy import session_state
from lambdalab.deploy.inventory import find_resources
from lambdalab.deploy.target import TARGETS, choose_target_name, use_target
from lambdalab.deploy.teardown import format_table, teardown


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--target",
        choices=TARGETS,
        default=None,
        help="where to delete (default: $LAMBDALAB_TARGET, the session file, else local)",
    )
    parser.add_argument("--prefix", default=None, help="resource name prefix (default: the one in the session file)")
    parser.add_argument("--profile", default=None, help="AWS profile (aws target)")
    parser.add_argument("--region", default=None, help="AWS region (aws target)")
    parser.add_argument("--yes", action="store_true", help="do not ask for confirmation on aws")


def _confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        print("not a terminal: refusing to delete on aws without --yes", file=sys.stderr)
        return False
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def _local_server_running() -> bool:
    """Its state lives in memory: when it is not running there is nothing to delete (and no need to start it)."""
    from lambdalab.localaws import status  # lazy: only the local target needs moto

    return status() is not None


def run(args: argparse.Namespace) -> int:
    prefix = args.prefix or session_state.load_session().get("prefix")
    if not prefix:
        print("no --prefix given and no session file with a prefix: nothing to tear down", file=sys.stderr)
        return 2
    try:
        session_state.validate_prefix(prefix)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    name, _source = choose_target_name(args.target)
    if name == "local" and not _local_server_running():
        print("the embedded offline AWS is not running, so nothing of the lab exists on local")
        return 0
    # Teardown must work in any region, also one without Rekognition Video (left-overs of a refused setup).
    target = use_target(name, profile=args.profile, region=args.region, rekognition_video=False)
    found = [r for r in find_resources(prefix, target) if r.ownership != "foreign"]
    if not found:
        print(f"nothing with prefix {prefix} on {target.name}")
        return 0
    print(
        format_table([(r.kind, r.detail or r.name, r.state or r.ownership) for r in found], ("kind", "name", "state"))
    )
    if target.is_aws and not args.yes:
        question = f"Delete these {len(found)} resources in account {target.account}, region {target.region}?"
        if not _confirm(question):
            print("nothing deleted")
            return 1
    report = teardown(prefix, target, verbose=False)
    print()
    print(report.table())
    if report.complete:
        print(f"\nnothing with prefix {prefix} remains on {target.name}")
        return 0
    print(
        f"\n{len(report.remaining)} remain, {len(report.failed)} failed: run teardown again or check the console",
        file=sys.stderr,
    )
    return 1
