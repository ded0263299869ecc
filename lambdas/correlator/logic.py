"""Correlation: turn one delivery of an event into at most one move of the instance's execution.

Two writers meet on the milestone's item, each with one atomic write: the state machine stores its task
token (only while no event is recorded), the correlator records the event and reads back what was there
before. Whichever writes second sees the other, so exactly one side moves the execution on, whatever the
order. A retried delivery repeats the same steps and converges: an event that is recorded while a token
is waiting is sent again, and a token that was already used answers "closed", which is recorded as a
duplicate or a late event, never raised.

Pure logic: the AWS calls go through the ports below (lambdas/correlator/dal.py implements them).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from lambdas.choreography import execution, table
from lambdas.choreography.model import FAILURE, Choreography, Milestone
from lambdas.correlator.classify import ChoreographyEvent, Rejection, VersionedClassifier

logger = logging.getLogger(__name__)


class TokenClosed(Exception):
    """The task token no longer waits: already used, or its execution or state has ended."""


class Store(Protocol):
    def record_start(
        self, event: ChoreographyEvent, version: str, execution_arn: str, expires_at: int
    ) -> Mapping[str, Any]:
        """Record the start event on the instance item, with the model version the instance starts on and
        its execution; return the item as it was before."""

    def instance_version(self, instance_id: str) -> str | None:
        """The model version the instance started on; None when no start is recorded."""

    def record_next_event_time(
        self, instance_id: str, sort_key: str, event_time: datetime, expires_at: int
    ) -> Mapping[str, Any]:
        """Leave the next milestone's event time on this record (the instance's, or a milestone's); return
        the record as it was before."""

    def record_milestone_event(
        self, event: ChoreographyEvent, arrived_at: datetime, expires_at: int
    ) -> Mapping[str, Any]:
        """Record the event on its milestone item; return the item as it was before."""

    def mark_out_of_order(
        self, instance_id: str, early_by: Mapping[tuple[str, str], float], marked_at: datetime
    ) -> set[tuple[str, str]]:
        """Mark the started instance as deviating in these (milestone, follows) pairs, each with the
        seconds its event came early; return the pairs it was not marked with yet (none when its start
        is not recorded)."""


class Workflow(Protocol):
    def execution_arn(self, version: str, name: str) -> str:
        """The ARN the execution has, or will have, on the version's machine."""

    def start(self, version: str, name: str, payload: str) -> str:
        """Start the execution on the version's machine (idempotently) and return its ARN."""

    def ships(self, version: str) -> bool:
        """Whether the version's machine is one this stack ships."""

    def succeed(self, token: str, output: str) -> None: ...

    def fail(self, token: str, error: str, cause: str) -> None: ...


class Quarantine(Protocol):
    def hold(self, raw_event: Any, rejection: Rejection) -> None: ...


class Outcome(enum.StrEnum):
    STARTED = "started"
    START_DUPLICATE = "start-duplicate"
    DELIVERED = "delivered"  # sent to the execution waiting for it
    EARLY = "early"  # recorded before the execution reached the milestone; it goes on by itself
    DUPLICATE = "duplicate"  # seen before, or the milestone was already settled by another event
    LATE = "late"  # first event of its milestone, but the wait it answers had already ended
    QUARANTINED = "quarantined"


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    event_id: str | None = None
    event_type: str | None = None
    instance_id: str | None = None
    milestone: str | None = None
    conflicting: bool = False  # a different event than the one recorded for the milestone
    reason: str | None = None
    # Milestone -> seconds from the previous milestone's event (or the start) to its own, for each pair
    # this event completes; a pair is measured by whichever of its two events is recorded second.
    latencies: Mapping[str, float] | None = None
    # Of those pairs, the ones out of the modelled order and newly marked on the instance: (milestone, the
    # milestone it follows, seconds its event time is before that one's), beyond the model's clock skew.
    deviations: tuple[tuple[str, str, float], ...] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if value not in (None, False)}


class Correlator:
    def __init__(
        self,
        classifier: VersionedClassifier,
        store: Store,
        workflow: Workflow,
        quarantine: Quarantine,
        *,
        retention: timedelta,
    ) -> None:
        self.classifier = classifier
        self.store = store
        self.workflow = workflow
        self.quarantine = quarantine
        self.retention = retention

    def handle(self, raw_event: Any, now: datetime) -> Result:
        version = None  # the current version's reading: the same in every version, or no start yet
        if self.classifier.needs_instance_version(raw_event):
            instance_id = self.classifier.instance_id(raw_event)
            version = self.store.instance_version(instance_id) if instance_id else None
        classified = self.classifier.classify(raw_event, version)
        if isinstance(classified, Rejection):
            self.quarantine.hold(raw_event, classified)
            return Result(Outcome.QUARANTINED, event_type=_detail_type(raw_event), reason=str(classified))
        event, model = classified
        if event.milestone is None:
            return self._start(event, model)
        return self._settle(event, now, model)

    def _expires_at(self, event: ChoreographyEvent) -> int:
        # From the event's own time, so every delivery of the same event computes the same value.
        return int((event.event_time + self.retention).timestamp())

    def _start(self, event: ChoreographyEvent, model: Choreography) -> Result:
        """Record first, then start: a start delivered again after a new version is deployed goes to the
        machine of the version the instance started on, never to a second execution on the new one."""
        expires_at = self._expires_at(event)
        payload = execution.start_input(event.instance_id, expires_at, event.event_time.isoformat())
        execution_arn = self.workflow.execution_arn(model.version, event.instance_id)
        before = self.store.record_start(event, model.version, execution_arn, expires_at)
        started_by = before.get(table.STARTED_BY)
        version = str(started_by.get(table.MODEL_VERSION, model.version)) if started_by else model.version
        if self.workflow.ships(version):  # else its machine is gone, and with it the execution
            self.workflow.start(version, event.instance_id, payload)
        outcome = Outcome.START_DUPLICATE if started_by else Outcome.STARTED
        return Result(outcome, event_id=event.event_id, event_type=event.event_type, instance_id=event.instance_id)

    def _settle(self, event: ChoreographyEvent, now: datetime, model: Choreography) -> Result:
        assert event.milestone is not None
        before = self.store.record_milestone_event(event, now, self._expires_at(event))
        first = table.SETTLED_BY not in before
        recorded = _RecordedEvent.of(event) if first else _RecordedEvent.from_record(before[table.SETTLED_BY])
        result = Result(
            Outcome.EARLY if first else Outcome.DUPLICATE,
            event_id=event.event_id,
            event_type=event.event_type,
            instance_id=event.instance_id,
            milestone=event.milestone.name,
            conflicting=recorded.event_type != event.event_type,
        )
        token = before.get(table.TASK_TOKEN)
        if token:
            try:
                if recorded.outcome == FAILURE:
                    self.workflow.fail(str(token), recorded.event_type, recorded.as_json())
                else:
                    self.workflow.succeed(str(token), recorded.as_json())
                # Sent: for a first delivery the usual case; for a repeat, a retry that converges after a crash.
                result = replace(result, outcome=Outcome.DELIVERED)
            except TokenClosed:
                result = replace(result, outcome=Outcome.DUPLICATE if not first else Outcome.LATE)
        if not first:
            return result
        pairs = self._pairs(event, model, before, waited=bool(token))
        skew = model.clock_skew_seconds
        deviations = [
            (milestone, follows, -seconds)
            for milestone, (follows, seconds) in pairs.items()
            if follows is not None and -seconds > skew
        ]
        return replace(
            result,
            latencies={milestone: seconds for milestone, (_, seconds) in pairs.items()},
            deviations=self._mark(event.instance_id, deviations, now) or None,
        )

    def _mark(
        self, instance_id: str, deviations: list[tuple[str, str, float]], now: datetime
    ) -> tuple[tuple[str, str, float], ...]:
        """Mark the deviations on the instance (a call only when there are some: a choreography's bug);
        return the ones newly marked, which are the ones to count."""
        if not deviations:
            return ()
        try:
            new = self.store.mark_out_of_order(instance_id, {(m, f): early for m, f, early in deviations}, now)
        except Exception as error:  # the event is recorded; the check at the execution's end marks it
            logger.warning("deviation not marked: %s: %s", type(error).__name__, error)
            return ()
        return tuple(deviation for deviation in deviations if deviation[:2] in new)

    def _pairs(
        self, event: ChoreographyEvent, model: Choreography, before: Mapping[str, Any], *, waited: bool
    ) -> dict[str, tuple[str | None, float]]:
        """Milestone latencies this first delivery completes, within two AWS calls in all: milestone ->
        (the milestone whose event its clock started with, None for the start; seconds).

        The pair (previous, this): when the execution waited here, its token write stored the previous
        event's time, which this event's write returned. When this event came first, the one call left
        leaves its time on the previous milestone's item, whose old image has that milestone's event if it
        is recorded, and otherwise hands the pair to it. The pair (this, next): the next event left its
        time here (`before`). Each pair is measured at most once. Unmeasured: a wait whose previous event
        had also come first (the execution went by it without its time), and a first milestone whose event
        came before the start; the status answer has them all."""
        assert event.milestone is not None
        previous = tuple(m.name for m in model.predecessors[event.milestone.name])
        pairs = _following_pair(model, event.milestone, event.event_time, before)
        started: tuple[str | None, str] | None = None
        if waited:
            started = execution.previous_event(before.get(table.REACHED_WITH), previous)
        elif len(previous) <= 1:
            time = self._leave_time_on(event, previous[0] if previous else table.INSTANCE_SK)
            started = (previous[0] if previous else None, time) if time else None
        # else its clock started with the last of several: no one record to leave the time on
        if started:
            follows, time = started
            seconds = _latency(time, event.event_time)
            if seconds is not None:
                pairs[event.milestone.name] = (follows, seconds)
        return pairs

    def _leave_time_on(self, event: ChoreographyEvent, sort_key: str) -> str | None:
        """The previous record's event time, if it is recorded; else this event's time is left for it."""
        try:
            previous = self.store.record_next_event_time(
                event.instance_id, sort_key, event.event_time, self._expires_at(event)
            )
        except Exception as error:  # a metric is not worth a retry of an event already recorded
            logger.warning("milestone latency not measured: %s: %s", type(error).__name__, error)
            return None
        recorded = previous.get(table.SETTLED_BY) or previous.get(table.STARTED_BY) or {}
        time = recorded.get(table.EVENT_TIME)
        return time if isinstance(time, str) else None


def _following_pair(
    model: Choreography, milestone: Milestone, event_time: datetime, before: Mapping[str, Any]
) -> dict[str, tuple[str | None, float]]:
    """The next milestone's latency, if its event came first and left its time on this record (only a
    milestone that follows this one alone leaves it here)."""
    next_time = before.get(table.NEXT_EVENT_TIME)
    following = model.followers(milestone)
    if len(following) != 1 or len(model.predecessors[following[0].name]) != 1 or not isinstance(next_time, str):
        return {}
    try:
        return {
            following[0].name: (milestone.name, _seconds(event_time.isoformat(), datetime.fromisoformat(next_time)))
        }
    except (TypeError, ValueError):
        return {}


def _latency(started: str, event_time: datetime) -> float | None:
    try:
        return _seconds(started, event_time)
    except (TypeError, ValueError):  # a time the event's schema did not constrain to ISO 8601
        return None


@dataclass(frozen=True)
class _RecordedEvent:
    """The event the milestone is settled by: the first one recorded."""

    event_id: str
    event_type: str
    event_time: str
    outcome: str

    @classmethod
    def of(cls, event: ChoreographyEvent) -> _RecordedEvent:
        assert event.outcome is not None
        return cls(event.event_id, event.event_type, event.event_time.isoformat(), event.outcome)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> _RecordedEvent:
        return cls(
            str(record[table.EVENT_ID]),
            str(record[table.EVENT_TYPE]),
            str(record[table.EVENT_TIME]),
            str(record[table.OUTCOME]),
        )

    def as_json(self) -> str:
        return execution.wait_output(self.event_id, self.event_type, self.event_time)


def _seconds(start: str, end: datetime) -> float:
    return round((end - datetime.fromisoformat(start)).total_seconds(), 3)


def _detail_type(raw_event: Any) -> str | None:
    value = raw_event.get("detail-type") if isinstance(raw_event, Mapping) else None
    return value if isinstance(value, str) else None
