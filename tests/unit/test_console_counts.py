"""The console's counts: stuck and failed orders by milestone from one listing page each, executions
from Step Functions' metrics, and why each queued message is queued."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_stepfunctions as sfn
from moto import mock_aws

from console.executions import METRICS, NAMESPACE, ExecutionCounts, metric_counts, metric_queries
from console.overview import Overview, tally
from console.queues import why_queued

NOW = datetime(2026, 12, 2, 10, 30, tzinfo=UTC)
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:orders-2.0.0"
EARLIER_MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:orders-1.0.0"


def _entry(milestone: str, hours_ago: float) -> dict[str, str]:
    return {"orderId": "o", "milestone": milestone, "since": (NOW - timedelta(hours=hours_ago)).isoformat()}


def test_a_whole_listing_is_counted_by_milestone_and_a_partial_one_says_so() -> None:
    page = {"orders": [_entry("Payment", 1), _entry("Payment", 2), _entry("Inventory", 3)]}
    whole = tally(page)
    assert (dict(whole.by_milestone), whole.total, whole.shown()) == ({"Payment": 2, "Inventory": 1}, 3, "3")
    partial = tally({**page, "next": "token"})
    assert (partial.shown(), partial.shown(2)) == ("3+", "2+")


def test_orders_stuck_at_an_earlier_versions_milestone_get_a_row_of_their_own() -> None:
    model = {"milestones": [{"name": "Payment", "slaSeconds": 900, "concurrent": False}]}
    stuck = tally({"orders": [_entry("Payment", 1), _entry("Packaging", 2), _entry("Packaging", 3)]})
    counts = ExecutionCounts(dict.fromkeys(METRICS, 0), dict.fromkeys(METRICS, 0))
    rows = Overview(model, counts, stuck, tally({"orders": []}), []).milestones
    assert [(r["name"], r["earlier"], r["stuck"]) for r in rows] == [("Payment", False, 1), ("Packaging", True, 2)]
    assert sum(r["stuck"] for r in rows) == stuck.total  # every stuck order is in a row


def test_failures_are_counted_for_the_last_day_and_an_older_one_read_makes_the_count_whole() -> None:
    page = {"orders": [_entry("Payment", 1), _entry("Inventory", 23), _entry("Payment", 25)], "next": "token"}
    recent = tally(page, since=NOW - timedelta(days=1))
    assert dict(recent.by_milestone) == {"Payment": 1, "Inventory": 1}
    assert recent.shown() == "2"  # the 25-hour-old failure was read: every newer one was too
    only_recent = tally({"orders": page["orders"][:2], "next": "token"}, since=NOW - timedelta(days=1))
    assert only_recent.shown() == "2+"


def test_the_metrics_read_are_step_functions_own_as_cdk_names_them() -> None:
    """AWS/States, the machine's ARN as StateMachineArn: an alarm or a read on another name sees no data."""
    machine = sfn.StateMachine.from_state_machine_arn(Stack(App(), "S"), "M", MACHINE)
    canned = [
        machine.metric_started(),
        machine.metric_succeeded(),
        machine.metric_failed(),
        machine.metric_aborted(),
        machine.metric_timed_out(),
    ]
    assert [(m.namespace, m.metric_name, dict(m.dimensions or {})) for m in canned] == [
        (q["MetricStat"]["Metric"]["Namespace"], q["MetricStat"]["Metric"]["MetricName"], {"StateMachineArn": MACHINE})
        for q in metric_queries([MACHINE])
    ]
    assert {q["MetricStat"]["Metric"]["Dimensions"][0]["Value"] for q in metric_queries([MACHINE])} == {MACHINE}


def test_open_orders_are_started_less_ended_on_every_version_and_the_last_day_is_counted_apart() -> None:
    with mock_aws():
        _open_orders_are_started_less_ended()


def _open_orders_are_started_less_ended() -> None:
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    points = {
        "ExecutionsStarted": [(NOW - timedelta(days=3), 10), (NOW - timedelta(hours=2), 4)],
        "ExecutionsSucceeded": [(NOW - timedelta(days=2), 6), (NOW - timedelta(hours=1), 2)],
        "ExecutionsFailed": [(NOW - timedelta(hours=3), 1)],
        "ExecutionsTimedOut": [(NOW - timedelta(days=2), 1)],
    }
    earlier_points = {
        "ExecutionsStarted": [(NOW - timedelta(days=4), 3)],
        "ExecutionsSucceeded": [(NOW - timedelta(hours=5), 2)],
    }
    for machine, name, values in [
        *((MACHINE, name, values) for name, values in points.items()),
        *((EARLIER_MACHINE, name, values) for name, values in earlier_points.items()),
    ]:
        cloudwatch.put_metric_data(
            Namespace=NAMESPACE,
            MetricData=[
                {
                    "MetricName": name,
                    "Dimensions": [{"Name": "StateMachineArn", "Value": machine}],
                    "Timestamp": t,
                    "Value": v,
                }
                for t, v in values
            ],
        )
    # Another machine's executions are not these.
    cloudwatch.put_metric_data(
        Namespace=NAMESPACE,
        MetricData=[
            {
                "MetricName": "ExecutionsStarted",
                "Dimensions": [{"Name": "StateMachineArn", "Value": "other"}],
                "Value": 50,
            }
        ],
    )
    machines = [EARLIER_MACHINE, MACHINE]
    counts = metric_counts(cloudwatch, machines, window_seconds=7 * 86400, recent_seconds=86400, now=NOW)
    assert counts.open == (14 - 8 - 1 - 1) + (3 - 2)
    assert (counts.recent["ExecutionsStarted"], counts.recent["ExecutionsSucceeded"]) == (4, 2 + 2)
    assert counts.recent["ExecutionsFailed"] == 1
    assert set(counts.window) == set(METRICS)


def test_open_is_never_below_zero() -> None:
    ended_first = dict.fromkeys(METRICS, 0) | {"ExecutionsSucceeded": 2}
    assert ExecutionCounts(ended_first, ended_first).open == 0


@pytest.mark.parametrize(
    ("body", "attributes", "event", "reason"),
    [
        (
            {"model": "m", "field": "detail.orderId", "reason": "is missing", "event": {"detail-type": "A", "id": "1"}},
            {},
            "A 1",
            "quarantined: detail.orderId: is missing",
        ),
        (
            {
                "requestContext": {"condition": "RetriesExhausted"},
                "requestPayload": {"detail-type": "B", "id": "2"},
                "responsePayload": {"errorType": "ClientError", "errorMessage": "throttled"},
            },
            {},
            "B 2",
            "correlator failed (RetriesExhausted): ClientError: throttled",
        ),
        (
            {"detail-type": "C", "id": "3", "detail": {}},
            {"ERROR_CODE": {"StringValue": "SDK_CLIENT_ERROR"}, "ERROR_MESSAGE": {"StringValue": "unreachable"}},
            "C 3",
            "not delivered to the correlator: SDK_CLIENT_ERROR: unreachable",
        ),
    ],
)
def test_each_queues_record_says_what_it_holds_and_why(
    body: dict[str, object], attributes: dict[str, dict[str, str]], event: str, reason: str
) -> None:
    assert why_queued(json.dumps(body), attributes) == (event, reason)


def test_a_message_that_is_not_json_is_named_as_such() -> None:
    assert why_queued("not json", {}) == ("", "the message body is not JSON")
