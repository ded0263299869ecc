"""Draw one execution of a state machine as a self-contained SVG, like the Step Functions console's graph.

The graph comes from the ASL definition, the colours and times from the execution's history
(GetExecutionHistory events). Standard library only, so the picture can be made wherever the history is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

DONE = "done"
AWAITING = "awaiting"
FAILED = "failed"
CAUGHT = "caught"
NOT_REACHED = "not reached"
COLOURS: dict[str, str] = {
    DONE: "#b7e4c7",
    AWAITING: "#9ec5fe",
    FAILED: "#f1a1a1",
    CAUGHT: "#ffc680",
    NOT_REACHED: "#e9ecef",
}

# A callback state's own errors, as the console would do well to put them.
CALLBACK_ERRORS = {"DynamoDb.ConditionalCheckFailedException": "arrived early", "States.Timeout": "past its SLA"}
NODE_H, ROW_GAP, COL_GAP, DUMMY_W, MARGIN, TOP, LEGEND_W, LANE_GAP = 64, 44, 28, 12, 24, 84, 130, 10
Slot = str | tuple[str, str, int]  # a state, or where an edge spanning several rows crosses row N


@dataclass(frozen=True)
class StateOutcome:
    name: str
    outcome: str
    entered: datetime | None  # the last entry
    exited: datetime | None
    entries: int
    error: str | None


def state_outcomes(definition: Mapping[str, Any], history: Sequence[Mapping[str, Any]]) -> dict[str, StateOutcome]:
    """The outcome of every top-level state; nested states (Parallel, Map) count towards their parent."""
    states: Mapping[str, Any] = definition["States"]
    seen: dict[str, StateOutcome] = {}
    current: str | None = None  # top-level states run one at a time
    ended: str | None = None
    for event in sorted(history, key=lambda event: int(event.get("id", 0))):
        kind, when = str(event["type"]), _when(event["timestamp"])
        entered = event.get("stateEnteredEventDetails", {}).get("name")
        exited = event.get("stateExitedEventDetails", {}).get("name")
        if kind.endswith("StateEntered") and entered in states:
            entries = seen[entered].entries + 1 if entered in seen else 1
            seen[entered] = StateOutcome(entered, NOT_REACHED, when, None, entries, None)
            current = entered
        elif kind.endswith("StateExited") and exited in seen:
            seen[exited], current = replace(seen[exited], exited=when), None
        elif kind.endswith(("Failed", "TimedOut", "Aborted")):
            # The execution's own error only names a state that has none of its own (a Fail state).
            if current and not (kind.startswith("Execution") and seen[current].error):
                details = event.get(f"{kind[0].lower()}{kind[1:]}EventDetails") or {}
                seen[current] = replace(seen[current], error=str(details.get("error") or kind))
            ended = kind if kind.startswith("Execution") else ended
        elif kind.endswith("Succeeded"):
            ended = kind if kind == "ExecutionSucceeded" else ended
            if current and kind != "ExecutionSucceeded":  # a retry that succeeded: the state did not fail
                seen[current] = replace(seen[current], error=None)
        elif kind == "ExecutionRedriven":
            ended = None
    return {name: _outcome(name, state, seen.get(name), ended) for name, state in states.items()}


def _outcome(name: str, state: Mapping[str, Any], seen: StateOutcome | None, ended: str | None) -> StateOutcome:
    if seen is None:
        return StateOutcome(name, NOT_REACHED, None, None, 0, None)
    if state.get("Type") == "Fail":
        outcome = FAILED
    elif seen.exited is None:
        outcome = AWAITING if ended is None else DONE if ended == "ExecutionSucceeded" else FAILED
    else:
        outcome = CAUGHT if seen.error else DONE
    return replace(seen, outcome=outcome)


def _when(value: object) -> datetime:
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(moment, datetime):
        raise TypeError(f"not a timestamp: {value!r}")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def render_svg(definition: Mapping[str, Any], history: Sequence[Mapping[str, Any]], *, title: str) -> str:
    outcomes = state_outcomes(definition, history)
    edges = _edges(definition["States"])
    rank, order = _ranks(definition["StartAt"], definition["States"], edges)
    rows = _rows(edges, rank, order)
    lines = {name: _lines(outcome, definition["States"][name]) for name, outcome in outcomes.items()}
    node_w = max(
        [150.0] + [len(text) * (7.8 if i == 0 else 6.4) + 24 for ls in lines.values() for i, text in enumerate(ls)]
    )
    size = {slot: node_w if isinstance(slot, str) else DUMMY_W for row in rows for slot in row}
    widths = [sum(size[slot] for slot in row) + COL_GAP * (len(row) - 1) for row in rows]
    inner = max(*widths, len(COLOURS) * LEGEND_W, len(title) * 9)
    x: dict[Slot, float] = {}
    for row, row_width in zip(rows, widths, strict=True):  # each row centred
        left = MARGIN + (inner - row_width) / 2
        for slot in row:
            x[slot], left = left + size[slot] / 2, left + size[slot] + COL_GAP
    # Back edges go round the right of everything, each in a lane of its own, in and out horizontally.
    back = [edge for edge in edges if rank[edge[1]] <= rank[edge[0]]]
    lanes = {edge: MARGIN + inner + 24 + LANE_GAP * i for i, edge in enumerate(sorted(back, key=lambda e: rank[e[1]]))}
    width = (max(lanes.values()) + 10 if lanes else MARGIN + inner) + MARGIN
    height = _top(len(rows)) - ROW_GAP + MARGIN
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="sans-serif">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
        f'<rect width="{width:.0f}" height="{height:.0f}" fill="white"/>',
        f'<text x="{MARGIN}" y="{MARGIN + 8}" font-size="16" font-weight="bold">{escape(title)}</text>',
    ]
    for i, (outcome, colour) in enumerate(COLOURS.items()):
        left = MARGIN + i * LEGEND_W
        out.append(f'<rect x="{left}" y="{MARGIN + 22}" width="14" height="14" rx="3" fill="{colour}" stroke="#555"/>')
        out.append(f'<text x="{left + 20}" y="{MARGIN + 34}" font-size="12">{escape(outcome)}</text>')
    for (source, target), catch_only in edges.items():
        if rank[target] > rank[source]:  # downwards, through its own slot in every row it crosses
            crossings = [x[source, target, r] for r in range(rank[source] + 1, rank[target])]
            path = _down_path(x[source], rank[source], crossings, x[target], rank[target])
        else:  # a back edge (a loop), or one from an unreachable state
            sx, sy = x[source] + node_w / 2, _top(rank[source]) + NODE_H / 2 + 10
            tx, ty = x[target] + node_w / 2, _top(rank[target]) + NODE_H / 2 - 10
            path = _round_the_side(sx, sy, lanes[source, target], tx, ty)
        dash = ' stroke-dasharray="6 4"' if catch_only else ""
        out.append(f'<path d="{path}" fill="none" stroke="#555" stroke-width="1.4"{dash} marker-end="url(#arrow)"/>')
    for name, state in outcomes.items():
        out += _node(state, lines[name], x[name], _top(rank[name]), node_w)
    return "\n".join([*out, "</svg>\n"])


def write_picture(
    path: Path, definition: Mapping[str, Any], history: Sequence[Mapping[str, Any]], *, title: str
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_svg(definition, history, title=title), encoding="utf-8")
    return path


def _top(row: int) -> float:
    return TOP + row * (NODE_H + ROW_GAP)


def _round_the_side(sx: float, sy: float, lane: float, tx: float, ty: float) -> str:
    """Out of the source's right side to its lane, along the lane, into the target's right side."""
    r = 8.0
    up = -1 if ty < sy else 1
    return (
        f"M{sx:.1f},{sy:.1f} L{lane - r:.1f},{sy:.1f} Q{lane:.1f},{sy:.1f} {lane:.1f},{sy + up * r:.1f} "
        f"L{lane:.1f},{ty - up * r:.1f} Q{lane:.1f},{ty:.1f} {lane - r:.1f},{ty:.1f} L{tx:.1f},{ty:.1f}"
    )


def _down_path(sx: float, first: int, crossings: list[float], tx: float, last: int) -> str:
    """S-curves between rows, straight down through each row crossed, so the edge never meets a state."""
    points = [(sx, _top(first) + NODE_H)]
    for row, cx in enumerate(crossings, start=first + 1):
        points += [(cx, _top(row)), (cx, _top(row) + NODE_H)]
    points.append((tx, _top(last)))
    path = f"M{sx:.1f},{points[0][1]:.1f}"
    for i, ((x0, y0), (x1, y1)) in enumerate(pairwise(points)):
        mid = (y0 + y1) / 2
        path += f" C{x0:.1f},{mid:.1f} {x1:.1f},{mid:.1f} {x1:.1f},{y1:.1f}" if i % 2 == 0 else f" L{x1:.1f},{y1:.1f}"
    return path


def _node(state: StateOutcome, lines: list[str], cx: float, y: float, w: float) -> list[str]:
    out = [
        f'<g class="state" data-state="{_attr(state.name)}" data-outcome="{_attr(state.outcome)}">',
        f"<title>{escape(state.name)}: {escape(state.outcome)}</title>",
        f'<rect x="{cx - w / 2:.1f}" y="{y:.1f}" width="{w:.1f}" height="{NODE_H}" rx="10" '
        f'fill="{COLOURS[state.outcome]}" stroke="#555"/>',
    ]
    for i, text in enumerate(lines):
        style = 'font-size="13" font-weight="bold"' if i == 0 else 'font-size="11"'
        baseline = y + (NODE_H / 2 + 5 if len(lines) == 1 else 20 + i * 16)
        out.append(f'<text x="{cx:.1f}" y="{baseline:.1f}" text-anchor="middle" {style}>{escape(text)}</text>')
    return [*out, "</g>"]


def _attr(text: str) -> str:
    return escape(text, {'"': "&quot;"})


def _lines(state: StateOutcome, definition: Mapping[str, Any]) -> list[str]:
    name = state.name + (f" \N{MULTIPLICATION SIGN}{state.entries}" if state.entries > 1 else "")
    if state.entered is None:
        return [name]
    if state.outcome in (CAUGHT, FAILED):
        detail = _meaning(state.error, definition) if state.error and state.outcome == CAUGHT else state.error or FAILED
    elif state.exited is None:
        detail = "waiting"
    else:
        detail = _duration((state.exited - state.entered).total_seconds())
    return [name, state.entered.astimezone(UTC).strftime("%H:%M:%S.%f")[:-3] + " UTC", detail]


def _meaning(error: str, definition: Mapping[str, Any]) -> str:
    """What an error a callback state caught means to a reader, where it is not a failure event's name:
    its write found the event already recorded, or its SLA ran out."""
    if str(definition.get("Resource", "")).endswith(".waitForTaskToken"):
        return CALLBACK_ERRORS.get(error, error)
    return error


def _duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    for unit, length in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= length:
            return f"{seconds / length:.1f} {unit}"
    return f"{seconds:.1f} s"


def _edges(states: Mapping[str, Any]) -> dict[tuple[str, str], bool]:
    """Every transition once, Next first (so the search below follows the main path); True if only a Catch."""
    edges: dict[tuple[str, str], bool] = {}
    for name, state in states.items():
        plain = [state.get("Next"), state.get("Default"), *(choice.get("Next") for choice in state.get("Choices", []))]
        targets = [(target, False) for target in plain] + [(c.get("Next"), True) for c in state.get("Catch", [])]
        for target, catch in targets:
            if target in states:
                edges[name, target] = edges.get((name, target), True) and catch
    return edges


def _ranks(
    start: str, states: Mapping[str, Any], edges: Mapping[tuple[str, str], bool]
) -> tuple[dict[str, int], list[str]]:
    """Longest path from StartAt, without the back edges a depth-first search finds; unreachable states last."""
    successors = {name: [target for source, target in edges if source == name] for name in states}
    discovered: list[str] = []
    finished: list[str] = []
    back: set[tuple[str, str]] = set()

    def visit(name: str) -> None:
        discovered.append(name)
        for target in successors[name]:
            if target in discovered and target not in finished:
                back.add((name, target))
            elif target not in discovered:
                visit(target)
        finished.append(name)

    if start in states:
        visit(start)
    rank = dict.fromkeys(discovered, 0)
    for name in reversed(finished):  # a topological order once the back edges are left out
        for target in successors[name]:
            if (name, target) not in back:
                rank[target] = max(rank[target], rank[name] + 1)
    unreachable = [name for name in states if name not in rank]
    rank |= dict.fromkeys(unreachable, max(rank.values(), default=-1) + 1)
    return rank, discovered + unreachable


def _rows(edges: Mapping[tuple[str, str], bool], rank: Mapping[str, int], order: Sequence[str]) -> list[list[Slot]]:
    """States by rank, plus a slot wherever an edge crosses a row, ordered to cross few edges (barycentres)."""
    rows: list[list[Slot]] = [[] for _ in range(max(rank.values()) + 1)]
    links: list[tuple[Slot, Slot]] = []  # between slots of consecutive rows
    for name in order:
        rows[rank[name]].append(name)
    for source, target in edges:
        if rank[target] > rank[source]:
            crossings = [(source, target, r) for r in range(rank[source] + 1, rank[target])]
            for crossing in crossings:
                rows[crossing[2]].append(crossing)
            chain: list[Slot] = [source, *crossings, target]
            links += pairwise(chain)

    def arrange(row: list[Slot], neighbours: list[Slot], pairs: list[tuple[Slot, Slot]]) -> None:
        where = {slot: i - (len(neighbours) - 1) / 2 for i, slot in enumerate(neighbours)}
        here = {slot: i - (len(row) - 1) / 2 for i, slot in enumerate(row)}
        near = {slot: [where[b] for a, b in pairs if a == slot and b in where] for slot in row}
        row.sort(key=lambda slot: sum(near[slot]) / len(near[slot]) if near[slot] else here[slot])

    for _ in range(4):
        for r in range(len(rows) - 1, 0, -1):
            arrange(rows[r - 1], rows[r], links)
        for r in range(1, len(rows)):
            arrange(rows[r], rows[r - 1], [(b, a) for a, b in links])
    return rows
