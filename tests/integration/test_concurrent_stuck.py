"""Concurrent milestones that outlive their SLA (every SLA cut to one second): a branch that fails stops
the other, and no milestone of the stopped branch stays listed as STUCK."""

from __future__ import annotations

import time
import uuid

from lambdas.choreography import table
from lambdas.choreography.model import Concurrent, load_model
from local.assembly import StackTemplate, with_slas
from local.events import EventFactory
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
