"""The Standard state machine generated from the model: one execution per instance, named by its id."""

from __future__ import annotations

import json

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from lambdas.choreography.model import Choreography
from stacks.asl import build_definition


class ChoreographyWorkflow(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        model: Choreography,
        table: dynamodb.ITableV2,
        bus: events.IEventBus,
        log_level: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            # Step Functions asks for the /aws/vendedlogs/ prefix to keep its resource policy small.
            log_group_name=f"/aws/vendedlogs/states/{model.name}",
            retention=logs.RetentionDays.ONE_MONTH,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=model.name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(json.dumps(build_definition(model), indent=2)),
            definition_substitutions={"TableName": table.table_name, "BusName": bus.event_bus_name},
            tracing_enabled=True,
            logs=sfn.LogOptions(
                destination=self.log_group,
                level=sfn.LogLevel[log_level],
                include_execution_data=log_level == "ALL",
            ),
        )
