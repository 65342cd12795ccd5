"""Repository-wide pytest hooks: they must apply to the notebooks (nbval) as much as to tests/."""

from __future__ import annotations


def pytest_configure(config):
    """Run everything against a private state: a fresh session file and a free port for the
    notebooks' shared server, so a developer's own lab (and its data) is never touched and CI
    starts from a clean state."""
    import os
    import socket
    import tempfile

    if os.environ.get("LAMBDALAB_TEST_KEEP_STATE"):
        return
    state = tempfile.mkdtemp(prefix="lambdalab-test-state-")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    os.environ.update({"LAMBDALAB_STATE_DIR": state, "LAMBDALAB_HOME": state, "LAMBDALAB_PORT": str(port)})


def pytest_unconfigure(config):
    """Stop the notebooks' shared server, if they started one."""
    from lambdalab.localaws import stop

    stop()
