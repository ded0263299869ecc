"""One deployable monitor per choreography model. Every grant is wired here, and nowhere else."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import ArnFormat, CfnOutput, Duration, Fn, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from lambdas.choreography import table as layout
from lambdas.choreography.versions import Versions
from stacks.config import MonitorSettings
from stacks.constructs.alerting import Alerting
from stacks.constructs.end_check import EndCheck
from stacks.constructs.event_bus import MonitorBus, function_target
from stacks.constructs.functions import MonitorFunction, failures_to
from stacks.constructs.queues import durable_queue
from stacks.constructs.state_table import StateTable
from stacks.constructs.workflow import ChoreographyWorkflow
from stacks.nag import acknowledge_findings
from stacks.packaging import dependencies_layer_directory, function_code_directory
from stacks.rules import event_patterns

NAMESPACE = "ChoreographyMonitor"
QUARANTINE_MESSAGE_BYTES = 1_048_576  # the most SQS allows


class ChoreographyMonitorStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        versions: Versions,
        model_path: Path,
        settings: MonitorSettings,
    ) -> None:
        model = versions.current
        shipped = ", ".join(versions.names)
        super().__init__(scope, construct_id, description=f"Choreography monitor for {model.name} ({shipped})")

        bus = MonitorBus(self, "Events", bus_name=f"{model.name}-events", allowed_accounts=settings.allowed_accounts)
        state = StateTable(self, "State")
        workflow = ChoreographyWorkflow(
            self,
            "Workflow",
            versions=versions,
            table=state.table,
            bus=bus.bus,
            log_level=settings.state_machine_log_level,
        )
        rule_dead_letters = durable_queue(self, "RuleDeadLetters")
        correlator_dead_letters = durable_queue(self, "CorrelatorDeadLetters")
        # Large enough for any EventBridge event (256 KiB at most) with its reason: nothing is cut to fit.
        quarantine = durable_queue(self, "Quarantine", max_message_bytes=QUARANTINE_MESSAGE_BYTES)
        if settings.services_bus is not None:
            bus.forward_from(settings.services_bus, versions, rule_dead_letters)

        code = lambda_.Code.from_asset(str(function_code_directory(model_path, model.name)))
        dependencies = lambda_.LayerVersion(
            self,
            "Dependencies",
            code=lambda_.Code.from_asset(str(dependencies_layer_directory())),
            compatible_architectures=[lambda_.Architecture.ARM_64],
            description="Powertools for AWS Lambda and jsonschema, arm64 wheels",
        )
        correlator_service = f"{model.name}-correlator"
        correlator = MonitorFunction(
            self,
            "Correlator",
            handler="lambdas.correlator.handler.handler",
            code=code,
            dependencies=dependencies,
            service=correlator_service,
            namespace=NAMESPACE,
            environment={
                "TABLE_NAME": state.table.table_name,
                # Version -> its machine: an instance's events go to the machine it started on.
                "STATE_MACHINE_ARNS": self.to_json_string(
                    {version: machine.state_machine_arn for version, machine in workflow.state_machines.items()}
                ),
                "QUARANTINE_QUEUE_URL": quarantine.queue_url,
                "QUARANTINE_MAX_MESSAGE_BYTES": str(QUARANTINE_MESSAGE_BYTES),
                "RETENTION_DAYS": str(settings.retention_days),
            },
        )
        failures_to(self, "CorrelatorFailures", correlator.function, correlator_dead_letters)
        status = MonitorFunction(
            self,
            "Status",
            handler="lambdas.status.handler.handler",
            code=code,
            dependencies=dependencies,
            service=f"{model.name}-status",
            namespace=NAMESPACE,
            environment={"TABLE_NAME": state.table.table_name},
            memory_mb=512,  # a faster CPU for a person waiting on an answer
        )
        status_url = status.function.add_function_url(auth_type=lambda_.FunctionUrlAuthType.AWS_IAM)
        # For the people and roles that ask where orders are.
        status_readers = iam.ManagedPolicy(
            self,
            "StatusReaders",
            description=f"{model.name}: call the order-status URL (attach to whoever reads order status)",
            statements=status_caller_statements(status.function),
        )

        for source, pattern in event_patterns(versions).items():
            events.Rule(
                self,
                f"Route{''.join(part.capitalize() for part in source.replace('-', '.').split('.'))}",
                event_bus=bus.bus,
                description=f"{model.name}: events from {source} to the correlator",
                event_pattern=events.EventPattern(source=pattern["source"], detail_type=pattern["detail-type"]),
                targets=[function_target(correlator.function, rule_dead_letters)],
            )

        machines = list(workflow.state_machines.values())
        # Each execution's end, for the check that marks the deviations the event path could not measure.
        end_check = EndCheck(
            self,
            "EndCheck",
            model_name=model.name,
            code=code,
            dependencies=dependencies,
            namespace=NAMESPACE,
            table=state.table,
            state_machines=machines,
            out_of_order_service=correlator_service,
            rule_dead_letters=rule_dead_letters,
        )

        # Grants: each role gets the actions it calls, on the resources it touches.
        table_arn = state.table.table_arn
        for machine in machines:
            machine.add_to_role_policy(iam.PolicyStatement(actions=["dynamodb:UpdateItem"], resources=[table_arn]))
            machine.add_to_role_policy(
                iam.PolicyStatement(actions=["events:PutEvents"], resources=[bus.bus.event_bus_arn])
            )
        correlator_table_actions = ["dynamodb:UpdateItem"]
        if len(versions.all) > 1:  # an event the versions read differently: its instance's version is read
            correlator_table_actions.append("dynamodb:GetItem")
        correlator.role.add_to_policy(iam.PolicyStatement(actions=correlator_table_actions, resources=[table_arn]))
        correlator.role.add_to_policy(
            iam.PolicyStatement(
                # An earlier version's machine too: a start delivered again goes to the instance's own.
                actions=["states:StartExecution", "states:SendTaskSuccess", "states:SendTaskFailure"],
                resources=[machine.state_machine_arn for machine in machines],
            )
        )
        correlator.role.add_to_policy(
            iam.PolicyStatement(
                actions=["sqs:SendMessage"], resources=[quarantine.queue_arn, correlator_dead_letters.queue_arn]
            )
        )
        status.role.add_to_policy(
            iam.PolicyStatement(
                actions=["dynamodb:Query"],
                resources=[
                    table_arn,
                    f"{table_arn}/index/{layout.STATUS_INDEX}",
                    f"{table_arn}/index/{layout.DEVIATION_INDEX}",
                ],
            )
        )
        for statement in (
            # One instance's records, and its deviation mark; its failures' destination.
            iam.PolicyStatement(actions=["dynamodb:Query", "dynamodb:UpdateItem"], resources=[table_arn]),
            iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[end_check.dead_letters.queue_arn]),
        ):
            end_check.function.role.add_to_policy(statement)

        alerting = Alerting(
            self,
            "Alerting",
            versions=versions,
            bus=bus.bus,
            state_machines=machines,
            correlator=correlator.function,
            namespace=NAMESPACE,
            correlator_service=correlator_service,
            dead_letter_queues={
                "RuleDeadLetters": rule_dead_letters,
                "CorrelatorDeadLetters": correlator_dead_letters,
                "EndCheckDeadLetters": end_check.dead_letters,
                "Quarantine": quarantine,
            },
            quarantine=quarantine,
            rule_dead_letters=rule_dead_letters,
            emails=settings.alert_emails,
            out_of_order_alarm=settings.out_of_order_alarm,
        )
        # Every service event, kept for a replay after an outage; replayed events converge like retries.
        archive = events.Archive(
            self,
            "Archive",
            source_event_bus=bus.bus,
            archive_name=f"{model.name}-events"[:48],
            description=f"{model.name}: the services' events, for replay",
            event_pattern=events.EventPattern(source=list(versions.sources())),
            retention=Duration.days(settings.archive_retention_days),
        )

        console_readers = iam.ManagedPolicy(
            self,
            "ConsoleReaders",
            description=f"{model.name}: what `python -m cli console` reads, and nothing more",
            statements=console_reader_statements(
                self,
                status=status.function,
                state_machines=machines,
                queues=(rule_dead_letters, correlator_dead_letters, quarantine),
            ),
        )

        CfnOutput(self, "BusName", value=bus.bus.event_bus_name)
        CfnOutput(self, "ArchiveName", value=archive.archive_name)
        CfnOutput(self, "AlertsTopicArn", value=alerting.topic.topic_arn)
        CfnOutput(self, "StateMachineArn", value=workflow.state_machine.state_machine_arn)  # new instances'
        CfnOutput(
            self, "StateMachineArns", value=Fn.join(",", [machine.state_machine_arn for machine in machines])
        )  # every shipped version's, oldest first
        CfnOutput(self, "StatusUrl", value=status_url.url)
        CfnOutput(self, "StatusReadersPolicyArn", value=status_readers.managed_policy_arn)
        CfnOutput(self, "ConsoleReadersPolicyArn", value=console_readers.managed_policy_arn)
        CfnOutput(self, "TableName", value=state.table.table_name)
        CfnOutput(self, "QuarantineQueueUrl", value=quarantine.queue_url)
        CfnOutput(self, "RuleDeadLettersUrl", value=rule_dead_letters.queue_url)
        CfnOutput(self, "CorrelatorDeadLettersUrl", value=correlator_dead_letters.queue_url)
        CfnOutput(self, "EndCheckDeadLettersUrl", value=end_check.dead_letters.queue_url)

        acknowledge_findings(
            workflow=workflow,
            functions=(correlator, status, end_check.function),
            dead_letter_queues=(rule_dead_letters, correlator_dead_letters, end_check.dead_letters, quarantine),
            console_readers=console_readers,
        )


def status_caller_statements(function: lambda_.IFunction) -> list[iam.PolicyStatement]:
    """What a caller of the status URL needs: since October 2025 a caller of a new Function URL with
    AWS_IAM auth needs lambda:InvokeFunction as well as lambda:InvokeFunctionUrl."""
    return [
        iam.PolicyStatement(
            actions=["lambda:InvokeFunctionUrl"],
            resources=[function.function_arn],
            conditions={"StringEquals": {"lambda:FunctionUrlAuthType": "AWS_IAM"}},
        ),
        iam.PolicyStatement(
            actions=["lambda:InvokeFunction"],
            resources=[function.function_arn],
            conditions={"Bool": {"lambda:InvokedViaFunctionUrl": "true"}},
        ),
    ]


def console_reader_statements(
    stack: Stack,
    *,
    status: lambda_.IFunction,
    state_machines: list[sfn.StateMachine],
    queues: tuple[sqs.IQueue, ...],
) -> list[iam.PolicyStatement]:
    """The web console's reads (console/source.py): the status URL; the machines' definitions, and one
    execution's description, history and the definition it runs on; the queues' depths and a sample of
    their messages, received without hiding them; Step Functions' metrics; the stack's outputs, where it
    finds all of these."""
    executions = [
        stack.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{machine.state_machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        for machine in state_machines
    ]
    return [
        *status_caller_statements(status),
        iam.PolicyStatement(
            actions=["states:DescribeStateMachine"], resources=[m.state_machine_arn for m in state_machines]
        ),
        iam.PolicyStatement(
            actions=[
                "states:DescribeStateMachineForExecution",  # the definition the order's version runs
                "states:GetExecutionHistory",
            ],
            resources=executions,
        ),
        iam.PolicyStatement(
            actions=["sqs:GetQueueAttributes", "sqs:ReceiveMessage"], resources=[queue.queue_arn for queue in queues]
        ),
        # GetMetricData has no resource-level permissions: AWS documents Resource "*" for it.
        iam.PolicyStatement(actions=["cloudwatch:GetMetricData"], resources=["*"]),
        iam.PolicyStatement(actions=["cloudformation:DescribeStacks"], resources=[stack.stack_id]),
    ]
