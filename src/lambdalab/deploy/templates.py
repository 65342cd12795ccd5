"""Fill `${Placeholder}` slots in the JSON templates (IAM policies, state_machine.json).

Not `string.Template`: IAM's own policy variables look like `${aws:username}` and must survive, so
only `${Name}` with a plain identifier is a slot. Every slot must be filled (a silently empty ARN
would widen or break a policy), and the result must still be valid JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

SLOT = re.compile(r"\$\{([A-Za-z][A-Za-z0-9_]*)\}")


def slots(text: str) -> set[str]:
    """The placeholder names a template uses."""
    return set(SLOT.findall(text))


def render(text: str, values: Mapping[str, str]) -> str:
    """`text` with every `${Name}` replaced by `values[Name]` (JSON-escaped); KeyError lists gaps."""
    gaps = sorted(slots(text) - set(values))
    if gaps:
        raise KeyError(f"no value for placeholder(s) {', '.join(gaps)}")

    def fill(match: re.Match[str]) -> str:
        return json.dumps(str(values[match.group(1)]))[1:-1]

    rendered = SLOT.sub(fill, text)
    json.loads(rendered)  # a template must stay JSON after filling
    return rendered


def render_json(text: str, values: Mapping[str, str]) -> Any:
    return json.loads(render(text, values))
