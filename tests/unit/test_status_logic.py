"""Where an order is, derived from its records alone."""

from __future__ import annotations

from typing import Any

from lambdas.choreography import table
from lambdas.choreography.model import Choreography
from lambdas.status.logic import ARRIVED_EARLY, AWAITING, DONE, PENDING, describe_instance


def _settled(outcome: str = "success", **extra: Any) -> dict[str, Any]:
    return {
        table.SETTLED_BY: {table.OUTCOME: outcome, table.EVENT_TYPE: "E", table.EVENT_TIME: "t", table.ARRIVED_AT: "a"},
        table.EVENT_IDS: {"1"},
        table.RECEIVED: 2,
        **extra,
    }


def test_a_running_order_awaits_its_first_unsettled_milestone(order_model: Choreography) -> None:
    first, second, third = (m.name for m in order_model.milestones[:3])
    records = {
        table.INSTANCE_SK: {table.STATUS: table.RUNNING, table.STATUS_UPDATED_AT: "t0"},
        first: _settled(**{table.TASK_TOKEN: "x"}),
        second: {table.TASK_TOKEN: "y", table.WAITING_SINCE: "t2"},
        third: _settled(),
    }
    description = describe_instance(order_model, "ORD-1", records)
    states = [m["state"] for m in description["milestones"]]
    assert states[:4] == [DONE, AWAITING, ARRIVED_EARLY, PENDING]
    assert (description["awaiting"], description["since"]) == (second, "t2")
    assert description["milestones"][0]["duplicates"] == 1


def test_a_completed_order_shows_every_milestone_done(order_model: Choreography) -> None:
    records = {table.INSTANCE_SK: {table.STATUS: table.COMPLETED}} | {
        m.name: _settled() for m in order_model.milestones
    }
    description = describe_instance(order_model, "ORD-2", records)
    assert {m["state"] for m in description["milestones"]} == {DONE}


def test_events_without_a_start_are_not_started(order_model: Choreography) -> None:
    description = describe_instance(order_model, "ORD-3", {order_model.milestones[1].name: _settled()})
    assert description["status"] == "NOT_STARTED"
