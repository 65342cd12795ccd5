"""A record of what each deploy step did, so re-runs can show (and tests can prove) "nothing changed"."""

from __future__ import annotations

from dataclasses import dataclass, field

CREATED = "created"
UPDATED = "updated"
UNCHANGED = "unchanged"


@dataclass(frozen=True)
class Change:
    kind: str  # "function", "role", "bucket", ...
    name: str
    action: str  # created | updated | unchanged
    detail: str = ""


@dataclass
class Changes:
    """Append-only list of Change, printed as it grows when `verbose`."""

    verbose: bool = False
    items: list[Change] = field(default_factory=list)

    def add(self, kind: str, name: str, action: str, detail: str = "") -> None:
        change = Change(kind, name, action, detail)
        self.items.append(change)
        if self.verbose:
            suffix = f" ({detail})" if detail else ""
            print(f"{action:>9}  {kind:<22} {name}{suffix}")

    @property
    def changed(self) -> list[Change]:
        """Everything that was not `unchanged`: empty on a converged re-run."""
        return [c for c in self.items if c.action != UNCHANGED]
