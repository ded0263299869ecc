"""Correlation end to end: the real correlator handler and the synthesized state machine on moto."""

from __future__ import annotations

import copy
import itertools
import json
import time
from collections import Counter
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lambdas.choreography import table
from lambdas.choreography.model import Choreography, load_model
from local.calls import SimulatedCrash
from local.events import EventFactory
from local.loadrun import status_request
from local.runtime import LocalRuntime
from stacks import asl
from tests.conftest import ORDER_MODEL_PATH

ORDERS_PER_BATCH = 240
ORDER_MODEL = load_model(ORDER_MODEL_PATH)
FAILING_MILESTONES = [index for index, milestone in enumerate(ORDER_MODEL.milestones) if milestone.failure]


def _wait_until_waiting(runtime: LocalRuntime, order_id: str, milestone: str, timeout_s: float = 10) -> None:
    assert runtime.wait_until_waiting(order_id, milestone, timeout_s), f"{order_id} never waited at {milestone}"


def _assert_completed_once(
    runtime: LocalRuntime, model: Choreography, order_id: str, status: str, *, read_history: bool = True
) -> None:
    assert status == "SUCCEEDED", order_id
    if read_history:
        entered = Counter(runtime.states_entered(order_id))
        for milestone in model.milestones:
            assert entered[milestone.name] == 1, (order_id, entered)
    records = runtime.items(order_id)
    for milestone in model.milestones:
        record = records[milestone.name]
        assert record[table.SETTLED_BY][table.OUTCOME] == "success"
        assert len(record[table.EVENT_IDS]) == 1, (order_id, milestone.name, record)
    assert records[table.INSTANCE_SK][table.STATUS] == table.COMPLETED


def _orderings(events: EventFactory, copies: int, stride: int = 1) -> dict[str, list[dict[str, Any]]]:
    """For every `stride`-th ordering of one order's six events, a separate order whose events come in
    that order, each delivered `copies` times in a row."""
    base = f"PERM{copies}-{time.monotonic_ns() % 10**8}"
    size = len(events.lifecycle("x"))
    deliveries: dict[str, list[dict[str, Any]]] = {}
    for number, ordering in enumerate(itertools.islice(itertools.permutations(range(size)), 0, None, stride)):
        lifecycle = events.lifecycle(f"{base}-{number}")
        deliveries[f"{base}-{number}"] = [lifecycle[index] for index in ordering for _ in range(copies)]
    return deliveries


def _deliver_in_rounds(runtime: LocalRuntime, deliveries: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    """Orders advance together, one delivery each per round, so deliveries meet executions at every
    stage: before they exist, before they reach a milestone, while they wait. Batches keep moto's
    per-call scans of running executions short."""
    statuses: dict[str, str] = {}
    names = list(deliveries)
    for start in range(0, len(names), ORDERS_PER_BATCH):
        batch = names[start : start + ORDERS_PER_BATCH]
        for position in range(len(deliveries[batch[0]])):
            for name in batch:
                runtime.deliver(copy.deepcopy(deliveries[name][position]))
        statuses.update(runtime.wait_for_executions(batch, timeout_s=120))
    return statuses


@pytest.mark.slow
@pytest.mark.parametrize(
    ("copies", "stride"),
    [
        # All 720 orderings once; every event twice on every third ordering (240), which keeps the suite
        # within CI's time while each position of each event still meets its duplicate.
        pytest.param(1, 1, id="once", marks=pytest.mark.xdist_group("orderings-once")),
        pytest.param(2, 3, id="twice", marks=pytest.mark.xdist_group("orderings-twice")),
    ],
)
def test_every_ordering_of_an_order_converges(
    runtime: LocalRuntime, events: EventFactory, order_model: Choreography, copies: int, stride: int
) -> None:
    deliveries = _orderings(events, copies, stride)
    assert len(deliveries) == 720 // stride
    statuses = _deliver_in_rounds(runtime, deliveries)
    assert len(statuses) == 720 // stride
    for number, (order_id, status) in enumerate(statuses.items()):
        # Every order's records; one history in eight (reading a history is moto's slowest call).
        _assert_completed_once(runtime, order_model, order_id, status, read_history=number % 8 == 0)


def test_duplicate_start_events_give_one_execution(
    runtime: LocalRuntime, events: EventFactory, order_model: Choreography, order_id: str
) -> None:
    placed = events.event(order_model.start_event, order_id)
    republished = events.event(order_model.start_event, order_id)  # a service publishing twice: a new event id
    outcomes = [runtime.deliver(e)["outcome"] for e in (placed, placed, republished)]
    assert outcomes == ["started", "start-duplicate", "start-duplicate"]
    executions = runtime.stepfunctions.list_executions(stateMachineArn=runtime.state_machine_arn)["executions"]
    assert [e["name"] for e in executions].count(order_id) == 1
    instance = runtime.items(order_id)[table.INSTANCE_SK]
    assert instance[table.RECEIVED] == 3
    assert instance[table.EVENT_IDS] == {placed["id"], republished["id"]}


@pytest.mark.parametrize(
    "milestone_index", FAILING_MILESTONES, ids=[ORDER_MODEL.milestones[i].name for i in FAILING_MILESTONES]
)
@pytest.mark.parametrize("timing", ["on time", "early"])
def test_failure_event_fails_the_execution_at_its_milestone(
    runtime: LocalRuntime,
    events: EventFactory,
    order_model: Choreography,
    order_id: str,
    milestone_index: int,
    timing: str,
) -> None:
    milestone = order_model.milestones[milestone_index]
    lifecycle = events.lifecycle(order_id, failure_at=milestone.name)
    *before, failure = lifecycle
    if timing == "early":
        assert runtime.deliver(failure)["outcome"] == "early"
        for event in before:
            runtime.deliver(event)
    else:
        for event in before:
            runtime.deliver(event)
        _wait_until_waiting(runtime, order_id, milestone.name)
        assert runtime.deliver(failure)["outcome"] == "delivered"
    (status,) = runtime.wait_for_executions([order_id]).values()
    assert status == "FAILED"
    description = runtime.stepfunctions.describe_execution(executionArn=runtime.execution_arn(order_id))
    assert description["cause"] == milestone.name
    entered = runtime.states_entered(order_id)
    assert entered[-2:] == [asl.failed_state(milestone), asl.FAILED_STATE]
    later = [m.name for m in order_model.milestones[milestone_index + 1 :]]
    assert not set(later) & set(entered)
    records = runtime.items(order_id)
    assert records[table.INSTANCE_SK][table.STATUS] == table.FAILED
    assert records[table.INSTANCE_SK][table.FAILED_MILESTONE] == milestone.name


def test_late_event_after_the_execution_failed_is_recorded(
    runtime: LocalRuntime, events: EventFactory, order_model: Choreography, order_id: str
) -> None:
    milestone = next(m for m in order_model.milestones if m.failure)
    placed = events.event(order_model.start_event, order_id)
    runtime.deliver(placed)
    _wait_until_waiting(runtime, order_id, milestone.name)
    runtime.deliver(events.event(milestone.failure[0], order_id))
    runtime.wait_for_executions([order_id])
    late_success = events.event(milestone.success[0], order_id)
    result = runtime.deliver(late_success)
    assert result["outcome"] == "duplicate"
    assert result["conflicting"] is True  # the milestone was settled by its failure event
    record = runtime.items(order_id)[milestone.name]
    assert record[table.SETTLED_BY][table.EVENT_TYPE] == milestone.failure[0]
    assert late_success["id"] in record[table.EVENT_IDS]


def test_duplicate_after_the_milestone_passed_changes_nothing(
    runtime: LocalRuntime, events: EventFactory, order_model: Choreography, order_id: str
) -> None:
    lifecycle = events.lifecycle(order_id)
    for event in lifecycle:
        runtime.deliver(event)
        time.sleep(0.05)
    runtime.wait_for_executions([order_id])
    assert runtime.deliver(lifecycle[1])["outcome"] == "duplicate"
    (status,) = runtime.wait_for_executions([order_id]).values()
    _assert_completed_once(runtime, order_model, order_id, status)


def test_common_path_makes_two_aws_calls_per_event_and_measures_each_milestone(
    runtime: LocalRuntime, events: EventFactory, order_model: Choreography, order_id: str
) -> None:
    lifecycle = events.lifecycle(order_id)
    metrics_from = len(runtime.metrics_output)
    runtime.deliver(lifecycle[0])
    for event, milestone in zip(lifecycle[1:], order_model.milestones, strict=True):
        _wait_until_waiting(runtime, order_id, milestone.name)
        before = runtime.calls.calls.copy()
        assert runtime.deliver(event)["outcome"] == "delivered"
        # The write, which returns the previous event's time the execution stored with its token, and the send.
        assert dict(runtime.calls.calls - before) == {"UpdateItem": 1, "SendTaskSuccess": 1}
    milestones = _status(runtime, order_id)["milestones"]
    # The metric says what the status answer says: from the previous milestone's event (or the start) to this one's.
    assert _latencies(runtime, metrics_from) == {m["name"]: [m["durationSeconds"]] for m in milestones}
    assert all(m["durationSeconds"] is not None for m in milestones)


def test_an_event_before_its_wait_leaves_its_time_for_the_previous_milestone_to_measure(
    runtime: LocalRuntime, events: EventFactory, order_model: Choreography, order_id: str
) -> None:
    placed, first, second, *_ = events.lifecycle(order_id)
    metrics_from = len(runtime.metrics_output)
    runtime.deliver(placed)
    _wait_until_waiting(runtime, order_id, order_model.milestones[0].name)
    before = runtime.calls.calls.copy()
    assert runtime.deliver(second)["outcome"] == "early"
    # Its own write, and one that leaves its time on the first milestone's item, not recorded yet.
    assert dict(runtime.calls.calls - before) == {"UpdateItem": 2}
    assert not _latencies(runtime, metrics_from)
    before = runtime.calls.calls.copy()
    assert runtime.deliver(first)["outcome"] == "delivered"
    assert dict(runtime.calls.calls - before) == {"UpdateItem": 1, "SendTaskSuccess": 1}
    # The first milestone's write returned the second's time: both pairs measured, each once.
    durations = {m["name"]: m["durationSeconds"] for m in _status(runtime, order_id)["milestones"][:2]}
    assert _latencies(runtime, metrics_from) == {name: [seconds] for name, seconds in durations.items()}


def _latencies(runtime: LocalRuntime, since: int) -> dict[str, list[float]]:
    """The MilestoneLatency values emitted since the `since`-th metric record, by milestone (EMF holds a
    single metric's values as a list)."""
    return {
        record["milestone"]: record["MilestoneLatency"]
        for record in runtime.metrics_output[since:]
        if "MilestoneLatency" in record and record.get("milestone")
    }


def _status(runtime: LocalRuntime, order_id: str) -> dict[str, Any]:
    status = runtime.function_with_handler("lambdas.status.handler.handler")
    return dict(json.loads(runtime.invoke(status, status_request(f"/orders/{order_id}"))["body"]))


def test_a_crash_between_write_and_send_converges_when_retried(
    runtime: LocalRuntime, events: EventFactory, order_model: Choreography, order_id: str
) -> None:
    placed, first, *rest = events.lifecycle(order_id)
    runtime.deliver(placed)
    _wait_until_waiting(runtime, order_id, order_model.milestones[0].name)
    runtime.calls.inject(1.0, seed=1)  # every call now fails: the first one taken after the write crashes
    try:
        with pytest.raises((SimulatedCrash, ClientError)):
            runtime.deliver(first)
    finally:
        runtime.calls.inject(0.0, seed=0)
    # Whatever got through, the platform's retry of the same event finishes the job.
    assert runtime.deliver(first)["outcome"] in {"delivered", "early"}
    for event in rest:
        runtime.deliver(event)
    (status,) = runtime.wait_for_executions([order_id]).values()
    _assert_completed_once(runtime, order_model, order_id, status)


def test_crash_after_the_write_is_resent_on_retry(
    runtime: LocalRuntime, events: EventFactory, order_model: Choreography, order_id: str
) -> None:
    """The write landed and the process died before SendTaskSuccess: the retry must send, not skip."""
    first, second = (m.name for m in order_model.milestones[:2])
    placed, event = events.lifecycle(order_id)[:2]
    runtime.deliver(placed)
    _wait_until_waiting(runtime, order_id, first)
    runtime.calls.crash_after("UpdateItem")
    with pytest.raises(SimulatedCrash):
        runtime.deliver(event)
    record = runtime.items(order_id)[first]
    assert record[table.SETTLED_BY][table.OUTCOME] == "success"  # recorded, never sent
    assert runtime.deliver(event)["outcome"] == "delivered"
    assert runtime.stepfunctions.describe_execution(executionArn=runtime.execution_arn(order_id))["status"] == "RUNNING"
    _wait_until_waiting(runtime, order_id, second)


def test_throttling_makes_the_handler_raise_for_a_platform_retry(
    runtime: LocalRuntime, events: EventFactory, order_model: Choreography, order_id: str
) -> None:
    runtime.calls.inject(1.0, seed=7)
    try:
        with pytest.raises((ClientError, SimulatedCrash)):
            runtime.deliver(events.event(order_model.start_event, order_id))
    finally:
        runtime.calls.inject(0.0, seed=0)
    assert runtime.deliver(events.event(order_model.start_event, order_id))["outcome"] in {"started", "start-duplicate"}


def test_an_order_on_time_enters_one_state_per_milestone_plus_the_end(
    runtime: LocalRuntime, events: EventFactory, order_model: Choreography, order_id: str
) -> None:
    """Every state entered is billed: the synthesized definition, executed, enters no more than that."""
    lifecycle = events.lifecycle(order_id)
    runtime.deliver(lifecycle[0])
    for event, milestone in zip(lifecycle[1:], order_model.milestones, strict=True):
        _wait_until_waiting(runtime, order_id, milestone.name)
        runtime.deliver(event)
    assert runtime.wait_for_executions([order_id]) == {order_id: "SUCCEEDED"}
    assert runtime.states_entered(order_id) == [*(m.name for m in order_model.milestones), asl.COMPLETED_STATE]
