"""bench_localaws times a server's start-up only, and stops each server before the next round."""

from __future__ import annotations

import contextlib
import importlib.util
import socket
import time
import urllib.parse
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_localaws.py"


def _load_bench():
    spec = importlib.util.spec_from_file_location("bench_localaws", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _listening(endpoint: str) -> bool:
    url = urllib.parse.urlsplit(endpoint)
    with socket.socket() as probe:
        probe.settimeout(2)
        return probe.connect_ex((url.hostname, url.port)) == 0


def test_startup_rounds_leave_no_server_running():
    rounds = _load_bench().measure_startup(2)
    assert len({endpoint for _, endpoint in rounds}) == 2  # two servers really started
    assert [endpoint for _, endpoint in rounds if _listening(endpoint)] == []


def test_startup_figure_excludes_the_stop_and_servers_never_overlap():
    running: list[int] = []
    events: list[str] = []

    @contextlib.contextmanager
    def slow_to_stop_server():
        running.append(1)
        events.append(f"start with {len(running)} running")
        time.sleep(0.01)  # start-up
        try:
            yield "http://127.0.0.1:1"
        finally:
            time.sleep(0.5)  # shutdown: must not count as start-up
            running.pop()

    rounds = _load_bench().measure_startup(3, server=slow_to_stop_server)
    assert events == ["start with 1 running"] * 3 and running == []
    assert all(seconds < 0.5 for seconds, _ in rounds), rounds
