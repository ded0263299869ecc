"""Services that act out of the modelled order, on the local runtime: each deviation is found by the
correlator's own writes (an OutOfOrder metric per milestone pair, once, however often the event is
delivered) and by the status answer, whichever of the pair's events arrives first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from lambdas.choreography.model import Choreography
from local.events import EventFactory
from local.runtime import LocalRuntime
from tests.integration.conftest import status_get

BASE = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def _lifecycle_at(events: EventFactory, order_id: str, minutes: list[float]) -> list[dict[str, Any]]:
    """The order's lifecycle with each event's time set `minutes` after BASE (the start first)."""
    lifecycle = events.lifecycle(order_id)
    for event, offset in zip(lifecycle, minutes, strict=True):
        events.stamp(event, (BASE + timedelta(minutes=offset)).isoformat())
    return lifecycle


def _out_of_order(runtime: LocalRuntime, since: int) -> list[tuple[str, str]]:
    """The OutOfOrder counts emitted per milestone pair; each is also counted in the all-pairs metric."""
    records = [record for record in runtime.metrics_output[since:] if "OutOfOrder" in record]
    pairs = [(r["milestone"], r["follows"]) for r in records if "follows" in r for _ in r["OutOfOrder"]]
    together = [value for r in records if "follows" not in r for value in r["OutOfOrder"]]
    assert sum(together) == len(pairs)
    return pairs


def test_a_service_acting_before_the_one_it_follows_is_counted_once_and_shown(
    runtime: LocalRuntime, events: EventFactory, order_model: Choreography, order_id: str
) -> None:
    payment, inventory, packaging, *_ = (m.name for m in order_model.milestones)
    # Packaged ten minutes before the stock was reserved; delivered 3 s before dispatch, within the skew.
    lifecycle = _lifecycle_at(events, order_id, [0, 1, 20, 10, 30, 29.95])
    since = len(runtime.metrics_output)
    runtime.deliver(lifecycle[0])
    for event, milestone in zip(lifecycle[1:], order_model.milestones, strict=True):
        assert runtime.wait_until_waiting(order_id, milestone.name)
        result = runtime.deliver(event)
        assert result["outcome"] == "delivered"
        runtime.deliver(event)  # a repeated delivery counts nothing twice
    assert runtime.wait_for_executions([order_id]) == {order_id: "SUCCEEDED"}
    assert _out_of_order(runtime, since) == [(packaging, inventory)]
    answer = status_get(runtime, f"/orders/{order_id}")
    assert answer["deviations"] == [{"milestone": packaging, "follows": inventory, "earlyBySeconds": 600.0}]
    assert payment not in {d["milestone"] for d in answer["deviations"]}


def test_a_deviation_is_found_when_the_later_milestones_event_arrives_first(
    runtime: LocalRuntime, events: EventFactory, order_model: Choreography, order_id: str
) -> None:
    payment, inventory, *_ = (m.name for m in order_model.milestones)
    placed, paid, reserved, *_ = _lifecycle_at(events, order_id, [0, 20, 5, 30, 40, 50])  # reserved before paid
    since = len(runtime.metrics_output)
    runtime.deliver(placed)
    assert runtime.wait_until_waiting(order_id, payment)
    assert runtime.deliver(reserved)["outcome"] == "early"  # its time is left on the payment's item
    assert runtime.deliver(paid)["outcome"] == "delivered"  # whose write returns it: the pair is measured
    runtime.deliver(reserved)
    runtime.deliver(paid)
    assert _out_of_order(runtime, since) == [(inventory, payment)]
    answer = status_get(runtime, f"/orders/{order_id}")
    assert answer["deviations"] == [{"milestone": inventory, "follows": payment, "earlyBySeconds": 900.0}]


def test_events_in_the_modelled_order_deviate_nowhere(
    runtime: LocalRuntime, events: EventFactory, order_model: Choreography, order_id: str
) -> None:
    lifecycle = _lifecycle_at(events, order_id, [0, 1, 2, 3, 4, 5])
    since = len(runtime.metrics_output)
    for event in reversed(lifecycle[1:]):  # arrival order is not event order: none of it is a deviation
        runtime.deliver(event)
    runtime.deliver(lifecycle[0])
    assert runtime.wait_for_executions([order_id]) == {order_id: "SUCCEEDED"}
    assert _out_of_order(runtime, since) == []
    assert status_get(runtime, f"/orders/{order_id}")["deviations"] == []


def test_a_wait_after_an_early_event_that_could_fail_still_knows_its_time(
    runtime: LocalRuntime, events: EventFactory, order_model: Choreography, order_id: str
) -> None:
    """The payment came before the order did: the execution went by its milestone through the check of
    the early outcome, which keeps the event's time for the next wait, so the next pair is compared."""
    payment, inventory, *_ = order_model.milestones
    assert payment.failure  # the early outcome is checked here: a failure would end the order
    placed, paid, reserved, *_ = _lifecycle_at(events, order_id, [0, 20, 5, 30, 40, 50])  # reserved before paid
    since = len(runtime.metrics_output)
    assert runtime.deliver(paid)["outcome"] == "early"
    runtime.deliver(placed)
    assert runtime.wait_until_waiting(order_id, inventory.name)
    assert runtime.deliver(reserved)["outcome"] == "delivered"
    assert _out_of_order(runtime, since) == [(inventory.name, payment.name)]
