"""What the handlers really call and emit, on a workload that takes every path (starts, events on time,
early, late and twice, failures, malformed events, status reads and listings), checked against the
template: every call granted, every grant used (or exercised by AWS itself), and every custom metric the
dashboard draws emitted with the same name and dimensions."""

from __future__ import annotations

import pytest

from lambdas.choreography.model import Choreography
from local.assembly import StackTemplate
from local.events import EventFactory
from local.loadrun import run, status_request
from local.runtime import LocalRuntime
from local.workload import Rates, generate
from tests.checks.grants import Grants
from tests.checks.metrics import emitted_metrics, metric_violations


@pytest.fixture(scope="module")
def exercised(runtime: LocalRuntime, events: EventFactory, order_model: Choreography) -> LocalRuntime:
    rates = Rates(duplicates=0.3, failure=0.2, stuck=0.1, orphans=0.05, malformed=0.1, out_of_order=0.4)
    report = run(runtime, generate(order_model, 30, seed=11, rates=rates))
    assert report["mismatches"] == {}
    status = runtime.function_with_handler("lambdas.status.handler.handler")
    for listed in ("COMPLETED", "FAILED"):
        response = runtime.invoke(status, status_request(f"/orders?status={listed}&limit=5"))
        assert response["statusCode"] == 200
    _late_event(runtime, events, order_model)
    return runtime


def _late_event(runtime: LocalRuntime, events: EventFactory, model: Choreography) -> None:
    """An event whose wait has ended: its token was answered already (here by the test itself)."""
    order_id, milestone = "ORD-GRANTS-LATE", model.milestones[0]
    runtime.deliver(events.event(model.start_event, order_id))
    token = runtime.wait_until_waiting(order_id, milestone.name, timeout_s=60)
    assert token, "the execution never reached its first milestone"
    runtime.stepfunctions.send_task_success(taskToken=token, output="{}")
    assert runtime.deliver(events.event(milestone.success[0], order_id))["outcome"] == "late"


def test_every_call_is_granted_and_every_grant_is_used(exercised: LocalRuntime, order_stack: StackTemplate) -> None:
    grants = Grants(order_stack)
    calls = exercised.handler_calls()
    functions = {call.function for call in calls}
    assert len(functions) == 3  # the correlator, the status function and the end check
    uses = list(grants.call_uses(calls, exercised.names)) + list(grants.definition_uses())
    actions = {use.action for use in uses}
    assert actions >= {"dynamodb:UpdateItem", "dynamodb:Query", "states:StartExecution", "states:SendTaskSuccess"}
    assert actions >= {"states:SendTaskFailure", "sqs:SendMessage", "events:PutEvents"}
    assert grants.ungranted(uses) == []
    roles = {grants.role_of(function) for function in functions} | {use.role for use in grants.definition_uses()}
    assert grants.unused(uses, roles) == []


def test_every_custom_metric_drawn_is_one_a_handler_emits(
    exercised: LocalRuntime, order_stack: StackTemplate, order_model: Choreography
) -> None:
    milestones = {m.name for m in order_model.milestones}
    names = {"eventType": set(order_model.roles) | {"unknown"}, "milestone": milestones, "follows": milestones}
    emitted = emitted_metrics(exercised.metrics_output, names)
    assert emitted  # the run emitted metrics at all
    assert metric_violations(order_stack, emitted) == []
