"""The stack shipping two versions of a model, as synthesized: a machine per version with its own
definition, and every wiring that must reach each machine (grants, environment, rules, metrics)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from lambdas.choreography.model import Choreography
from lambdas.choreography.versions import Versions, state_machine_name
from local.assembly import StackTemplate
from local.model_change import ADDED_MILESTONE
from tests.checks.policies import Request, allowed
from tests.checks.resolve import Resolver


def _machines(stack: StackTemplate) -> dict[str, dict[str, Any]]:
    """Machine name -> its definition."""
    resolver = Resolver(stack)
    return {
        properties["StateMachineName"]: resolver.definition(properties)
        for _, properties in stack.of_type("AWS::StepFunctions::StateMachine")
    }


def _correlator(stack: StackTemplate) -> tuple[str, Mapping[str, Any]]:
    return next(
        (i, p) for i, p in stack.of_type("AWS::Lambda::Function") if p["Handler"].endswith("correlator.handler.handler")
    )


def _role_statements(stack: StackTemplate, role: str) -> list[dict[str, Any]]:
    resolver = Resolver(stack)
    return [
        resolver.value(statement)
        for _, policy in stack.of_type("AWS::IAM::Policy")
        if any(r["Ref"] == role for r in policy["Roles"])
        for statement in policy["PolicyDocument"]["Statement"]
    ]


def test_each_version_has_a_machine_of_its_own_drawn_from_it(
    versioned_stack: StackTemplate, order_model: Choreography, next_order_model: Choreography
) -> None:
    machines = _machines(versioned_stack)
    assert set(machines) == {state_machine_name(order_model), state_machine_name(next_order_model)}
    for model in (order_model, next_order_model):
        states = machines[state_machine_name(model)]["States"]
        assert {m.name for m in model.milestones} <= set(states)
        assert states[model.milestones[0].name]["TimeoutSeconds"] == model.milestones[0].sla_seconds
    assert ADDED_MILESTONE not in machines[state_machine_name(order_model)]["States"]


def test_the_correlator_reaches_every_versions_machine_and_reads_an_instances_version(
    versioned_stack: StackTemplate, order_stack: StackTemplate, next_order_model: Choreography
) -> None:
    resolver = Resolver(versioned_stack)
    machine_arns = {
        properties["StateMachineName"]: resolver.arn(logical_id)
        for logical_id, properties in versioned_stack.of_type("AWS::StepFunctions::StateMachine")
    }
    _, correlator = _correlator(versioned_stack)
    arns_by_version = json.loads(resolver.value(correlator["Environment"]["Variables"]["STATE_MACHINE_ARNS"]))
    assert {state_machine_name_of(arn) for arn in arns_by_version.values()} == set(machine_arns)
    assert all(arn.endswith(f"-{version}") for version, arn in arns_by_version.items())
    role = correlator["Role"]["Fn::GetAtt"][0]
    statements = _role_statements(versioned_stack, role)
    for arn in machine_arns.values():
        for action in ("states:StartExecution", "states:SendTaskSuccess", "states:SendTaskFailure"):
            assert allowed(statements, Request(action, arn)), (action, arn)
    table_id, _ = versioned_stack.one_of_type("AWS::DynamoDB::GlobalTable")
    assert allowed(statements, Request("dynamodb:GetItem", resolver.arn(table_id)))
    # One version: nothing to tell apart, so no read is granted.
    single_resolver = Resolver(order_stack)
    single_id, single = _correlator(order_stack)
    single_table, _ = order_stack.one_of_type("AWS::DynamoDB::GlobalTable")
    single_statements = _role_statements(order_stack, single["Role"]["Fn::GetAtt"][0])
    assert not allowed(single_statements, Request("dynamodb:GetItem", single_resolver.arn(single_table))), single_id


def state_machine_name_of(arn: str) -> str:
    return arn.rsplit(":", 1)[-1]


def test_the_rules_route_every_event_of_every_shipped_version(
    versioned_stack: StackTemplate, order_model: Choreography, next_order_model: Choreography
) -> None:
    versions = Versions(next_order_model, (order_model,))
    routed: set[tuple[str, str]] = set()
    for _, rule in versioned_stack.of_type("AWS::Events::Rule"):
        pattern = rule.get("EventPattern", {})
        routed |= {(s, t) for s in pattern.get("source", []) for t in pattern.get("detail-type", [])}
    for model in versions.all:
        for name, event in model.events.items():
            assert (event.source, name) in routed, (model.version, name)


def test_orders_failed_and_completed_are_counted_on_every_versions_machine(versioned_stack: StackTemplate) -> None:
    resolver = Resolver(versioned_stack)
    machine_arns = {resolver.arn(i) for i, _ in versioned_stack.of_type("AWS::StepFunctions::StateMachine")}
    alarm = next(
        p for i, p in versioned_stack.of_type("AWS::CloudWatch::Alarm") if i.startswith("AlertingFailedExecutions")
    )
    counted = {
        resolver.value(query["MetricStat"]["Metric"]["Dimensions"][0]["Value"])
        for query in alarm["Metrics"]
        if "MetricStat" in query
    }
    assert counted == machine_arns
    (expression,) = [query["Expression"] for query in alarm["Metrics"] if "Expression" in query]
    assert expression.startswith("SUM([FILL(")
    outputs = versioned_stack.template["Outputs"]
    listed = resolver.value(outputs["StateMachineArns"]["Value"]).split(",")
    assert [state_machine_name_of(arn) for arn in listed] == sorted(state_machine_name_of(a) for a in machine_arns)
