"""Event source mappings (DynamoDB stream -> Lambda): find the one for (source, function), converge it.

There is no name to look a mapping up by, only its UUID, so "does it exist?" means listing the
mappings of the source and matching the function. Duplicates (from an interrupted earlier run)
would deliver every record twice, so extras are deleted.

StartingPosition cannot be changed on an existing mapping; when it differs the mapping is
recreated. LATEST reads only records written after the mapping is enabled (what the notebook
wants: put an item, see one message); TRIM_HORIZON replays everything still in the stream
(24 hours for DynamoDB), which surprises learners with old songs after a re-deploy.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from lambdalab.deploy import tags as tagging
from lambdalab.deploy.changes import CREATED, UNCHANGED, UPDATED, Changes
from lambdalab.deploy.pages import paginate
from lambdalab.deploy.retry import with_backoff

STARTING_POSITIONS = ("LATEST", "TRIM_HORIZON")


def function_name_of(function_arn: str) -> str:
    """`arn:aws:lambda:r:a:function:NAME[:qualifier]` -> NAME."""
    return function_arn.split(":")[6]


def source_label(source_arn: str) -> str:
    """A readable name for a mapping's source: the table of a stream ARN, else the ARN's last part."""
    resource = source_arn.split(":", 5)[-1]
    parts = resource.split("/")
    return parts[1] if len(parts) > 1 and parts[0] == "table" else parts[-1].split(":")[-1]


def find_mappings(lam: Any, source_arn: str, function_name: str) -> list[dict[str, Any]]:
    mappings = paginate(lam, "list_event_source_mappings", "EventSourceMappings", EventSourceArn=source_arn)
    return [m for m in mappings if function_name_of(m["FunctionArn"]) == function_name]


def ensure_event_source_mapping(
    lam: Any,
    function_name: str,
    source_arn: str,
    *,
    starting_position: str = "LATEST",
    batch_size: int = 10,
    function_response_types: Sequence[str] = ("ReportBatchItemFailures",),
    maximum_retry_attempts: int = 3,
    bisect_batch_on_function_error: bool = True,
    maximum_batching_window_s: int = 0,
    tags: Mapping[str, str] | None = None,
    changes: Changes | None = None,
    wait_enabled_s: float = 120.0,
) -> str:
    """Converge the mapping from `source_arn` to `function_name`; returns its UUID.

    ReportBatchItemFailures lets the function name the records that failed, so only those are
    retried; with a bounded MaximumRetryAttempts and bisection a poison record cannot block the
    shard for 24 hours (the default retries forever).
    """
    if starting_position not in STARTING_POSITIONS:
        raise ValueError(f"starting_position must be one of {STARTING_POSITIONS}")
    changes = changes if changes is not None else Changes()
    settings: dict[str, Any] = {
        "BatchSize": batch_size,
        "FunctionResponseTypes": list(function_response_types),
        "MaximumRetryAttempts": maximum_retry_attempts,
        "BisectBatchOnFunctionError": bisect_batch_on_function_error,
        "MaximumBatchingWindowInSeconds": maximum_batching_window_s,
    }
    found = find_mappings(lam, source_arn, function_name)
    for extra in found[1:]:
        lam.delete_event_source_mapping(UUID=extra["UUID"])
    mapping = found[0] if found else None
    if mapping is not None and mapping.get("StartingPosition") != starting_position:
        lam.delete_event_source_mapping(UUID=mapping["UUID"])
        mapping = None

    if mapping is None:
        created = with_backoff(
            lambda: lam.create_event_source_mapping(
                FunctionName=function_name,
                EventSourceArn=source_arn,
                StartingPosition=starting_position,
                Enabled=True,
                Tags=dict(tags or {}),
                **settings,
            )
        )
        uuid = str(created["UUID"])
        _wait_enabled(lam, uuid, wait_enabled_s)
        changes.add("event source mapping", f"{function_name} <- {source_label(source_arn)}", CREATED)
        return uuid

    uuid = str(mapping["UUID"])
    done: list[str] = []
    current = {key: mapping.get(key) for key in settings}
    current["FunctionResponseTypes"] = list(mapping.get("FunctionResponseTypes") or [])
    current["MaximumBatchingWindowInSeconds"] = mapping.get("MaximumBatchingWindowInSeconds") or 0
    if current != settings or mapping.get("State") in ("Disabled", "Disabling"):
        with_backoff(lambda: lam.update_event_source_mapping(UUID=uuid, Enabled=True, **settings))
        _wait_enabled(lam, uuid, wait_enabled_s)
        done.append("settings")
    if tags and mapping.get("EventSourceMappingArn"):
        arn = mapping["EventSourceMappingArn"]
        wanted = tagging.missing(lam.list_tags(Resource=arn).get("Tags", {}), tags)
        if wanted:
            lam.tag_resource(Resource=arn, Tags=wanted)
            done.append("tags")
    changes.add(
        "event source mapping",
        f"{function_name} <- {source_label(source_arn)}",
        UPDATED if done else UNCHANGED,
        ", ".join(done),
    )
    return uuid


def _wait_enabled(lam: Any, uuid: str, timeout_s: float) -> None:
    """Records written while the mapping is still `Creating` are skipped with LATEST: wait."""
    deadline = time.monotonic() + timeout_s
    while True:
        state = lam.get_event_source_mapping(UUID=uuid).get("State")
        if state in ("Enabled", "Disabled"):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"event source mapping {uuid} still {state} after {timeout_s:.0f} s")
        time.sleep(2)
