"""Where an order is, derived from its records alone."""

from __future__ import annotations

from typing import Any

import pytest

from lambdas.choreography import table
from lambdas.choreography.model import Choreography, load_model
from lambdas.status.listing import InvalidParameter, describe_entry, encode_page_token, parse_list_request
from lambdas.status.logic import ARRIVED_EARLY, AWAITING, DONE, PENDING, STUCK, TIMED_OUT, describe_instance
from tests.conftest import RETURN_MODEL_PATH


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


def test_a_stuck_milestone_makes_the_order_stuck_there(order_model: Choreography) -> None:
    first, second = (m.name for m in order_model.milestones[:2])
    records = {
        table.INSTANCE_SK: {table.STATUS: table.RUNNING, table.STATUS_UPDATED_AT: "t0"},
        first: _settled(**{table.TASK_TOKEN: "x"}),
        second: {
            table.TASK_TOKEN: "y",
            table.WAITING_SINCE: "t1",
            table.STATUS: table.STUCK,
            table.STATUS_UPDATED_AT: "t2",
            table.ESCALATIONS: 2,
        },
    }
    description = describe_instance(order_model, "ORD-4", records)
    assert (description["status"], description["stuckAt"], description["since"]) == (table.STUCK, second, "t2")
    assert description["escalations"] == 2
    assert description["milestones"][1]["state"] == STUCK


def test_a_timed_out_milestone_shows_where_the_order_failed(order_model: Choreography) -> None:
    first = order_model.milestones[0].name
    records: dict[str, dict[str, Any]] = {
        table.INSTANCE_SK: {table.STATUS: table.FAILED, table.FAILED_MILESTONE: first},
        first: {table.TASK_TOKEN: "x", table.ESCALATIONS: 3, table.TIMED_OUT_AT: "t3"},
    }
    description = describe_instance(order_model, "ORD-5", records)
    assert (description["status"], description["failedAt"]) == (table.FAILED, first)
    assert description["milestones"][0]["state"] == TIMED_OUT


def test_a_listing_entry_of_a_stuck_milestone_names_it(order_model: Choreography) -> None:
    entry = describe_entry(
        order_model,
        {
            table.PARTITION_KEY: "ORD-6",
            table.SORT_KEY: "M",
            table.STATUS: table.STUCK,
            table.STATUS_UPDATED_AT: "t2",
            table.WAITING_SINCE: "t1",
            table.ESCALATIONS: 1,
            table.EXECUTION_ARN: "arn:aws:states:eu-west-1:123456789012:execution:m:ORD-6",
        },
    )
    assert entry["orderId"] == "ORD-6"
    assert (entry["milestone"], entry["since"], entry["waitingSince"], entry["escalations"]) == ("M", "t2", "t1", 1)
    assert entry["consoleUrl"].startswith("https://eu-west-1.console.aws.amazon.com/")


def test_a_page_token_round_trips_and_is_bound_to_its_status(order_model: Choreography) -> None:
    key = {table.STATUS: "FAILED", table.STATUS_UPDATED_AT: "t", table.PARTITION_KEY: "O", table.SORT_KEY: "#instance"}
    request = parse_list_request(order_model, {"status": "FAILED", "next": encode_page_token(key)})
    assert request.start_key == key
    with pytest.raises(InvalidParameter, match=r"^next: belongs to the listing of FAILED"):
        parse_list_request(order_model, {"status": "STUCK", "next": encode_page_token(key)})


def test_answers_name_the_id_as_the_services_do() -> None:
    """A return model's answers say returnId, not orderId: the word comes from its correlation key."""
    model = load_model(RETURN_MODEL_PATH)
    assert model.instance_key == "returnId"
    item = {table.PARTITION_KEY: "RET-1", table.SORT_KEY: table.INSTANCE_SK, table.STATUS: table.RUNNING}
    description = describe_instance(model, "RET-1", {table.INSTANCE_SK: item})
    assert (description["key"], description["returnId"]) == ("returnId", "RET-1")
    assert "orderId" not in description
    entry = describe_entry(model, item)
    assert entry["returnId"] == "RET-1"
    assert "orderId" not in entry


def _settled_at(time: str) -> dict[str, Any]:
    return _settled(**{table.TASK_TOKEN: "x"}) | {
        table.SETTLED_BY: {
            table.OUTCOME: "success",
            table.EVENT_TYPE: "E",
            table.EVENT_TIME: time,
            table.ARRIVED_AT: "a",
        }
    }


def test_a_service_that_acted_before_the_milestone_it_follows_is_one_deviation(order_model: Choreography) -> None:
    payment, inventory, packaging, dispatch, delivery = (m.name for m in order_model.milestones)
    records = {
        table.INSTANCE_SK: {
            table.STATUS: table.COMPLETED,
            table.STARTED_BY: {table.EVENT_TIME: "2026-03-01T10:00:00Z"},
        },
        payment: _settled_at("2026-03-01T09:59:00+00:00"),  # before the start: a first milestone follows no milestone
        inventory: _settled_at("2026-03-01T10:05:00+00:00"),
        packaging: _settled_at("2026-03-01T09:50:00+00:00"),  # packed 15 minutes before the stock was reserved
        dispatch: _settled_at("2026-03-01T10:10:00+00:00"),
        delivery: _settled_at("2026-03-01T10:09:57+00:00"),  # 3 s early: within the model's clock skew
    }
    description = describe_instance(order_model, "ORD-9", records)
    assert order_model.clock_skew_seconds == 5
    assert description["deviations"] == [{"milestone": packaging, "follows": inventory, "earlyBySeconds": 900.0}]


def test_concurrent_milestones_impose_no_order_between_themselves() -> None:
    loan = load_model(RETURN_MODEL_PATH.with_name("loan_application.json"))
    credit, identity, underwriting, payout = (m.name for m in loan.milestones)
    assert loan.concurrent(loan.milestones[0])
    records = {
        table.INSTANCE_SK: {table.STATUS: table.RUNNING},
        credit: _settled_at("2026-03-01T11:00:00+00:00"),
        identity: _settled_at("2026-03-01T10:00:00+00:00"),  # an hour before the credit check: either order holds
        underwriting: _settled_at("2026-03-01T10:30:00+00:00"),  # after one check, before the other
        payout: _settled_at("2026-03-01T12:00:00+00:00"),
    }
    description = describe_instance(loan, "LOAN-1", records)
    # Underwriting follows both checks: it is measured against the later one, and only it deviates.
    assert description["deviations"] == [{"milestone": underwriting, "follows": credit, "earlyBySeconds": 1800.0}]
