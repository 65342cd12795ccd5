"""Reading boto3 responses, as every deploy module needs: all items across pages, and a ClientError's code."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError


def paginate(client: Any, operation: str, key: str, **kwargs: Any) -> list[Any]:
    """Every item under `key` across all pages of `operation` (lists are short in this lab)."""
    items: list[Any] = []
    for page in client.get_paginator(operation).paginate(**kwargs):
        items.extend(page.get(key, []) or [])
    return items


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))
