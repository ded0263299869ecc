"""Least privilege: no wildcard action anywhere; a wildcard resource only where AWS offers nothing narrower."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from local.assembly import StackTemplate
from tests.checks.policies import as_list

# The only actions AWS authorizes on Resource "*" alone (no resource-level permissions exist for them).
NO_RESOURCE_LEVEL = {
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:DescribeLogGroups",
    "logs:DescribeResourcePolicies",
    "logs:GetLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:UpdateLogDelivery",
}

# What each role may do: exactly the calls its code (or the state machine's definition) makes.
EXPECTED_ACTIONS = {
    # One state machine per shipped model version (WorkflowStateMachineV1x0x0Role, ...), each with the same grants.
    "WorkflowStateMachineV": {"dynamodb:UpdateItem", "events:PutEvents"} | NO_RESOURCE_LEVEL,
    "CorrelatorRole": {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "dynamodb:UpdateItem",
        "states:StartExecution",
        "states:SendTaskSuccess",
        "states:SendTaskFailure",
        "sqs:SendMessage",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    },
    "EndCheckFunctionRole": {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "dynamodb:Query",
        "dynamodb:UpdateItem",
        "sqs:SendMessage",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    },
    "StatusRole": {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "dynamodb:Query",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    },
}


def _statements(stack: StackTemplate) -> Iterator[tuple[str, dict[str, Any]]]:
    for _, policy in stack.of_type("AWS::IAM::Policy"):
        for role in policy["Roles"]:
            for statement in policy["PolicyDocument"]["Statement"]:
                yield role["Ref"], statement


def wildcard_violations(stack: StackTemplate) -> list[str]:
    """cdk-nag 3 acknowledges `AwsSolutions-IAM5[Resource::*]` per construct, whatever the action: this is
    the check that a later `*` grant on an acknowledged role cannot pass."""
    violations = []
    for role, statement in _statements(stack):
        actions = as_list(statement["Action"])
        if any("*" in action for action in actions):
            violations.append(f"{role}: wildcard action in {actions}")
        if "*" in as_list(statement["Resource"]) and not set(actions) <= NO_RESOURCE_LEVEL:
            violations.append(f"{role}: Resource '*' for {sorted(set(actions) - NO_RESOURCE_LEVEL)}")
    return violations


@pytest.mark.parametrize("stack_name", ["LoanApplicationMonitor", "OrderFulfillmentMonitor", "ReturnRefundMonitor"])
def test_no_wildcard_action_and_wildcard_resources_only_where_unavoidable(
    stacks: dict[str, StackTemplate], stack_name: str
) -> None:
    assert list(_statements(stacks[stack_name]))
    assert wildcard_violations(stacks[stack_name]) == []


def test_a_wildcard_grant_on_the_acknowledged_role_is_caught(order_stack: StackTemplate) -> None:
    template = copy.deepcopy(dict(order_stack.template))
    policy = next(
        p["Properties"]
        for p in template["Resources"].values()
        if p["Type"] == "AWS::IAM::Policy"
        and p["Properties"]["Roles"][0]["Ref"].startswith("WorkflowStateMachineV1x0x0Role")
    )
    policy["PolicyDocument"]["Statement"].append({"Effect": "Allow", "Action": "dynamodb:DeleteTable", "Resource": "*"})
    widened = StackTemplate(order_stack.name, template, order_stack.outdir)
    (violation,) = wildcard_violations(widened)
    assert violation.startswith("WorkflowStateMachineV1x0x0Role")
    assert "dynamodb:DeleteTable" in violation


@pytest.mark.parametrize("stack_name", ["LoanApplicationMonitor", "OrderFulfillmentMonitor", "ReturnRefundMonitor"])
def test_each_role_gets_only_the_actions_it_calls(stacks: dict[str, StackTemplate], stack_name: str) -> None:
    granted: dict[str, set[str]] = {}
    for role, statement in _statements(stacks[stack_name]):
        prefix = next(name for name in EXPECTED_ACTIONS if role.startswith(name))
        granted.setdefault(prefix, set()).update(as_list(statement["Action"]))
    assert granted == EXPECTED_ACTIONS


def test_correlator_touches_only_its_own_table_machine_and_queues(order_stack: StackTemplate) -> None:
    for role, statement in _statements(order_stack):
        if not role.startswith("CorrelatorRole"):
            continue
        for resource in as_list(statement["Resource"]):
            if resource == "*":
                continue
            target = resource.get("Ref") or resource.get("Fn::GetAtt", [""])[0]
            assert target.startswith(
                ("StateTable", "WorkflowStateMachine", "Quarantine", "CorrelatorDeadLetters", "CorrelatorLogs")
            ), resource
