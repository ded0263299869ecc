"""The data an execution carries, shared by the definition's generator and the correlator: the input the
correlator starts it with, the output it sends each wait, and where the execution keeps them."""

from __future__ import annotations

import json
from collections.abc import Mapping
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


def start_input(instance_id: str, expires_at: int, started_at: str) -> str:
    document = {INSTANCE_ID: instance_id, EXPIRES_AT: str(expires_at), STARTED_AT: started_at}
    return json.dumps(document, separators=(",", ":"))


def wait_output(event_id: str, event_type: str, event_time: str) -> str:
    document = {EVENT_ID: event_id, EVENT_TYPE: event_type, EVENT_TIME: event_time}
    return json.dumps(document, separators=(",", ":"))


def previous_event_time(state_text: Any, previous_milestone: str | None) -> str | None:
    """From the execution's state as it reached a milestone (JSON), the time of the event it went on
    with last: the previous milestone's, or the start's for the first milestone (`None`). None when the
    execution does not know it: the previous event arrived before its wait (the wait's result is then an
    error, not the event), or an older correlator started the execution without the start's time."""
    try:
        state = json.loads(state_text)
    except (TypeError, ValueError):
        return None
    if not isinstance(state, Mapping):
        return None
    source: Any = state if previous_milestone is None else (state.get(MILESTONES) or {}).get(previous_milestone)
    key = STARTED_AT if previous_milestone is None else EVENT_TIME
    value = source.get(key) if isinstance(source, Mapping) else None
    return value if isinstance(value, str) else None
