"""The check at each execution's end, as synthesized: what moto does not hold us to. Step Functions puts
its status changes on the account's default bus only, so a rule on the monitor's bus would never fire;
a pattern without the machines' ARNs would invoke the check for every workflow in the account."""

from __future__ import annotations

from typing import Any

from lambdas.choreography import table
from lambdas.conformance import ended
from local.assembly import StackTemplate


def _end_rule(stack: StackTemplate) -> dict[str, Any]:
    (rule,) = [
        rule for _, rule in stack.of_type("AWS::Events::Rule") if rule["EventPattern"]["source"] == [ended.SOURCE]
    ]
    return dict(rule)


def _function_id(stack: StackTemplate, handler: str) -> str:
    (logical_id,) = [i for i, p in stack.of_type("AWS::Lambda::Function") if p["Handler"] == handler]
    return logical_id


def _machine_ids(stack: StackTemplate) -> list[str]:
    return [logical_id for logical_id, _ in stack.of_type("AWS::StepFunctions::StateMachine")]


def test_the_rule_is_on_the_default_bus_and_matches_only_this_stacks_machines_ending(
    order_stack: StackTemplate, versioned_stack: StackTemplate
) -> None:
    for stack in (order_stack, versioned_stack):
        rule = _end_rule(stack)
        assert "EventBusName" not in rule  # the default bus: where Step Functions puts its events
        pattern = rule["EventPattern"]
        assert pattern["detail-type"] == ["Step Functions Execution Status Change"]
        assert sorted(pattern["detail"]["status"]) == ["ABORTED", "FAILED", "SUCCEEDED", "TIMED_OUT"]
        # CloudFormation's Ref of a state machine is its ARN: every shipped version's machine, and no other.
        assert pattern["detail"]["stateMachineArn"] == [{"Ref": machine} for machine in _machine_ids(stack)]
    assert len(_machine_ids(versioned_stack)) == 2


def test_the_rule_invokes_the_check_with_retries_and_dead_letters(order_stack: StackTemplate) -> None:
    check_id = _function_id(order_stack, "lambdas.conformance.handler.handler")
    (target,) = _end_rule(order_stack)["Targets"]
    assert target["Arn"] == {"Fn::GetAtt": [check_id, "Arn"]}
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185}
    assert target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0].startswith("RuleDeadLetters")
    (permission,) = [
        p
        for _, p in order_stack.of_type("AWS::Lambda::Permission")
        if p["FunctionName"] == {"Fn::GetAtt": [check_id, "Arn"]}
    ]
    assert permission["Principal"] == "events.amazonaws.com"
    (config,) = [
        c for _, c in order_stack.of_type("AWS::Lambda::EventInvokeConfig") if c["FunctionName"] == {"Ref": check_id}
    ]
    destination = config["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
    assert destination.startswith("EndCheckDeadLetters")


def test_the_check_counts_under_the_correlators_service_so_one_alarm_reads_both(order_stack: StackTemplate) -> None:
    functions = {p["Handler"]: p["Environment"]["Variables"] for _, p in order_stack.of_type("AWS::Lambda::Function")}
    check = functions["lambdas.conformance.handler.handler"]
    correlator = functions["lambdas.correlator.handler.handler"]
    assert check["OUT_OF_ORDER_SERVICE"] == correlator["POWERTOOLS_SERVICE_NAME"]
    assert check["POWERTOOLS_METRICS_NAMESPACE"] == correlator["POWERTOOLS_METRICS_NAMESPACE"]
    assert check["TABLE_NAME"] == correlator["TABLE_NAME"]


def test_the_status_function_may_read_the_deviation_index(order_stack: StackTemplate) -> None:
    status_role = next(
        policy["PolicyDocument"]["Statement"]
        for _, policy in order_stack.of_type("AWS::IAM::Policy")
        if policy["Roles"][0]["Ref"].startswith("StatusRole")
    )
    resources = next(s["Resource"] for s in status_role if s["Action"] == "dynamodb:Query")
    indexes = [r["Fn::Join"][1][-1] for r in resources if isinstance(r, dict) and "Fn::Join" in r]
    assert f"/index/{table.DEVIATION_INDEX}" in indexes
