"""Pictures of a Step Functions execution: its history per state, and the path it took.

The notebooks fetch the history themselves (`get_execution_history`); this only draws it."""

from __future__ import annotations

import html
import json
from typing import Any

import matplotlib.pyplot as plt
from matplotlib import patches

from lambdalab.execution_history import states_entered

VISITED = "#4caf50"
FAILED = "#e53935"
UNVISITED = "#eceff1"


def path_taken(events: list[dict[str, Any]]) -> list[str]:
    """State names in the order they were entered (repeats kept: a polling loop shows as a loop)."""
    return [state.name for state in states_entered(events)]


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


def state_summary_table(events: list[dict[str, Any]]):
    """`state_summary` as an HTML table: each state, how often it ran, how long in total."""
    from IPython.display import HTML

    rows = "".join(
        f"<tr><td>{html.escape(r['state'])}</td><td>{r['runs']}</td><td>{r['seconds']:.1f} s</td></tr>"
        for r in state_summary(events)
    )
    return HTML(f"<table><tr><th>state</th><th>runs</th><th>time</th></tr>{rows}</table>")


def _transitions(state: dict[str, Any]) -> list[tuple[str, str]]:
    """(target, label) for every way out of a state: Next, each Choice rule, Default, Catch."""
    found = []
    if "Next" in state:
        found.append((state["Next"], ""))
    for choice in state.get("Choices", []):
        found.append((choice["Next"], str(choice.get("StringEquals", choice.get("BooleanEquals", "")))))
    if "Default" in state:
        found.append((state["Default"], "otherwise"))
    for catch in state.get("Catch", []):
        found.append((catch["Next"], "error"))
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


HALF_WIDTH, HALF_HEIGHT = 0.9, 0.28


def _edge(axis: Any, start: tuple[float, float], end: tuple[float, float], label: str, taken: bool) -> None:
    """One arrow between box edges: down the column, back up on the left (a loop), or across."""
    (x, y), (tx, ty) = start, end
    if x == tx and ty < y:
        tail, head, style = (x, y - HALF_HEIGHT), (tx, ty + HALF_HEIGHT), "arc3,rad=0"
    elif x == tx:
        tail, head, style = (x - HALF_WIDTH, y), (tx - HALF_WIDTH, ty), "arc3,rad=-0.6"
    else:
        tail, head, style = (x + HALF_WIDTH, y), (tx - HALF_WIDTH, ty), "arc3,rad=0"
    colour = "#263238" if taken else "#90a4ae"
    axis.add_patch(
        patches.FancyArrowPatch(
            tail,
            head,
            connectionstyle=style,
            arrowstyle="-|>",
            mutation_scale=14,
            color=colour,
            linewidth=1.8 if taken else 1.0,
        )
    )
    if label:
        share = 0.5 if x == tx else 0.2  # across: near the tail, so labels of crossing arrows stay apart
        mid_x = tail[0] + (head[0] - tail[0]) * share - (0.55 if x == tx and ty > y else 0)
        mid_y = tail[1] + (head[1] - tail[1]) * share
        axis.text(
            mid_x + 0.05,
            mid_y,
            label,
            fontsize=7,
            color=colour,
            ha="left",
            va="center",
            bbox={"facecolor": "white", "edgecolor": "none", "pad": 0.5},
        )


def draw_state_machine(
    definition: dict[str, Any] | str, visited: list[str] | None = None, final_status: str | None = None
):
    """The state machine as boxes and arrows; with `visited`, the path an execution took is coloured."""
    if isinstance(definition, str):
        definition = json.loads(definition)
    states = definition["States"]
    positions = _layout(definition)
    visited = visited or []
    visited_set = set(visited)
    steps = set(zip(visited, visited[1:]))
    last = visited[-1] if visited else None
    height = len([n for n in states if states[n]["Type"] != "Fail"])
    figure, axis = plt.subplots(figsize=(7.5, 0.9 * height + 1))
    for name, position in positions.items():
        for target, label in _transitions(states[name]):
            if target in positions:
                _edge(axis, position, positions[target], label, (name, target) in steps)
    for name, (x, y) in positions.items():
        kind = states[name]["Type"]
        colour = UNVISITED
        if name in visited_set:
            colour = FAILED if (kind == "Fail" or (name == last and final_status == "FAILED")) else VISITED
        axis.add_patch(
            patches.FancyBboxPatch(
                (x - HALF_WIDTH, y - HALF_HEIGHT),
                2 * HALF_WIDTH,
                2 * HALF_HEIGHT,
                boxstyle="round,pad=0.02",
                facecolor=colour,
                edgecolor="#37474f",
                linewidth=2.2 if name == last else 1.0,
            )
        )
        axis.text(x, y + 0.06, name, ha="center", va="center", fontsize=9, weight="bold")
        axis.text(x, y - 0.17, kind, ha="center", va="center", fontsize=7, color="#455a64")
    axis.set_xlim(-2.2, 3.8)
    axis.set_ylim(-height + 0.3, 0.7)
    axis.axis("off")
    title = f"Path taken — {final_status}" if visited else "The state machine"
    axis.set_title(title, fontsize=10)
    figure.tight_layout()
    plt.close(figure)  # shown once, as the cell's result, not again by the inline backend
    return figure
