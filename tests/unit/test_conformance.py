"""The deviation mark and the check at an execution's end: which pairs are new, which events are an
execution's end, and the listing's parameters."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from moto import mock_aws

from lambdas.choreography import table
from lambdas.choreography.model import Choreography
from lambdas.choreography.versions import Versions
from lambdas.conformance.ended import NotAnExecutionEnd, ended_instance
from lambdas.conformance.logic import EndCheck
from lambdas.conformance.marks import DeviationMarks, Pair, pair_key, pair_of
from lambdas.status.listing import (
    InvalidParameter,
    encode_page_token,
    parse_deviation_request,
)

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


@pytest.fixture
def marks() -> Iterator[DeviationMarks]:
    os.environ.update(AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x", AWS_DEFAULT_REGION="us-east-1")
    with mock_aws():
        import boto3

        client = boto3.client("dynamodb")
        keys = [(table.PARTITION_KEY, "HASH"), (table.SORT_KEY, "RANGE")]
        client.create_table(
            TableName="t",
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": name, "KeyType": kind} for name, kind in keys],
            AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name, _ in keys],
        )
        yield DeviationMarks(client, "t", "order-fulfillment")


def _start(marks: DeviationMarks, instance_id: str) -> None:
    marks.client.put_item(
        TableName="t",
        Item={
            table.PARTITION_KEY: {"S": instance_id},
            table.SORT_KEY: {"S": table.INSTANCE_SK},
            table.STARTED_BY: {"M": {table.EVENT_ID: {"S": "e"}}},
        },
    )


def _instance(marks: DeviationMarks, instance_id: str) -> dict[str, Any]:
    key = {table.PARTITION_KEY: {"S": instance_id}, table.SORT_KEY: {"S": table.INSTANCE_SK}}
    return table.plain(marks.client.get_item(TableName="t", Key=key).get("Item"))


def test_only_pairs_not_marked_before_are_new(marks: DeviationMarks) -> None:
    _start(marks, "o1")
    assert marks.mark("o1", {("Packaging", "Inventory"): 600.0}, NOW) == {("Packaging", "Inventory")}
    assert marks.mark("o1", {("Packaging", "Inventory"): 600.0}, NOW) == set()  # delivered again
    later = datetime(2026, 3, 2, tzinfo=UTC)
    assert marks.mark("o1", {("Packaging", "Inventory"): 1.0, ("Dispatch", "Packaging"): 300.0}, later) == {
        ("Dispatch", "Packaging")
    }
    item = _instance(marks, "o1")
    assert item[table.OUT_OF_ORDER] == {"Packaging<Inventory", "Dispatch<Packaging"}
    assert item[table.DEVIATING] == "order-fulfillment"
    assert item[table.DEVIATING_SINCE] == NOW.isoformat()  # the first mark's time: the listing's order
    # How early, as first marked: a pair marked again keeps its first figure.
    assert item[f"{table.EARLY_BY}Packaging<Inventory"] == 600
    assert item[f"{table.EARLY_BY}Dispatch<Packaging"] == 300


def test_the_correlators_mark_waits_for_the_start(marks: DeviationMarks) -> None:
    """An event never creates the instance's item: it would read as a started order with no start."""
    assert marks.mark("o2", {("Packaging", "Inventory"): 600.0}, NOW, started_only=True) == set()
    assert _instance(marks, "o2") == {}
    assert marks.mark("o2", {}, NOW) == set()
    assert _instance(marks, "o2") == {}  # nothing to mark: no write


def test_a_pair_key_reads_back_as_its_pair() -> None:
    assert pair_key(("Dispatch", "Packaging")) == "Dispatch<Packaging"
    assert pair_of("Dispatch<Packaging") == ("Dispatch", "Packaging")


def _end(**detail: Any) -> dict[str, Any]:
    return {
        "source": "aws.states",
        "detail-type": "Step Functions Execution Status Change",
        "detail": {"name": "ORD-1", "status": "SUCCEEDED", **detail},
    }


def test_an_execution_end_names_its_instance() -> None:
    for status in ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"):
        assert ended_instance(_end(status=status)) == "ORD-1"


@pytest.mark.parametrize(
    ("event", "field"),
    [
        ({"source": "com.example.orders", "detail-type": "OrderPlaced", "detail": {}}, "source, detail-type"),
        (_end(status="RUNNING"), "detail.status"),
        (_end(name=""), "detail.name"),
        ("not an event", "source, detail-type"),
    ],
)
def test_anything_else_is_refused_naming_the_field(event: Any, field: str) -> None:
    with pytest.raises(NotAnExecutionEnd, match=f"^{field}: "):
        ended_instance(event)


class _Records:
    def __init__(self, records: dict[str, Mapping[str, Any]]) -> None:
        self.records = records

    def instance_records(self, instance_id: str) -> dict[str, Mapping[str, Any]]:
        return self.records


class _Marks:
    def __init__(self) -> None:
        self.marked: list[dict[Pair, float]] = []

    def mark(self, instance_id: str, early_by: Mapping[Pair, float], marked_at: datetime) -> set[Pair]:
        self.marked.append(dict(early_by))
        return set(early_by)


def _settled(time: str) -> dict[str, Any]:
    return {
        table.SETTLED_BY: {table.OUTCOME: "success", table.EVENT_TYPE: "E", table.EVENT_ID: "i", table.EVENT_TIME: time}
    }


def test_the_end_check_marks_what_the_status_answer_finds_and_writes_nothing_else(order_model: Choreography) -> None:
    payment, inventory, packaging, dispatch, delivery = (m.name for m in order_model.milestones)
    records: dict[str, Mapping[str, Any]] = {
        table.INSTANCE_SK: {
            table.STATUS: table.COMPLETED,
            table.STARTED_BY: {table.EVENT_TIME: "2026-03-01T10:00:00+00:00"},
        },
        payment: _settled("2026-03-01T10:01:00+00:00"),
        inventory: _settled("2026-03-01T10:02:00+00:00"),
        packaging: _settled("2026-03-01T10:10:00+00:00"),
        dispatch: _settled("2026-03-01T10:05:00+00:00"),  # before it was packaged
        delivery: _settled("2026-03-01T10:20:00+00:00"),
    }
    marks = _Marks()
    check = EndCheck(Versions(order_model), _Records(records), marks)
    assert check.check("ORD-1", NOW) == {(dispatch, packaging)}
    in_order = {**records, dispatch: _settled("2026-03-01T10:11:00+00:00")}
    assert EndCheck(Versions(order_model), _Records(in_order), marks).check("ORD-2", NOW) == set()
    assert marks.marked == [{(dispatch, packaging): 300.0}]  # no write for an order in the modelled order


def test_the_deviation_listing_takes_a_limit_and_its_own_page_token() -> None:
    assert parse_deviation_request(None).limit == 25
    own = {table.DEVIATING: "m", table.DEVIATING_SINCE: "t", table.PARTITION_KEY: "o", table.SORT_KEY: "#instance"}
    assert parse_deviation_request({"next": encode_page_token(own), "limit": "5"}).start_key == own
    status_page = {table.STATUS: "RUNNING", table.STATUS_UPDATED_AT: "t", table.PARTITION_KEY: "o", table.SORT_KEY: "s"}
    with pytest.raises(InvalidParameter, match=r"^next: "):
        parse_deviation_request({"next": encode_page_token(status_page)})
    with pytest.raises(InvalidParameter, match=r"^status: unknown parameter; known: limit, next"):
        parse_deviation_request({"status": "RUNNING"})
