"""Deployed beside the services' own bus: one forwarding rule there, and nothing else changes."""

from __future__ import annotations

from typing import Any

import pytest

from lambdas.choreography.model import Choreography
from local.assembly import StackTemplate
from stacks.config import MonitorSettings, SettingsError
from tests.checks.metrics import metric_violations
from tests.checks.publishers import publisher_violations
from tests.conftest import SERVICES_BUS


def _rules_by_bus(stack: StackTemplate) -> dict[str, list[dict[str, Any]]]:
    buses: dict[str, list[dict[str, Any]]] = {}
    for _, rule in stack.of_type("AWS::Events::Rule"):
        bus = rule.get("EventBusName", "default")  # none: the account's default bus
        buses.setdefault(bus if isinstance(bus, str) else "monitor", []).append(dict(rule))
    return buses


def test_one_rule_on_the_services_bus_forwards_the_models_events(
    forwarding_stack: StackTemplate, order_stack: StackTemplate, order_model: Choreography
) -> None:
    rules = _rules_by_bus(forwarding_stack)
    (forward,) = rules[SERVICES_BUS]
    assert forward["Name"] == f"{order_model.name}-to-monitor"
    assert forward["EventPattern"] == {"source": list(order_model.sources), "detail-type": sorted(order_model.roles)}
    (target,) = forward["Targets"]
    bus_id, _ = forwarding_stack.one_of_type("AWS::Events::EventBus")
    assert target["Arn"] == {"Fn::GetAtt": [bus_id, "Arn"]}
    assert "RoleArn" in target  # EventBridge's recommendation for a bus target, and required across accounts
    assert target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0].startswith("RuleDeadLetters")
    # Everything else stays where it was: the correlator's rules, the stuck notices, the archive.
    assert len(rules["monitor"]) == len(_rules_by_bus(order_stack)["monitor"])
    ((_, archive),) = forwarding_stack.of_type("AWS::Events::Archive")
    assert archive["SourceArn"] == {"Fn::GetAtt": [bus_id, "Arn"]}


def test_the_forwarding_rule_passes_the_check_layer(forwarding_stack: StackTemplate) -> None:
    violations, checked = publisher_violations(forwarding_stack)
    assert violations == []
    assert checked >= 17  # the forwarding target's role and dead letters besides the rest
    assert metric_violations(forwarding_stack) == []


def test_the_forwarding_role_may_put_events_on_the_monitors_bus_only(forwarding_stack: StackTemplate) -> None:
    bus_id, _ = forwarding_stack.one_of_type("AWS::Events::EventBus")
    statements = [
        statement
        for _, policy in forwarding_stack.of_type("AWS::IAM::Policy")
        if policy["Roles"][0]["Ref"].startswith("EventsForwardFromServicesEventsRole")
        for statement in policy["PolicyDocument"]["Statement"]
    ]
    assert statements == [
        {"Action": "events:PutEvents", "Effect": "Allow", "Resource": {"Fn::GetAtt": [bus_id, "Arn"]}}
    ]


@pytest.mark.parametrize("value", ["arn:aws:events:eu-west-1:111122223333:event-bus/shop", "", "a b", 7])
def test_a_services_bus_that_is_not_a_name_here_is_refused(value: Any) -> None:
    class Scope:
        class node:  # the shape of a construct's node, for from_context
            @staticmethod
            def try_get_context(_key: str) -> dict[str, Any]:
                return {"servicesBus": value}

    with pytest.raises(SettingsError, match="servicesBus"):
        MonitorSettings.from_context(Scope)  # type: ignore[arg-type]
