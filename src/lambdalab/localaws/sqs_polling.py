"""SQS → Lambda event source mappings as AWS runs them: a poller, not the SendMessage call.

moto receives and invokes inside SendMessage, so the sender waits for the function. Here the
message is stored first and a background poll delivers it: batches of `BatchSize`, deleted on
success, visible again on failure.
"""

from __future__ import annotations

import threading
from typing import Any

from moto.sqs.models import Queue, sqs_backends

from lambdalab.localaws import async_pool

_original_add_message = Queue.add_message
_queue_locks: dict[int, threading.Lock] = {}
_registry_lock = threading.Lock()


def _lock_for(queue: Queue) -> threading.Lock:
    with _registry_lock:
        return _queue_locks.setdefault(id(queue), threading.Lock())


def poll(queue: Queue) -> None:
    """Drain what is visible now to every enabled mapping of `queue`."""
    from moto.awslambda.utils import get_backend

    backend = sqs_backends[queue.account_id][queue.region]
    for function_arn, esm in list(queue.lambda_event_source_mappings.items()):
        while esm.enabled:
            messages = backend.receive_message(queue.name, int(esm.batch_size or 10), 0, queue.visibility_timeout)
            if not messages:
                break
            delivered = get_backend(queue.account_id, queue.region).send_sqs_batch(
                function_arn, messages, queue.queue_arn
            )
            for message in messages:
                if delivered:
                    backend.delete_message(queue.name, message.receipt_handle)
                else:
                    backend.change_message_visibility(queue.name, message.receipt_handle, visibility_timeout=0)
            if not delivered:
                break  # AWS backs off; the next message sent triggers another poll


def _add_message(self: Queue, message: Any) -> None:
    with _lock_for(self):
        mappings = self.lambda_event_source_mappings
        self.lambda_event_source_mappings = {}
        try:
            _original_add_message(self, message)
        finally:
            self.lambda_event_source_mappings = mappings
    if mappings:
        async_pool.submit(poll, self)


def install() -> None:
    Queue.add_message = _add_message  # type: ignore[method-assign]
