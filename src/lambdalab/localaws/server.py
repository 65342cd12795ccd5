"""The embedded AWS server: moto's HTTP server with the lab's patches, on one local port.

`serve()` runs it in the foreground of this process. Everything else (background start, reuse,
the pytest context manager) runs `python -m lambdalab serve` in a child process, so there is one
implementation, and moto's global state never mixes with the caller's.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path

DEFAULT_HOST = "127.0.0.1"


def serve(port: int, *, ready_file: Path | None = None, announce: bool = True, warm_detector: bool = False) -> None:
    """Run until SIGINT/SIGTERM, then end the process. Writes `ready_file` (pid, port, endpoint) once
    accepting requests.

    `warm_detector`: load the face detector in the background at once (onnxruntime and the graph
    rewrite take ~0.8 s), as a real service is up before its first request; the `blur` command asks
    for it, since its first job follows the deployment within seconds.
    """
    from lambdalab.localaws.moto_compat import require_compatible

    require_compatible()  # before patching moto: stops here, with one message, on a moto it was not built for
    from moto.server import ThreadedMotoServer

    from lambdalab.localaws import patches, server_address

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    patches.apply_all()
    server = ThreadedMotoServer(ip_address=DEFAULT_HOST, port=port, verbose=False)
    server.start()
    if warm_detector:
        threading.Thread(target=_load_detector, name="warm-detector", daemon=True).start()
    host, bound_port = server.get_host_and_port()
    endpoint = f"http://{host}:{bound_port}"
    server_address.set_endpoint(endpoint)

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    if ready_file is not None:
        ready_file.parent.mkdir(parents=True, exist_ok=True)
        temporary = ready_file.with_suffix(".tmp")
        temporary.write_text(json.dumps({"pid": os.getpid(), "port": bound_port, "endpoint": endpoint}))
        temporary.replace(ready_file)
    if announce:
        print(f"Lambda Lab offline AWS listening on {endpoint}", flush=True)
        print("In another shell (or program), point boto3 at it with:", flush=True)
        for name, value in client_environment(endpoint).items():
            print(f"  export {name}={value}", flush=True)
        print("Ctrl-C stops it.", flush=True)
    try:
        stop.wait()
    finally:
        from lambdalab.localaws import lambda_runner

        lambda_runner.shutdown()  # the warm Lambda execution environments end with the server
        if ready_file is not None:
            ready_file.unlink(missing_ok=True)
        if announce:
            print("stopped", flush=True)
    # All of the server's state is in this process's memory, and its Lambda environments are gone:
    # nothing is left to save. Stopping werkzeug (its 0.5 s poll) and the interpreter's teardown of
    # moto, onnxruntime and the worker threads took 1.3 s of every `blur` run; exit at once.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _load_detector() -> None:
    from lambdalab.faces.detector import get_detector

    get_detector()


def client_environment(endpoint: str) -> dict[str, str]:
    """What boto3 (and anything else using the AWS SDK conventions) needs to use the local AWS."""
    from lambdalab.localaws.server_address import REGION

    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }
