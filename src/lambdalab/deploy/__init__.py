"""What is not the lesson about deploying: target selection, naming, policy templates, tags, and
the inventory and teardown of everything the lab made.

The deployments themselves are notebooks 02 (face blurring) and 04 (songs), in plain boto3; the
`blur` command, tests and benchmarks run those notebooks (`lambdalab.notebook_run`,
`lambdalab.deploy.deployed`).

Public API:
    use_target, current_target, Target                 (target.py)
    session_prefix, load_deployment                    (session_state.py)
    teardown, TeardownReport, find_resources           (teardown.py, inventory.py)
"""

from lambdalab.deploy.inventory import Resource, find_resources
from lambdalab.deploy.session_state import load_deployment, session_prefix
from lambdalab.deploy.target import Target, current_target, use_target
from lambdalab.deploy.teardown import TeardownReport, teardown

__all__ = [
    "Resource",
    "Target",
    "TeardownReport",
    "current_target",
    "find_resources",
    "load_deployment",
    "session_prefix",
    "teardown",
    "use_target",
]
