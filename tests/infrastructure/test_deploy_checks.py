"""The check layer: what AWS enforces on deploy and at run time, and moto does not, checked on every
synthesized template. Each check also runs once on a template broken the way an earlier defect broke it,
so that it is seen to fail."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from local.assembly import StackTemplate
from stacks.packaging import PROJECT_ROOT
from tests.checks.grants import Grants
from tests.checks.metrics import metric_violations, watched_metrics
from tests.checks.publishers import publisher_violations

STACKS = ["LoanApplicationMonitor", "OrderFulfillmentMonitor", "ReturnRefundMonitor"]


def _edited(stack: StackTemplate, edit: Any) -> StackTemplate:
    template = copy.deepcopy(dict(stack.template))
    edit(template["Resources"])
    return StackTemplate(stack.name, template, stack.outdir)


def _one(resources: dict[str, Any], resource_type: str, prefix: str = "") -> dict[str, Any]:
    (found,) = [r for i, r in resources.items() if r["Type"] == resource_type and i.startswith(prefix)]
    return found  # type: ignore[no-any-return]


def test_cfn_lint_finds_nothing_in_any_template(assembly_dir: Path, forwarding_stack: StackTemplate) -> None:
    """Both ways of deploying: the services publishing to the monitor's bus, and forwarded from their own."""
    templates = sorted(
        str(path) for outdir in (assembly_dir, forwarding_stack.outdir) for path in outdir.glob("*.template.json")
    )
    assert len(templates) == 2 * len(STACKS)
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--format", "json", *templates],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,  # where .cfnlintrc.yaml says which checks are acknowledged, and why
        timeout=300,
        check=False,
    )
    findings = json.loads(result.stdout or "[]")
    assert findings == [], "\n".join(f"{f['Rule']['Id']} {f['Location']['Path']}: {f['Message']}" for f in findings)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("stack_name", STACKS)
def test_every_watched_metric_is_one_aws_publishes(stacks: dict[str, StackTemplate], stack_name: str) -> None:
    stack = stacks[stack_name]
    assert len([m for m in watched_metrics(stack) if m.namespace.startswith("AWS/")]) >= 10
    assert metric_violations(stack) == []


def test_an_alarm_on_ref_of_a_rule_on_a_custom_bus_is_caught(order_stack: StackTemplate) -> None:
    """The stuck alarm's first form: RuleName was Ref of the rule, which is "bus|rule" on a custom bus."""

    def by_ref(resources: dict[str, Any]) -> None:
        rule_id = next(i for i, r in resources.items() if r["Type"] == "AWS::Events::Rule" and "Stuck" in i)
        alarm = _one(resources, "AWS::CloudWatch::Alarm", "AlertingStuckOrders")
        for dimension in alarm["Properties"]["Metrics"][0]["MetricStat"]["Metric"]["Dimensions"]:
            if dimension["Name"] == "RuleName":
                dimension["Value"] = {"Ref": rule_id}

    (violation,) = metric_violations(_edited(order_stack, by_ref))
    assert violation.startswith("AlertingStuckOrders")
    assert "order-fulfillment-events|order-fulfillment-stuck-notices" in violation


@pytest.mark.parametrize("stack_name", STACKS)
def test_every_delivery_is_allowed_by_the_policy_aws_evaluates(
    stacks: dict[str, StackTemplate], stack_name: str
) -> None:
    violations, checked = publisher_violations(stacks[stack_name])
    assert violations == []
    assert checked >= 15  # 7 alarms, every rule target and its dead letters, the on-failure destination


def test_a_topic_policy_without_cloudwatch_is_caught(order_stack: StackTemplate) -> None:
    """The alerts topic's first policy allowed EventBridge alone: no alarm could publish."""

    def events_only(resources: dict[str, Any]) -> None:
        document = _one(resources, "AWS::SNS::TopicPolicy")["Properties"]["PolicyDocument"]
        document["Statement"] = [s for s in document["Statement"] if s.get("Sid") != "AlarmsPublish"]

    violations, _ = publisher_violations(_edited(order_stack, events_only))
    assert len(violations) == 8  # every alarm
    assert all("does not let cloudwatch.amazonaws.com publish" in v for v in violations)


def test_a_key_that_cloudwatch_cannot_use_is_caught(order_stack: StackTemplate) -> None:
    def events_only(resources: dict[str, Any]) -> None:
        policy = _one(resources, "AWS::KMS::Key")["Properties"]["KeyPolicy"]
        for statement in policy["Statement"]:
            if "Service" in statement["Principal"]:
                statement["Principal"]["Service"] = ["events.amazonaws.com"]

    violations, _ = publisher_violations(_edited(order_stack, events_only))
    assert len(violations) == 16  # each alarm: GenerateDataKey and Decrypt
    assert all("KMS key does not allow cloudwatch.amazonaws.com" in v for v in violations)


@pytest.mark.parametrize("stack_name", STACKS)
def test_every_task_of_the_definition_is_granted_and_every_grant_used(
    stacks: dict[str, StackTemplate], stack_name: str
) -> None:
    grants = Grants(stacks[stack_name])
    uses = list(grants.definition_uses())
    assert {use.action for use in uses} == {"dynamodb:UpdateItem", "events:PutEvents"}
    assert grants.ungranted(uses) == []
    assert grants.unused(uses, {use.role for use in uses}) == []


def test_a_task_without_its_grant_and_a_grant_without_its_task_are_caught(order_stack: StackTemplate) -> None:
    def swap(resources: dict[str, Any]) -> None:
        policy = _one(resources, "AWS::IAM::Policy", "WorkflowStateMachineV1x0x0RoleDefaultPolicy")["Properties"]
        for statement in policy["PolicyDocument"]["Statement"]:
            if statement["Action"] == "events:PutEvents":
                statement["Action"] = "events:DescribeEventBus"

    grants = Grants(_edited(order_stack, swap))
    uses = list(grants.definition_uses())
    missing = grants.ungranted(uses)
    assert missing
    assert all("is not granted events:PutEvents" in line for line in missing)
    (spare,) = grants.unused(uses, {use.role for use in uses})
    assert "events:DescribeEventBus" in spare
