"""The learner's session file: name prefix, last chosen target, what was deployed.

Location: `$LAMBDALAB_HOME/session.json`, default `~/.lambdalab/session.json`: the same folder the
embedded AWS keeps its server state in (`lambdalab.localaws.process` uses `state_dir` too), so one variable
moves all lab state and a notebook started from any folder finds it. It is per user, not per
checkout, exactly like the shared local server.

The prefix (`lab-<user>-<4 hex>`) is created once and then only read: every resource name derives
from it, so losing it would orphan resources (`teardown --prefix` can still find them by name).
"""

from __future__ import annotations

import getpass
import json
import os
import re
import secrets
from pathlib import Path
from typing import Any

ENV_HOME = "LAMBDALAB_HOME"
PREFIX_PATTERN = re.compile(r"^lab-[a-z0-9]{1,10}-[0-9a-f]{4}$")


def state_dir() -> Path:
    """Where all lab state lives: the session file here, the embedded AWS's server files too."""
    return Path(os.environ.get(ENV_HOME, Path.home() / ".lambdalab"))


def session_file() -> Path:
    return state_dir() / "session.json"


def load_session() -> dict[str, Any]:
    """The saved session, or `{}` when none exists yet (or the file is unreadable)."""
    try:
        data = json.loads(session_file().read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def save_session(**values: Any) -> dict[str, Any]:
    """Merge `values` into the session file (written atomically so a crash never leaves half a file)."""
    data = load_session()
    data.update({k: v for k, v in values.items()})
    path = session_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)
    return data


def make_prefix(user: str | None = None) -> str:
    """`lab-<user>-<4 hex>`: readable in the console, short enough for bucket names, unique enough.

    The user part is lower-case alphanumerics only (S3 bucket rules), at most 10 characters.
    """
    raw = user if user is not None else _login_name()
    cleaned = re.sub(r"[^a-z0-9]", "", raw.lower())[:10] or "learner"
    return f"lab-{cleaned}-{secrets.token_hex(2)}"


def validate_prefix(prefix: str) -> str:
    if not PREFIX_PATTERN.match(prefix):
        raise ValueError(f"prefix {prefix!r} does not look like lab-<user>-<4 hex> (e.g. lab-alice-1a2b)")
    return prefix


def session_prefix() -> str:
    """The learner's prefix: read from the session file, created and saved on first use."""
    saved = load_session().get("prefix")
    if isinstance(saved, str) and PREFIX_PATTERN.match(saved):
        return saved
    prefix = make_prefix()
    save_session(prefix=prefix)
    return prefix


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "learner"


def save_deployment(kind: str, target: str, summary: dict[str, Any]) -> None:
    """Remember what a deploy produced (names, ARNs) so that later notebooks need not recompute it."""
    deployments = load_session().get("deployments", {})
    deployments.setdefault(target, {})[kind] = summary
    save_session(deployments=deployments)


def load_deployment(kind: str, target: str) -> dict[str, Any] | None:
    """What `save_deployment` stored for (`kind`, `target`), or None if that was never deployed."""
    found = load_session().get("deployments", {}).get(target, {}).get(kind)
    return found if isinstance(found, dict) else None


def forget_deployments(target: str, prefix: str) -> None:
    """Called by teardown: the saved names of `prefix` on `target` no longer point at anything.

    Only that prefix's entries go: a throw-away deployment (e.g. the `blur` command's) torn down on
    the same target must not make the notebooks forget the learner's own pipeline.
    """
    deployments = load_session().get("deployments", {})
    saved = deployments.get(target, {})
    kept = {kind: summary for kind, summary in saved.items() if summary.get("prefix") != prefix}
    if kept != saved:
        deployments[target] = kept
        save_session(deployments=deployments)
