"""Concurrent milestones failing: a branch that fails stops the other, no milestone of the stopped branch
stays listed as STUCK (every SLA cut to one second), and the bench prices the failure record."""

from __future__ import annotations

import time
import uuid

from bench.meter import STATE_MACHINE, TRANSACTIONAL_WRITE_FACTOR, Meter
from lambdas.choreography import table
from lambdas.choreography.model import Concurrent, load_model
from local.assembly import StackTemplate, with_slas
from local.events import EventFactory
from local.runtime import LocalRuntime
from stacks.packaging import MODELS_DIR
from tests.checks.grants import checked_runtime
from tests.integration.conftest import status_get

WAIT_S = 120.0  # an upper bound for a condition on a busy machine, not a budget


def test_a_failure_in_one_branch_leaves_no_stuck_mark_in_the_branch_it_stops(
    stacks: dict[str, StackTemplate],
) -> None:
    loan_model = load_model(MODELS_DIR / "loan_application.json")
    loans, application_id = EventFactory(loan_model), f"APP-{uuid.uuid4().hex[:12]}"
    (group,) = [step for step in loan_model.plan if isinstance(step, Concurrent)]
    credit, identity = (branch[0] for branch in group.branches)
    loan_stack = stacks["LoanApplicationMonitor"]
    with checked_runtime(with_slas(loan_stack, loan_model, 1, escalations=200)) as hurried:
        hurried.deliver(loans.event(loan_model.start_event, application_id))
        deadline = time.monotonic() + WAIT_S
        while hurried.items(application_id).get(credit.name, {}).get(table.STATUS) != table.STUCK:
            assert time.monotonic() < deadline, f"{credit.name} never became STUCK"
            time.sleep(0.1)
        hurried.deliver(loans.event(identity.failure[0], application_id))
        assert hurried.wait_for_executions([application_id], WAIT_S) == {application_id: "FAILED"}
        items = hurried.items(application_id)
        assert table.STATUS not in items[credit.name]  # the stopped branch's STUCK mark is gone
        assert items[credit.name][table.TTL_ATTRIBUTE]  # and the item still expires
        answer = status_get(hurried, f"/orders/{application_id}")
        assert (answer["status"], answer["failedAt"]) == (table.FAILED, identity.name)
        listed = status_get(hurried, "/orders?status=STUCK&limit=100")["orders"]
        assert application_id not in {entry["applicationId"] for entry in listed}


def test_the_meter_prices_the_failure_record_transaction_item_by_item(stacks: dict[str, StackTemplate]) -> None:
    """For a model with concurrent milestones the failure record is a transaction over the instance and
    every concurrent milestone: the bench charges each of its items, twice over, as DynamoDB does."""
    loan_model = load_model(MODELS_DIR / "loan_application.json")
    loans, application_id = EventFactory(loan_model), f"APP-{uuid.uuid4().hex[:12]}"
    (group,) = [step for step in loan_model.plan if isinstance(step, Concurrent)]
    credit = group.branches[0][0]
    with LocalRuntime(stacks["LoanApplicationMonitor"]) as runtime, Meter(runtime, {}).attached() as meter:
        runtime.deliver(loans.event(loan_model.start_event, application_id))
        assert runtime.wait_until_waiting(application_id, credit.name, WAIT_S)
        written_before = meter.write_units[STATE_MACHINE]
        runtime.deliver(loans.event(credit.failure[0], application_id))
        assert runtime.wait_for_executions([application_id], WAIT_S) == {application_id: "FAILED"}
        assert meter.requests[STATE_MACHINE, "transact_write_items"] == 1
        items = 1 + sum(len(branch) for branch in group.branches)  # the instance, and each concurrent milestone
        # At least each item's 2 units; nothing else the state machine wrote after the failure but this.
        assert meter.write_units[STATE_MACHINE] - written_before >= TRANSACTIONAL_WRITE_FACTOR * items
