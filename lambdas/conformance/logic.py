"""The check at an execution's end: every pair of the instance's milestones out of the modelled order,
read from its records as the status answer reads them, is marked on the instance.

Why at the end too: the correlator measures a pair from what its own writes return, and that misses a
few cases (an event that came before its wait, at a milestone the execution goes by without keeping the
event's time; an early event of a milestone that follows several; an invocation that ended between the
event's write and the mark). When the execution has ended, every milestone it will settle is recorded,
so one Query finds what the event path could not, for one invocation per instance.

Pure: the records come in through the ports, the pairs newly marked go out.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from lambdas.choreography.versions import Versions
from lambdas.conformance.marks import Pair
from lambdas.status.logic import describe_instance


class Records(Protocol):
    def instance_records(self, instance_id: str) -> dict[str, Mapping[str, Any]]: ...


class Marks(Protocol):
    def mark(self, instance_id: str, early_by: Mapping[Pair, float], marked_at: datetime) -> set[Pair]: ...


def out_of_order(versions: Versions, instance_id: str, records: Mapping[str, Mapping[str, Any]]) -> dict[Pair, float]:
    """The instance's deviations, by the version it started on: the status answer's, as pairs and how
    many seconds early."""
    description = describe_instance(versions.reading(records), instance_id, records)
    return {(d["milestone"], d["follows"]): d["earlyBySeconds"] for d in description["deviations"]}


class EndCheck:
    def __init__(self, versions: Versions, records: Records, marks: Marks) -> None:
        self.versions = versions
        self.records = records
        self.marks = marks

    def check(self, instance_id: str, now: datetime) -> set[Pair]:
        """Mark the ended instance's deviations; return the ones not marked before (by the correlator,
        or by an earlier delivery of this end)."""
        pairs = out_of_order(self.versions, instance_id, self.records.instance_records(instance_id))
        return self.marks.mark(instance_id, pairs, now) if pairs else set()
