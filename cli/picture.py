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
STOPPED = "stopped"
NOT_REACHED = "not reached"
COLOURS: dict[str, str] = {
    DONE: "#b7e4c7",
    AWAITING: "#9ec5fe",
    FAILED: "#f1a1a1",
    CAUGHT: "#ffc680",
    STOPPED: "#d0d4d9",
    NOT_REACHED: "#e9ecef",
}

# A callback state's own errors, as the console would do well to put them.
CALLBACK_ERRORS = {"DynamoDb.ConditionalCheckFailedException": "arrived early", "States.Timeout": "past its SLA"}
# And any other state's: a conditional write whose condition did not hold (an early event was no success,
# the escalations ran out, the event came after all).
TASK_ERRORS = {"DynamoDb.ConditionalCheckFailedException": "condition not met"}
NODE_H, ROW_GAP, COL_GAP, DUMMY_W, MARGIN, TOP, LEGEND_W, LANE_GAP = 64, 44, 28, 12, 24, 84, 118, 10
TERMINAL_W, TERMINAL_H, HEADER, PAD = 80, 28, 48, 16
Slot = str | tuple[str, str, int]  # a state, or where an edge spanning several rows crosses row N


@dataclass(frozen=True)
class StateOutcome:
    name: str
    outcome: str
    entered: datetime | None  # the last entry
    exited: datetime | None
    entries: int
    error: str | None


def every_state(definition: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """Every state by name, those inside Parallel branches too (a name is unique in the whole machine)."""
    found: dict[str, Mapping[str, Any]] = {}
    for name, state in definition["States"].items():
        found[name] = state
        for branch in state.get("Branches", []):
            found |= every_state(branch)
    return found


def state_outcomes(definition: Mapping[str, Any], history: Sequence[Mapping[str, Any]]) -> dict[str, StateOutcome]:
    """The outcome of every state. An event belongs to the state its chain of previous events leads to
    (branches of a Parallel run at once); the Parallel's own events to the Parallel."""
    states = every_state(definition)
    seen: dict[str, StateOutcome] = {}
    owner: dict[int, str | None] = {}
    parallels: list[str] = []  # the Parallel states entered and not yet left, innermost last
    current: str | None = None  # the state entered last: the owner of an event that names no previous one
    ended: str | None = None
    cause = ""
    for event in sorted(history, key=lambda event: int(event.get("id", 0))):
        kind, when, number = str(event["type"]), _when(event["timestamp"]), int(event.get("id", 0))
        entered = event.get("stateEnteredEventDetails", {}).get("name")
        exited = event.get("stateExitedEventDetails", {}).get("name")
        previous = event.get("previousEventId")
        state = owner.get(int(previous), current) if previous is not None else current
        if kind.startswith("ParallelState") and parallels:
            state = parallels[-1]
        if kind.endswith("StateEntered") and entered in states:
            entries = seen[entered].entries + 1 if entered in seen else 1
            seen[entered] = StateOutcome(entered, NOT_REACHED, when, None, entries, None)
            state = current = entered
            if kind == "ParallelStateEntered":
                parallels.append(entered)
        elif kind.endswith("StateExited") and exited in seen:
            seen[exited] = replace(seen[exited], exited=when)
            if kind == "ParallelStateExited" and parallels:
                parallels.pop()
        elif kind.endswith(("Failed", "TimedOut", "Aborted")):
            # The execution's own error only names a state that has none of its own (a Fail state).
            details = event.get(f"{kind[0].lower()}{kind[1:]}EventDetails") or {}
            if state in seen and not (kind.startswith("Execution") and seen[state].error):
                seen[state] = replace(seen[state], error=str(details.get("error") or kind))
            ended = kind if kind.startswith("Execution") else ended
            cause = str(details.get("cause") or "") if kind == "ExecutionFailed" else cause
        elif kind.endswith("Succeeded"):
            ended = kind if kind == "ExecutionSucceeded" else ended
            if state in seen and kind != "ExecutionSucceeded":  # a retry that succeeded: the state did not fail
                seen[state] = replace(seen[state], error=None)
        elif kind == "ExecutionRedriven":
            ended = None
        owner[number] = state
    nested = set(states) - set(definition["States"])
    outcomes = {name: _outcome(name, state, seen.get(name), ended, name in nested) for name, state in states.items()}
    if ended == "ExecutionFailed":
        _mark_where_it_failed(outcomes, cause)
    return outcomes


def _mark_where_it_failed(outcomes: dict[str, StateOutcome], milestone: str) -> None:
    """Red where the order failed, not only at the Fail state at the bottom: the last of the failed
    milestone's own states (its wait, or its check) that caught the error; the execution's cause names it."""
    own = [o for name, o in outcomes.items() if (name == milestone or name.startswith(f"{milestone} ")) and o.error]
    caught = [o for o in own if o.outcome == CAUGHT and o.entered]
    if caught:
        last = max(caught, key=lambda o: o.entered or datetime.min.replace(tzinfo=UTC))
        outcomes[last.name] = replace(last, outcome=FAILED)


def _outcome(
    name: str, state: Mapping[str, Any], seen: StateOutcome | None, ended: str | None, in_branch: bool
) -> StateOutcome:
    if seen is None:
        return StateOutcome(name, NOT_REACHED, None, None, 0, None)
    if state.get("Type") == "Fail":
        outcome = FAILED
    elif seen.exited is None and in_branch and ended and ended != "ExecutionSucceeded":
        outcome = STOPPED  # another branch failed, and Step Functions stopped this one
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


START_NODE, END_NODE = "(start)", "(end)"  # the console's Start and End, not states


@dataclass
class _Layout:
    """A graph laid out: each node's centre x and top y, its size, the rows' tops, and the overall size."""

    x: dict[Slot, float]
    top: dict[str, float]
    size: dict[str, tuple[float, float]]
    rank: dict[str, int]
    edges: dict[tuple[str, str], bool]
    row_tops: list[float]
    row_heights: list[float]
    lanes: dict[tuple[str, str], float]
    width: float
    height: float
    inner: dict[str, list[tuple[float, _Layout]]]  # a Parallel's branches: (left offset, layout)


def render_svg(definition: Mapping[str, Any], history: Sequence[Mapping[str, Any]], *, title: str) -> str:
    outcomes = state_outcomes(definition, history)
    states = every_state(definition)
    lines = {name: _lines(outcome, states[name]) for name, outcome in outcomes.items()}
    node_w = max(
        [150.0] + [len(text) * (7.8 if i == 0 else 6.4) + 24 for ls in lines.values() for i, text in enumerate(ls)]
    )
    layout = _layout(definition, node_w, outer=True)
    inner = max(layout.width, len(COLOURS) * LEGEND_W, len(title) * 9)
    width, height = inner + 2 * MARGIN, TOP + layout.height + MARGIN
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
    out += _draw(layout, states, outcomes, lines, (MARGIN + (inner - layout.width) / 2, TOP))
    return "\n".join([*out, "</svg>\n"])


def _layout(graph: Mapping[str, Any], node_w: float, *, outer: bool = False) -> _Layout:
    """Lay a graph out in rows (a state's row: its longest path from the start), a Parallel as a box
    holding its branches side by side; the outer graph gets the console's Start and End."""
    states: dict[str, Any] = dict(graph["States"])
    edges = _edges(states)
    if outer:
        states = {START_NODE: {"Type": "Start"}, **states, END_NODE: {"Type": "End"}}
        edges = {(START_NODE, graph["StartAt"]): False, **edges}
        edges |= {(name, END_NODE): False for name, state in graph["States"].items() if _ends(state)}
    inner: dict[str, list[tuple[float, _Layout]]] = {}
    size: dict[str, tuple[float, float]] = {}
    for name, state in states.items():
        if state.get("Branches"):
            branches = [_layout(branch, node_w) for branch in state["Branches"]]
            offset, placed = float(PAD), []
            for branch in branches:
                placed.append((offset, branch))
                offset += branch.width + COL_GAP
            inner[name] = placed
            size[name] = (offset - COL_GAP + PAD, HEADER + max(b.height for b in branches) + PAD)
        elif name in (START_NODE, END_NODE):
            size[name] = (TERMINAL_W, TERMINAL_H)
        else:
            size[name] = (node_w, NODE_H)
    rank, order = _ranks(START_NODE if outer else graph["StartAt"], states, edges)
    if outer:  # End below everything
        rank[END_NODE] = max(rank.values()) + 1
    rows = _rows(edges, rank, order)
    heights = [max((size[slot][1] for slot in row if isinstance(slot, str)), default=NODE_H) for row in rows]
    tops, y = [], 0.0
    for h in heights:
        tops.append(y)
        y += h + ROW_GAP
    widths = [
        sum(size[s][0] if isinstance(s, str) else DUMMY_W for s in row) + COL_GAP * (len(row) - 1) for row in rows
    ]
    content = max(widths)
    x: dict[Slot, float] = {}
    for row, row_width in zip(rows, widths, strict=True):  # each row centred
        at = (content - row_width) / 2
        for slot in row:
            w = size[slot][0] if isinstance(slot, str) else DUMMY_W
            x[slot], at = at + w / 2, at + w + COL_GAP
    back = sorted((e for e in edges if rank[e[1]] <= rank[e[0]]), key=lambda e: rank[e[1]])
    lanes = {edge: content + 24 + LANE_GAP * i for i, edge in enumerate(back)}
    width = max(lanes.values()) + 10 if lanes else content
    top = {name: tops[rank[name]] for name in states}
    return _Layout(x, top, size, rank, edges, tops, heights, lanes, width, y - ROW_GAP, inner)


def _ends(state: Mapping[str, Any]) -> bool:
    return bool(state.get("End")) or state.get("Type") in ("Succeed", "Fail")


def _draw(
    layout: _Layout,
    states: Mapping[str, Mapping[str, Any]],
    outcomes: Mapping[str, StateOutcome],
    lines: Mapping[str, list[str]],
    origin: tuple[float, float],
) -> list[str]:
    ox, oy = origin
    out: list[str] = []
    for (source, target), catch_only in layout.edges.items():
        sx, sy = ox + layout.x[source], oy + layout.top[source] + layout.size[source][1]
        tx, ty = ox + layout.x[target], oy + layout.top[target]
        if layout.rank[target] > layout.rank[source]:  # downwards, through its own slot in every row it crosses
            crossings = [
                (
                    ox + layout.x[source, target, r],
                    oy + layout.row_tops[r],
                    oy + layout.row_tops[r] + layout.row_heights[r],
                )
                for r in range(layout.rank[source] + 1, layout.rank[target])
            ]
            path = _down_path(sx, sy, crossings, tx, ty)
        else:  # a back edge: out below its source, round the side in a lane of its own, in above its target
            shift = layout.size[source][0] / 4, layout.size[target][0] / 4
            path = _round_the_side(sx + shift[0], sy, ox + layout.lanes[source, target], tx + shift[1], ty)
        dash = ' stroke-dasharray="6 4"' if catch_only else ""
        kind = ' class="terminal-edge"' if START_NODE in (source, target) or END_NODE in (source, target) else ""
        out.append(
            f'<path{kind} d="{path}" fill="none" stroke="#555" stroke-width="1.4"{dash} marker-end="url(#arrow)"/>'
        )
    for name in layout.top:
        left = ox + layout.x[name] - layout.size[name][0] / 2
        top = oy + layout.top[name]
        if name in (START_NODE, END_NODE):
            out += _terminal(name, left, top)
        elif name in layout.inner:
            out += _container(outcomes[name], lines[name], left, top, layout.size[name])
            for offset, branch in layout.inner[name]:
                out += _draw(branch, states, outcomes, lines, (left + offset, top + HEADER))
        else:
            out += _node(outcomes[name], lines[name], ox + layout.x[name], top, layout.size[name][0])
    return out


def write_picture(
    path: Path, definition: Mapping[str, Any], history: Sequence[Mapping[str, Any]], *, title: str
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_svg(definition, history, title=title), encoding="utf-8")
    return path


def _round_the_side(sx: float, sy: float, lane: float, tx: float, ty: float) -> str:
    """Down out of the source, along the gap below its row to its lane, up the lane, along the gap above
    the target's row, and down into it: never across a state."""
    r, below, above = 6.0, sy + ROW_GAP / 2, ty - ROW_GAP / 2
    return (
        f"M{sx:.1f},{sy:.1f} L{sx:.1f},{below - r:.1f} Q{sx:.1f},{below:.1f} {sx + r:.1f},{below:.1f} "
        f"L{lane - r:.1f},{below:.1f} Q{lane:.1f},{below:.1f} {lane:.1f},{below - r:.1f} "
        f"L{lane:.1f},{above + r:.1f} Q{lane:.1f},{above:.1f} {lane - r:.1f},{above:.1f} "
        f"L{tx + r:.1f},{above:.1f} Q{tx:.1f},{above:.1f} {tx:.1f},{above + r:.1f} L{tx:.1f},{ty:.1f}"
    )


def _down_path(sx: float, sy: float, crossings: list[tuple[float, float, float]], tx: float, ty: float) -> str:
    """S-curves between rows, straight down through each row crossed, so the edge never meets a state."""
    points = [(sx, sy)]
    for cx, row_top, row_bottom in crossings:
        points += [(cx, row_top), (cx, row_bottom)]
    points.append((tx, ty))
    path = f"M{sx:.1f},{sy:.1f}"
    for i, ((x0, y0), (x1, y1)) in enumerate(pairwise(points)):
        mid = (y0 + y1) / 2
        path += f" C{x0:.1f},{mid:.1f} {x1:.1f},{mid:.1f} {x1:.1f},{y1:.1f}" if i % 2 == 0 else f" L{x1:.1f},{y1:.1f}"
    return path


def _terminal(name: str, left: float, top: float) -> list[str]:
    label = "Start" if name == START_NODE else "End"
    return [
        f'<g class="terminal" data-node="{label}">',
        f'<rect x="{left:.1f}" y="{top:.1f}" width="{TERMINAL_W}" height="{TERMINAL_H}" rx="{TERMINAL_H / 2}" '
        'fill="#f8f9fa" stroke="#555"/>',
        f'<text x="{left + TERMINAL_W / 2:.1f}" y="{top + TERMINAL_H / 2 + 4:.1f}" text-anchor="middle" '
        f'font-size="12">{label}</text>',
        "</g>",
    ]


def _container(state: StateOutcome, lines: list[str], left: float, top: float, size: tuple[float, float]) -> list[str]:
    """A Parallel state: a box round its branches, its name and times in the header."""
    w, h = size
    out = [
        f'<g class="state" data-state="{_attr(state.name)}" data-outcome="{_attr(state.outcome)}">',
        f"<title>{escape(state.name)}: {escape(state.outcome)}</title>",
        f'<rect x="{left:.1f}" y="{top:.1f}" width="{w:.1f}" height="{h:.1f}" rx="12" '
        f'fill="{COLOURS[state.outcome]}" fill-opacity="0.35" stroke="#555" stroke-dasharray="2 3"/>',
        f'<text x="{left + 12:.1f}" y="{top + 20:.1f}" font-size="13" font-weight="bold">{escape(lines[0])}</text>',
    ]
    if len(lines) > 1:
        detail = "  ".join(lines[1:])
        out.append(f'<text x="{left + 12:.1f}" y="{top + 36:.1f}" font-size="11">{escape(detail)}</text>')
    return [*out, "</g>"]


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
        caught = state.exited is not None  # the state went on: a Catch took its error
        detail = _meaning(state.error, definition) if state.error and caught else state.error or FAILED
    elif state.outcome == STOPPED:
        detail = "stopped"
    elif state.exited is None:
        detail = "waiting"
    else:
        detail = _duration((state.exited - state.entered).total_seconds())
    return [name, state.entered.astimezone(UTC).strftime("%H:%M:%S.%f")[:-3] + " UTC", detail]


def _meaning(error: str, definition: Mapping[str, Any]) -> str:
    """What an error a state caught means to a reader, where it is not a failure event's name: a callback
    state's write found the event already recorded, or its SLA ran out; another state's condition did
    not hold."""
    if str(definition.get("Resource", "")).endswith(".waitForTaskToken"):
        return CALLBACK_ERRORS.get(error, error)
    return TASK_ERRORS.get(error, error)


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
