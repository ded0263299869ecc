"""The bench's cost model on hand-made inputs: DynamoDB item sizes and units by AWS's rules, index writes,
billed transitions from a history, the AWS sample's transitions, and dollars from the prices file."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bench import naive, units
from bench.costs import DEFAULT_PRICES, LINES, TOTAL, Usage, dollars_per_million_orders, gb_seconds, load_prices
from bench.report import p99
from bench.system import billed_transitions, events_put
from lambdas.choreography import table
from lambdas.choreography.model import Choreography
from local.workload import COMPLETED, FAILED, NOT_STARTED, RUNNING


@pytest.mark.parametrize(
    ("number", "size"),
    [("1803582017", 6), ("12345", 4), ("100", 2), ("-0.0050", 2), ("0", 2), ("1.5E+10", 2)],
)
def test_a_number_is_one_byte_per_two_significant_digits_plus_one(number: str, size: int) -> None:
    assert units.number_size(number) == size


def test_value_sizes_follow_the_documented_rules() -> None:
    assert units.value_size({"S": "héllo"}) == 6  # UTF-8 bytes, not characters
    assert units.value_size({"B": b"\x00\x01\x02"}) == units.value_size({"B": "AAEC"}) == 3  # raw bytes
    assert units.value_size({"BOOL": True}) == units.value_size({"NULL": True}) == 1
    assert units.value_size({"SS": ["ab", "c"]}) == 3
    assert units.value_size({"L": [{"N": "1"}, {"BOOL": False}]}) == 3 + (1 + 2) + (1 + 1)
    assert units.value_size({"M": {"ab": {"S": "xyz"}}}) == 3 + (1 + 2 + 3)
    assert units.value_size({"M": {}}) == 3


def test_an_item_is_its_names_and_values_and_a_token_can_count_for_its_aws_length() -> None:
    item = {
        table.PARTITION_KEY: {"S": "ORD-1"},
        table.SORT_KEY: {"S": table.INSTANCE_SK},
        table.TASK_TOKEN: {"S": "t"},
    }
    names = len(table.PARTITION_KEY) + len(table.SORT_KEY) + len(table.TASK_TOKEN)
    assert units.item_size(item) == names + 5 + len(table.INSTANCE_SK) + 1
    assert units.item_size(item, {table.TASK_TOKEN: 1024}) == names + 5 + len(table.INSTANCE_SK) + 1024
    assert units.item_size(None) == 0


def test_write_and_read_units_round_up_to_their_unit_sizes() -> None:
    assert units.write_units(0, 1024) == 1
    assert units.write_units(0, 1025) == 2
    assert units.write_units(1500, 200) == 2  # the larger of before and after
    assert units.write_units(0, 0) == 1  # a write of nothing (a failed condition on no item) is still one
    assert units.read_units(4096, consistent=True) == 1
    assert units.read_units(4097, consistent=True) == 2
    assert units.read_units(100, consistent=False) == Decimal("0.5")
    assert units.read_units(0, consistent=True) == 1  # a missing item is read as an empty one


def _status_index(projection: str = "ALL") -> units.IndexSpec:
    return units.IndexSpec(
        table.STATUS_INDEX,
        (table.STATUS, table.STATUS_UPDATED_AT),
        (table.PARTITION_KEY, table.SORT_KEY),
        projection,
    )


def _instance(status: str | None, updated: str = "t1", **extra: str) -> dict[str, dict[str, str]]:
    item = {table.PARTITION_KEY: {"S": "ORD-1"}, table.SORT_KEY: {"S": table.INSTANCE_SK}}
    if status is not None:
        item |= {table.STATUS: {"S": status}, table.STATUS_UPDATED_AT: {"S": updated}}
    return item | {name: {"S": value} for name, value in extra.items()}


def test_index_writes_are_one_per_entry_put_or_changed_and_two_when_its_key_changes() -> None:
    index = _status_index()
    assert index.entry(_instance(None)) is None  # sparse: no status, no entry
    assert units.index_write_units(index, None, _instance(None)) == 0
    assert units.index_write_units(index, _instance(None), _instance(table.RUNNING)) == 1  # enters
    assert units.index_write_units(index, _instance(table.RUNNING), _instance(table.COMPLETED, "t2")) == 2
    assert units.index_write_units(index, _instance(table.RUNNING), _instance(table.RUNNING, x="1")) == 1
    assert units.index_write_units(index, _instance(table.RUNNING), _instance(table.RUNNING)) == 0
    assert units.index_write_units(index, _instance(table.RUNNING), _instance(None)) == 1  # leaves
    keys_only = _status_index("KEYS_ONLY")
    assert units.index_write_units(keys_only, _instance(table.RUNNING), _instance(table.RUNNING, x="1")) == 0


def test_index_spec_reads_the_template_declaration() -> None:
    declared = {
        "IndexName": table.STATUS_INDEX,
        "KeySchema": [
            {"AttributeName": table.STATUS, "KeyType": "HASH"},
            {"AttributeName": table.STATUS_UPDATED_AT, "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }
    assert units.IndexSpec.from_template(declared, (table.PARTITION_KEY, table.SORT_KEY)) == _status_index()


def test_every_state_entered_and_every_retry_is_a_billed_transition() -> None:
    history: list[dict[str, Any]] = [
        {"type": "ExecutionStarted"},
        {"type": "TaskStateEntered"},
        {"type": "TaskScheduled"},
        {"type": "TaskFailed"},
        {"type": "TaskScheduled"},  # a retry
        {"type": "TaskSucceeded"},
        {"type": "TaskStateExited"},
        {"type": "ChoiceStateEntered"},
        {"type": "TaskStateEntered"},
        {"type": "TaskScheduled"},
        {
            "type": "TaskScheduled",  # another retry, of a task that puts two events on a bus
            "taskScheduledEventDetails": {"resourceType": "events", "parameters": json.dumps({"Entries": [{}, {}]})},
        },
        {"type": "SucceedStateEntered"},
        {"type": "ExecutionSucceeded"},
    ]
    assert billed_transitions(history) == 4 + 2
    assert events_put(history) == 2


def test_the_aws_samples_execution_is_a_task_and_a_choice_per_milestone(order_model: Choreography) -> None:
    milestones = [m.name for m in order_model.milestones]
    assert naive.transitions(order_model, COMPLETED) == 2 * len(milestones) + 1
    assert naive.transitions(order_model, f"{FAILED} at {milestones[0]}") == 3
    assert naive.transitions(order_model, f"{RUNNING} at {milestones[0]}") == 1
    assert naive.transitions(order_model, f"{RUNNING} at {milestones[-1]}") == 2 * len(milestones) - 1
    assert naive.transitions(order_model, NOT_STARTED) is None
    assert naive.milestones_entered(order_model, f"{FAILED} at {milestones[1]}") == 2


def test_p99_is_a_value_that_occurred() -> None:
    assert p99(list(range(1, 101))) == 99
    assert p99([7]) == 7
    assert p99([5, 1, 3]) == 5
    assert p99([]) == 0


def test_dollars_per_million_orders_from_the_prices_file() -> None:
    prices = load_prices()
    usage = Usage(
        orders=2,
        transitions=12,
        lambda_requests=10,
        lambda_gb_seconds={"arm64": 0.5},
        write_units=20,
        read_units=4,
        events=10,
        sqs_requests=2,
    )
    dollars = dollars_per_million_orders(usage, prices)
    assert list(dollars) == [*LINES, TOTAL]
    assert dollars["Step Functions"] == pytest.approx(150.0)  # 6 transitions an order at $0.025 per 1,000
    assert dollars["Lambda requests"] == pytest.approx(1.0)
    assert dollars["Lambda duration"] == pytest.approx(250_000 * 0.0000133334)
    assert dollars["DynamoDB writes"] == pytest.approx(6.25)
    assert dollars["DynamoDB reads"] == pytest.approx(0.25)
    assert dollars["EventBridge"] == pytest.approx(5.0)
    assert dollars["SQS"] == pytest.approx(0.4)
    assert dollars[TOTAL] == pytest.approx(150 + 1 + 3.33335 + 6.25 + 0.25 + 5 + 0.4)


def test_lambda_bills_memory_for_the_duration_rounded_up_to_the_millisecond() -> None:
    assert gb_seconds(256, 32.2) == pytest.approx(0.25 * 0.033)
    assert gb_seconds(1024, 1000) == pytest.approx(1.0)


def test_every_price_names_its_source_and_the_day_it_was_read() -> None:
    document = json.loads(DEFAULT_PRICES.read_text())
    prices = load_prices()
    assert set(prices.prices) == set(document["prices"])
    for price in prices.prices.values():
        assert price.source.startswith("https://aws.amazon.com/")
        assert date(2026, 11, 27) <= date.fromisoformat(price.read) <= date.today()  # read, not guessed
        assert price.usd > 0
        assert price.per >= 1
    assert prices["stepfunctions_standard_transitions"].of(1000) == pytest.approx(0.025)
    assert prices["cloudwatch_getmetricdata_metrics"].of(1000) == pytest.approx(0.01)


def test_a_price_without_its_source_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"region": "x", "prices": {"lambda_requests": {"usd": 0.2, "per": 1e6, "unit": "r"}}}))
    with pytest.raises(ValueError, match=r"prices\.lambda_requests lacks source, read"):
        load_prices(path)
