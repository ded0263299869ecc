"""The monitor's own bus, open only to the accounts named in configuration; the services publish to it, or
to a bus of their own from which one rule forwards the model's events here."""

from __future__ import annotations

from aws_cdk import Aws, Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from lambdas.choreography.versions import Versions
from stacks.rules import forwarded_pattern

# Every rule target's delivery: EventBridge's longest retry (24 hours, 185 attempts), then its DLQ.
RETRY_ATTEMPTS = 185
MAX_EVENT_AGE = Duration.hours(24)


def function_target(function: lambda_.IFunction, dead_letters: sqs.IQueue) -> targets.LambdaFunction:
    """A rule's Lambda target with EventBridge's longest retry, then `dead_letters`."""
    return targets.LambdaFunction(
        function, dead_letter_queue=dead_letters, retry_attempts=RETRY_ATTEMPTS, max_event_age=MAX_EVENT_AGE
    )


class MonitorBus(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, bus_name: str, allowed_accounts: tuple[str, ...]
    ) -> None:
        super().__init__(scope, construct_id)
        self.bus = events.EventBus(self, "Bus", event_bus_name=bus_name)
        for account in (Aws.ACCOUNT_ID, *allowed_accounts):
            self.bus.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=f"PutEventsFrom{'DeployingAccount' if account == Aws.ACCOUNT_ID else account}",
                    principals=[iam.AccountPrincipal(account)],
                    actions=["events:PutEvents"],
                    resources=[self.bus.event_bus_arn],
                )
            )

    def forward_from(self, services_bus_name: str, versions: Versions, dead_letters: sqs.IQueue) -> events.Rule:
        """One rule on the services' bus, and nothing else there: redriven, replayed and stuck events stay on
        the monitor's bus, so no other consumer of the services' bus ever sees them twice."""
        pattern = forwarded_pattern(versions)
        model = versions.current
        return events.Rule(
            self,
            "ForwardFromServices",
            rule_name=f"{model.name}-to-monitor",
            event_bus=events.EventBus.from_event_bus_name(self, "ServicesBus", services_bus_name),
            description=f"{model.name}: the model's events, forwarded to the monitor's bus {self.bus.event_bus_name}",
            event_pattern=events.EventPattern(source=pattern["source"], detail_type=pattern["detail-type"]),
            # The target gets a role of its own (CDK's), allowed events:PutEvents on this bus only.
            targets=[targets.EventBus(self.bus, dead_letter_queue=dead_letters)],
        )
