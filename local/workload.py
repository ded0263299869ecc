"""A deterministic workload for a model: orders with per-milestone delays, shuffled arrival across and
within orders, duplicates, failures, stuck orders, events for orders never placed, malformed events, and
services that act out of the modelled order.

Each order carries the final state the scenario implies, which the runner compares with what the status
function reports; nothing here decides what the system did.
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from lambdas.choreography.model import Choreography
from local.events import EventFactory

COMPLETED = "COMPLETED"
FAILED = "FAILED"
RUNNING = "RUNNING"  # stuck: a milestone's event never comes
NOT_STARTED = "NOT_STARTED"


@dataclass(frozen=True)
class Rates:
    duplicates: float = 0.1  # share of events delivered twice
    failure: float = 0.03  # per milestone that can fail
    stuck: float = 0.05  # share of orders whose next milestone event is never sent
    orphans: float = 0.02  # share of orders whose start event is never sent
    malformed: float = 0.02  # malformed events, as a share of all events
    # Share of orders where one service acts before the milestone it follows (its event time earlier than
    # that milestone's, by more than the model's clock skew): a deviation planted for the monitor to find.
    out_of_order: float = 0.05


@dataclass
class Order:
    order_id: str
    expected: str  # COMPLETED, FAILED at X, RUNNING at X (stuck), NOT_STARTED
    events: list[dict[str, Any]] = field(default_factory=list)
    planted: tuple[str, str] | None = None  # (milestone, the milestone it follows): the deviation planted


@dataclass
class Workload:
    orders: list[Order]
    arrivals: list[tuple[float, dict[str, Any] | Any]]  # (seconds after start, event as delivered)
    malformed: int

    @property
    def expected(self) -> dict[str, str]:
        return {order.order_id: order.expected for order in self.orders}


def generate(
    model: Choreography, orders: int, seed: int, rates: Rates | None = None, time_scale: float = 0.02
) -> Workload:
    """`time_scale` is the mean delay between one order's events, in seconds (scaled down from hours)."""
    rates = rates or Rates()
    rng = random.Random(seed)
    factory = EventFactory(model)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    result: list[Order] = []
    arrivals: list[tuple[float, Any]] = []
    # Its own stream: planting deviations leaves every other choice of a seed's workload as it was.
    planting = random.Random(f"{seed}-out-of-order")
    for number in range(orders):
        order = _order(model, factory, rng, rates, f"W{seed}-{number:05d}")
        first_arrival = len(arrivals)
        placed_at = rng.uniform(0, orders * time_scale / 4)
        clock = placed_at
        for event in order.events:
            event["id"] = f"{rng.getrandbits(64):016x}"
            clock += rng.expovariate(1 / time_scale)
            # Event times in business hours: each `time_scale` seconds of the run stand for one hour.
            factory.stamp(event, _utc_text(start + timedelta(hours=clock / time_scale)))
            arrival = clock + rng.uniform(0, time_scale * 3)  # delivery jitter reorders events of one order
            arrivals.append((arrival, event))
            if rng.random() < rates.duplicates:
                arrivals.append((arrival + rng.uniform(0, time_scale * 5), copy.deepcopy(event)))
        if planting.random() < rates.out_of_order:
            order.planted = _plant_deviation(model, factory, planting, order)
            stamped = {event["id"]: event["time"] for event in order.events}
            for _, delivered in arrivals[first_arrival:]:  # its duplicates say what the event says
                factory.stamp(delivered, stamped[delivered["id"]])
        result.append(order)
    malformed = int(len(arrivals) * rates.malformed)
    for number in range(malformed):
        victim = copy.deepcopy(rng.choice(arrivals)[1])
        victim["id"] = f"malformed-{number}"
        if number % 2:
            victim["detail"] = {"unexpected": True}  # no correlation key, none of the schema's fields
        else:
            victim["detail"] = {**victim["detail"], **dict.fromkeys(model.correlation_path[1:], "no/such order")}
        arrivals.append((rng.uniform(0, max(a for a, _ in arrivals)), victim))
    arrivals.sort(key=lambda pair: pair[0])
    return Workload(result, arrivals, malformed)


def _order(model: Choreography, factory: EventFactory, rng: random.Random, rates: Rates, order_id: str) -> Order:
    if rng.random() < rates.orphans:
        milestone = rng.choice(model.milestones)
        return Order(order_id, NOT_STARTED, [factory.event(milestone.success[0], order_id)])
    events = [factory.event(model.start_event, order_id)]
    stuck = rng.random() < rates.stuck
    stuck_at = rng.randrange(len(model.milestones)) if stuck else None
    for position, milestone in enumerate(model.milestones):
        if position == stuck_at:
            return Order(order_id, f"{RUNNING} at {milestone.name}", events)
        if milestone.failure and rng.random() < rates.failure:
            events.append(factory.event(rng.choice(milestone.failure), order_id))
            return Order(order_id, f"{FAILED} at {milestone.name}", events)
        events.append(factory.event(milestone.success[0], order_id))
    return Order(order_id, COMPLETED, events)


def _plant_deviation(
    model: Choreography, factory: EventFactory, rng: random.Random, order: Order
) -> tuple[str, str] | None:
    """Move one milestone's event time before the latest event of the milestones it follows (each must
    have one in the order), by more than the clock skew. Only the times change: the events arrive when
    they would have. Milestones that follow it stay after it, so this is the order's one deviation."""
    times = {
        role.milestone.name: event
        for event in order.events
        if (role := model.roles[event["detail-type"]]).milestone is not None
    }
    candidates = [
        name for name in times if model.predecessors[name] and all(p.name in times for p in model.predecessors[name])
    ]
    if not candidates:
        return None
    chosen = rng.choice(candidates)
    follows = max(model.predecessors[chosen], key=lambda p: times[p.name]["time"]).name
    early = timedelta(seconds=model.clock_skew_seconds + rng.randint(60, 3600))
    moment = datetime.fromisoformat(times[follows]["time"].replace("Z", "+00:00")) - early
    factory.stamp(times[chosen], _utc_text(moment))
    return chosen, follows


def _utc_text(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
