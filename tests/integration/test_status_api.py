"""The status function on the local runtime: its routes, validation and pagination, through the real
handler, the real table and index, and orders the real state machine ran."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from lambdas.choreography import table
from lambdas.choreography.model import Choreography
from local.events import EventFactory
from local.gateway import function_url_event
from local.runtime import LocalRuntime

Get = Callable[..., tuple[int, dict[str, Any]]]


@pytest.fixture
def get(runtime: LocalRuntime) -> Get:
    function = runtime.function_with_handler("lambdas.status.handler.handler")

    def call(path: str, query: str = "") -> tuple[int, dict[str, Any]]:
        target = f"{path}?{query}" if query else path
        response = runtime.invoke(function, function_url_event("GET", target, {}, b""))
        return int(response["statusCode"]), json.loads(response["body"])

    return call


def _finish(runtime: LocalRuntime, events: EventFactory, order_ids: list[str], failure_at: str | None = None) -> None:
    for order_id in order_ids:
        # Backwards: every milestone's event is waiting when the execution gets there, so it ends at once.
        for event in reversed(events.lifecycle(order_id, failure_at=failure_at)):
            runtime.deliver(event)
    statuses = runtime.wait_for_executions(order_ids)
    assert set(statuses.values()) == {"FAILED" if failure_at else "SUCCEEDED"}, statuses


def _all_pages(get: Get, query: str) -> list[dict[str, Any]]:
    orders: list[dict[str, Any]] = []
    token = None
    for _ in range(100):
        status, page = get("/orders", query + (f"&next={token}" if token else ""))
        assert status == 200, page
        orders += page["orders"]
        token = page.get("next")
        if not token:
            return orders
    raise AssertionError("the listing never ended")


def test_one_order_is_described_milestone_by_milestone_with_one_read(
    runtime: LocalRuntime, events: EventFactory, order_model: Choreography, order_id: str, get: Get
) -> None:
    lifecycle = events.lifecycle(order_id)
    runtime.deliver(lifecycle[0])
    runtime.deliver(lifecycle[1])
    runtime.deliver(lifecycle[1])  # a duplicate delivery
    before = runtime.calls.calls.copy()
    status, order = get(f"/orders/{order_id}")
    calls = runtime.calls.calls - before
    assert status == 200, order
    assert dict(calls) == {"Query": 1}  # one DynamoDB request, no Step Functions call
    assert (order["orderId"], order["model"], order["modelVersion"]) == (
        order_id,
        order_model.name,
        order_model.version,
    )
    first, second = order["milestones"][:2]
    assert [m["name"] for m in order["milestones"]] == [m.name for m in order_model.milestones]
    assert (first["state"], first["event"], first["duplicates"]) == ("done", lifecycle[1]["detail-type"], 1)
    assert first["eventIds"] == [lifecycle[1]["id"]]
    assert first["durationSeconds"] is not None
    assert first["durationSeconds"] >= 0
    assert order["executionArn"] == runtime.execution_arn(order_id)
    assert order["consoleUrl"].endswith(order["executionArn"])
    # The execution moves on to the second milestone shortly after the first is sent.
    for _ in range(100):
        status, order = get(f"/orders/{order_id}")
        if order.get("awaiting") == second["name"]:
            break
    assert (order["status"], order["awaiting"]) == (table.RUNNING, second["name"])
    assert order["since"] == order["milestones"][1]["waitingSince"]


def test_unknown_and_invalid_orders(get: Get, order_id: str) -> None:
    status, body = get(f"/orders/{order_id}")
    assert status == 404
    assert order_id in body["message"]
    status, body = get("/orders/" + "x" * 81)
    assert status == 400
    assert "orderId" in body["message"]


def test_orders_are_listed_by_status_newest_first_page_by_page(
    runtime: LocalRuntime, events: EventFactory, get: Get
) -> None:
    mine = [f"LIST-{n}-{id(get)}" for n in range(5)]
    _finish(runtime, events, mine)
    listed = _all_pages(get, "status=COMPLETED&limit=2")
    ids = [o["orderId"] for o in listed]
    assert set(mine) <= set(ids)
    assert len(ids) == len(set(ids))  # no order on two pages
    times = [o["since"] for o in listed]
    assert times == sorted(times, reverse=True)
    assert {o["status"] for o in listed} == {table.COMPLETED}
    _status, page = get("/orders", "status=COMPLETED&limit=2")
    assert len(page["orders"]) == 2
    assert "next" in page


def test_failed_orders_filter_by_milestone(
    runtime: LocalRuntime, events: EventFactory, order_model: Choreography, get: Get
) -> None:
    first_failing, second_failing = [m.name for m in order_model.milestones if m.failure][:2]
    at_first, at_second = f"FAIL-A-{id(get)}", f"FAIL-B-{id(get)}"
    _finish(runtime, events, [at_first], failure_at=first_failing)
    _finish(runtime, events, [at_second], failure_at=second_failing)
    listed = _all_pages(get, f"status=FAILED&milestone={first_failing}")
    ids = {o["orderId"] for o in listed}
    assert at_first in ids
    assert at_second not in ids
    assert {o["milestone"] for o in listed} == {first_failing}
    _status, order = get(f"/orders/{at_second}")
    assert (order["status"], order["failedAt"]) == (table.FAILED, second_failing)


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("", "status"),
        ("status=DONE", "status"),
        ("status=RUNNING&milestone=X", "milestone"),
        ("status=FAILED&milestone=NoSuchMilestone", "milestone"),
        ("status=FAILED&limit=0", "limit"),
        ("status=FAILED&limit=101", "limit"),
        ("status=FAILED&limit=ten", "limit"),
        ("status=FAILED&next=not-a-token", "next"),
        ("status=FAILED&colour=red", "colour"),
    ],
)
def test_invalid_listing_parameters_are_named(get: Get, query: str, named: str) -> None:
    status, body = get("/orders", query)
    assert status == 400
    assert body["message"].startswith(f"{named}:")


def test_a_page_token_is_bound_to_its_status(runtime: LocalRuntime, events: EventFactory, get: Get) -> None:
    _finish(runtime, events, [f"TOKEN-{n}-{id(get)}" for n in range(2)])
    _, page = get("/orders", "status=COMPLETED&limit=1")
    status, body = get("/orders", f"status=RUNNING&next={page['next']}")
    assert status == 400
    assert "COMPLETED" in body["message"]


def test_the_model_it_reads_orders_with_is_described_without_a_read(
    runtime: LocalRuntime, order_model: Choreography, get: Get
) -> None:
    before = runtime.calls.calls.copy()
    status, described = get("/model")
    assert status == 200, described
    assert not runtime.calls.calls - before  # from the model file alone
    assert (described["model"], described["version"], described["key"]) == (
        order_model.name,
        order_model.version,
        order_model.instance_key,
    )
    assert [(m["name"], m["slaSeconds"]) for m in described["milestones"]] == [
        (m.name, m.sla_seconds) for m in order_model.milestones
    ]
    first, second = described["milestones"][:2]
    assert (first["follows"], second["follows"]) == ([], [first["name"]])
    assert first["failure"] == list(order_model.milestones[0].failure)
