"""The status function's answers as tables a person can read at a glance."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [["-" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells)


def headline(order: dict[str, Any]) -> str:
    status = order["status"]
    where = {
        "RUNNING": f"awaiting {order.get('awaiting')}",
        "STUCK": f"stuck at {order.get('stuckAt')}",
        "FAILED": f"failed at {order.get('failedAt')}",
    }.get(status)
    since = f" since {order['since']}" if order.get("since") else ""
    return f"{order[order['key']]}: {status}{f', {where}' if where else ''}{since}"


def order_view(order: dict[str, Any]) -> str:
    lines = [
        headline(order),
        f"model {order['model']} {order['modelVersion']}, started {order.get('startedAt') or '-'}",
    ]
    if order.get("consoleUrl"):
        lines.append(f"console {order['consoleUrl']}")
    rows = [
        (
            m["name"],
            m["state"],
            m["event"],
            m["eventTime"],
            m["arrivedAt"],
            None if m["durationSeconds"] is None else f"{m['durationSeconds']:g} s",
            len(m["eventIds"]) or None,
            m["duplicates"] or None,
        )
        for m in order["milestones"]
    ]
    lines += ["", table(("milestone", "state", "event", "event time", "arrived", "took", "ids", "duplicates"), rows)]
    return "\n".join(lines)


def listing_view(page: dict[str, Any]) -> str:
    rows = [
        (o[page["key"]], o["status"], o.get("milestone"), o["since"], o.get("startedAt") or o.get("waitingSince"))
        for o in page["orders"]
    ]
    title = (
        f"{page['model']}: {len(rows)} {page['status']} instance(s)"
        + (f" at {page['milestone']}" if page.get("milestone") else "")
        + ", newest first"
    )
    return _paged(page, title, (page["key"], "status", "milestone", "since", "started or waiting since"), rows)


def deviations_view(page: dict[str, Any]) -> str:
    rows = [
        (
            o[page["key"]],
            ", ".join(f"{pair['milestone']} before {pair['follows']}{_early(pair)}" for pair in o["outOfOrder"]),
            o["status"],
            o.get("deviatingSince"),
        )
        for o in page["orders"]
    ]
    title = f"{page['model']}: {len(rows)} instance(s) whose services acted out of the modelled order, latest first"
    return _paged(page, title, (page["key"], "acted before", "status", "marked"), rows)


def _paged(page: dict[str, Any], title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A listing's page: its title, its table if it has rows, and how to ask for the next page."""
    lines = [title]
    if rows:
        lines.append(table(headers, rows))
    if page.get("next"):
        lines.append(f"more: --next {page['next']}")
    return "\n".join(lines)


def _early(pair: dict[str, Any]) -> str:
    seconds = pair.get("earlyBySeconds")
    return f" by {seconds:g} s" if isinstance(seconds, int | float) else ""
