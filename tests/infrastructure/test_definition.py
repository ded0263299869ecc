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
            assert catches[failure] == f"{milestone.name} failed"
        assert catches["States.Timeout"] == f"{milestone.name} failed"
        recorder = states[f"{milestone.name} failed"]
        assert recorder["Next"] == asl.FAILED_STATE
        assert recorder["ResultSelector"] == {"milestone": milestone.name}
    assert states[asl.FAILED_STATE]["Type"] == "Fail"


def test_an_early_event_routes_on_without_waiting(order_stack: StackTemplate, order_model: Choreography) -> None:
    states = _definition(order_stack)["States"]
    for position, milestone in enumerate(order_model.milestones):
        following = (
            order_model.milestones[position + 1].name if position + 1 < len(order_model.milestones) else "Completed"
        )
        catches = {error: catch["Next"] for catch in states[milestone.name]["Catch"] for error in catch["ErrorEquals"]}
        early = catches[asl.CONDITION_FAILED]
        if milestone.failure:
            # One check tells a success that came first from a failure that came first.
            assert early == f"{milestone.name} arrived early"
            check = states[early]
            assert check["Next"] == following
            assert check["Catch"][0]["Next"] == f"{milestone.name} failed"
        else:
            assert early == following
