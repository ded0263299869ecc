"""Services that act out of the modelled order, on the local runtime: each deviation is found by the
correlator's own writes where they measure the pair, and otherwise by the check at the execution's end;
either way the order is marked and listed, and counted once (an OutOfOrder metric per milestone pair,
however often an event or the end is delivered), and the status answer shows it."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lambdas.choreography.model import Choreography
from lambdas.conformance.marks import DeviationMarks
from local.events import EventFactory
from local.gateway import function_url_event
from local.loadrun import listed_deviations
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


def _end_of(runtime: LocalRuntime, order_id: str) -> dict[str, Any]:
    """Step Functions' event for the order's execution's end, as the rule delivers it."""
    return {
        "source": "aws.states",
        "detail-type": "Step Functions Execution Status Change",
        "detail": {"name": order_id, "status": "SUCCEEDED", "executionArn": runtime.execution_arn(order_id)},
    }


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
    assert _out_of_order(runtime, since) == [(packaging, inventory)]  # by the correlator; the end adds none
    answer = status_get(runtime, f"/orders/{order_id}")
    assert answer["deviations"] == [{"milestone": packaging, "follows": inventory, "earlyBySeconds": 600.0}]
    assert payment not in {d["milestone"] for d in answer["deviations"]}
    assert listed_deviations(runtime, limit=2)[order_id] == {(packaging, inventory)}
    (entry,) = [o for o in status_get(runtime, "/deviations?limit=100")["orders"] if o["orderId"] == order_id]
    assert entry["outOfOrder"][0]["earlyBySeconds"] == 600.0  # as the correlator measured it


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
    assert order_id not in listed_deviations(runtime, limit=2)


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


def test_a_pair_the_event_path_cannot_measure_is_marked_when_the_execution_ends(
    runtime: LocalRuntime, events: EventFactory, order_model: Choreography, order_id: str
) -> None:
    """Packed before the stock was reserved, at a milestone that cannot fail: the execution goes by it
    without keeping its time, so the dispatch's write cannot compare the two; the end check does."""
    payment, inventory, packaging, dispatch, delivery = order_model.milestones
    assert not packaging.failure  # and it is not the last: no check of its outcome keeps its time
    assert packaging is not order_model.milestones[-1]
    placed, paid, reserved, packaged, dispatched, delivered = _lifecycle_at(
        events, order_id, [0, 1, 2, 10, 5, 20]
    )  # dispatched five minutes before it was packaged
    since = len(runtime.metrics_output)
    runtime.deliver(placed)
    assert runtime.wait_until_waiting(order_id, payment.name)
    runtime.deliver(paid)
    assert runtime.wait_until_waiting(order_id, inventory.name)
    assert runtime.deliver(packaged)["outcome"] == "early"
    runtime.deliver(reserved)
    assert runtime.wait_until_waiting(order_id, dispatch.name)
    assert runtime.deliver(dispatched)["outcome"] == "delivered"
    assert runtime.wait_until_waiting(order_id, delivery.name)
    runtime.deliver(delivered)
    assert _out_of_order(runtime, since) == []  # the event path could not measure the pair
    assert runtime.wait_for_executions([order_id]) == {order_id: "SUCCEEDED"}  # and the end is checked
    assert _out_of_order(runtime, since) == [(dispatch.name, packaging.name)]
    assert listed_deviations(runtime, limit=2)[order_id] == {(dispatch.name, packaging.name)}
    (entry,) = [o for o in status_get(runtime, "/deviations?limit=100")["orders"] if o["orderId"] == order_id]
    assert entry["outOfOrder"] == [{"milestone": dispatch.name, "follows": packaging.name, "earlyBySeconds": 300.0}]
    answer = status_get(runtime, f"/orders/{order_id}")
    assert answer["deviations"] == [{"milestone": dispatch.name, "follows": packaging.name, "earlyBySeconds": 300.0}]
    # The end delivered again (a retry, a redrive): marked already, counted nothing more.
    check = runtime.function_with_handler("lambdas.conformance.handler.handler")
    assert runtime.invoke(check, _end_of(runtime, order_id))["marked"] == []
    assert _out_of_order(runtime, since) == [(dispatch.name, packaging.name)]


def test_a_mark_the_correlator_could_not_write_is_made_at_the_end_and_counted_once(
    runtime: LocalRuntime,
    events: EventFactory,
    order_model: Choreography,
    order_id: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The invocation ended between the event's write and the mark (the table refused the mark): the
    event is not retried for it, and its repeats are duplicates; the end check marks and counts it."""
    _, inventory, packaging, *_ = (m.name for m in order_model.milestones)
    original = DeviationMarks.mark

    def refused_for_the_correlator(self: DeviationMarks, *args: Any, **kwargs: Any) -> set[tuple[str, str]]:
        if kwargs.get("started_only"):  # the correlator's
            raise RuntimeError("ProvisionedThroughputExceededException")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DeviationMarks, "mark", refused_for_the_correlator)
    lifecycle = _lifecycle_at(events, order_id, [0, 1, 20, 10, 30, 40])  # packaged before reserved
    since = len(runtime.metrics_output)
    runtime.deliver(lifecycle[0])
    for event, milestone in zip(lifecycle[1:], order_model.milestones, strict=True):
        assert runtime.wait_until_waiting(order_id, milestone.name)
        assert runtime.deliver(event)["outcome"] == "delivered"
    assert order_id not in listed_deviations(runtime, limit=2)
    assert runtime.wait_for_executions([order_id]) == {order_id: "SUCCEEDED"}
    assert _out_of_order(runtime, since) == [(packaging, inventory)]
    assert listed_deviations(runtime, limit=2)[order_id] == {(packaging, inventory)}


def test_the_deviation_listing_refuses_what_it_does_not_know(runtime: LocalRuntime) -> None:
    function = runtime.function_with_handler("lambdas.status.handler.handler")
    for query, field in (("status=RUNNING", "status"), ("limit=0", "limit"), ("next=abc", "next")):
        response = runtime.invoke(function, function_url_event("GET", f"/deviations?{query}", {}, b""))
        assert response["statusCode"] == 400, response
        assert json.loads(response["body"])["message"].startswith(f"{field}: ")
