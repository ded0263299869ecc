"""The model loader: the shipped models load, and every kind of broken model fails naming file and field."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lambdas.choreography.model import FAILURE, SUCCESS, Choreography, ModelError, load_model, model_problems
from stacks.packaging import MODELS_DIR
from tests.conftest import ORDER_MODEL_PATH


def test_order_model_reads_as_written(order_model: Choreography) -> None:
    assert order_model.name == "order-fulfillment"
    assert order_model.start_event == "OrderPlaced"
    assert order_model.correlation_path == ("detail", "orderId")
    assert [m.name for m in order_model.milestones] == ["Payment", "Inventory", "Packaging", "Dispatch", "Delivery"]
    assert order_model.roles["OutOfStock"].milestone is order_model.milestones[1]
    assert order_model.roles["OutOfStock"].outcome == FAILURE
    assert order_model.roles["OrderDelivered"].outcome == SUCCESS
    assert order_model.roles["OrderPlaced"].milestone is None
    assert order_model.event_names_from("com.example.payments") == ("PaymentFailed", "PaymentProcessed")


def test_every_shipped_model_loads() -> None:
    names = {load_model(path).name for path in MODELS_DIR.glob("*.json")}
    assert names == {"loan-application", "order-fulfillment", "return-refund"}


def _document() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(ORDER_MODEL_PATH.read_text())
    return document


def _set(path: list[Any], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        target = document
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return change


def _delete(path: list[Any]) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        target = document
        for part in path[:-1]:
            target = target[part]
        del target[path[-1]]

    return change


def _duplicate_milestone(document: dict[str, Any]) -> None:
    document["milestones"].append(copy.deepcopy(document["milestones"][0]))
    document["milestones"][-1]["success"] = ["OrderPackaged2"]
    document["events"]["OrderPackaged2"] = copy.deepcopy(document["events"]["OrderPackaged"])


BROKEN = {
    "missing version": (_delete(["version"]), "(root)", "'version' is a required property"),
    "negative SLA": (_set(["milestones", 2, "slaSeconds"], -5), "milestones[2].slaSeconds", "less than the minimum"),
    "SLA as text": (
        _set(["milestones", 0, "slaSeconds"], "15m"),
        "milestones[0].slaSeconds",
        "is not of type 'integer'",
    ),
    "bad milestone name": (
        _set(["milestones", 1, "name"], "in ventory"),
        "milestones[1].name",
        "does not match the pattern",
    ),
    "correlation key outside detail": (
        _set(["correlationKey"], "orderId"),
        "correlationKey",
        "does not match the pattern",
    ),
    "undefined event": (
        _set(["milestones", 3, "success"], ["OrderShipped"]),
        "milestones[3].success[0]",
        "'OrderShipped' is not defined",
    ),
    "event used twice": (
        _set(["milestones", 3, "success"], ["OrderPackaged"]),
        "milestones[3].success[0]",
        "already used at milestones[2].success[0]",
    ),
    "unused event": (
        _set(["milestones", 4, "failure"], []),
        "events.DeliveryFailed",
        "neither starts nor settles",
    ),
    "duplicate milestone": (_duplicate_milestone, "milestones[5].name", "'Payment' is not unique"),
    "invalid event schema": (
        _set(["events", "OrderPackaged", "schema", "properties", "packageId", "type"], "text"),
        "events.OrderPackaged.schema.properties.packageId.type",
        "not a valid JSON Schema",
    ),
    "example against its schema": (
        _set(["events", "PaymentProcessed", "schema", "examples"], [{"orderId": "A", "paymentId": "P", "amount": -1}]),
        "events.PaymentProcessed.schema.examples[0].amount",
        "does not match its own schema",
    ),
    "unknown field": (_set(["escalate"], True), "(root)", "'escalate' was unexpected"),
    "correlation key not required": (
        _set(["events", "OrderPackaged", "schema", "required"], ["packageId"]),
        "events.OrderPackaged.schema.required",
        "must list 'orderId': every event carries the correlation key detail.orderId",
    ),
    "correlation key not a string": (
        _set(["events", "OrderDispatched", "schema", "properties", "orderId"], {"type": "integer"}),
        "events.OrderDispatched.schema.properties.orderId.type",
        'must be "string"',
    ),
    "event time outside detail": (
        _set(["eventTime"], {"field": "occurredAt"}),
        "eventTime.field",
        "does not match the pattern",
    ),
    "event time not required": (
        _set(["eventTime"], {"field": "detail.occurredAt"}),
        "events.OrderPlaced.schema.required",
        "must list 'occurredAt': every event carries the event time detail.occurredAt",
    ),
    "negative clock skew": (
        _set(["eventTime"], {"clockSkewSeconds": -1}),
        "eventTime.clockSkewSeconds",
        "less than the minimum",
    ),
    "event without an example": (
        _delete(["events", "OrderDelivered", "schema", "examples"]),
        "events.OrderDelivered.schema.examples",
        "needs at least one example",
    ),
    "no milestones": (_set(["milestones"], []), "milestones", "should be non-empty"),
    "one branch alone": (
        _set(
            ["milestones"], [{"concurrently": [{"name": "Payment", "slaSeconds": 9, "success": ["PaymentProcessed"]}]}]
        ),
        "milestones[0].concurrently",
        "has 1 item(s); at least 2 are needed",
    ),
    "concurrency nested in a branch": (
        _set(
            ["milestones"],
            [
                {
                    "concurrently": [
                        {"name": "Payment", "slaSeconds": 9, "success": ["PaymentProcessed"]},
                        {"concurrently": [{"name": "Inventory", "slaSeconds": 9, "success": ["InventoryReserved"]}]},
                    ]
                }
            ],
        ),
        "milestones[0].concurrently[1]",
        "cannot be nested in a branch",
    ),
    "stuck event of a service": (
        _set(["stuck", "event"], "PaymentFailed"),
        "stuck.event",
        "is one of the services' events",
    ),
    "stuck source of a service": (
        _set(["stuck", "source"], "com.example.payments"),
        "stuck.source",
        "is a service's source",
    ),
    "no escalation": (_set(["stuck", "escalations"], 0), "stuck.escalations", "less than the minimum of 1"),
    "milestone escalations as text": (
        _set(["milestones", 1, "escalations"], "two"),
        "milestones[1].escalations",
        "is not of type 'integer'",
    ),
}


def test_stuck_settings_default_and_a_milestone_may_override_them(tmp_path: Path) -> None:
    document = _document()
    del document["stuck"]
    document["milestones"][1]["escalations"] = 7
    path = tmp_path / "model.json"
    path.write_text(json.dumps(document))
    model = load_model(path)
    assert model.stuck_event == "InstanceStuck"
    assert model.monitor_source == f"choreography-monitor.{model.name}"
    assert [m.escalations for m in model.milestones[:3]] == [3, 7, 3]
    assert model.monitor_source not in model.sources


@pytest.mark.parametrize("breakage", sorted(BROKEN))
def test_broken_model_names_file_and_field(breakage: str, tmp_path: Path) -> None:
    change, field, message = BROKEN[breakage]
    document = _document()
    change(document)
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ModelError) as raised:
        load_model(path)
    assert raised.value.source == str(path)
    assert raised.value.field == field
    assert message in raised.value.message
    assert str(path) in str(raised.value)
    assert field in str(raised.value)


def test_malformed_json_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "name": "x",\n  oops\n}')
    with pytest.raises(ModelError, match=r"broken\.json: line 3 column 3: Expecting property name"):
        load_model(path)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"absent\.json: \(file\): No such file"):
        load_model(tmp_path / "absent.json")


def test_every_problem_of_a_file_is_found_at_once(tmp_path: Path) -> None:
    document = _document()
    document["events"]["OrderPackaged"]["schema"]["required"] = ["packageId"]
    del document["events"]["OrderDelivered"]["schema"]["examples"]
    document["milestones"][3]["success"] = ["OrderShipped"]
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(document))

    problems = model_problems(path)

    assert [problem.field for problem in problems] == [
        "milestones[3].success[0]",
        "events.OrderPackaged.schema.required",
        "events.OrderDispatched",  # no milestone uses it now
        "events.OrderDelivered.schema.examples",
    ]
    assert all(problem.source == str(path) for problem in problems)
    assert model_problems(ORDER_MODEL_PATH) == []


def test_an_event_time_in_the_detail_must_be_a_date_time(return_model: Choreography, tmp_path: Path) -> None:
    assert return_model.event_time_field == "detail.occurredAt"  # the shipped model that names one
    assert return_model.clock_skew_seconds == 5
    document = json.loads((MODELS_DIR / "return_refund.json").read_text())
    del document["events"]["RefundIssued"]["schema"]["properties"]["occurredAt"]["format"]
    path = tmp_path / "model.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ModelError) as raised:
        load_model(path)
    assert raised.value.field == "events.RefundIssued.schema.properties.occurredAt.format"
    assert 'must be "date-time"' in raised.value.message


def test_the_event_time_defaults_to_the_envelopes(order_model: Choreography) -> None:
    assert order_model.event_time_field == "time"
    assert order_model.event_time_path == ("time",)
    assert order_model.clock_skew_seconds == 5
