"""One pool for work AWS does asynchronously (Event invokes, S3 and SNS deliveries, SQS polling).

moto does this work inside the request that caused it; AWS never does, and a learner would notice:
a PutObject that takes as long as the video pipeline is not S3.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

WORKERS = 8  # deliveries that may run at once (tests/test_localaws_triggers.py fills all of them)
log = logging.getLogger("lambdalab.localaws")
_pool: ThreadPoolExecutor | None = None
_lock = threading.Lock()


def submit(work: Callable[..., Any], *args: Any) -> Future:
    global _pool
    with _lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="lambdalab-async")
    future = _pool.submit(work, *args)
    future.add_done_callback(_report_failure)
    return future


def _report_failure(future: Future) -> None:
    if future.exception() is not None:
        log.error("asynchronous delivery failed", exc_info=future.exception())
