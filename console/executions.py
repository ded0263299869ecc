"""How many orders started and ended, counted without reading the table: one execution per order, on
the state machine of the model version it started on; the counts add up every shipped version's machine.

Deployed, from Step Functions' own metrics (namespace AWS/States, dimension StateMachineArn), in one
GetMetricData call (five queries per machine, of the 500 a call takes), paged where the window holds more
than a call's 100,800 points (past 76 days of two machines). On the local runtime, which emits
no metrics, from its executions as listed.

Open orders are the executions started and not ended since the oldest machine was created, when none was
open. CloudWatch keeps hourly sums for 455 days: for an older machine the count leaves out the orders
that were open 455 days ago, which no model with SLAs keeps open that long.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

NAMESPACE = "AWS/States"
DIMENSION = "StateMachineArn"
ENDINGS = ("ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsAborted", "ExecutionsTimedOut")
METRICS = ("ExecutionsStarted", *ENDINGS)
PERIOD = 3600  # hourly sums, kept 455 days: 10,920 points per metric, within one call's 100,800
RETENTION_SECONDS = 455 * 86400
# An execution's status, as ListExecutions gives it, and the metric that counts its ending.
ENDED_AS = dict(zip(("SUCCEEDED", "FAILED", "ABORTED", "TIMED_OUT"), ENDINGS, strict=True))


@dataclass(frozen=True)
class ExecutionCounts:
    """Executions started and ended, by metric name: since the machine's creation, and recently."""

    window: Mapping[str, int]
    recent: Mapping[str, int]

    @property
    def open(self) -> int:
        return max(self.window["ExecutionsStarted"] - sum(self.window[name] for name in ENDINGS), 0)


def metric_queries(state_machine_arns: Sequence[str]) -> list[dict[str, Any]]:
    """Query m<i> reads METRICS[i % len(METRICS)] of machine i // len(METRICS)."""
    return [
        {
            "Id": f"m{index}",
            "Label": name,
            "MetricStat": {
                "Metric": {
                    "Namespace": NAMESPACE,
                    "MetricName": name,
                    "Dimensions": [{"Name": DIMENSION, "Value": arn}],
                },
                "Period": PERIOD,
                "Stat": "Sum",
            },
            "ReturnData": True,
        }
        for index, (arn, name) in enumerate((arn, name) for arn in state_machine_arns for name in METRICS)
    ]


def metric_counts(
    cloudwatch: Any,
    state_machine_arns: Sequence[str],
    window_seconds: int,
    recent_seconds: int,
    now: datetime | None = None,
) -> ExecutionCounts:
    """One GetMetricData call, paged only where CloudWatch pages it."""
    end = (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    start, recent_from = end - timedelta(seconds=window_seconds + PERIOD), end - timedelta(seconds=recent_seconds)
    queries = metric_queries(state_machine_arns)
    window = dict.fromkeys(METRICS, 0)
    recent = dict.fromkeys(METRICS, 0)
    request: dict[str, Any] = {"MetricDataQueries": queries, "StartTime": start, "EndTime": end}
    while True:
        answer = cloudwatch.get_metric_data(**request)
        for result in answer["MetricDataResults"]:
            name = METRICS[int(result["Id"][1:]) % len(METRICS)]
            for moment, value in zip(result["Timestamps"], result["Values"], strict=True):
                window[name] += int(value)
                if moment >= recent_from:
                    recent[name] += int(value)
        if not answer.get("NextToken"):
            return ExecutionCounts(window, recent)
        request["NextToken"] = answer["NextToken"]


def listed_counts(
    stepfunctions: Any, state_machine_arns: Sequence[str], window_seconds: int, recent_seconds: int
) -> ExecutionCounts:
    """The same counts from ListExecutions: for the local runtime, whose Step Functions emits no metrics.
    It reads every execution, so it is no way to count a deployed stack's."""
    now = datetime.now(UTC)
    window_from, recent_from = now - timedelta(seconds=window_seconds), now - timedelta(seconds=recent_seconds)
    window = dict.fromkeys(METRICS, 0)
    recent = dict.fromkeys(METRICS, 0)
    paginator = stepfunctions.get_paginator("list_executions")
    pages = (
        page
        for arn in state_machine_arns
        for page in paginator.paginate(stateMachineArn=arn, PaginationConfig={"PageSize": 1000})
    )
    for execution in (execution for page in pages for execution in page["executions"]):
        moments = [("ExecutionsStarted", execution["startDate"])]
        if execution["status"] in ENDED_AS:
            moments.append((ENDED_AS[execution["status"]], execution["stopDate"]))
        for name, moment in moments:
            window[name] += moment >= window_from
            recent[name] += moment >= recent_from
    return ExecutionCounts(window, recent)
