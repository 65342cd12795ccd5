"""Repository-wide pytest hooks: they must apply to the notebooks (nbval) as much as to tests/."""

from __future__ import annotations

_PRIVATE_STATE = False


def pytest_configure(config):
    """Run everything against a private state: a fresh session file and a free port for the
    notebooks' shared server, so a developer's own lab (and its data) is never touched and CI
    starts from a clean state. With LAMBDALAB_TEST_KEEP_STATE set, the caller's LAMBDALAB_HOME and
    LAMBDALAB_PORT are used and the server is left running (to run the notebooks twice on one
    target)."""
    global _PRIVATE_STATE
    import os
    import socket
    import tempfile

    if os.environ.get("LAMBDALAB_TEST_KEEP_STATE"):
        return
    _PRIVATE_STATE = True
    state = tempfile.mkdtemp(prefix="lambdalab-test-state-")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    os.environ.update({"LAMBDALAB_HOME": state, "LAMBDALAB_PORT": str(port)})


def pytest_unconfigure(config):
    """Stop the notebooks' shared server, if they started one in a private state."""
    if _PRIVATE_STATE:
        from lambdalab.localaws import stop

        stop()
