"""DynamoDB Streams → Lambda as AWS delivers it: asynchronous, in order, each record once.

moto sends every record it has not yet managed to deliver, synchronously inside the write, and
restarts sequence numbers after each delivery; under concurrent writes records arrive twice.
Here each shard appends records under a lock with increasing sequence numbers, and one worker per
(function, stream) delivers them in batches, honouring `BatchSize`, `MaximumRetryAttempts` and
`ReportBatchItemFailures` (retry from the first failed record).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from typing import Any

from moto.dynamodb.models.table import StreamRecord, StreamShard

log = logging.getLogger("lambdalab.localaws")
DEFAULT_RETRIES = 2  # AWS retries until records expire; a lab wants failures to surface quickly
BATCH_WINDOW_SECONDS = 0.2

_shard_locks: dict[int, threading.Lock] = {}
_workers: dict[tuple[str, str], StreamWorker] = {}
_registry_lock = threading.Lock()


class StreamWorker(threading.Thread):
    """Delivers one stream's records to one function, in sequence-number order."""

    def __init__(self, account_id: str, function_arn: str, esm: Any) -> None:
        super().__init__(daemon=True, name=f"stream-{function_arn.rsplit(':', 1)[-1]}")
        self.account_id = account_id
        self.function_arn = function_arn
        self.esm = esm
        self.records: queue.Queue[StreamRecord] = queue.Queue()

    def run(self) -> None:
        while True:
            batch = [self.records.get()]
            window = float(self.esm.max_batch_window or BATCH_WINDOW_SECONDS)
            while len(batch) < int(self.esm.batch_size or 100):
                try:
                    batch.append(self.records.get(timeout=window))
                except queue.Empty:
                    break
            if self.esm.enabled:
                self._deliver(batch)

    def _deliver(self, batch: list[StreamRecord]) -> None:
        from moto.awslambda.utils import get_backend

        backend = get_backend(self.account_id, self.function_arn.split(":")[3])
        retries = self.esm.max_retry_attempts
        retries = DEFAULT_RETRIES if retries in (None, -1) else int(retries)
        for _attempt in range(retries + 1):
            payload = backend.send_dynamodb_items(self.function_arn, batch, self.esm.event_source_arn)
            batch = self._unfinished(batch, payload)
            if not batch:
                return
        log.warning("dropping %d stream records for %s after %d retries", len(batch), self.function_arn, retries)

    def _unfinished(self, batch: list[StreamRecord], payload: Any) -> list[StreamRecord]:
        try:
            result = json.loads(payload) if payload else None
        except (TypeError, ValueError):
            result = None
        if isinstance(result, dict) and "errorMessage" in result and "errorType" in result:
            return batch  # the whole batch failed
        reports_failures = "ReportBatchItemFailures" in (self.esm.function_response_types or [])
        if not (reports_failures and isinstance(result, dict) and result.get("batchItemFailures")):
            return []
        failed = {str(item.get("itemIdentifier")) for item in result["batchItemFailures"]}
        sequence_numbers = [r.record["dynamodb"]["SequenceNumber"] for r in batch]
        first = min((sequence_numbers.index(s) for s in failed if s in sequence_numbers), default=None)
        return batch[first:] if first is not None else []


def _worker_for(account_id: str, function_arn: str, esm: Any) -> StreamWorker:
    key = (function_arn, esm.event_source_arn)
    with _registry_lock:
        worker = _workers.get(key)
        if worker is None or worker.esm is not esm:
            worker = StreamWorker(account_id, function_arn, esm)
            worker.start()
            _workers[key] = worker
        return worker


def _add(self: StreamShard, old: Any, new: Any) -> None:
    with _registry_lock:
        lock = _shard_locks.setdefault(id(self), threading.Lock())
    with lock:
        view_type = self.table.stream_specification["StreamViewType"]
        event_name = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
        sequence_number = len(self.items) + self.starting_sequence_number
        record = StreamRecord(self.table, view_type, event_name, old, new, sequence_number)
        self.items.append(record)  # kept, so GetRecords sees the whole shard as on AWS
        for function_arn, esm in self.table.lambda_event_source_mappings.items():
            _worker_for(self.account_id, function_arn, esm).records.put(record)


def install() -> None:
    StreamShard.add = _add  # type: ignore[method-assign]
