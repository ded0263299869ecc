"""The data an execution carries, shared by the definition's generator and the correlator: the input the
correlator starts it with, the output it sends each wait, and where the execution keeps them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

# The input.
INSTANCE_ID = "id"
EXPIRES_AT = "expiresAt"
STARTED_AT = "startedAt"  # the start event's time
# The output of a wait, the event that settled its milestone; kept under MILESTONES, by milestone name.
EVENT_ID = "eventId"
EVENT_TYPE = "eventType"
EVENT_TIME = "eventTime"
MILESTONES = "milestones"
# After concurrent milestones: the branches' milestone maps, merged, as {MILESTONES: {...}}.
CONCURRENT = "concurrent"


def start_input(instance_id: str, expires_at: int, started_at: str) -> str:
    document = {INSTANCE_ID: instance_id, EXPIRES_AT: str(expires_at), STARTED_AT: started_at}
    return json.dumps(document, separators=(",", ":"))


def wait_output(event_id: str, event_type: str, event_time: str) -> str:
    document = {EVENT_ID: event_id, EVENT_TYPE: event_type, EVENT_TIME: event_time}
    return json.dumps(document, separators=(",", ":"))


def previous_event(state_text: Any, previous: tuple[str, ...]) -> tuple[str | None, str] | None:
    """From the execution's state as it reached a milestone (JSON), where its SLA clock started: the
    latest event of the milestones it follows (`previous`), as (that milestone, its time), or the start's
    time for a first milestone (no previous), as (None, time). None when the execution does not know one
    of them: that event arrived before its wait (the wait's result is then an error, not the event), or
    an older correlator started the execution without the start's time."""
    try:
        state = json.loads(state_text)
    except (TypeError, ValueError):
        return None
    if not isinstance(state, Mapping):
        return None
    if not previous:
        started = state.get(STARTED_AT)
        return (None, started) if isinstance(started, str) else None
    concurrent = state.get(CONCURRENT)
    settled = {
        **(concurrent.get(MILESTONES) or {} if isinstance(concurrent, Mapping) else {}),
        **(state.get(MILESTONES) or {}),
    }
    times: list[tuple[str | None, str]] = []
    for name in previous:
        output = settled.get(name)
        time = output.get(EVENT_TIME) if isinstance(output, Mapping) else None
        if not isinstance(time, str):
            return None
        times.append((name, time))
    return max(times, key=lambda pair: moment(pair[1]))


def moment(text: str) -> datetime:
    """An ISO 8601 time to compare by; one that does not parse sorts first."""
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
