"""The check at each execution's end: Step Functions puts the end of every Standard execution on the
account's default bus; a rule there, filtered to this stack's machines, invokes the function that marks
the instance's deviations the event path could not measure (lambdas/conformance/logic.py)."""

from __future__ import annotations

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from lambdas.conformance import ended
from stacks.constructs.event_bus import function_target
from stacks.constructs.functions import MonitorFunction, failures_to
from stacks.constructs.queues import durable_queue


class EndCheck(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        model_name: str,
        code: lambda_.Code,
        dependencies: lambda_.ILayerVersion,
        namespace: str,
        table: dynamodb.ITableV2,
        state_machines: list[sfn.StateMachine],
        out_of_order_service: str,
        rule_dead_letters: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        self.function = MonitorFunction(
            self,
            "Function",
            handler="lambdas.conformance.handler.handler",
            code=code,
            dependencies=dependencies,
            service=f"{model_name}-end-check",
            namespace=namespace,
            # OutOfOrder is counted under the correlator's service, whichever function marks the pair.
            environment={"TABLE_NAME": table.table_name, "OUT_OF_ORDER_SERVICE": out_of_order_service},
        )
        self.dead_letters = durable_queue(self, "DeadLetters")
        failures_to(self, "Failures", self.function.function, self.dead_letters)
        self.rule = events.Rule(  # on the default bus: the one Step Functions puts its events on
            self,
            "ExecutionsEnded",
            description=f"{model_name}: each execution's end, to the check of its milestones' order",
            event_pattern=events.EventPattern(
                source=[ended.SOURCE],
                detail_type=[ended.DETAIL_TYPE],
                detail={"status": list(ended.ENDED), "stateMachineArn": [m.state_machine_arn for m in state_machines]},
            ),
            targets=[function_target(self.function.function, rule_dead_letters)],
        )
