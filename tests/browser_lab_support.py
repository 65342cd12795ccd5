"""The lab as a learner sees it: `make lab` on a private port and target, and headless Chromium.

JupyterLab is started by `make lab` itself (same command, flags and root as for a learner), with
only what a test needs added: a private port and token, no browser of its own, and the app object
exposed to the page so the test can read the notebook model (an error output and a warning on
stderr look the same on screen). Every Jupyter directory and the lab's state are private, so a
developer's own lab, settings and workspaces are never touched, and autosave is off so running the
notebooks in the browser never rewrites the committed ones.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "build" / "browser-lab"  # named in the README
SYSTEM_CHROMIUM = Path("/usr/bin/chromium")  # Debian's package (`.ci/run` installs it on CI)
CHROMIUM_FLAGS = [
    "--no-sandbox",  # CI runs as root in a container, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Test-only user settings: cells all attached to the page (JupyterLab otherwise only renders those
# in view), and nothing saved to the committed notebooks.
USER_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}


@dataclass
class Lab:
    url: str
    token: str
    env: dict[str, str]

    def api(self, method: str, path: str) -> Any:
        request = urllib.request.Request(
            f"{self.url}{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shut_down_kernels(self) -> None:
        """Each opened notebook starts a kernel that outlives its tab: stop them between notebooks."""
        for session in self.api("GET", "/api/sessions"):
            self.api("DELETE", f"/api/sessions/{session['id']}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def make_lab(workdir: Path) -> Iterator[Lab]:
    """`make lab` on a private local target and port; stopped (JupyterLab and the offline AWS) after."""
    port, token = free_port(), os.urandom(12).hex()
    settings = workdir / "lab-user-settings"
    for name, values in USER_SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values))
    env = {
        **os.environ,
        "LAMBDALAB_HOME": str(workdir / "lambdalab-home"),
        "LAMBDALAB_PORT": str(free_port()),
        "JUPYTER_CONFIG_DIR": str(workdir / "jupyter-config"),
        "JUPYTER_RUNTIME_DIR": str(workdir / "jupyter-runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(workdir / "lab-workspaces"),
    }
    for leaked in ("LAMBDALAB_TEST_KEEP_STATE", "LAMBDALAB_STATE_DIR", "LAMBDALAB_TARGET", "AWS_ENDPOINT_URL"):
        env.pop(leaked, None)
    flags = (
        f"--no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port={port} --ServerApp.port_retries=0 "
        f"--IdentityProvider.token={token} --LabApp.expose_app_in_browser=True"
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    log_path = SCREENSHOTS / "make-lab.log"  # kept beside the screenshots: what JupyterLab said
    log = open(log_path, "wb")  # noqa: SIM115 (closed below)
    process = subprocess.Popen(
        ["make", "--no-print-directory", "lab", f"LAB_FLAGS={flags}", f"PYTHON={sys.executable}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    lab = Lab(f"http://127.0.0.1:{port}", token, env)
    try:
        _wait_until_up(lab, process, log_path)
        yield lab
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # JupyterLab shuts its kernels down on SIGTERM
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        subprocess.run(
            [sys.executable, "-m", "lambdalab", "stop"], env=env, capture_output=True, timeout=60, check=False
        )
        log.close()


def _wait_until_up(lab: Lab, process: subprocess.Popen, log: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"make lab exited with {process.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            lab.api("GET", "/api/status")
            return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"JupyterLab did not answer within {timeout:.0f} s:\n{log.read_text(errors='replace')[-3000:]}")


def launch_chromium(playwright: Any) -> tuple[Any, str]:
    """Debian's Chromium when installed (CI), else Google Chrome, else Playwright's own Chromium.

    The lab's videos are H.264. Debian's Chromium and Google Chrome play it; the Chromium that
    `playwright install chromium` downloads has no proprietary codecs (microsoft/playwright#36550),
    so with it the video checks fail, saying so (`playwright install chrome` gives Google Chrome).
    """
    from playwright.sync_api import Error as PlaywrightError

    if SYSTEM_CHROMIUM.exists():
        browser = playwright.chromium.launch(executable_path=str(SYSTEM_CHROMIUM), args=CHROMIUM_FLAGS)
        return browser, f"Debian's Chromium {browser.version} ({SYSTEM_CHROMIUM})"
    try:
        browser = playwright.chromium.launch(channel="chrome", args=CHROMIUM_FLAGS)
        return browser, f"Google Chrome {browser.version} (playwright install chrome)"
    except PlaywrightError:
        browser = playwright.chromium.launch(args=CHROMIUM_FLAGS)
        return browser, f"Playwright's Chromium {browser.version} (playwright install chromium)"
