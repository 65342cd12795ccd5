"""The two tags on everything the lab creates: `lab=lambda-lab` and `owner=<prefix>`.

AWS services disagree on the shape of tags (a dict, `Key`/`Value` lists, `key`/`value` lists), so
this module converts once and every other module stays shape-agnostic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

LAB_KEY = "lab"
LAB_VALUE = "lambda-lab"
OWNER_KEY = "owner"


def lab_tags(prefix: str) -> dict[str, str]:
    return {LAB_KEY: LAB_VALUE, OWNER_KEY: prefix}


def as_list(tags: Mapping[str, str], key: str = "Key", value: str = "Value") -> list[dict[str, str]]:
    """`[{"Key": k, "Value": v}]` (S3, IAM, DynamoDB, SNS, ECR) or lower-case (Step Functions)."""
    return [{key: k, value: v} for k, v in sorted(tags.items())]


def from_list(items: Iterable[Mapping[str, str]] | None) -> dict[str, str]:
    """Inverse of `as_list`, accepting either capitalisation."""
    out: dict[str, str] = {}
    for item in items or ():
        k = item.get("Key", item.get("key"))
        v = item.get("Value", item.get("value", ""))
        if k is not None:
            out[k] = v
    return out


def missing(current: Mapping[str, str], wanted: Mapping[str, str]) -> dict[str, str]:
    """The subset of `wanted` that `current` lacks or holds with another value."""
    return {k: v for k, v in wanted.items() if current.get(k) != v}


def ownership(tags: Mapping[str, str] | None, prefix: str) -> str:
    """`"owned"`, `"untagged"` (no owner tag: created by us but not yet tagged) or `"foreign"`."""
    if not tags or OWNER_KEY not in tags:
        return "untagged"
    return "owned" if tags[OWNER_KEY] == prefix else "foreign"
