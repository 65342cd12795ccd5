"""S3 buckets as teardown meets them: their tags, emptied (every version), deleted."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from lambdalab.deploy import tags as tagging
from lambdalab.deploy.responses import error_code


def bucket_tags(s3: Any, name: str) -> dict[str, str]:
    try:
        return tagging.from_list(s3.get_bucket_tagging(Bucket=name).get("TagSet"))
    except ClientError as error:
        if error_code(error) in ("NoSuchTagSet", "NoSuchTagSetError"):
            return {}
        raise


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
