"""The Standard state machines generated from the model: one per shipped version of the model, each
named by its version, with one execution per instance, named by its id.

A version's machine is never changed once deployed, so an instance runs on the definition it started
with until it ends; a machine is removed when its version's file is (deleting a machine ends its
executions at their next transition, so a version is removed only once no instance on it can be open).
"""

from __future__ import annotations

import json

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from lambdas.choreography.versions import Versions
from stacks.asl import build_definition
from stacks.names import state_machine_name


class ChoreographyWorkflow(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        versions: Versions,
        table: dynamodb.ITableV2,
        bus: events.IEventBus,
        log_level: str,
    ) -> None:
        super().__init__(scope, construct_id)
        model = versions.current
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            # Step Functions asks for the /aws/vendedlogs/ prefix to keep its resource policy small.
            log_group_name=f"/aws/vendedlogs/states/{model.name}",
            retention=logs.RetentionDays.ONE_MONTH,
            removal_policy=RemovalPolicy.DESTROY,
        )
        # Version -> its machine; ids and names by version, so that a new version adds a machine and
        # changes none.
        self.state_machines: dict[str, sfn.StateMachine] = {}
        for version in versions.all:
            self.state_machines[version.version] = sfn.StateMachine(
                self,
                f"StateMachine{_version_id(version.version)}",
                state_machine_name=state_machine_name(version),
                state_machine_type=sfn.StateMachineType.STANDARD,
                definition_body=sfn.DefinitionBody.from_string(json.dumps(build_definition(version), indent=2)),
                definition_substitutions={"TableName": table.table_name, "BusName": bus.event_bus_name},
                tracing_enabled=True,
                logs=sfn.LogOptions(
                    destination=self.log_group,
                    level=sfn.LogLevel[log_level],
                    include_execution_data=log_level == "ALL",
                ),
            )
        self.state_machine = self.state_machines[model.version]  # new instances start here


def _version_id(version: str) -> str:
    """A construct id's part for a version: 1.2.0 -> V1x2x0."""
    return "V" + version.replace(".", "x")
