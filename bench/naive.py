"""The figures of the AWS sample's design (aws-samples/aws-stepfunctions-choreography-monitoring) on the
same workload and model, computed rather than run: the sample cannot run this workload without losing
orders, so what it would consume is counted from its code, order by order, as if each order went the way
the workload intends.

What the sample does, read from its source (lib/choreography-state.ts, lib/choreography-insights.ts,
resources/*/app.ts), and what is counted for it here:
- Its state machine has, per milestone, a Task that stores the task token with the DynamoDB SDK
  integration (updateItem.waitForTaskToken) and waits, then a Choice on the event's name; it starts at the
  first milestone's Task and ends in a Succeed or a Fail state. Transitions per order: 2 per milestone
  passed, plus 1 for the milestone it waits at (stuck) or the end state (completed, failed); an order
  never started has no execution.
- One DynamoDB write per milestone entered (the token), on the order's one item (entityId, "Default"),
  which also holds the execution ARN: every token write is sized as that whole item.
- A start event invokes an InitWorkflow Lambda (StartExecution, then one write of the execution ARN);
  every other event of the model invokes an EventHandler Lambda (a Query of the order's partition,
  eventually consistent, then SendTaskSuccess). Every delivery is one invocation: duplicates, events of
  orders never started and invalid events included, as the sample's rules route them.
- Its functions are NodejsFunction defaults (128 MB, x86_64); their duration is estimated by this
  design's measured mean invocation duration (the same two AWS round trips per event).
- The same events on the bus; no dead-letter or quarantine queue, so no SQS.
- Its model is a sequence: concurrent milestones count as it would have to write them, one after the
  other in model order (each passed, 2 transitions), and events that arrive in another order among
  them count as mistracked.
Not counted as its cost: orders it would lose. An event that arrives before its execution exists is
dropped; a duplicate or an out-of-order event is sent with whichever token is stored and sends the
execution to its Fail state. `mistracked` counts the orders of the workload whose events do not arrive
exactly once each in model order, which the sample would lose or fail in that way.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bench import units
from bench.costs import Usage, gb_seconds
from lambdas.choreography.model import Choreography
from local.workload import COMPLETED, FAILED, RUNNING, Workload

SAMPLE = "https://github.com/aws-samples/aws-stepfunctions-choreography-monitoring"
MEMORY_MB = 128  # CDK NodejsFunction's default memory
ARCHITECTURE = "x86_64"  # and architecture
# The sample's table layout: one item per order under the sort key "Default".
ENTITY_ID, EVENT_NAME, EXECUTION_ARN, TASK_TOKEN = "entityId", "eventName", "executionArn", "taskToken"
DEFAULT_ITEM = "Default"


@dataclass(frozen=True)
class NaiveRun:
    transitions: dict[str, int]  # per order with an execution
    usage: Usage
    mistracked: int


def transitions(model: Choreography, expected: str) -> int | None:
    """State transitions of the sample's execution for an order that ends as `expected` (None: no execution)."""
    state, _, milestone = expected.partition(" at ")
    position = {m.name: index for index, m in enumerate(model.milestones)}
    if state == COMPLETED:
        return 2 * len(model.milestones) + 1  # Task and Choice per milestone, then Succeed
    if state == FAILED:
        return 2 * (position[milestone] + 1) + 1  # up to the failing milestone's Choice, then Fail
    if state == RUNNING:
        return 2 * position[milestone] + 1  # waiting in the stuck milestone's Task
    return None


def milestones_entered(model: Choreography, expected: str) -> int:
    state, _, milestone = expected.partition(" at ")
    if state == COMPLETED:
        return len(model.milestones)
    if state in (FAILED, RUNNING):
        return [m.name for m in model.milestones].index(milestone) + 1
    return 0


def order_id_of(model: Choreography, event: Mapping[str, Any]) -> str | None:
    value: Any = event
    for segment in model.correlation_path:
        value = value.get(segment) if isinstance(value, Mapping) else None
    return value if isinstance(value, str) else None


def run(
    model: Choreography,
    workload: Workload,
    *,
    execution_arn: Callable[[str], str],
    duration_ms: float,
    token_bytes: int,
) -> NaiveRun:
    expected = workload.expected
    per_order = {name: transitions(model, state) for name, state in expected.items()}
    started = {name for name, count in per_order.items() if count is not None}
    sizes = {TASK_TOKEN: token_bytes}

    def item(order_id: str, *, with_token: bool) -> dict[str, Any]:
        stored = {
            ENTITY_ID: {"S": order_id},
            EVENT_NAME: {"S": DEFAULT_ITEM},
            EXECUTION_ARN: {"S": execution_arn(order_id)},
        }
        return stored | ({TASK_TOKEN: {"S": "t"}} if with_token else {})

    invocations = 0
    write_units = read_units = Decimal(0)
    starts_seen: Counter[str] = Counter()
    arrivals: defaultdict[str, list[str]] = defaultdict(list)
    for _, event in workload.arrivals:
        if not _routed(model, event):
            continue
        invocations += 1
        order_id = order_id_of(model, event) or ""
        arrivals[order_id].append(str(event.get("id")))
        present = order_id in started
        if event["detail-type"] == model.start_event:
            # The first start writes the ARN before any token; a repeated one rewrites the whole item.
            first = starts_seen[order_id] == 0
            starts_seen[order_id] += 1
            size = units.item_size(item(order_id, with_token=not first), sizes)
            write_units += units.write_units(size, size)
        else:
            size = units.item_size(item(order_id, with_token=True), sizes) if present else 0
            read_units += units.read_units(size, consistent=False)
    for order_id in started:
        size = units.item_size(item(order_id, with_token=True), sizes)
        write_units += milestones_entered(model, expected[order_id]) * units.write_units(size, size)
    mistracked = sum(
        arrivals[order.order_id] != [str(event["id"]) for event in order.events]
        for order in workload.orders
        if order.order_id in started
    )
    usage = Usage(
        orders=len(workload.orders),
        transitions=sum(count for count in per_order.values() if count is not None),
        lambda_requests=invocations,
        lambda_gb_seconds={ARCHITECTURE: invocations * gb_seconds(MEMORY_MB, duration_ms)},
        write_units=float(write_units),
        read_units=float(read_units),
        events=len(workload.arrivals),
    )
    return NaiveRun({name: count for name, count in per_order.items() if count is not None}, usage, mistracked)


def _routed(model: Choreography, event: Any) -> bool:
    """The sample's rules match the model's events by source and detail-type, whatever their detail."""
    if not isinstance(event, Mapping):
        return False
    spec = model.events.get(str(event.get("detail-type")))
    return spec is not None and spec.source == event.get("source")
