"""Every metric an alarm or the dashboard watches must be one that something really publishes, with the
same namespace, name and dimensions, or the alarm never fires and the graph stays empty. moto stores no
metric, so only this check sees it.

AWS's own metrics are published per resource with documented dimensions (EventBridge: the rule's name,
not `Ref`, which is "bus|rule" on a custom bus). The monitor's own metrics are the ones its handlers emit
as embedded metric format: those are read from a real run (tests/integration/test_published_metrics.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from local.assembly import StackTemplate
from tests.checks.resolve import Resolver


@dataclass(frozen=True)
class WatchedMetric:
    where: str  # the alarm's logical id, or "dashboard <widget title>"
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]  # sorted (name, value) pairs


@dataclass(frozen=True)
class AwsNamespace:
    resource_type: str
    names: frozenset[str]
    dimensions: Callable[[Resolver, str], dict[str, str]]  # what AWS publishes for one resource


def _rule_dimensions(resolver: Resolver, logical_id: str) -> dict[str, str]:
    bus = resolver.rule_bus(logical_id)
    dimensions = {"RuleName": resolver.physical_name(logical_id)}
    return dimensions if bus == "default" else {**dimensions, "EventBusName": bus}


AWS_NAMESPACES = {
    "AWS/Events": AwsNamespace(
        "AWS::Events::Rule",
        frozenset({"TriggeredRules", "Invocations", "FailedInvocations", "MatchedEvents", "ThrottledRules"}),
        _rule_dimensions,
    ),
    "AWS/SQS": AwsNamespace(
        "AWS::SQS::Queue",
        frozenset(
            {
                "NumberOfMessagesSent",
                "NumberOfMessagesReceived",
                "NumberOfMessagesDeleted",
                "ApproximateNumberOfMessagesVisible",
                "ApproximateAgeOfOldestMessage",
            }
        ),
        lambda resolver, logical_id: {"QueueName": resolver.physical_name(logical_id)},
    ),
    "AWS/States": AwsNamespace(
        "AWS::StepFunctions::StateMachine",
        frozenset({"ExecutionsStarted", "ExecutionsSucceeded", "ExecutionsFailed", "ExecutionsTimedOut"}),
        lambda resolver, logical_id: {"StateMachineArn": resolver.arn(logical_id)},
    ),
    "AWS/Lambda": AwsNamespace(
        "AWS::Lambda::Function",
        frozenset({"Invocations", "Errors", "Duration", "Throttles"}),
        lambda resolver, logical_id: {"FunctionName": resolver.physical_name(logical_id)},
    ),
}


def watched_metrics(stack: StackTemplate) -> Iterator[WatchedMetric]:
    resolver = Resolver(stack)
    for logical_id, alarm in stack.of_type("AWS::CloudWatch::Alarm"):
        resolved = resolver.value(dict(alarm))
        metrics = [query["MetricStat"]["Metric"] for query in resolved.get("Metrics", [])] or [resolved]
        for metric in metrics:
            dimensions = tuple(sorted((d["Name"], str(d["Value"])) for d in metric.get("Dimensions", [])))
            yield WatchedMetric(logical_id, metric["Namespace"], metric["MetricName"], dimensions)
    for _, dashboard in stack.of_type("AWS::CloudWatch::Dashboard"):
        body = json.loads(resolver.value(dashboard["DashboardBody"]))
        for widget in body["widgets"]:
            for row in widget["properties"].get("metrics", []):
                namespace, name, *rest = [part for part in row if not isinstance(part, Mapping)]
                pairs = tuple(sorted(zip(rest[::2], map(str, rest[1::2]), strict=True)))
                yield WatchedMetric(f"dashboard {widget['properties'].get('title')!r}", namespace, name, pairs)


Emitted = Mapping[str, set[tuple[str, tuple[tuple[str, str], ...]]]]


def metric_violations(stack: StackTemplate, published: Emitted | None = None) -> list[str]:
    """What watches a metric nothing publishes. `published`: the custom namespaces' metrics a real run
    emitted (see `emitted_metrics`); without it, custom namespaces are not checked."""
    resolver = Resolver(stack)
    violations = []
    for metric in watched_metrics(stack):
        label = f"{metric.where}: {metric.namespace} {metric.name} {dict(metric.dimensions)}"
        aws = AWS_NAMESPACES.get(metric.namespace)
        if aws is not None:
            if metric.name not in aws.names:
                violations.append(f"{label}: {metric.namespace} publishes no metric {metric.name}")
            publishers = [
                logical_id
                for logical_id, _ in stack.of_type(aws.resource_type)
                if tuple(sorted(aws.dimensions(resolver, logical_id).items())) == metric.dimensions
            ]
            if not publishers:
                violations.append(f"{label}: no {aws.resource_type} of the stack publishes these dimensions")
        elif metric.namespace.startswith("AWS/"):
            violations.append(f"{label}: namespace not known to this check; add what AWS publishes there")
        elif published is not None and (metric.name, _shape(metric.dimensions)) not in published.get(
            metric.namespace, set()
        ):
            violations.append(f"{label}: no handler emitted this metric with these dimensions")
    return violations


# Dimensions whose value is one of the model's names: a run emits those it met, the dashboard draws all.
VARYING = {"eventType", "milestone", "follows"}


def _shape(pairs: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
    return tuple((name, "*" if name in VARYING else value) for name, value in pairs)


def emitted_metrics(records: list[dict[str, Any]], names: Mapping[str, set[str]]) -> dict[str, set[Any]]:
    """The metrics embedded metric format records publish: each metric of each directive with its
    dimensions, the varying ones (event type, milestone) checked against `names` and kept as "*"."""
    emitted: dict[str, set[Any]] = {}
    for record in records:
        for directive in record["_aws"]["CloudWatchMetrics"]:
            for dimension_set in directive["Dimensions"]:
                pairs = tuple(sorted((name, str(record[name])) for name in dimension_set))
                for name, value in pairs:
                    if name in VARYING and value not in names[name]:
                        raise AssertionError(f"{record}: {name} {value!r} is not a name of the model")
                for metric in directive["Metrics"]:
                    emitted.setdefault(directive["Namespace"], set()).add((metric["Name"], _shape(pairs)))
    return emitted
