"""Hypothesis drives the real definition on moto: deliveries in any order, duplicated, with pauses that
let the execution move between them, and crashes right after the correlator's write."""

from __future__ import annotations

import time
import uuid
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lambdas.choreography import table
from lambdas.choreography.model import Choreography
from local.calls import SimulatedCrash
from local.events import EventFactory
from local.runtime import LocalRuntime

step = st.tuples(st.integers(0, 5), st.sampled_from([0.0, 0.0, 0.005, 0.03]), st.booleans())
plan_strategy = st.tuples(st.permutations(range(6)), st.lists(step, max_size=6)).flatmap(
    lambda pair: st.permutations([(index, 0.0, False) for index in pair[0]] + pair[1])
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=plan_strategy)
def test_random_interleavings_converge_on_the_real_definition(
    runtime: LocalRuntime, events: EventFactory, order_model: Choreography, plan: list[tuple[int, float, bool]]
) -> None:
    order_id = f"HYP-{uuid.uuid4().hex[:10]}"
    lifecycle = events.lifecycle(order_id)
    crashed = []
    for index, pause, crash in plan:
        if crash:
            runtime.calls.crash_after("UpdateItem")
        try:
            runtime.deliver(lifecycle[index])
        except SimulatedCrash:
            crashed.append(index)
        time.sleep(pause)
    for index in crashed:  # Lambda's retry of each failed invocation
        runtime.deliver(lifecycle[index])
    (status,) = runtime.wait_for_executions([order_id], timeout_s=30).values()
    assert status == "SUCCEEDED", (plan, runtime.states_entered(order_id))
    entered = Counter(runtime.states_entered(order_id))
    assert all(entered[m.name] == 1 for m in order_model.milestones), entered
    for milestone in order_model.milestones:
        assert len(runtime.items(order_id)[milestone.name][table.EVENT_IDS]) == 1
