"""The generated state machine definition, read back from the synthesized template."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lambdas.choreography.model import Choreography, load_model
from local.assembly import StackTemplate
from stacks import asl
from stacks.app_builder import MODELS_DIR
from stacks.monitor_stack import stack_name


def _definition(stack: StackTemplate) -> dict[str, Any]:
    ((_, properties),) = stack.of_type("AWS::StepFunctions::StateMachine")
    definition: dict[str, Any] = json.loads(properties["DefinitionString"])
    return definition


def _happy_path(definition: dict[str, Any]) -> list[str]:
    """Follow Next from StartAt: the states an execution enters when every event arrives on time."""
    path, name = [], definition["StartAt"]
    while True:
        path.append(name)
        state = definition["States"][name]
        if state.get("End") or "Next" not in state:
            return path
        name = state["Next"]


@pytest.mark.parametrize("model_path", sorted(MODELS_DIR.glob("*.json")), ids=lambda path: path.stem)
def test_template_holds_the_generated_definition(stacks: dict[str, StackTemplate], model_path: Path) -> None:
    model = load_model(model_path)
    assert _definition(stacks[stack_name(model)]) == asl.build_definition(model)


def test_happy_path_is_one_state_per_milestone_plus_the_end(
    order_stack: StackTemplate, order_model: Choreography
) -> None:
    definition = _definition(order_stack)
    path = _happy_path(definition)
    assert path == [*(m.name for m in order_model.milestones), asl.COMPLETED_STATE]
    assert definition["States"][asl.COMPLETED_STATE]["Type"] == "Task"  # marks the instance COMPLETED, then ends


def test_each_milestone_waits_for_its_token_with_the_model_timeout(
    order_stack: StackTemplate, order_model: Choreography
) -> None:
    states = _definition(order_stack)["States"]
    for milestone in order_model.milestones:
        state = states[milestone.name]
        assert state["Resource"] == "arn:aws:states:::aws-sdk:dynamodb:updateItem.waitForTaskToken"
        assert state["TimeoutSeconds"] == milestone.sla_seconds
        assert state["Parameters"]["TableName"] == "${TableName}"
        assert state["Parameters"]["ConditionExpression"] == "attribute_not_exists(settledBy)"
        assert state["Parameters"]["ExpressionAttributeValues"][":token"] == {"S.$": "$$.Task.Token"}


def test_every_failure_event_has_a_branch_that_fails_the_execution(
    order_stack: StackTemplate, order_model: Choreography
) -> None:
    states = _definition(order_stack)["States"]
    for milestone in order_model.milestones:
        catches = {error: catch["Next"] for catch in states[milestone.name]["Catch"] for error in catch["ErrorEquals"]}
        for failure in milestone.failure:
            assert catches[failure] == asl.failed_state(milestone)
        recorder = states[asl.failed_state(milestone)]
        assert recorder["Next"] == asl.FAILED_STATE
        assert recorder["ResultSelector"] == {"milestone": milestone.name}
    assert states[asl.FAILED_STATE]["Type"] == "Fail"


def test_an_early_event_routes_on_without_waiting(order_stack: StackTemplate, order_model: Choreography) -> None:
    states = _definition(order_stack)["States"]
    for position, milestone in enumerate(order_model.milestones):
        following = (
            order_model.milestones[position + 1].name
            if position + 1 < len(order_model.milestones)
            else asl.COMPLETED_STATE
        )
        catches = {error: catch["Next"] for catch in states[milestone.name]["Catch"] for error in catch["ErrorEquals"]}
        early = catches[asl.CONDITION_FAILED]
        if milestone.failure:
            # One check tells a success that came first from a failure that came first.
            assert early == asl.arrived_early_state(milestone)
            check = states[early]
            assert check["Next"] == following
            assert check["Catch"][0]["Next"] == asl.failed_state(milestone)
        else:
            assert early == following


def test_a_late_milestone_escalates_then_waits_again_then_times_out(
    order_stack: StackTemplate, order_model: Choreography
) -> None:
    states = _definition(order_stack)["States"]
    for milestone in order_model.milestones:
        stuck, notify = asl.stuck_state(milestone), asl.notify_stuck_state(order_model, milestone)
        late, timed_out = asl.late_wait_state(milestone), asl.timed_out_state(milestone)
        for waiting in (milestone.name, late):
            catches = {e: c["Next"] for c in states[waiting]["Catch"] for e in c["ErrorEquals"]}
            assert catches[asl.TIMEOUT] == stuck
            assert states[waiting]["TimeoutSeconds"] == milestone.sla_seconds
        # The late wait is the same wait: same write, same way on, same failure branch.
        assert states[late]["Parameters"] == states[milestone.name]["Parameters"]
        assert states[late]["Next"] == states[milestone.name]["Next"]
        marking = states[stuck]["Parameters"]
        assert marking["Key"]["sk"] == {"S": milestone.name}  # the milestone's own item holds STUCK
        assert marking["ExpressionAttributeValues"][":limit"] == {"N": str(milestone.escalations)}
        assert "attribute_not_exists(settledBy)" in marking["ConditionExpression"]
        assert states[stuck]["Next"] == notify
        assert states[stuck]["Catch"][0] == {
            "ErrorEquals": [asl.CONDITION_FAILED],
            "ResultPath": None,
            "Next": timed_out,
        }
        entry = states[notify]["Parameters"]["Entries"][0]
        assert (entry["EventBusName"], entry["Source"], entry["DetailType"]) == (
            "${BusName}",
            order_model.monitor_source,
            order_model.stuck_event,
        )
        assert entry["Detail"]["milestone"] == milestone.name
        assert entry["Detail"]["slaSeconds"] == milestone.sla_seconds
        assert states[notify]["Next"] == late
        assert states[notify]["Catch"][0]["Next"] == late  # a notice that fails never stops the wait
        assert states[timed_out]["Next"] == asl.failed_state(milestone)
        assert states[timed_out]["Catch"][0]["Next"] == late  # the event came after all


def test_the_stuck_path_is_off_the_happy_path(order_stack: StackTemplate, order_model: Choreography) -> None:
    path = _happy_path(_definition(order_stack))
    assert not any(asl.stuck_state(m) in path or asl.late_wait_state(m) in path for m in order_model.milestones)
