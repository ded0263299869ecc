"""Stuck orders on the local runtime, with every SLA cut to one second: the escalation path of the real
generated definition, the stuck notice on the bus, and the STUCK listing, through the real handlers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from lambdas.choreography import table
from lambdas.choreography.model import Choreography
from lambdas.status.logic import STUCK, TIMED_OUT
from local.assembly import StackTemplate, with_slas
from local.events import EventFactory
from local.runtime import LocalRuntime
from stacks import asl
from tests.checks.grants import checked_runtime
from tests.integration.conftest import status_get

SLA_SECONDS = 1
LATE_ESCALATIONS = 200  # one second each
WAIT_S = 120.0  # an upper bound for a condition on a busy machine, not a budget: each wait ends when met


@pytest.fixture(scope="module")
def hurried(order_stack: StackTemplate, order_model: Choreography) -> Iterator[LocalRuntime]:
    with checked_runtime(with_slas(order_stack, order_model, SLA_SECONDS)) as running:
        yield running


@pytest.fixture
def patient(order_stack: StackTemplate, order_model: Choreography) -> Iterator[LocalRuntime]:
    """SLAs of one second but escalations enough for minutes: the late events come whenever the machine
    gets to them, however busy it is, and still find the order stuck rather than timed out."""
    with checked_runtime(with_slas(order_stack, order_model, SLA_SECONDS, escalations=LATE_ESCALATIONS)) as running:
        yield running


def _wait_for(condition: Any, timeout_s: float = WAIT_S) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_a_stuck_order_is_announced_listed_and_completes_when_its_event_comes_late(
    patient: LocalRuntime, events: EventFactory, order_model: Choreography, order_id: str
) -> None:
    placed, first, *rest = events.lifecycle(order_id)
    milestone = order_model.milestones[1]  # waits after the first milestone is done
    patient.deliver(placed)
    patient.deliver(first)
    order = _wait_for(lambda: (o := status_get(patient, f"/orders/{order_id}"))["status"] == table.STUCK and o)
    assert (order["stuckAt"], order["awaiting"]) == (milestone.name, milestone.name)
    assert order["milestones"][1]["state"] == STUCK
    listed = status_get(patient, f"/orders?status=STUCK&milestone={milestone.name}")
    assert order_id in {o["orderId"] for o in listed["orders"]}
    # The notice is the state after the STUCK mark: wait for it to reach the topic.
    notices: list[dict[str, Any]] = []

    def noticed() -> bool:
        notices.extend(n for n in patient.platform.notices("AlertingStuckRule") if n["detail"]["orderId"] == order_id)
        return bool(notices)

    assert _wait_for(noticed), "no stuck notice reached the alerts topic"
    notice = notices[0]
    assert (notice["source"], notice["detail-type"]) == (order_model.monitor_source, order_model.stuck_event)
    assert notice["detail"]["milestone"] == milestone.name
    assert notice["detail"]["slaSeconds"] == SLA_SECONDS
    assert notice["detail"]["escalation"] == 1
    assert notice["detail"]["waitingSince"] == order["milestones"][1]["waitingSince"]

    for event in rest:  # late, but before the escalations run out
        patient.deliver(event)
    assert patient.wait_for_executions([order_id], timeout_s=WAIT_S) == {order_id: "SUCCEEDED"}
    assert status_get(patient, f"/orders/{order_id}")["status"] == table.COMPLETED
    assert order_id not in {o["orderId"] for o in status_get(patient, "/orders?status=STUCK&limit=100")["orders"]}
    entered = patient.states_entered(order_id)
    assert asl.stuck_state(milestone) in entered
    assert asl.late_wait_state(milestone) in entered
    assert entered[-1] == asl.COMPLETED_STATE


def test_a_milestone_stuck_past_its_escalations_fails_as_timed_out(
    hurried: LocalRuntime, events: EventFactory, order_model: Choreography, order_id: str
) -> None:
    milestone = order_model.milestones[0]
    hurried.deliver(events.event(order_model.start_event, order_id))
    assert hurried.wait_for_executions([order_id], timeout_s=WAIT_S) == {order_id: "FAILED"}
    entered = hurried.states_entered(order_id)
    assert entered.count(asl.stuck_state(milestone)) == milestone.escalations + 1  # the last one finds none left
    assert entered.count(asl.notify_stuck_state(order_model, milestone)) == milestone.escalations
    assert entered[-3:] == [asl.timed_out_state(milestone), asl.failed_state(milestone), asl.FAILED_STATE]
    order = status_get(hurried, f"/orders/{order_id}")
    assert (order["status"], order["failedAt"]) == (table.FAILED, milestone.name)
    assert order["milestones"][0]["state"] == TIMED_OUT
    assert order["milestones"][0]["escalations"] == milestone.escalations
    assert order_id not in {o["orderId"] for o in status_get(hurried, "/orders?status=STUCK&limit=100")["orders"]}
    notices = [n for n in hurried.platform.notices("AlertingStuckRule") if n["detail"]["orderId"] == order_id]
    assert [n["detail"]["escalation"] for n in notices] == list(range(1, milestone.escalations + 1))
