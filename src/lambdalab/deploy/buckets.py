"""S3 buckets: region-correct creation, tags, the Lambda trigger, and emptying for teardown.

us-east-1 is S3's original region and rejects a LocationConstraint naming itself; every other
region requires one, or the bucket silently lands in us-east-1 (and its trigger cannot reach a
Lambda function in the learner's region).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from lambdalab.deploy import tags as tagging
from lambdalab.deploy.changes import CREATED, UNCHANGED, UPDATED, Changes
from lambdalab.deploy.pages import error_code
from lambdalab.deploy.retry import with_backoff


def create_bucket_arguments(name: str, region: str) -> dict[str, Any]:
    """`create_bucket` keyword arguments for `region` (no LocationConstraint in us-east-1)."""
    arguments: dict[str, Any] = {"Bucket": name}
    if region != "us-east-1":
        arguments["CreateBucketConfiguration"] = {"LocationConstraint": region}
    return arguments


def check_no_recursion(input_bucket: str, output_bucket: str) -> None:
    """The trigger fires on every new object in the input bucket: writing results there loops forever."""
    if input_bucket == output_bucket:
        raise ValueError(
            f"output bucket {output_bucket!r} is the input bucket: every blurred video would trigger "
            "face_detection again (an endless, billed loop). Use a separate output bucket."
        )


def bucket_tags(s3: Any, name: str) -> dict[str, str]:
    try:
        return tagging.from_list(s3.get_bucket_tagging(Bucket=name).get("TagSet"))
    except ClientError as error:
        if error_code(error) in ("NoSuchTagSet", "NoSuchTagSetError"):
            return {}
        raise


def ensure_bucket(
    s3: Any, name: str, *, region: str, tags: Mapping[str, str], changes: Changes | None = None
) -> None:
    """Create bucket `name` in `region` unless we already own it, and make sure it carries `tags`."""
    changes = changes if changes is not None else Changes()
    try:
        s3.head_bucket(Bucket=name)
        exists = True
    except ClientError as error:
        code = error_code(error)
        if code in ("403", "AccessDenied", "Forbidden"):
            raise RuntimeError(f"bucket {name!r} exists but belongs to another account; choose another prefix")
        if code not in ("404", "NoSuchBucket", "NotFound"):
            raise
        exists = False
    if not exists:
        try:
            s3.create_bucket(**create_bucket_arguments(name, region))
        except ClientError as error:
            if error_code(error) != "BucketAlreadyOwnedByYou":
                raise
        s3.get_waiter("bucket_exists").wait(Bucket=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    current = bucket_tags(s3, name)
    retag = bool(tagging.missing(current, tags))
    if retag:
        # put_bucket_tagging replaces the whole set: keep tags someone else added.
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tagging.as_list({**current, **tags})})
    if not exists:
        changes.add("bucket", name, CREATED, region)
    else:
        changes.add("bucket", name, UPDATED if retag else UNCHANGED, "tags" if retag else "")


def bucket_arn(name: str, partition: str = "aws") -> str:
    """Bucket ARNs carry neither region nor account (names are global)."""
    return f"arn:{partition}:s3:::{name}"


def lambda_trigger(
    config_id: str, function_arn: str, *, suffix: str = "", prefix: str = "",
    events: Sequence[str] = ("s3:ObjectCreated:*",),
) -> dict[str, Any]:
    """One LambdaFunctionConfigurations entry. `s3:ObjectCreated:*` = the console's "All object create"."""
    rules = [{"Name": n, "Value": v} for n, v in (("prefix", prefix), ("suffix", suffix)) if v]
    entry: dict[str, Any] = {"Id": config_id, "LambdaFunctionArn": function_arn, "Events": list(events)}
    if rules:
        entry["Filter"] = {"Key": {"FilterRules": rules}}
    return entry


def _normalised(configuration: Mapping[str, Any]) -> dict[str, Any]:
    """S3 echoes filter rule names capitalised ("Suffix") and adds empty keys; compare semantically."""
    out: dict[str, Any] = {}
    for kind in ("LambdaFunctionConfigurations", "QueueConfigurations", "TopicConfigurations"):
        entries = []
        for entry in configuration.get(kind, []) or []:
            rules = entry.get("Filter", {}).get("Key", {}).get("FilterRules", [])
            entries.append(
                {
                    **{k: v for k, v in entry.items() if k not in ("Filter", "Events")},
                    "Events": sorted(entry.get("Events", [])),
                    "Rules": sorted((r["Name"].lower(), r["Value"]) for r in rules),
                }
            )
        if entries:
            out[kind] = sorted(entries, key=lambda e: str(e.get("Id")))
    if configuration.get("EventBridgeConfiguration") is not None:
        out["EventBridgeConfiguration"] = True
    return out


def ensure_notifications(
    s3: Any, bucket: str, configuration: Mapping[str, Any], *, changes: Changes | None = None
) -> None:
    """Put the bucket's whole notification configuration, unless it already is exactly this.

    The API replaces the configuration as a whole, so "add one trigger" is not a thing; putting the
    full desired configuration is what makes a re-run converge instead of accumulate.
    S3 checks that it may invoke the function; right after add_permission that check can fail for
    a few seconds, hence the retry.
    """
    changes = changes if changes is not None else Changes()
    current = s3.get_bucket_notification_configuration(Bucket=bucket)
    current.pop("ResponseMetadata", None)
    if _normalised(current) == _normalised(configuration):
        changes.add("bucket notification", bucket, UNCHANGED)
        return
    with_backoff(
        lambda: s3.put_bucket_notification_configuration(
            Bucket=bucket, NotificationConfiguration=dict(configuration)
        )
    )
    changes.add("bucket notification", bucket, UPDATED if _normalised(current) else CREATED)


def empty_bucket(s3: Any, bucket: str) -> int:
    """Delete every object version and delete marker (a versioned bucket cannot be deleted otherwise)."""
    deleted = 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        batch = [
            {"Key": item["Key"], "VersionId": item["VersionId"]}
            for item in (page.get("Versions", []) or []) + (page.get("DeleteMarkers", []) or [])
        ]
        for start in range(0, len(batch), 1000):
            chunk = batch[start : start + 1000]
            result = s3.delete_objects(Bucket=bucket, Delete={"Objects": chunk, "Quiet": True})
            errors = result.get("Errors", [])
            if errors:
                raise RuntimeError(f"could not delete {len(errors)} object(s) in {bucket}: {errors[0]}")
            deleted += len(chunk)
    return deleted


def delete_bucket(s3: Any, bucket: str, *, attempts: int = 3) -> bool:
    """Remove the trigger, empty and delete `bucket`; False when it was already gone.

    A Lambda invocation still finishing can write one more object between emptying and deleting
    (BucketNotEmpty): empty again, a bounded number of times.
    """
    try:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
        for attempt in range(1, attempts + 1):
            empty_bucket(s3, bucket)
            try:
                s3.delete_bucket(Bucket=bucket)
                return True
            except ClientError as error:
                if error_code(error) != "BucketNotEmpty" or attempt == attempts:
                    raise
    except ClientError as error:
        if error_code(error) in ("NoSuchBucket", "404"):
            return False
        raise
    return True
