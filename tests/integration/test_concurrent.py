"""Concurrent milestones on the local runtime: the loan model checks credit and identity at the same time
(a Parallel state), through the real generated definition and the real handlers."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lambdas.choreography import table
from lambdas.choreography.model import Choreography, Concurrent, load_model
from lambdas.status.logic import DONE, FAILED
from local.assembly import StackTemplate
from local.events import EventFactory
from local.runtime import LocalRuntime
from stacks.packaging import MODELS_DIR
from tests.checks.grants import checked_runtime
from tests.integration.conftest import status_get

WAIT_S = 120.0  # an upper bound for a condition on a busy machine, not a budget


@pytest.fixture(scope="module")
def loan_model() -> Choreography:
    return load_model(MODELS_DIR / "loan_application.json")


@pytest.fixture(scope="module")
def loan_stack(stacks: dict[str, StackTemplate]) -> StackTemplate:
    return stacks["LoanApplicationMonitor"]


@pytest.fixture(scope="module")
def runtime(loan_stack: StackTemplate) -> Iterator[LocalRuntime]:
    with checked_runtime(loan_stack) as running:
        yield running


@pytest.fixture(scope="module")
def loans(loan_model: Choreography) -> EventFactory:
    return EventFactory(loan_model)


@pytest.fixture
def application_id() -> str:
    return f"APP-{uuid.uuid4().hex[:12]}"


def _group(model: Choreography) -> Concurrent:
    (group,) = [step for step in model.plan if isinstance(step, Concurrent)]
    return group


def _status(runtime: LocalRuntime, instance_id: str) -> dict[str, Any]:
    return status_get(runtime, f"/orders/{instance_id}")


def _wait_until_waiting(runtime: LocalRuntime, instance_id: str, *milestones: str) -> None:
    for milestone in milestones:
        assert runtime.wait_until_waiting(instance_id, milestone, WAIT_S), f"never waited at {milestone}"


def test_the_happy_path_enters_each_milestone_once_plus_the_group_and_the_end(
    runtime: LocalRuntime, loans: EventFactory, loan_model: Choreography, application_id: str
) -> None:
    start, *events = loans.lifecycle(application_id)
    runtime.deliver(start)
    for event in events:  # each on time: once its milestone waits
        milestone = loan_model.roles[event["detail-type"]].milestone
        assert milestone is not None
        _wait_until_waiting(runtime, application_id, milestone.name)
        runtime.deliver(event)
    assert runtime.wait_for_executions([application_id], WAIT_S) == {application_id: "SUCCEEDED"}
    entered = runtime.states_entered(application_id)
    # Every state entered is billed: one per milestone, one for the Parallel, one to end.
    assert len(entered) == len(loan_model.milestones) + 1 + 1
    assert Counter(entered) == Counter([*(m.name for m in loan_model.milestones), _group(loan_model).name, "Completed"])
    answer = _status(runtime, application_id)
    assert answer["status"] == table.COMPLETED
    assert answer["applicationId"] == application_id
    assert {m["state"] for m in answer["milestones"]} == {DONE}


@pytest.mark.parametrize(
    "order",
    [
        "start, identity, credit, rest",
        "identity, credit, start, rest",
        "credit, start, identity, rest",
        "rest reversed, identity, credit, start",
    ],
)
def test_concurrent_events_in_any_order_complete_the_application(
    runtime: LocalRuntime, loans: EventFactory, loan_model: Choreography, application_id: str, order: str
) -> None:
    start, credit, identity, *rest = loans.lifecycle(application_id)
    named = {"start": [start], "credit": [credit], "identity": [identity], "rest": rest, "rest reversed": rest[::-1]}
    for part in order.split(", "):
        for event in named[part]:
            runtime.deliver(event)
    assert runtime.wait_for_executions([application_id], WAIT_S) == {application_id: "SUCCEEDED"}
    answer = _status(runtime, application_id)
    assert answer["status"] == table.COMPLETED
    assert [m["state"] for m in answer["milestones"]] == [DONE] * len(loan_model.milestones)


@pytest.mark.parametrize("first", ["IdentityCheck", "CreditCheck"])
@pytest.mark.parametrize("timing", ["while both wait", "before the start"])
def test_both_concurrent_milestones_failing_fail_the_application_with_each_failure_recorded(
    runtime: LocalRuntime,
    loans: EventFactory,
    loan_model: Choreography,
    application_id: str,
    first: str,
    timing: str,
) -> None:
    group = _group(loan_model)
    names = [branch[0].name for branch in group.branches]
    ordered = sorted(names, key=lambda name: name != first)
    by_name = {m.name: m for m in loan_model.milestones}
    failures = [loans.event(by_name[name].failure[0], application_id) for name in ordered]
    start = loans.event(loan_model.start_event, application_id)
    if timing == "before the start":
        for event in [*failures, start]:
            runtime.deliver(event)
    else:
        runtime.deliver(start)
        _wait_until_waiting(runtime, application_id, *names)
        for event in failures:
            runtime.deliver(event)
    assert runtime.wait_for_executions([application_id], WAIT_S) == {application_id: "FAILED"}
    answer = _status(runtime, application_id)
    assert answer["status"] == table.FAILED
    assert answer["failedAt"] in names
    states = {m["name"]: m["state"] for m in answer["milestones"]}
    assert [states[name] for name in names] == [FAILED, FAILED]  # the later failure is recorded too
    description = runtime.stepfunctions.describe_execution(executionArn=runtime.execution_arn(application_id))
    assert description["cause"] == answer["failedAt"]


def test_the_milestone_after_the_group_is_timed_from_the_later_of_its_events(
    runtime: LocalRuntime, loans: EventFactory, loan_model: Choreography, application_id: str
) -> None:
    began = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    start, credit, identity, underwriting, payout = (
        loans.event(event["detail-type"], application_id, time=began + timedelta(minutes=minutes))
        for event, minutes in zip(loans.lifecycle(application_id), (0, 30, 10, 45, 60), strict=True)
    )
    for event in (start, identity, credit, underwriting, payout):
        runtime.deliver(event)
    assert runtime.wait_for_executions([application_id], WAIT_S) == {application_id: "SUCCEEDED"}
    durations = {m["name"]: m["durationSeconds"] for m in _status(runtime, application_id)["milestones"]}
    # Each concurrent check from the start; underwriting from the later check (credit, at 30 min).
    assert durations == {"CreditCheck": 1800.0, "IdentityCheck": 600.0, "Underwriting": 900.0, "Payout": 900.0}
