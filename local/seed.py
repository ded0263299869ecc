"""A few orders in every state the console shows, on a local runtime: for its browser tests and for the
pictures in the README. The runtime's first milestone must have a short SLA (the stuck orders wait it
out) and escalations enough to stay stuck, and the others long SLAs (the running orders wait there)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from lambdas.choreography import table
from lambdas.choreography.model import Choreography, Milestone
from local.assembly import StackTemplate, with_milestones
from local.events import EventFactory
from local.runtime import LocalRuntime

SHORT_SLA_SECONDS = 2
ESCALATIONS = 100_000  # each costs a few transitions per short SLA: the stuck orders stay stuck for days
LONG_SLA_SECONDS = 3600


def with_first_sla_short(stack: StackTemplate, model: Choreography) -> StackTemplate:
    first = model.milestones[0].name

    def change(milestone: Milestone) -> Milestone:
        if milestone.name == first:
            return replace(milestone, sla_seconds=SHORT_SLA_SECONDS, escalations=ESCALATIONS)
        return replace(milestone, sla_seconds=LONG_SLA_SECONDS)

    return with_milestones(stack, model, change)


@dataclass(frozen=True)
class Seeded:
    """The ids of the orders seeded, by the state each was left in."""

    completed: tuple[str, ...]
    failed: tuple[str, ...]  # at the first milestone that can fail
    stuck: tuple[str, ...]  # at the first milestone
    running: tuple[str, ...]  # waiting at the second milestone
    quarantined: int  # events refused: their id cannot name an execution


def seed(runtime: LocalRuntime, model: Choreography, counts: Mapping[str, int], prefix: str = "ORD") -> Seeded:
    """Orders of each kind, `counts` of each (completed, failed, stuck, running, quarantined), delivered
    and waited for until every one is where it should be."""
    factory = EventFactory(model)
    failing = next(m.name for m in model.milestones if m.failure)
    stamp = time.monotonic_ns() % 10**6

    def ids(kind: str) -> tuple[str, ...]:
        return tuple(f"{prefix}-{kind}-{stamp}-{n}" for n in range(counts.get(kind, 0)))

    seeded = Seeded(ids("completed"), ids("failed"), ids("stuck"), ids("running"), counts.get("quarantined", 0))
    events: list[dict[str, Any]] = []
    for order_id in seeded.completed:
        events += factory.lifecycle(order_id)
    for order_id in seeded.failed:
        events += factory.lifecycle(order_id, failure_at=failing)
    for order_id in seeded.stuck:
        events.append(factory.event(model.start_event, order_id))
    for order_id in seeded.running:
        events += factory.lifecycle(order_id)[:2]
    events += [factory.event(model.start_event, f"{prefix}/refused/{n}") for n in range(seeded.quarantined)]
    for event in events:
        runtime.deliver(event)
    runtime.wait_for_executions([*seeded.completed, *seeded.failed])
    second = model.milestones[1].name
    for order_id in seeded.running:
        runtime.wait_until_waiting(order_id, second)
    first = model.milestones[0].name
    deadline = time.monotonic() + 60
    while not all(runtime.items(order_id).get(first, {}).get(table.STATUS) == table.STUCK for order_id in seeded.stuck):
        if time.monotonic() > deadline:
            raise TimeoutError(f"seeded orders never became stuck at {first}")
        time.sleep(0.2)
    return seeded
