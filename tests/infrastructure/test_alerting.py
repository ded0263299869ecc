"""Alerting and replay resources of a model's stack: the topic, the stuck rule, every alarm, the dashboard
and the archive, on the template `cdk synth` produces."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match, Template

from lambdas.choreography.model import Choreography
from local.assembly import StackTemplate


@pytest.fixture(scope="module")
def template(order_stack: StackTemplate) -> Template:
    return Template.from_json(dict(order_stack.template))


def _alarms(stack: StackTemplate) -> dict[str, dict[str, Any]]:
    return {logical_id: dict(p) for logical_id, p in stack.of_type("AWS::CloudWatch::Alarm")}


def _topic_id(stack: StackTemplate) -> str:
    ((topic_id, _),) = stack.of_type("AWS::SNS::Topic")
    return topic_id


def test_alerts_topic_is_encrypted_with_a_rotated_key_and_tls_only(
    template: Template, order_stack: StackTemplate
) -> None:
    ((key_id, key),) = order_stack.of_type("AWS::KMS::Key")
    assert key["EnableKeyRotation"] is True
    template.has_resource_properties("AWS::SNS::Topic", {"KmsMasterKeyId": {"Fn::GetAtt": [key_id, "Arn"]}})
    template.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            }
        },
    )
    # CloudWatch and EventBridge publish to the topic, so both may use its key.
    services = {
        service for statement in key["KeyPolicy"]["Statement"] for service in statement["Principal"].get("Service", [])
    }
    assert services >= {"cloudwatch.amazonaws.com", "events.amazonaws.com"}
    for statement in key["KeyPolicy"]["Statement"]:
        if "Service" in statement["Principal"]:  # for this account's alarms and rules only
            assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_the_stuck_alarm_watches_the_rule_by_its_name(order_stack: StackTemplate) -> None:
    """AWS/Events metrics carry the rule's name; Ref of a rule on a custom bus is "bus|rule"."""
    ((rule_id, rule),) = [(i, r) for i, r in order_stack.of_type("AWS::Events::Rule") if "Stuck" in i]
    alarm = _alarms(order_stack)[next(i for i in _alarms(order_stack) if i.startswith("AlertingStuckOrders"))]
    metric = alarm["Metrics"][0]["MetricStat"]["Metric"]
    dimensions = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
    assert dimensions["RuleName"] == rule["Name"] == "order-fulfillment-stuck-notices"
    assert dimensions["RuleName"] != {"Ref": rule_id}
    assert dimensions["EventBusName"] == rule["EventBusName"]


def test_only_this_stacks_alarms_and_stuck_rule_may_publish(order_stack: StackTemplate) -> None:
    ((_, policy),) = order_stack.of_type("AWS::SNS::TopicPolicy")
    allows = {s["Principal"]["Service"]: s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"}
    assert set(allows) == {"cloudwatch.amazonaws.com", "events.amazonaws.com"}
    alarms = allows["cloudwatch.amazonaws.com"]["Condition"]["ArnLike"]["aws:SourceArn"]
    assert sorted(a["Fn::GetAtt"][0] for a in alarms) == sorted(_alarms(order_stack))
    stuck_rule = allows["events.amazonaws.com"]["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::GetAtt"][0]
    assert stuck_rule.startswith("AlertingStuckRule")
    for statement in allows.values():
        assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


def test_stuck_notices_go_to_the_topic(order_stack: StackTemplate, order_model: Choreography) -> None:
    stuck_rules = [
        p
        for _, p in order_stack.of_type("AWS::Events::Rule")
        if p["EventPattern"]["source"] == [order_model.monitor_source]
    ]
    assert len(stuck_rules) == 1
    (rule,) = stuck_rules
    assert rule["EventPattern"]["detail-type"] == [order_model.stuck_event]
    (target,) = rule["Targets"]
    assert target["Arn"] == {"Ref": _topic_id(order_stack)}
    assert target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0].startswith("RuleDeadLetters")


def test_every_alarm_fires_above_zero_and_notifies_the_topic(order_stack: StackTemplate) -> None:
    alarms = _alarms(order_stack)
    watched = set()
    for alarm in alarms.values():
        assert alarm["Threshold"] == 0
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["TreatMissingData"] == "notBreaching"
        assert alarm["AlarmActions"] == [{"Ref": _topic_id(order_stack)}]
        # A labelled metric is written in the Metrics form; both name one metric here.
        metric = alarm["Metrics"][0]["MetricStat"]["Metric"] if "Metrics" in alarm else alarm
        dimensions = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
        watched.add((metric["Namespace"], metric["MetricName"], json.dumps(dimensions, sort_keys=True)))
    by_metric = {(namespace, name) for namespace, name, _ in watched}
    assert ("AWS/Events", "TriggeredRules") in by_metric  # stuck orders
    assert ("AWS/SQS", "NumberOfMessagesSent") in by_metric  # quarantined events
    assert ("AWS/Lambda", "Errors") in by_metric  # correlator errors
    assert ("AWS/States", "ExecutionsFailed") in by_metric  # failed executions
    depth = [w for w in watched if w[1] == "ApproximateNumberOfMessagesVisible"]
    queues = {json.loads(d)["QueueName"]["Fn::GetAtt"][0].rstrip("0123456789ABCDEF") for _, _, d in depth}
    assert queues == {"RuleDeadLetters", "CorrelatorDeadLetters", "EndCheckDeadLetters", "Quarantine"}  # every one
    assert len(alarms) == 8


def test_dashboard_shows_orders_events_latency_and_alarms(
    order_stack: StackTemplate, order_model: Choreography
) -> None:
    ((_, dashboard),) = order_stack.of_type("AWS::CloudWatch::Dashboard")
    assert dashboard["DashboardName"] == f"{order_model.name}-monitor"
    body = json.dumps(dashboard["DashboardBody"])
    for metric in ("InstancesStarted", "ExecutionsSucceeded", "ExecutionsFailed", "TriggeredRules", "MilestoneLatency"):
        assert metric in body, metric
    for milestone in order_model.milestones:
        assert milestone.name in body  # one latency line per milestone
    # One line per milestone pair that can be out of order: each milestone and one it follows.
    pairs = [(m.name, p.name) for m in order_model.milestones for p in order_model.predecessors[m.name]]
    assert body.count('\\"OutOfOrder\\"') == len(pairs) == len(order_model.milestones) - 1
    for later, earlier in pairs:
        assert f"{later} before {earlier}" in body
    assert not [i for i in _alarms(order_stack) if "OutOfOrder" in i]  # the alarm is off unless asked for
    for alarm_id in _alarms(order_stack):
        assert alarm_id in body  # the alarm status widget lists every alarm


def test_archive_keeps_the_services_events(order_stack: StackTemplate, order_model: Choreography) -> None:
    ((_, archive),) = order_stack.of_type("AWS::Events::Archive")
    assert archive["ArchiveName"] == f"{order_model.name}-events"
    assert archive["EventPattern"] == {"source": list(order_model.sources)}
    assert archive["RetentionDays"] == 30
    assert archive["SourceArn"]["Fn::GetAtt"][0].startswith("EventsBus")
