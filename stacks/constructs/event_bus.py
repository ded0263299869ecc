"""The custom bus the services publish to, open only to the accounts named in configuration."""

from __future__ import annotations

from aws_cdk import Aws, Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from constructs import Construct

# Every rule target's delivery: EventBridge's longest retry (24 hours, 185 attempts), then its DLQ.
RETRY_ATTEMPTS = 185
MAX_EVENT_AGE = Duration.hours(24)


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
