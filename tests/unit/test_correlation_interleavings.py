"""Property-based tests of the correlation logic against every interleaving hypothesis can find.

The AWS side is simulated in memory with the semantics the design relies on: each table write is atomic
and returns the item as it was; the execution writes its token only while no event is recorded (else it
goes on without waiting, or fails, as the generated definition does); a task token answers once. The
simulated execution steps between any two of the correlator's calls, and the correlator may crash
between its write and its send, in which case the event is delivered again later, as Lambda retries.
The real definition on moto is exercised by tests/integration.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lambdas.choreography import table
from lambdas.choreography.model import FAILURE, SUCCESS, Choreography
from lambdas.choreography.versions import Versions
from lambdas.correlator.classify import ChoreographyEvent, Rejection, VersionedClassifier
from lambdas.correlator.logic import Correlator, Outcome, TokenClosed
from local.events import EventFactory

NOW = datetime(2026, 11, 27, tzinfo=UTC)


class Crash(Exception):
    pass


@dataclass
class Execution:
    """The generated state machine, reduced to what the handshake depends on."""

    milestones: list[str]
    position: int = 0
    token: str | None = None
    status: str = "RUNNING"
    failed_at: str | None = None
    entered: list[str] = field(default_factory=list)


@dataclass
class World:
    model: Choreography
    items: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    executions: dict[str, Execution] = field(default_factory=dict)
    used_tokens: set[str] = field(default_factory=set)
    tokens: itertools.count[int] = field(default_factory=itertools.count)
    between_calls: list[str] = field(default_factory=list)  # executions to step after the next write
    crash_before_send: bool = False

    # -- the table, as the correlator's Store port ---------------------------------------------
    def _write(self, key: tuple[str, str], settle: Mapping[str, Any], event_id: str) -> dict[str, Any]:
        before = copy.deepcopy(self.items.get(key, {}))
        item = self.items.setdefault(key, {})
        for name, value in settle.items():
            item.setdefault(name, value)
        item.setdefault(table.EVENT_IDS, set()).add(event_id)
        item[table.RECEIVED] = item.get(table.RECEIVED, 0) + 1
        for name in self.between_calls:
            self.step(name)
        self.between_calls = []
        return before

    def record_start(
        self, event: ChoreographyEvent, version: str, execution_arn: str, expires_at: int
    ) -> Mapping[str, Any]:
        return self._write(
            (event.instance_id, table.INSTANCE_SK), {table.STARTED_BY: {"id": event.event_id}}, event.event_id
        )

    def record_milestone_event(
        self, event: ChoreographyEvent, arrived_at: datetime, expires_at: int
    ) -> Mapping[str, Any]:
        assert event.milestone is not None
        settled = {
            table.OUTCOME: event.outcome,
            table.EVENT_TYPE: event.event_type,
            table.EVENT_ID: event.event_id,
            table.EVENT_TIME: "t",
        }
        return self._write((event.instance_id, event.milestone.name), {table.SETTLED_BY: settled}, event.event_id)

    def record_next_event_time(
        self, instance_id: str, sort_key: str, event_time: datetime, expires_at: int
    ) -> Mapping[str, Any]:
        # Latency is a metric, not part of the handshake; this write touches no attribute the handshake reads.
        before = copy.deepcopy(self.items.get((instance_id, sort_key), {}))
        self.items.setdefault((instance_id, sort_key), {}).setdefault(table.NEXT_EVENT_TIME, event_time.isoformat())
        return before

    def mark_out_of_order(
        self, instance_id: str, early_by: Mapping[tuple[str, str], float], marked_at: datetime
    ) -> set[tuple[str, str]]:
        raise AssertionError("every event is stamped alike here: no pair is out of order")

    # -- Step Functions, as the Workflow port -------------------------------------------------------
    def instance_version(self, instance_id: str) -> str | None:
        raise AssertionError("one version ships: no event needs its instance's version")

    def ships(self, version: str) -> bool:
        return version == self.model.version

    def execution_arn(self, version: str, name: str) -> str:
        return name

    def start(self, version: str, name: str, payload: str) -> str:
        self.executions.setdefault(name, Execution([m.name for m in self.model.milestones]))
        return name

    def _answer(self, token: str) -> Execution:
        if self.crash_before_send:
            raise Crash
        if token in self.used_tokens:
            raise TokenClosed("TaskTimedOut")
        for execution in self.executions.values():
            if execution.token == token and execution.status == "RUNNING":
                self.used_tokens.add(token)
                execution.token = None
                return execution
        raise TokenClosed("TaskTimedOut")

    def succeed(self, token: str, output: str) -> None:
        execution = self._answer(token)
        execution.position += 1
        self._finish_if_done(execution)

    def fail(self, token: str, error: str, cause: str) -> None:
        execution = self._answer(token)
        execution.status, execution.failed_at = "FAILED", execution.milestones[execution.position]

    def hold(self, raw_event: Any, rejection: Rejection) -> None:
        raise AssertionError(f"valid events only here: {rejection}")

    # -- the state machine stepping on its own -----------------------------------------------------
    def step(self, name: str) -> None:
        """Enter the next milestone: write the token unless an event is already recorded."""
        execution = self.executions.get(name)
        if execution is None or execution.status != "RUNNING" or execution.token is not None:
            return
        milestone = execution.milestones[execution.position]
        execution.entered.append(milestone)
        item = self.items.setdefault((name, milestone), {})
        settled = item.get(table.SETTLED_BY)
        if settled is None:
            execution.token = f"token-{next(self.tokens)}"
            item[table.TASK_TOKEN] = execution.token
        elif settled[table.OUTCOME] == SUCCESS:
            execution.position += 1
            self._finish_if_done(execution)
        else:
            execution.status, execution.failed_at = "FAILED", milestone

    def _finish_if_done(self, execution: Execution) -> None:
        if execution.position == len(execution.milestones):
            execution.status = "SUCCEEDED"

    def settle(self, name: str) -> None:
        for _ in range(len(self.model.milestones) * 2 + 2):
            self.step(name)


@dataclass(frozen=True)
class Delivery:
    event: int  # index into the order's lifecycle
    crash_before_send: bool
    steps_between_calls: int  # how often the execution steps between the correlator's write and send
    steps_after: int


def _correlator(world: World) -> Correlator:
    return Correlator(VersionedClassifier(Versions(world.model)), world, world, world, retention=timedelta(days=1))


def _run(
    world: World, lifecycle: list[dict[str, Any]], deliveries: list[Delivery], order_id: str
) -> dict[Outcome, int]:
    correlator, outcomes, retries = _correlator(world), dict.fromkeys(Outcome, 0), []
    for delivery in deliveries:
        world.crash_before_send = delivery.crash_before_send
        world.between_calls = [order_id] * delivery.steps_between_calls
        try:
            outcomes[correlator.handle(lifecycle[delivery.event], NOW).outcome] += 1
        except Crash:
            retries.append(delivery.event)  # Lambda retries the failed invocation later
        world.crash_before_send, world.between_calls = False, []
        for _ in range(delivery.steps_after):
            world.step(order_id)
    for event in retries:
        outcomes[correlator.handle(lifecycle[event], NOW).outcome] += 1
    world.settle(order_id)
    return outcomes


def deliveries(count: int) -> st.SearchStrategy[list[Delivery]]:
    """Every event at least once, some again, in any order, with crashes and execution steps anywhere."""
    one = st.builds(Delivery, st.integers(0, count - 1), st.booleans(), st.integers(0, 2), st.integers(0, 2))
    extra = st.lists(one, max_size=count * 2)
    firsts = st.permutations(range(count)).flatmap(
        lambda order: st.tuples(
            *(st.builds(Delivery, st.just(i), st.booleans(), st.integers(0, 2), st.integers(0, 2)) for i in order)
        )
    )
    return st.tuples(firsts, extra).flatmap(lambda pair: st.permutations([*pair[0], *pair[1]]))


@pytest.fixture(scope="module")
def factory(order_model: Choreography) -> EventFactory:
    return EventFactory(order_model)


@settings(max_examples=600, deadline=None)
@given(plan=deliveries(6))
def test_any_interleaving_of_a_successful_order_converges(
    order_model: Choreography, factory: EventFactory, plan: list[Delivery]
) -> None:
    world = World(order_model)
    lifecycle = factory.lifecycle("ORD-1")
    _run(world, lifecycle, plan, "ORD-1")
    execution = world.executions["ORD-1"]
    assert execution.status == "SUCCEEDED"
    assert execution.entered == execution.milestones  # each milestone entered once, in order
    for milestone in execution.milestones:
        item = world.items[("ORD-1", milestone)]
        assert item[table.SETTLED_BY][table.OUTCOME] == SUCCESS
        assert len(item[table.EVENT_IDS]) == 1


@settings(max_examples=400, deadline=None)
@given(plan=deliveries(3), failing=st.sampled_from(["Payment", "Inventory"]))
def test_any_interleaving_with_a_failure_event_fails_at_its_milestone(
    order_model: Choreography, factory: EventFactory, plan: list[Delivery], failing: str
) -> None:
    world = World(order_model)
    lifecycle = factory.lifecycle("ORD-2", failure_at=failing)
    if failing == "Payment":
        lifecycle = [*lifecycle, factory.event("PaymentProcessed", "ORD-2")]  # a conflicting late success
    _run(world, lifecycle, plan, "ORD-2")
    execution = world.executions["ORD-2"]
    settled_first = world.items[("ORD-2", failing)][table.SETTLED_BY][table.OUTCOME]
    if settled_first == FAILURE:
        assert (execution.status, execution.failed_at) == ("FAILED", failing)
    else:  # the success was recorded first and settles the milestone: the order goes on and waits
        assert execution.status == "RUNNING"
        assert execution.milestones[execution.position - 1] == failing
    assert execution.entered.count(failing) == 1


def test_a_token_is_answered_at_most_once(order_model: Choreography, factory: EventFactory) -> None:
    world = World(order_model)
    lifecycle = factory.lifecycle("ORD-3")
    plan = [Delivery(0, False, 0, 1), Delivery(1, False, 0, 0), Delivery(1, False, 0, 0), Delivery(1, True, 0, 0)]
    outcomes = _run(world, lifecycle, plan, "ORD-3")
    assert outcomes[Outcome.DELIVERED] == 1
    assert outcomes[Outcome.DUPLICATE] == 2
    assert world.executions["ORD-3"].position == 1
