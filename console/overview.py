"""The overview's counts, each kept where it costs nothing per order, and each read in bounded reads.

- Open, started, completed and failed orders: one execution per order, counted by Step Functions' own
  metrics (console/executions.py): one GetMetricData call, kept for a minute.
- Stuck orders per milestone: the status index holds only the orders stuck now (the milestone's item
  carries the mark), so the first page of the STUCK listing, up to TALLIED orders, is all of them.
- Failed orders per milestone: the newest TALLIED of the FAILED listing; those of the last day counted.
- Where a healthy order waits is not recorded (it would cost a state transition per milestone), nor is an
  order whose events came without its start (it has no instance item to index): neither is counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from console.executions import ExecutionCounts
from console.queues import QueueDepth

TALLIED = 100  # orders read per listing: one Query each, its items read whole
RECENT_SECONDS = 86400


@dataclass(frozen=True)
class Tally:
    """Orders of one listing by milestone; `complete` unless there were more than were read."""

    by_milestone: Mapping[str, int]
    complete: bool

    @property
    def total(self) -> int:
        return sum(self.by_milestone.values())

    def shown(self, count: int | None = None) -> str:
        value = self.total if count is None else count
        return f"{value}" if self.complete else f"{value}+"


def tally(page: Mapping[str, Any], since: datetime | None = None) -> Tally:
    """Count a listing's orders by milestone; with `since`, only those that reached the status since
    then (the listing is newest first, so an older one read means every recent one was)."""
    counts: Counter[str] = Counter()
    older_seen = False
    for entry in page["orders"]:
        if since is not None and _moment(entry.get("since")) < since:
            older_seen = True
            continue
        counts[entry.get("milestone") or ""] += 1
    return Tally(dict(counts), complete=older_seen or "next" not in page)


def _moment(text: Any) -> datetime:
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Overview:
    model: Mapping[str, Any]
    executions: ExecutionCounts
    stuck: Tally
    failed: Tally  # in the last RECENT_SECONDS
    queues: Sequence[QueueDepth]

    @property
    def milestones(self) -> list[dict[str, Any]]:
        """One row per milestone: its SLA and how many orders are stuck or failed there. A milestone only
        an earlier version has (renamed or removed since) gets a row while orders are stuck or failed at it."""
        rows = [
            {
                "name": m["name"],
                "slaSeconds": m["slaSeconds"],
                "concurrent": m["concurrent"],
                "earlier": False,
                "stuck": self.stuck.by_milestone.get(m["name"], 0),
                "failed": self.failed.by_milestone.get(m["name"], 0),
            }
            for m in self.model["milestones"]
        ]
        current = {row["name"] for row in rows}
        tallied = [*self.stuck.by_milestone, *self.failed.by_milestone]
        for name in dict.fromkeys(name for name in tallied if name and name not in current):
            rows.append(
                {
                    "name": name,
                    "slaSeconds": None,
                    "concurrent": False,
                    "earlier": True,
                    "stuck": self.stuck.by_milestone.get(name, 0),
                    "failed": self.failed.by_milestone.get(name, 0),
                }
            )
        return rows


def overview(source: Any, now: datetime | None = None) -> Overview:
    """Reads: two status listings (one Query each), one GetQueueAttributes per queue, and the execution
    counts when the source's copy is older than its time to live."""
    since = (now or datetime.now(UTC)) - timedelta(seconds=RECENT_SECONDS)
    limit = str(TALLIED)
    return Overview(
        model=source.model,
        executions=source.executions(RECENT_SECONDS),
        stuck=tally(source.orders({"status": "STUCK", "limit": limit})),
        failed=tally(source.orders({"status": "FAILED", "limit": limit}), since=since),
        queues=source.queues(),
    )
