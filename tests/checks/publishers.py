"""Who delivers to what: every alarm action, rule target, target dead-letter queue and on-failure
destination must be allowed by the policy AWS evaluates for that delivery (a topic policy replaces
SNS's default one; a queue policy is needed for EventBridge's dead letters; a role for a bus target),
and an encrypted topic's key must let the publisher encrypt. moto evaluates no policy at all."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from local.assembly import StackTemplate
from tests.checks.policies import Request, allowed
from tests.checks.resolve import ACCOUNT, Resolver

CLOUDWATCH = "cloudwatch.amazonaws.com"
EVENTBRIDGE = "events.amazonaws.com"


def role_statements(stack: StackTemplate, role_id: str) -> list[Mapping[str, Any]]:
    """The identity policies attached to one role of the stack."""
    statements: list[Mapping[str, Any]] = []
    resolver = Resolver(stack)
    for _, policy in stack.of_type("AWS::IAM::Policy"):
        if {"Ref": role_id} in policy.get("Roles", []):
            statements += resolver.value(policy["PolicyDocument"])["Statement"]
    return statements


class Deliveries:
    def __init__(self, stack: StackTemplate) -> None:
        self.stack = stack
        self.resolver = Resolver(stack)
        self.by_arn = {self.resolver.arn(i): i for i in stack.resources if self._has_arn(i)}
        self.checked = 0

    def _has_arn(self, logical_id: str) -> bool:
        try:
            self.resolver.arn(logical_id)
        except LookupError:
            return False
        return True

    def _resource_policy(self, policy_type: str, list_key: str, target_id: str) -> list[Mapping[str, Any]]:
        target = self.resolver.ref(target_id)
        statements: list[Mapping[str, Any]] = []
        for _, policy in self.stack.of_type(policy_type):
            if target in self.resolver.value(policy[list_key]):
                statements += self.resolver.value(policy["PolicyDocument"])["Statement"]
        return statements

    def _key_policy(self, topic_id: str) -> list[Mapping[str, Any]] | None:
        key = self.stack.resources[topic_id]["Properties"].get("KmsMasterKeyId")
        if key is None:
            return None
        key_id = self.by_arn[self.resolver.value(key)]
        return list(self.resolver.value(self.stack.resources[key_id]["Properties"]["KeyPolicy"])["Statement"])

    def topic_publish(self, where: str, topic_arn: str, service: str, source_arn: str) -> Iterator[str]:
        self.checked += 1
        topic_id = self.by_arn[topic_arn]
        context = {"aws:SourceArn": source_arn, "aws:SourceAccount": ACCOUNT, "aws:SecureTransport": "true"}
        statements = self._resource_policy("AWS::SNS::TopicPolicy", "Topics", topic_id)
        if statements and not allowed(statements, Request("sns:Publish", topic_arn, service, context)):
            yield f"{where}: {topic_id}'s topic policy does not let {service} publish for {source_arn}"
        key_statements = self._key_policy(topic_id)
        if key_statements is not None:
            for action in ("kms:GenerateDataKey", "kms:Decrypt"):
                if not allowed(key_statements, Request(action, "*", service, context)):
                    yield f"{where}: {topic_id}'s KMS key does not allow {service} {action}"

    def queue_send(self, where: str, queue_arn: str, service: str, source_arn: str) -> Iterator[str]:
        self.checked += 1
        queue_id = self.by_arn[queue_arn]
        context = {"aws:SourceArn": source_arn, "aws:SourceAccount": ACCOUNT, "aws:SecureTransport": "true"}
        statements = self._resource_policy("AWS::SQS::QueuePolicy", "Queues", queue_id)
        if not allowed(statements, Request("sqs:SendMessage", queue_arn, service, context)):
            yield f"{where}: {queue_id}'s queue policy does not let {service} send for {source_arn}"

    def role_may(self, where: str, role_arn: str, action: str, resource: str) -> Iterator[str]:
        self.checked += 1
        role_id = self.by_arn[role_arn]
        if not allowed(role_statements(self.stack, role_id), Request(action, resource)):
            yield f"{where}: role {role_id} is not granted {action} on {resource}"

    def function_invocable(self, where: str, function_arn: str, source_arn: str) -> Iterator[str]:
        self.checked += 1
        for _, permission in self.stack.of_type("AWS::Lambda::Permission"):
            resolved = self.resolver.value(dict(permission))
            if (
                resolved["Principal"] == EVENTBRIDGE
                and resolved["Action"] == "lambda:InvokeFunction"
                and resolved["FunctionName"] == function_arn
                and resolved.get("SourceArn") == source_arn
            ):
                return
        yield f"{where}: no Lambda permission lets {EVENTBRIDGE} invoke {self.by_arn[function_arn]} for {source_arn}"


def publisher_violations(stack: StackTemplate) -> tuple[list[str], int]:
    """The deliveries no policy allows, and how many deliveries were checked."""
    deliveries = Deliveries(stack)
    resolver = deliveries.resolver
    violations: list[str] = []
    for alarm_id, alarm in stack.of_type("AWS::CloudWatch::Alarm"):
        for action in resolver.value(alarm.get("AlarmActions", [])):
            violations += deliveries.topic_publish(alarm_id, action, CLOUDWATCH, resolver.arn(alarm_id))
    for rule_id, rule in stack.of_type("AWS::Events::Rule"):
        rule_arn = resolver.arn(rule_id)
        for target in resolver.value(rule.get("Targets", [])):
            kind = resolver.type_of(deliveries.by_arn[target["Arn"]])
            where = f"{rule_id} target {target['Id']}"
            if "RoleArn" in target:
                action = {"AWS::Events::EventBus": "events:PutEvents", "AWS::SNS::Topic": "sns:Publish"}[kind]
                violations += deliveries.role_may(where, target["RoleArn"], action, target["Arn"])
            elif kind == "AWS::SNS::Topic":
                violations += deliveries.topic_publish(where, target["Arn"], EVENTBRIDGE, rule_arn)
            elif kind == "AWS::Lambda::Function":
                violations += deliveries.function_invocable(where, target["Arn"], rule_arn)
            else:
                violations.append(f"{where}: a {kind} target with no role; EventBridge cannot deliver to it")
            dead_letters = target.get("DeadLetterConfig", {}).get("Arn")
            if dead_letters is None:
                violations.append(f"{where}: no dead-letter queue: an undeliverable event would be dropped")
            else:
                violations += deliveries.queue_send(where, dead_letters, EVENTBRIDGE, rule_arn)
    for config_id, config in stack.of_type("AWS::Lambda::EventInvokeConfig"):
        resolved = resolver.value(dict(config))
        destination = resolved.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
        function_id = next(i for i in deliveries.by_arn.values() if resolver.ref(i) == resolved["FunctionName"])
        role = stack.resources[function_id]["Properties"]["Role"]
        if destination is not None:  # Lambda sends the on-failure record with the function's own role
            violations += deliveries.role_may(config_id, resolver.value(role), "sqs:SendMessage", destination)
    return violations, deliveries.checked
