"""Validate a raw EventBridge event against the model and say what it is: a start, a milestone event,
or something to quarantine with the reason. Pure: no AWS, no clock.

Validators are compiled once per model (per cold start), not per event.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import best_match

from lambdas.choreography.model import Choreography, Milestone, field_path
from lambdas.choreography.versions import Versions

# Step Functions execution names: 1 to 80 characters, none of these, no white space or control characters;
# StartExecution also refuses U+FFFE, U+FFFF and surrogates (which only a lone surrogate in JSON can make).
EXECUTION_NAME_MAX = 80
FORBIDDEN_IN_NAME = re.compile(r"[\s<>{}\[\]?*\"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f\ufffe\uffff\ud800-\udfff]")


@dataclass(frozen=True)
class ChoreographyEvent:
    """A valid event of the model, reduced to what correlation needs."""

    instance_id: str
    event_id: str
    event_type: str
    event_time: datetime
    milestone: Milestone | None  # None: the start event
    outcome: str | None  # success or failure, for milestone events

    def summary(self) -> dict[str, str]:
        return {"eventId": self.event_id, "eventType": self.event_type, "eventTime": self.event_time.isoformat()}


@dataclass(frozen=True)
class Rejection:
    """Why an event cannot be correlated: `field` names where in the event the problem is."""

    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


def execution_name_problem(name: str) -> str | None:
    if not name:
        return "is empty"
    if len(name) > EXECUTION_NAME_MAX:
        return f"is {len(name)} characters long; an execution name allows {EXECUTION_NAME_MAX}"
    forbidden = FORBIDDEN_IN_NAME.search(name)
    if forbidden:
        return f"contains {forbidden.group()!r}, which an execution name cannot hold"
    return None


class UncheckedFormat(RuntimeError):
    """A format the model's schemas use that this environment's jsonschema would not check."""


def formats_used(schema: Any) -> set[str]:
    if isinstance(schema, Mapping):
        found = {schema["format"]} if isinstance(schema.get("format"), str) else set()
        return found.union(*(formats_used(value) for value in schema.values()))
    if isinstance(schema, list):
        return set().union(*(formats_used(value) for value in schema))
    return set()


class EventClassifier:
    def __init__(self, model: Choreography) -> None:
        self.model = model
        # jsonschema skips, silently, a format whose checker needs a package that is not installed (date-time
        # needs rfc3339-validator): refuse to start rather than accept here what is refused elsewhere.
        format_checker = FormatChecker()
        for name, event in model.events.items():
            unchecked = sorted(formats_used(event.schema) - set(format_checker.checkers))
            if unchecked:
                raise UncheckedFormat(
                    f"{model.name}: events.{name}.schema uses format {unchecked}, which this environment's "
                    "jsonschema does not check (a package is missing: see lambdas/requirements.txt)"
                )
        self._validators = {
            name: Draft202012Validator(event.schema, format_checker=format_checker)
            for name, event in model.events.items()
        }

    def classify(self, raw: Any) -> ChoreographyEvent | Rejection:
        if not isinstance(raw, Mapping):
            return Rejection("(event)", f"is a {type(raw).__name__}, not an EventBridge event object")
        envelope = self._check_envelope(raw)
        if isinstance(envelope, Rejection):
            return envelope
        event_type, event_id, event_time = envelope
        role = self.model.roles[event_type]
        detail = raw.get("detail")
        if not isinstance(detail, Mapping):
            return Rejection("detail", "is missing or not an object")
        instance_id = self._correlation_id(raw)
        if isinstance(instance_id, Rejection):
            return instance_id
        error = best_match(self._validators[event_type].iter_errors(detail))
        if error is not None:
            where = field_path(["detail", *error.absolute_path])
            return Rejection(where, f"{error.message} (schema of {event_type})")
        return ChoreographyEvent(
            instance_id=instance_id,
            event_id=event_id,
            event_type=event_type,
            event_time=event_time,
            milestone=role.milestone,
            outcome=role.outcome,
        )

    def _check_envelope(self, raw: Mapping[str, Any]) -> tuple[str, str, datetime] | Rejection:
        event_type = raw.get("detail-type")
        if not isinstance(event_type, str) or not event_type:
            return Rejection("detail-type", "is missing or not a string")
        if event_type not in self.model.roles:
            return Rejection(
                "detail-type",
                f"{event_type[:100]!r} is not an event of the {self.model.name} model {self.model.version}",
            )
        expected_source = self.model.events[event_type].source
        if raw.get("source") != expected_source:
            return Rejection(
                "source",
                f"{str(raw.get('source'))[:100]!r} does not publish {event_type}; expected {expected_source!r}",
            )
        event_id = raw.get("id")
        if not isinstance(event_id, str) or not event_id:
            return Rejection("id", "is missing or not a string")
        field = self.model.event_time_field  # the envelope's time, or the service's own in the detail
        raw_time = _at(raw, self.model.event_time_path)
        if raw_time is None:
            return Rejection(field, "is missing: it is when the service acted")
        try:
            event_time = datetime.fromisoformat(str(raw_time).replace("Z", "+00:00"))
        except ValueError:
            return Rejection(field, f"{str(raw_time)[:60]!r} is not an ISO 8601 time")
        if event_time.tzinfo is None:
            return Rejection(field, f"{str(raw_time)[:60]!r} has no time zone")
        return event_type, event_id, event_time

    def _correlation_id(self, raw: Mapping[str, Any]) -> str | Rejection:
        key = self.model.correlation_key
        value = _at(raw, self.model.correlation_path)
        if value is None:
            return Rejection(key, "is missing: it is the correlation key")
        if not isinstance(value, str):
            return Rejection(key, f"is a {type(value).__name__}; the correlation key must be a string")
        problem = execution_name_problem(value)
        if problem:
            return Rejection(key, f"{value[:100]!r} {problem}")
        return value


class VersionedClassifier:
    """Classifies an event by the model version its instance started on. Only an event that the shipped
    versions read differently needs that version (`needs_instance_version`); every other event is
    classified by the current version, with no read. An earlier version's validators are compiled the
    first time one of its instances needs them, so a cold start compiles the current version's only."""

    def __init__(self, versions: Versions) -> None:
        self.versions = versions
        self.current = EventClassifier(versions.current)
        self._earlier: dict[str, EventClassifier] = {}

    def needs_instance_version(self, raw: Any) -> bool:
        event_type = raw.get("detail-type") if isinstance(raw, Mapping) else None
        if not isinstance(event_type, str):  # malformed: the current version's classifier says how
            return False
        return event_type in self.versions.event_names and event_type not in self.versions.common_events

    def instance_id(self, raw: Mapping[str, Any]) -> str | None:
        """The event's instance id, if it has a valid one (every version correlates by the same key)."""
        found = self.current._correlation_id(raw)
        return None if isinstance(found, Rejection) else found

    def classify(
        self, raw: Any, instance_version: str | None = None
    ) -> tuple[ChoreographyEvent, Choreography] | Rejection:
        """The event as the version `instance_version` reads it (None: the current version, for an
        instance not started, or an event every version reads alike), with that version's model."""
        model = self.versions.get(instance_version)
        if model is None:
            key = self.versions.current.correlation_key
            return Rejection(
                key,
                f"{self.instance_id(raw)!r} started on version {instance_version} of {self.versions.current.name}, "
                f"which this stack no longer ships (it ships {', '.join(self.versions.names)})",
            )
        classifier = self.current if model is self.versions.current else self._classifier(model)
        event = classifier.classify(raw)
        return event if isinstance(event, Rejection) else (event, model)

    def _classifier(self, model: Choreography) -> EventClassifier:
        if model.version not in self._earlier:
            self._earlier[model.version] = EventClassifier(model)
        return self._earlier[model.version]


def _at(raw: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    """The value at a dotted path into the event (the correlation key, the event's time), or None."""
    value: Any = raw
    for segment in path:
        value = value.get(segment) if isinstance(value, Mapping) else None
    return value
