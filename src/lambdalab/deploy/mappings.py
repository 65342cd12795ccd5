"""Event source mappings as the inventory lists them: which function, fed by what."""

from __future__ import annotations


def function_name_of(function_arn: str) -> str:
    """`arn:aws:lambda:r:a:function:NAME[:qualifier]` -> NAME."""
    return function_arn.split(":")[6]


def source_label(source_arn: str) -> str:
    """A readable name for a mapping's source: the table of a stream ARN, else the ARN's last part."""
    resource = source_arn.split(":", 5)[-1]
    parts = resource.split("/")
    return parts[1] if len(parts) > 1 and parts[0] == "table" else parts[-1].split(":")[-1]
