"""The generated state machine definition, read back from the synthesized template."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lambdas.choreography.model import Choreography, Concurrent, Milestone, load_model
from local.assembly import StackTemplate, with_sla_scale
from stacks import asl
from stacks.names import stack_name
from stacks.packaging import MODELS_DIR


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


def _catches(state: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {error: catch for catch in state.get("Catch", []) for error in catch["ErrorEquals"]}


def test_every_failure_event_has_a_branch_that_fails_the_execution(
    order_stack: StackTemplate, order_model: Choreography
) -> None:
    states = _definition(order_stack)["States"]
    for milestone in order_model.milestones:
        catches = _catches(states[milestone.name])
        for failure in milestone.failure:
            assert catches[failure]["Next"] == asl.failed_state(milestone)
            # The shared recorder learns which milestone failed from the catch that sends it there.
            assert catches[failure]["Assign"] == {asl.MILESTONE_VARIABLE: milestone.name}
        recorder = states[asl.failed_state(milestone)]
        assert recorder["Next"] == asl.FAILED_STATE
        assert recorder["ResultSelector"] == {"milestone.$": f"${asl.MILESTONE_VARIABLE}"}
        assert recorder["Parameters"]["ExpressionAttributeValues"][":failedMilestone"] == {
            "S.$": f"${asl.MILESTONE_VARIABLE}"
        }
    assert states[asl.FAILED_STATE]["Type"] == "Fail"


def test_an_early_event_routes_on_without_waiting(order_stack: StackTemplate, order_model: Choreography) -> None:
    states = _definition(order_stack)["States"]
    for position, milestone in enumerate(order_model.milestones):
        following = (
            order_model.milestones[position + 1].name
            if position + 1 < len(order_model.milestones)
            else asl.COMPLETED_STATE
        )
        early = _catches(states[milestone.name])[asl.CONDITION_FAILED]["Next"]
        if milestone.failure:
            # One check tells a success that came first from a failure that came first.
            assert early == asl.arrived_early_state(milestone)
            check = states[early]
            assert check["Next"] == following
            assert check["Catch"][0]["Next"] == asl.failed_state(milestone)
            assert check["Catch"][0]["Assign"] == {asl.MILESTONE_VARIABLE: milestone.name}
        else:
            assert early == following


def test_a_late_milestone_escalates_then_waits_again_then_times_out(
    order_stack: StackTemplate, order_model: Choreography
) -> None:
    states = _definition(order_stack)["States"]
    wait_again = states[asl.WAIT_AGAIN_STATE]
    for milestone in order_model.milestones:
        stuck, notify = asl.stuck_state(milestone), asl.notify_stuck_state(order_model, milestone)
        late, timed_out = asl.late_wait_state(milestone), asl.timed_out_state(milestone)
        timeout = _catches(states[milestone.name])[asl.TIMEOUT]
        assert timeout["Next"] == stuck
        # What the shared states need to serve this milestone: its name, SLA and escalations.
        assert timeout["Assign"] == {
            asl.MILESTONE_VARIABLE: milestone.name,
            asl.SLA_VARIABLE: milestone.sla_seconds,
            asl.ESCALATIONS_VARIABLE: milestone.escalations,
        }
        assert states[milestone.name]["TimeoutSeconds"] == milestone.sla_seconds
        # Waiting again is the same wait: same write, same way on, same failure branch.
        assert late == milestone.name
        assert {"Variable": f"${asl.MILESTONE_VARIABLE}", "StringEquals": milestone.name, "Next": late} in wait_again[
            "Choices"
        ]
        marking = states[stuck]["Parameters"]
        # The served milestone's own item holds STUCK, up to its own number of escalations.
        assert marking["Key"]["sk"] == {"S.$": f"${asl.MILESTONE_VARIABLE}"}
        assert marking["ExpressionAttributeValues"][":limit"] == {
            "N.$": f"States.JsonToString(${asl.ESCALATIONS_VARIABLE})"
        }
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
        assert entry["Detail"]["milestone.$"] == f"${asl.MILESTONE_VARIABLE}"
        assert entry["Detail"]["slaSeconds.$"] == f"${asl.SLA_VARIABLE}"
        assert states[notify]["Next"] == asl.WAIT_AGAIN_STATE
        assert states[notify]["Catch"][0]["Next"] == asl.WAIT_AGAIN_STATE  # a notice that fails never stops the wait
        assert states[timed_out]["Next"] == asl.failed_state(milestone)
        assert states[timed_out]["Catch"][0]["Next"] == asl.WAIT_AGAIN_STATE  # the event came after all
    assert len(wait_again["Choices"]) == len(order_model.milestones)


def test_the_stuck_path_is_off_the_happy_path(order_stack: StackTemplate, order_model: Choreography) -> None:
    path = _happy_path(_definition(order_stack))
    shared = {asl.stuck_state(m) for m in order_model.milestones} | {asl.WAIT_AGAIN_STATE}
    assert not shared & set(path)


@pytest.mark.parametrize("model_path", sorted(MODELS_DIR.glob("*.json")), ids=lambda path: path.stem)
def test_each_milestone_has_at_most_two_states_and_the_rest_is_shared(model_path: Path) -> None:
    """What the console draws: each milestone's wait (and a check where it can fail, or where it ends
    a branch), at most 8 more on the main line (its Parallel states among them) and 4 in each branch
    (5 for a branch of several milestones, which needs its own routing back)."""
    model = load_model(model_path)
    definition = asl.build_definition(model)
    main = definition["States"]
    groups = [step for step in model.plan if isinstance(step, Concurrent)]
    sequential = [step for step in model.plan if isinstance(step, Milestone)]
    assert len(set(main) - _own_states(sequential, main)) <= 8
    for group in groups:
        for branch, branch_definition in zip(group.branches, main[group.name]["Branches"], strict=True):
            states = branch_definition["States"]
            assert len(set(states) - _own_states(list(branch), states)) <= (4 if len(branch) == 1 else 5)
    can_fail = [m for m in model.milestones if m.failure]
    if not groups:  # the count: milestones + milestones that can fail + 7 shared
        assert len(main) == len(model.milestones) + len(can_fail) + 7
        # No state but a milestone's own names a milestone, except the one that routes back to each wait.
        for name in set(main) - _own_states(sequential, main) - {asl.WAIT_AGAIN_STATE}:
            text = json.dumps(main[name])
            assert not any(f'"{m.name}"' in text for m in model.milestones), name


def _own_states(milestones: list[Milestone], states: dict[str, Any]) -> set[str]:
    own = {m.name for m in milestones} | {asl.arrived_early_state(m) for m in milestones}
    return own & set(states)


def test_the_order_model_draws_in_at_most_16_states(order_model: Choreography) -> None:
    assert len(asl.build_definition(order_model)["States"]) <= 16


def test_a_scaled_stack_waits_a_fraction_of_each_sla_and_at_least_a_second(
    order_stack: StackTemplate, order_model: Choreography
) -> None:
    """make serve --sla-scale: stuck orders in seconds instead of hours."""
    scaled = _definition(with_sla_scale(order_stack, order_model, 0.01))["States"]
    for milestone in order_model.milestones:
        assert scaled[milestone.name]["TimeoutSeconds"] == max(1, round(milestone.sla_seconds / 100))
    assert scaled[order_model.milestones[0].name]["TimeoutSeconds"] == 9  # a 15-minute SLA
    assert _definition(order_stack)["States"][order_model.milestones[0].name]["TimeoutSeconds"] == 900
