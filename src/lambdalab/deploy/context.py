"""What every deploy step needs: the target, the learner's prefix, names, tags and the change log."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lambdalab.deploy import session_state
from lambdalab.deploy.changes import Changes
from lambdalab.deploy.naming import Names, owns_name
from lambdalab.deploy.tags import lab_tags
from lambdalab.deploy.target import Target, current_target


@dataclass
class DeployContext:
    target: Target
    prefix: str
    changes: Changes
    names: Names = field(init=False)
    tags: dict[str, str] = field(init=False)
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.names = Names(self.prefix, self.target.account)
        self.tags = lab_tags(self.prefix)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.target.client(service)
        return self._clients[service]

    def require_own_name(self, name: str, what: str) -> str:
        """Custom names must still start with the prefix: teardown finds resources by it."""
        if not owns_name(name, self.prefix):
            raise ValueError(f"{what} {name!r} must start with '{self.prefix}-' so that teardown can find it")
        return name


def make_context(target: Target | None, prefix: str | None, verbose: bool) -> DeployContext:
    chosen = target if target is not None else current_target()
    chosen_prefix = session_state.validate_prefix(prefix) if prefix else session_state.session_prefix()
    return DeployContext(chosen, chosen_prefix, Changes(verbose=verbose))
