"""Where the running embedded AWS lives: the endpoint the Lambda subprocesses must call back.

Set once by the server at start-up; read by the Lambda runner and the async trigger workers.
"""

from __future__ import annotations

import os

ACCOUNT_ID = "123456789012"  # moto's default account
REGION = "us-east-1"

_endpoint: str | None = None


def set_endpoint(endpoint: str) -> None:
    global _endpoint
    _endpoint = endpoint
    # moto's Step Functions interpreter calls Lambda on localhost:MOTO_PORT.
    os.environ["MOTO_PORT"] = endpoint.rsplit(":", 1)[1]


def endpoint() -> str:
    if _endpoint is None:
        raise RuntimeError("The embedded AWS server has not been started in this process")
    return _endpoint
