"""Watch a Step Functions execution, tabulate its history, and draw the path it took."""

from __future__ import annotations

import html
import json
import time
from typing import Any, Callable

import matplotlib.pyplot as plt
from matplotlib import patches

VISITED = "#4caf50"
FAILED = "#e53935"
UNVISITED = "#eceff1"


def follow_execution(sfn: Any, execution_arn: str, *, poll_seconds: float = 0.5, timeout_seconds: float = 900,
                     say: Callable[[str], None] = print) -> dict[str, Any]:
    """Print each state the first time the execution enters it, then the final status.

    One line per new state (not per poll), so the output is the path, not the timing.
    """
    announced: set[str] = set()
    deadline = time.monotonic() + timeout_seconds
    while True:
        events = history(sfn, execution_arn)
        for event in events:
            name = event.get("stateEnteredEventDetails", {}).get("name")
            if name and name not in announced:
                announced.add(name)
                say(f"→ {name}")
        described = sfn.describe_execution(executionArn=execution_arn)
        if described["status"] != "RUNNING":
            say(f"■ {described['status']}")
            return described
        if time.monotonic() > deadline:
            raise TimeoutError(f"execution still running after {timeout_seconds} s: {execution_arn}")
        time.sleep(poll_seconds)


def history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    """Every history event, all pages, oldest first."""
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events.extend(page["events"])
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def path_taken(events: list[dict[str, Any]]) -> list[str]:
    """State names in the order they were entered (repeats kept: a polling loop shows as a loop)."""
    return [e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e]


def state_summary(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per state: how often it ran and how long it took in total."""
    rows: dict[str, dict[str, Any]] = {}
    entered_at: dict[str, Any] = {}
    for event in events:
        if "stateEnteredEventDetails" in event:
            name = event["stateEnteredEventDetails"]["name"]
            row = rows.setdefault(name, {"state": name, "runs": 0, "seconds": 0.0})
            row["runs"] += 1
            entered_at[name] = event["timestamp"]
        elif "stateExitedEventDetails" in event:
            name = event["stateExitedEventDetails"]["name"]
            if name in entered_at:
                rows[name]["seconds"] += (event["timestamp"] - entered_at.pop(name)).total_seconds()
    return list(rows.values())


def history_table(events: list[dict[str, Any]]):
    """The execution history as an HTML table: id, type, state, and a short detail."""
    from IPython.display import HTML

    start = events[0]["timestamp"] if events else None
    rows = []
    for event in events:
        details = next((v for k, v in event.items() if k.endswith("EventDetails")), {})
        name = details.get("name", "")
        detail = details.get("error") or details.get("resource") or ""
        if "output" in details and not detail:
            detail = details["output"][:80] + ("…" if len(details["output"]) > 80 else "")
        offset = (event["timestamp"] - start).total_seconds() if start else 0.0
        rows.append(
            f"<tr><td>{event['id']}</td><td>+{offset:.1f} s</td><td>{html.escape(event['type'])}</td>"
            f"<td>{html.escape(name)}</td><td><code>{html.escape(str(detail))}</code></td></tr>"
        )
    header = "<tr><th>id</th><th>time</th><th>event</th><th>state</th><th>detail</th></tr>"
    return HTML(f"<table>{header}{''.join(rows)}</table>")


def _transitions(state: dict[str, Any]) -> list[tuple[str, str]]:
    found = []
    if "Next" in state:
        found.append((state["Next"], ""))
    for choice in state.get("Choices", []):
        found.append((choice["Next"], "choice"))
    if "Default" in state:
        found.append((state["Default"], "default"))
    for catch in state.get("Catch", []):
        found.append((catch["Next"], "catch"))
    return found


def _layout(definition: dict[str, Any]) -> dict[str, tuple[float, float]]:
    """Main path top to bottom (breadth-first from StartAt); Fail states in a column to the right."""
    states = definition["States"]
    order, queue = [], [definition["StartAt"]]
    while queue:
        name = queue.pop(0)
        if name in order or name not in states:
            continue
        order.append(name)
        queue.extend(target for target, _ in _transitions(states[name]))
    order += [name for name in states if name not in order]
    main = [n for n in order if states[n]["Type"] != "Fail"]
    side = [n for n in order if states[n]["Type"] == "Fail"]
    positions = {name: (0.0, -float(i)) for i, name in enumerate(main)}
    for i, name in enumerate(side):
        positions[name] = (2.6, -1.5 - 2.0 * i)
    return positions


def draw_state_machine(definition: dict[str, Any] | str, visited: list[str] | None = None,
                       final_status: str | None = None):
    """The state machine as boxes and arrows; states the execution entered are coloured."""
    if isinstance(definition, str):
        definition = json.loads(definition)
    states = definition["States"]
    positions = _layout(definition)
    visited_set = set(visited or [])
    last = (visited or [None])[-1]
    height = len([n for n in states if states[n]["Type"] != "Fail"])
    figure, axis = plt.subplots(figsize=(7.5, 0.9 * height + 1))
    for name, (x, y) in positions.items():
        for target, label in _transitions(states[name]):
            if target not in positions:
                continue
            tx, ty = positions[target]
            backwards = ty > y
            style = "arc3,rad=-0.6" if backwards else "arc3,rad=0.0"
            taken = name in visited_set and target in visited_set
            axis.add_patch(patches.FancyArrowPatch(
                (x + (0.9 if backwards else 0), y), (tx + (0.9 if backwards else 0), ty),
                connectionstyle=style, arrowstyle="-|>", mutation_scale=12,
                color="#37474f" if taken else "#b0bec5", linewidth=1.6 if taken else 1.0,
                shrinkA=14, shrinkB=14))
    for name, (x, y) in positions.items():
        kind = states[name]["Type"]
        colour = UNVISITED
        if name in visited_set:
            colour = FAILED if (kind == "Fail" or (name == last and final_status == "FAILED")) else VISITED
        axis.add_patch(patches.FancyBboxPatch((x - 0.9, y - 0.28), 1.8, 0.56, boxstyle="round,pad=0.02",
                                              facecolor=colour, edgecolor="#37474f",
                                              linewidth=2.2 if name == last else 1.0))
        axis.text(x, y + 0.06, name, ha="center", va="center", fontsize=9, weight="bold")
        axis.text(x, y - 0.17, kind, ha="center", va="center", fontsize=7, color="#455a64")
    axis.set_xlim(-1.6, 4.0)
    axis.set_ylim(-height + 0.3, 0.7)
    axis.axis("off")
    title = "Path taken" + (f" — {final_status}" if final_status else "")
    axis.set_title(title, fontsize=10)
    figure.tight_layout()
    return figure
