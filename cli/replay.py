"""Replay a time window of the bus's archive onto the bus, for a backfill after an outage.

Replayed events carry a `replay-name` and go through the same rules to the correlator, which records
each milestone once whatever the number of deliveries: replaying a window twice changes nothing.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

FINISHED = {"COMPLETED", "CANCELLED", "FAILED"}


def replay(
    events: Any,
    *,
    archive_name: str,
    bus_name: str,
    start: datetime,
    end: datetime,
    name: str,
    timeout_s: float = 3600.0,
) -> dict[str, Any]:
    """Start the replay and wait for EventBridge to finish it; returns its description."""
    if end <= start:
        raise ValueError(f"--to ({end.isoformat()}) must come after --from ({start.isoformat()})")
    archive_arn = events.describe_archive(ArchiveName=archive_name)["ArchiveArn"]
    bus_arn = events.describe_event_bus(Name=bus_name)["Arn"]
    events.start_replay(
        ReplayName=name,
        EventSourceArn=archive_arn,
        EventStartTime=start,
        EventEndTime=end,
        Destination={"Arn": bus_arn},
    )
    deadline = time.monotonic() + timeout_s
    while True:
        description: dict[str, Any] = events.describe_replay(ReplayName=name)
        if description["State"] in FINISHED or time.monotonic() > deadline:
            return description
        time.sleep(5)
