"""EventBridge events for a model, built from the examples in each event's schema."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime
from typing import Any

from lambdas.choreography.model import Choreography

ACCOUNT = "123456789012"
REGION = "us-east-1"


class EventFactory:
    def __init__(self, model: Choreography) -> None:
        self.model = model
        missing = sorted(name for name, event in model.events.items() if event.example is None)
        if missing:
            raise ValueError(f"{model.name}: events {missing} have no schema 'examples' to build local events from")

    def event(
        self, event_type: str, instance_id: str, *, event_id: str | None = None, time: datetime | None = None
    ) -> dict[str, Any]:
        """A valid event of the model, as EventBridge hands it to a rule target."""
        spec = self.model.events[event_type]
        detail = copy.deepcopy(dict(spec.example or {}))
        target = detail
        *parents, leaf = self.model.correlation_path[1:]  # the path starts at "detail"
        for segment in parents:
            target = target.setdefault(segment, {})
        target[leaf] = instance_id
        event = {
            "version": "0",
            "id": event_id or str(uuid.uuid4()),
            "detail-type": event_type,
            "source": spec.source,
            "account": ACCOUNT,
            "region": REGION,
            "resources": [],
            "detail": detail,
        }
        self.stamp(event, (time or datetime.now(UTC)).isoformat().replace("+00:00", "Z"))
        return event

    def stamp(self, event: dict[str, Any], time: str) -> None:
        """Say when the service acted: the envelope's time, and the detail field the model names as the
        event's own time, if it names one (a service that sets it puts the event on the bus later)."""
        event["time"] = time
        *parents, leaf = self.model.event_time_path
        target = event
        for segment in parents:
            target = target.setdefault(segment, {})
        target[leaf] = time

    def lifecycle(self, instance_id: str, failure_at: str | None = None) -> list[dict[str, Any]]:
        """Start plus one event per milestone, in model order; a failure event at `failure_at` ends it."""
        events = [self.event(self.model.start_event, instance_id)]
        for milestone in self.model.milestones:
            if milestone.name == failure_at:
                events.append(self.event(milestone.failure[0], instance_id))
                break
            events.append(self.event(milestone.success[0], instance_id))
        return events
